"""The EEPROM settings checked from the console (harness.strategy.eeprom), on real Pi 4 logs (tests/data/pi4)."""

from __future__ import annotations

from pathlib import Path

from harness.console.parser import parse_bytes
from harness.strategy import eeprom

LOGS = Path(__file__).resolve().parents[1] / "data" / "pi4" / "logs"
GOOD = {"BOOT_ORDER": "0xf12", "NET_BOOT_MAX_RETRIES": 1, "BOOT_UART": 1}


def _events(name: str) -> list[dict[str, object]]:
    return [dict(e) for e in parse_bytes((LOGS / name).read_bytes())]


def test_boot_order_read_from_the_boot_mode_lines() -> None:
    # headers of the logs: BOOT_ORDER=0x2 (netboot-success-01), 0xf41 (sd-boot-timestamped-01)
    assert eeprom.printed_boot_order(_events("netboot-success-01.log")) == 0x2
    assert eeprom.printed_boot_order(_events("sd-boot-timestamped-01.log")) == 0xF41


def test_a_board_set_otherwise_is_told_what_to_change() -> None:
    advice = eeprom.findings(_events("sd-boot-timestamped-01.log"), GOOD)
    assert len(advice) == 1 and "BOOT_ORDER is 0xf41" in advice[0] and "set BOOT_ORDER=0xf12" in advice[0], advice
    assert "rpi-eeprom-config --edit" in advice[0]


def test_too_many_network_tries_and_a_silent_console() -> None:
    modes = [{"event": "banner"}] + [{"event": "boot_mode", "mode": "NETWORK", "nibble": 2, "order": "f1"}] * 4
    advice = eeprom.findings([*modes, {"event": "boot_mode", "mode": "SD", "nibble": 1, "order": "f"}], GOOD)
    assert advice == [a for a in advice if "NET_BOOT_MAX_RETRIES=1" in a] and len(advice) == 1, advice
    silent = eeprom.findings([], GOOD, console_bytes=0)
    assert "BOOT_UART=1" in silent[0]


def test_a_board_as_required_has_no_findings() -> None:
    modes = [{"event": "banner"}, {"event": "boot_mode", "mode": "NETWORK", "nibble": 2, "order": "f1"},
             {"event": "banner"}, {"event": "boot_mode", "mode": "NETWORK", "nibble": 2, "order": "f1"},
             {"event": "boot_mode", "mode": "NETWORK", "nibble": 2, "order": "f1"},
             {"event": "boot_mode", "mode": "SD", "nibble": 1, "order": "f"}]
    assert eeprom.findings(modes, GOOD) == []
