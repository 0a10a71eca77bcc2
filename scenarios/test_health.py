"""The health suite (``pytest -m health``): each board of lab.yaml's ``health.boards`` through what every other
test relies on — a power cycle, the bootloader's banner on the console, a DHCP answer naming the TFTP server,
TFTP serving the boot files, SSH on the freshly installed system (the boot strategy's stages), and the EEPROM
settings a netbooting board needs as its console shows them (``harness.strategy.eeprom``: what to change).

The plugin leases a board for this test even when it is bad, and the outcome is the board's health: a failure
marks it bad with the evidence (stage, failure class, message, console tail) and it is leased to no other test
until a later health check passes. A nightly run starts with it (docs/RACK.md)."""

from __future__ import annotations

import pytest

from fixtures.plugin import StrategyFactory
from harness.drivers.base import InfraFailure
from harness.session import Session, Target
from harness.strategy import eeprom
from scenarios.checks import events_of

pytestmark = pytest.mark.health


def test_board_health(board_name: str, board: Target, boot_strategy: StrategyFactory, lab_session: Session) -> None:
    strategy = boot_strategy(board)
    try:
        with strategy.install(tftp_server=str(lab_session.lab.services.tftp.address)) as ssh:
            assert ssh.run_checked("hostname", timeout=20).strip() == board.board.install.hostname
    finally:
        strategy.attach()
    passed = [s.name for s in strategy.report.stages if s.ok]
    assert {"off", "power-on", "dhcp", "tftp", "sd-boot", "ssh-ready"} <= set(passed), strategy.report.table()
    banner = events_of(strategy.console_events(), "banner")[0]
    assert banner["version"] and banner["serial"] == board.board.serial, banner
    # the EEPROM as the bootloader's lines show it: a board set otherwise is bad, with what to change
    advice = eeprom.findings(strategy.console_events(), board.board.eeprom)
    if advice:
        raise InfraFailure(f"{board.name}: EEPROM settings differ: {'; '.join(advice)}")
