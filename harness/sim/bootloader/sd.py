"""The SD card as the simulated bootloader sees it: an image file (or block device) at ``/dev/mmcblk0`` with
an MBR and a FAT boot partition holding the firmware (read with ``harness.sim.media.cardfs``; nothing is
mounted).

The card is opened fresh at every boot, so what the installer wrote (or what the harness put there between
power cycles) is what the next boot sees.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from harness.sim.media.cardfs import SECTOR, CardError, Partition, boot_partition, fat_list, fat_read

BOOT_FILE = "start4.elf"
LAYOUT_DIRS = ("", "current/")  # plain, and the Ubuntu 25.10+ layout (ARCHITECTURE.md)


@dataclass(frozen=True)
class CardInfo:
    """What the loader prints of a card's MBR and boot FAT (``MBR:``, ``lba:``, ``rsc …`` lines [E282, F1420,
    STR]): the four MBR entries as (first sector, sectors, type), and the FAT boot sector's fields."""

    mbr: tuple[tuple[int, int, int], ...]
    lba: int
    oem: str
    volume: str
    reserved: int
    fat_sectors: int
    clusters: int
    cluster_sectors: int
    root_dir: int  # FAT32: the root directory's first cluster; FAT12/16: 1 (as [E282] prints it)
    root_sectors: int
    root_entries: int


@dataclass(frozen=True)
class SdBoot:
    partition: Partition
    prefix: str  # "" or "current/"
    files: dict[str, bytes]
    card: CardInfo | None = None


def _text(raw: bytes) -> str:
    return raw.decode("ascii", "replace")


def card_info(card: Path, part: Partition) -> CardInfo | None:
    """The card's MBR entries and its boot FAT's geometry; None when they cannot be read (nothing printed)."""
    try:
        with card.open("rb") as f:
            mbr = f.read(SECTOR)
            f.seek(part.start)
            boot = f.read(SECTOR)
    except OSError:
        return None
    if len(mbr) < SECTOR or len(boot) < SECTOR:
        return None
    entries = tuple(
        (start, count, mbr[446 + 16 * i + 4])
        for i in range(4)
        for start, count in [struct.unpack("<II", mbr[446 + 16 * i + 8:446 + 16 * i + 16])]
    )
    per_sector, cluster_sectors, reserved, fats, root_entries, total16, fat16 = struct.unpack(
        "<HBHBHHxH", boot[11:24])
    fat32 = fat16 == 0
    fat_sectors = struct.unpack("<I", boot[36:40])[0] if fat32 else fat16
    total = total16 or struct.unpack("<I", boot[32:36])[0]
    root_sectors = (root_entries * 32 + max(per_sector, 1) - 1) // max(per_sector, 1)
    data = total - reserved - fats * fat_sectors - root_sectors
    return CardInfo(
        mbr=entries, lba=part.start // SECTOR, oem=_text(boot[3:11]),
        volume=_text(boot[71:82] if fat32 else boot[43:54]), reserved=reserved, fat_sectors=fat_sectors,
        clusters=max(0, data) // max(cluster_sectors, 1), cluster_sectors=cluster_sectors,
        root_dir=struct.unpack("<I", boot[44:48])[0] if fat32 else 1, root_sectors=root_sectors,
        root_entries=root_entries,
    )


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
        return SdBoot(part, prefix, files, card_info(card, part))
    raise CardError("start4.elf not found")
