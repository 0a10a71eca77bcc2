"""The SD card as the simulated bootloader sees it: an image file (or block device) at ``/dev/mmcblk0`` with
an MBR and a FAT boot partition holding the firmware (read with ``harness.sim.media.cardfs``; nothing is
mounted).

The card is opened fresh at every boot, so what the installer wrote (or what the harness put there between
power cycles) is what the next boot sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.sim.media.cardfs import CardError, Partition, boot_partition, fat_list, fat_read

BOOT_FILE = "start4.elf"
LAYOUT_DIRS = ("", "current/")  # plain, and the Ubuntu 25.10+ layout (ARCHITECTURE.md)


@dataclass(frozen=True)
class SdBoot:
    partition: Partition
    prefix: str  # "" or "current/"
    files: dict[str, bytes]


def find_firmware(card: Path) -> SdBoot:
    """What the bootloader's SD mode loads: start4.elf and fixup4.dat from the first FAT partition (top
    level, else ``current/``), plus config.txt / cmdline.txt / kernel8.img read by start4.elf.
    CardError (with the reason) when the card cannot boot."""
    if not card.exists():
        raise CardError(f"no card at {card}")
    part = boot_partition(card)
    for prefix in LAYOUT_DIRS:
        names = fat_list(card, part, prefix.rstrip("/"))
        if names is None:
            if prefix == "":
                raise CardError("the FAT partition is unreadable")
            continue
        if BOOT_FILE not in [n.lower() for n in names]:
            continue
        files: dict[str, bytes] = {}
        for name in ("start4.elf", "fixup4.dat", "config.txt", "cmdline.txt", "kernel8.img"):
            data = fat_read(card, part, prefix + name)
            if data is not None:
                files[name] = data
        if "start4.elf" not in files:
            continue
        return SdBoot(part, prefix, files)
    raise CardError("start4.elf not found")
