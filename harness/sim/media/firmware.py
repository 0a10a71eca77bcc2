"""Stand-ins for the Pi 4 firmware files with the real files' sizes, for the TFTP tree and the test image's boot
partition: start4.elf 2,249,280 and fixup4.dat 5,399 bytes, as a Pi 4 read them
[handover-start4-uart2ndstage-to-kernel-01.log] (releases range 2.2-2.7 MB [E87]). A transfer then costs what it
costs a real board. The bodies are zeros after a text head: cheap to make, and the sparse test image maps none
of them (bmap, xz)."""

from __future__ import annotations

SIZES = {"start4.elf": 2_249_280, "fixup4.dat": 5_399}


def standin(name: str) -> bytes:
    """The stand-in of ``name`` (a key of ``SIZES``)."""
    head = f"malina stand-in {name} (the simulated Pi 4 does not execute it)\n".encode()
    return head + bytes(SIZES[name] - len(head))
