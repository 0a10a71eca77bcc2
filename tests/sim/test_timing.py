"""harness/sim/bootloader/timing.py: one table of the modelled delays, each with its source."""

from __future__ import annotations

import re
from pathlib import Path

from harness.sim.bootloader import timing

SPEC = Path(__file__).resolve().parents[2] / "tests" / "data" / "pi4" / "SPEC.md"


def test_every_delay_has_a_value_a_meaning_and_a_source() -> None:
    names = [d.name for d in timing.TABLE]
    assert len(names) == len(set(names))
    defined = set(re.findall(r"^\| ([A-Z][A-Z0-9-]*) \|", SPEC.read_text(), re.M))
    for d in timing.TABLE:
        assert d.seconds > 0 and d.what and d.source, d
        assert getattr(timing, d.name) == d.seconds, d.name  # the module constant is the table's
        keys = {k.split()[0] for k in re.findall(r"\[([A-Z][A-Z0-9-]*(?: [\d-]+)?)\]", d.source)}
        assert keys <= defined, (d.name, keys - defined)
        assert keys or "inferred" in d.source or ".log" in d.source, d


def test_real_timing_figures() -> None:
    """The values the issue measured on real boards: link-up to DHCP seconds, start4.elf (~2.5 MB) in ~1.6 s,
    firmware to kernel ~3 s from SD and 5-6 s over the network."""
    assert 5.0 <= timing.LINK_TO_DHCP_S <= 10.0
    assert 1.2 <= timing.transfer_s(2_700_000) <= 2.0
    assert timing.FIRMWARE_TO_KERNEL_SD_S == 3.0
    assert 5.0 <= timing.FIRMWARE_TO_KERNEL_NET_S <= 6.0
