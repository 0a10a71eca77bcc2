"""Scenario 3: the backend is down. DHCP is still answered (the hook's failure policy: boot local), the board
comes up from its card, and nothing is written to it."""

from __future__ import annotations

import pytest

from fixtures.plugin import StrategyFactory
from harness.drivers.base import DhcpTrace
from harness.session import SimSession, Target
from scenarios.checks import acks, assert_boot_local_acks, assert_came_up_from_sd


@pytest.mark.sim_only
@pytest.mark.release_gate
def test_backend_down_boots_local_and_writes_nothing(board: Target, lab_session: SimSession,
                                                     dhcp_trace: DhcpTrace, boot_strategy: StrategyFactory) -> None:
    # a board in service whose machine is (wrongly, for this test's purpose) still marked install: with the
    # backend up it would be reinstalled; with it down nothing may happen to the card
    target = lab_session.target(board.name, card=lab_session.installed_card(board.name))
    before = target.card_digest()
    lab_session.stop_service("backend")
    try:
        strategy = boot_strategy(target)
        ssh = strategy.boot_local()
        strategy.attach()
        assert ssh is not None
        with ssh:
            assert ssh.run_checked("hostname").strip() == target.board.install.hostname
    finally:
        lab_session.start_service("backend")
    events = strategy.console_events()
    assert_came_up_from_sd(events, target.board.install.hostname,
                           int(target.board.eeprom.get("NET_BOOT_MAX_RETRIES", 1)))
    assert acks(dhcp_trace, target), "DHCP must still be answered with the backend down"
    assert_boot_local_acks(dhcp_trace, target)
    assert strategy.report.facts["net"] is None or strategy.report.facts["net"]["tftp"] == "0.0.0.0"
    assert target.card_digest() == before, "the card changed while the backend was down"
    assert "malina: " not in target.console.slice(strategy.report.console_start).decode(errors="replace")
