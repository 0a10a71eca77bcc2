#!/bin/bash
# malina post-image (BR2_ROOTFS_POST_IMAGE_SCRIPT): lays out the TFTP tree the Pi 4 fetches in
# $BINARIES_DIR/tftp/: start4.elf, fixup4.dat, config.txt, cmdline.txt, kernel8.img, the dtb, the
# initramfs (and overlays/ when the firmware package ships them), plus SHA256SUMS.
set -euo pipefail

BOARD_DIR=$(cd "$(dirname "$0")" && pwd)
: "${BINARIES_DIR:?BINARIES_DIR is set by Buildroot}"
TFTP=$BINARIES_DIR/tftp
# Older EEPROM TFTP code cannot load files of 96 MB or more; stay well below.
MAX_INITRAMFS=$((64 * 1024 * 1024))

rm -rf "$TFTP"
mkdir -p "$TFTP"
install -m 0644 "$BINARIES_DIR/rpi-firmware/start4.elf" "$BINARIES_DIR/rpi-firmware/fixup4.dat" "$TFTP/"
install -m 0644 "$BOARD_DIR/config.txt" "$TFTP/config.txt"
install -m 0644 "$BOARD_DIR/cmdline.txt" "$TFTP/cmdline.txt"
install -m 0644 "$BINARIES_DIR/Image" "$TFTP/kernel8.img"
install -m 0644 "$BINARIES_DIR/bcm2711-rpi-4-b.dtb" "$TFTP/bcm2711-rpi-4-b.dtb"
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
