#!/bin/bash
# malina post-image (BR2_ROOTFS_POST_IMAGE_SCRIPT): lays out the TFTP tree the Pi 4 fetches in
# $BINARIES_DIR/tftp/: start4.elf, fixup4.dat, config.txt, cmdline.txt, kernel8.img, the device trees, the
# initramfs (and overlays/ when the firmware package ships them), plus SHA256SUMS.
set -euo pipefail

BOARD_DIR=$(cd "$(dirname "$0")" && pwd)
: "${BINARIES_DIR:?BINARIES_DIR is set by Buildroot}"
TFTP=$BINARIES_DIR/tftp
# Older EEPROM TFTP code cannot load files of 96 MB or more; stay well below.
MAX_INITRAMFS=$((64 * 1024 * 1024))
# One device tree per BCM2711 board that netboots this image (start4.elf loads the one for the board it runs
# on): Pi 4 Model B, Pi 400, Compute Module 4. Built by the kernel (BR2_LINUX_KERNEL_INTREE_DTS_NAME).
DTBS=(bcm2711-rpi-4-b.dtb bcm2711-rpi-400.dtb bcm2711-rpi-cm4.dtb)

rm -rf "$TFTP"
mkdir -p "$TFTP"
install -m 0644 "$BINARIES_DIR/rpi-firmware/start4.elf" "$BINARIES_DIR/rpi-firmware/fixup4.dat" "$TFTP/"
install -m 0644 "$BOARD_DIR/config.txt" "$TFTP/config.txt"
install -m 0644 "$BOARD_DIR/cmdline.txt" "$TFTP/cmdline.txt"
install -m 0644 "$BINARIES_DIR/Image" "$TFTP/kernel8.img"
for dtb in "${DTBS[@]}"; do
	install -m 0644 "$BINARIES_DIR/$dtb" "$TFTP/$dtb"
done
install -m 0644 "$BINARIES_DIR/rootfs.cpio.gz" "$TFTP/initramfs.cpio.gz"
if [[ -d $BINARIES_DIR/rpi-firmware/overlays ]]; then
	cp -r "$BINARIES_DIR/rpi-firmware/overlays" "$TFTP/overlays"
fi

size=$(stat -c %s "$TFTP/initramfs.cpio.gz")
if ((size >= MAX_INITRAMFS)); then
	echo "post-image: initramfs.cpio.gz is $size bytes, over the $MAX_INITRAMFS-byte budget" >&2
	exit 1
fi
(cd "$TFTP" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs sha256sum >"$BINARIES_DIR/tftp.sums")
mv "$BINARIES_DIR/tftp.sums" "$TFTP/SHA256SUMS"
echo "post-image: TFTP tree in $TFTP (initramfs $((size / 1024 / 1024)) MiB)"
