"""Scenario 6: a board on a port the backend does not know, and a board moved to another machine's port. Both
must boot local from their cards; no board ever receives another machine's install; the backend flags them."""

from __future__ import annotations

import pytest

from fixtures.plugin import StrategyFactory
from harness.drivers.base import Backend, DhcpTrace
from harness.session import SimSession, Target
from scenarios.checks import acks, assert_boot_local_acks, assert_came_up_from_sd, events_of


def _retries(target: Target) -> int:
    return int(target.board.eeprom.get("NET_BOOT_MAX_RETRIES", 1))


def _free_port(session: SimSession) -> str:
    used = {b.port for b in session.lab.boards}
    free = [p.name for p in session.lab.switch.ports if p.name not in used]
    assert free, "the lab needs a switch port with no board for this scenario"
    return free[0]


@pytest.mark.sim_only
def test_board_on_unknown_port_boots_local(board: Target, lab_session: SimSession, dhcp_trace: DhcpTrace,
                                           backend: Backend, boot_strategy: StrategyFactory) -> None:
    port = _free_port(lab_session)
    # the board re-created on the other port; its console closes with the block (its log stays readable)
    with lab_session.target(board.name, port=port, card=lab_session.installed_card(board.name)) as target:
        before = target.card_digest()
        strategy = boot_strategy(target)
        # its card's static address belongs to its own port's subnet: the console's login prompt is the evidence
        assert strategy.boot_local(ssh=False) is None
        strategy.attach()
    assert_came_up_from_sd(strategy.console_events(), board.board.install.hostname, _retries(target))
    assert_boot_local_acks(dhcp_trace, target)
    assert target.card_digest() == before
    m = backend.machine(board.name)
    assert m["flagged"] and m["boot_mode"] == "install", m  # seen elsewhere: flagged until an operator acts


@pytest.mark.sim_only
@pytest.mark.board(count=2)
def test_board_moved_to_another_machines_port(boards: list[Target], lab_session: SimSession,
                                              dhcp_trace: DhcpTrace, backend: Backend,
                                              boot_strategy: StrategyFactory) -> None:
    mover, owner = boards
    lab_session.release(owner)  # the owner of the port is unplugged ...
    # ... and the mover is plugged into its port
    with lab_session.target(mover.name, port=owner.board.port, card=lab_session.installed_card(mover.name)) as target:
        before = target.card_digest()
        strategy = boot_strategy(target)
        # its card's static address belongs to its own port's subnet: the console's login prompt is the evidence
        assert strategy.boot_local(ssh=False) is None
        strategy.attach()
    events = strategy.console_events()
    assert_came_up_from_sd(events, mover.board.install.hostname, _retries(target))
    assert all(e["serial"] == mover.board.serial for e in events_of(events, "banner")), "another board's console?"
    assert_boot_local_acks(dhcp_trace, target)
    assert target.card_digest() == before
    assert backend.machine(owner.name)["flagged"], "the port showed another board: its machine is flagged"
    assert not [p for p in acks(dhcp_trace, target) if 224 in p.options], "no install for the wrong board"
