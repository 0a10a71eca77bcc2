"""The sim's stand-in for the TFTP tree Buildroot's post-image script lays out (buildroot/board/malina/
post-image.sh): the same file names, the tree's real config.txt and cmdline.txt, and small deterministic
stand-ins for the kernel, dtb and initramfs (the simulated board only checks that they arrive; it
runs the installer from the board image, not from the initramfs), plus SHA256SUMS as post-image writes it.
The firmware stand-ins have the real files' sizes (``media/firmware.py``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.sim.media import firmware

BOARD_DIR = Path(__file__).resolve().parents[3] / "buildroot" / "board" / "malina"
BINARIES = {  # file name -> stand-in size in bytes (the firmware's: media/firmware.py)
    "kernel8.img": 24 * 1024,
    "bcm2711-rpi-4-b.dtb": 8 * 1024,
    "initramfs.cpio.gz": 32 * 1024,
}


def _standin(name: str, size: int) -> bytes:
    head = f"malina stand-in {name} (the simulated Pi 4 does not execute it)\n".encode()
    body = bytearray()
    counter = 0
    while len(head) + len(body) < size:
        body += hashlib.sha256(f"{name}:{counter}".encode()).digest()
        counter += 1
    return head + bytes(body[: max(0, size - len(head))])


def standin_tree(extra_cmdline: dict[str, str] | None = None) -> dict[str, bytes]:
    """``{relative path: content}`` of a TFTP tree; ``extra_cmdline`` adds ``malina.<key>=<value>`` words."""
    files = {name: firmware.standin(name) for name in firmware.SIZES}
    files.update({name: _standin(name, size) for name, size in BINARIES.items()})
    files["config.txt"] = (BOARD_DIR / "config.txt").read_bytes()
    words = (BOARD_DIR / "cmdline.txt").read_text().split()
    words += [f"malina.{k}={v}" for k, v in (extra_cmdline or {}).items()]
    files["cmdline.txt"] = (" ".join(words) + "\n").encode()
    sums = "".join(f"{hashlib.sha256(files[n]).hexdigest()}  {n}\n" for n in sorted(files))
    files["SHA256SUMS"] = sums.encode()
    return files
