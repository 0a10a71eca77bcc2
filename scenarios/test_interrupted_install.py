"""Scenario 11: a board whose power fails during every write (issue 18.6). Each boot netboots the installer,
which starts writing and loses power; the installer of the next boot starts the same attempt over and the
backend counts an interruption (no failed attempt: the attempt cap never sees these). At the interruption cap
(``services.backend.max_interruptions``, MALINA_MAX_INTERRUPTIONS) the installer is refused, the machine goes
to local and is flagged; the next power-on is told to boot local (no install URL, no firmware from the
network) until an operator clears the flag."""

from __future__ import annotations

import pytest

from fixtures.plugin import StrategyFactory
from harness.drivers.base import Backend, DhcpTrace
from harness.session import Session, Target
from harness.strategy.boot import INSTALL_FAILED, SD_MODE, START_FROM_NET
from scenarios.checks import acks, assert_no_netboot, boot_modes, events_of, option

# logged by the agent right after it told the backend the write starts (buildroot/agent/usr/bin/malina-agent)
WRITE_STARTS = r"malina: image \S+ \(\d+ bytes[^\r\n]*\) for \S+"


@pytest.mark.release_gate
def test_power_fails_during_every_write_until_the_board_is_flagged(
        board: Target, lab_session: Session, backend: Backend, dhcp_trace: DhcpTrace,
        boot_strategy: StrategyFactory) -> None:
    lab_session.define(board.name, mode="install")
    cap = lab_session.lab.services.backend.max_interruptions
    tftp_ip = str(lab_session.lab.services.tftp.address)
    for boot in range(1, cap + 1):
        s = boot_strategy(board)
        s.off()
        s.power_on()
        s.dhcp(expect_tftp=tftp_ip)
        s.tftp()
        s.installer()
        board.console.expect(WRITE_STARTS, s.timeouts["writing"], deaths=(INSTALL_FAILED,))
        board.power.off()  # the power supply fails mid-write
        s.attach()
        # a small image may already be read back when the cut lands: both states are mid-install, and the
        # backend counts a restart from either (backend/service.py)
        m = backend.wait_state(board.name, {"writing", "verifying"}, timeout=10.0)
        # the restart of this boot's installer was counted (the first boot's was no restart)
        assert (m["interruptions"], m["attempts"], m["flagged"]) == (boot - 1, 1, False), (boot, m)
        events = s.console_events()
        assert boot_modes(events)[0] == "NETWORK" and events_of(events, "kernel"), events
        assert not events_of(events, "login_prompt"), "an interrupted install must not boot a system"

    # the next installer's restart is one too many: refused, the machine flagged and sent to local
    s = boot_strategy(board)
    s.off()
    s.power_on()
    s.dhcp(expect_tftp=tftp_ip)
    s.tftp()
    s.installer()
    refused = board.console.expect(INSTALL_FAILED, s.timeouts["writing"], deaths=(WRITE_STARTS,))
    s.attach()
    assert b"refused the scenario" in refused.match.group(0), refused.match.group(0)
    m = backend.machine(board.name)
    assert m["flagged"] and m["boot_mode"] == "local" and m["interruptions"] == cap, m
    assert f"interruption cap {cap}" in (m["flag_reason"] or ""), m["flag_reason"]
    assert m["attempts"] == 1 and m["last_attempt"]["state"] == "failed", m
    kinds = [e["kind"] for e in backend.history(board.name, 50)["events"]]
    assert kinds.count("interrupted") == cap and "flagged" in kinds, kinds

    # powered on again, it is told to boot local: no install URL, no firmware from the network
    board.power.off()
    s = boot_strategy(board)
    s.off()
    s.power_on()
    net = s.netboot_fails()
    assert net is None or net["tftp"] == "0.0.0.0", net
    board.console.expect(SD_MODE, s.timeouts["sd-boot"], deaths=(START_FROM_NET,))
    s.attach()
    events = s.console_events()
    assert "SD" in boot_modes(events), boot_modes(events)
    assert_no_netboot(events)
    assert not events_of(events, "tftp_get"), events_of(events, "tftp_get")
    last = acks(dhcp_trace, board)[-1]
    assert option(last, 66) == "0.0.0.0" and 224 not in last.options
    urls = {option(p, 224) for p in acks(dhcp_trace, board) if 224 in p.options}
    assert len(urls) == 1, f"one attempt, one token through every interruption: {urls}"
