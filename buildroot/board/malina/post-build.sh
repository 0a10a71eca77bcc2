#!/bin/bash
# malina post-build (BR2_ROOTFS_POST_BUILD_SCRIPT): runs after the rootfs-overlay was applied to TARGET_DIR.
# Enables systemd-networkd and drops kernel modules the installer never loads, so that the initramfs stays
# small. The agent, its modes and malina-installer.service come from the malina-agent package (the unit is
# enabled by Buildroot's systemctl preset-all).
set -euo pipefail

TARGET_DIR=${1:?usage: post-build.sh TARGET_DIR}

units=$TARGET_DIR/etc/systemd/system
mkdir -p "$units/multi-user.target.wants" "$units/network-online.target.wants"
ln -sf /usr/lib/systemd/system/systemd-networkd.service "$units/multi-user.target.wants/systemd-networkd.service"
ln -sf /usr/lib/systemd/system/systemd-networkd-wait-online.service \
	"$units/network-online.target.wants/systemd-networkd-wait-online.service"

# The installer needs the Ethernet and SD drivers only (built in with bcm2711_defconfig). Merged /usr:
# the modules are in usr/lib (lib is a symlink to it).
for moddir in "$TARGET_DIR"/usr/lib/modules/*/kernel; do
	[[ -d $moddir ]] || continue
	rm -rf "$moddir/sound" "$moddir/drivers/media" "$moddir/drivers/gpu" "$moddir/drivers/staging" \
		"$moddir/drivers/net/wireless" "$moddir/drivers/bluetooth" "$moddir/net/bluetooth" \
		"$moddir/drivers/iio" "$moddir/drivers/input" "$moddir/drivers/video" "$moddir/drivers/hid" \
		"$moddir/drivers/usb/gadget" "$moddir/net/mac80211" "$moddir/net/wireless"
	version=$(basename "$(dirname "$moddir")")
	if [[ -x ${HOST_DIR:-}/sbin/depmod ]]; then
		"$HOST_DIR/sbin/depmod" -a -b "$TARGET_DIR" "$version"
	fi
done
