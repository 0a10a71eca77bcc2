"""Scenario 11: Kea as a high-availability pair (issue 14.4, docs/KEA-HA.md). The lab is lab.yaml with
``services.kea.ha`` (``harness.lab.ha.with_kea_ha``): a primary and a standby in hot-standby, both loading the
hook; the switch relays every request to both. A board starts its install, answered by the primary; the
primary's container is killed right after the bootloader's DHCP, so the installer's own DHCP and the reboot's
need the standby. The standby answers with the same install options (the same attempt's token), then with
boot-local once the install is done, and the board ends ``booted-ok`` after exactly one attempt."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import allure
import pytest

from fixtures.plugin import server_trace
from harness.drivers.base import DhcpPacket, InfraFailure
from harness.drivers.kea import AgentKea
from harness.lab.ha import with_kea_ha
from harness.lab.model import Lab
from harness.session import SimSession
from harness.strategy.boot import BootStrategy
from harness.wait import wait_until
from scenarios.checks import board_packets, option

pytestmark = [pytest.mark.sim_only, pytest.mark.docker]


def ha_state(kea: AgentKea) -> str:
    """The server's HA state (``ha-heartbeat``, a command of Kea 2.2 through 3.0)."""
    return str((kea.command("ha-heartbeat").get("arguments") or {}).get("state", ""))


def _hot_standby(kea: AgentKea) -> bool:
    return ha_state(kea) == "hot-standby"


@pytest.fixture(scope="module")
def ha_session(lab: Lab, docker_engine: object) -> Iterator[SimSession]:
    """A lab of its own: the session's lab.yaml with a Kea HA pair, up once both servers are in hot-standby
    (before that the pair syncs its leases and neither serves)."""
    with SimSession(with_kea_ha(lab, name="sim-ha")) as session:
        kea = session.lab.services.kea
        assert kea.ha is not None
        for address in (kea.address, kea.ha.standby):
            agent = AgentKea(f"http://{address}:{kea.control_port}/", timeout_s=2.0)
            wait_until(f"Kea {address} in the hot-standby state", partial(_hot_standby, agent),
                       timeout=60.0, interval=0.3, retry_on=(InfraFailure,), error=InfraFailure)
        yield session


def _replies(packets: list[DhcpPacket], server: str) -> list[DhcpPacket]:
    return [p for p in packets if p.op == 2 and p.src == server]


def test_standby_takes_over_mid_install(ha_session: SimSession, tmp_path: Path) -> None:
    session = ha_session
    kea = session.lab.services.kea
    assert kea.ha is not None
    primary, standby, tftp = str(kea.address), str(kea.ha.standby), str(session.lab.services.tftp.address)
    name = session.lab.boards[0].name
    with server_trace(session, tmp_path) as trace, session.target(name) as target:
        strategy = BootStrategy(target)
        try:
            strategy.off()
            strategy.power_on()
            strategy.dhcp(expect_tftp=tftp)  # the bootloader's DORA, answered by the primary
            session.run.container("kea").kill()  # the primary dies: no goodbye, no RST, its address is gone
            killed_at = time.time()
            strategy.tftp()
            install_url = strategy.installer()  # the installer's own DHCP: only the standby can answer now
            strategy.writing()
            strategy.rebooting()
            strategy.netboot_fails()  # the reboot's DHCP: the standby says boot local
            strategy.sd_boot(hostname=target.board.install.hostname)
            strategy.ssh_ready().close()
        finally:
            strategy.attach()

    packets = board_packets(trace, target)
    before = [p for p in packets if p.time < killed_at]
    after = [p for p in packets if p.time >= killed_at]
    table = trace.table(target.board.mac)
    # before the kill: the primary alone answered; the standby (out of scope in hot-standby) stayed silent
    first = [p for p in _replies(before, primary) if p.msg_type == "ACK"]
    assert first and not _replies(before, standby), table
    assert len(first) == 1, f"the primary answered the installer's DHCP too: the kill came too late\n{table}"
    assert option(first[0], 66) == tftp and option(first[0], 224), table
    # after: the standby alone; its first ACK carries the same install options as the primary's
    assert not _replies(after, primary), table
    acks = [p for p in _replies(after, standby) if p.msg_type == "ACK"]
    assert acks, f"the standby never answered {name} after the primary died:\n{table}"
    assert (option(acks[0], 66), option(acks[0], 224)) == (tftp, option(first[0], 224)), table
    assert install_url == option(first[0], 224)
    # the reboot's DHCP: boot local from the standby too (the backend's cache flush reached its hook)
    assert [p for p in acks[1:] if option(p, 66) == "0.0.0.0" and 224 not in p.options], table

    failover_s = min(p.time for p in _replies(after, standby)) - killed_at
    transitions = [line for line in session.run.logs("kea-standby").splitlines()
                   if "HA_STATE_TRANSITION" in line and "to PARTNER-DOWN" in line]
    # how much room the kill had: the installer's first request came this long after it
    margin_s = min(p.time for p in after if p.op == 1) - killed_at
    facts = {"failover_s": round(failover_s, 2), "first_request_after_kill_s": round(margin_s, 2),
             "stages": {s.name: round(s.seconds, 2)
                                                            for s in strategy.report.stages},
             "standby_transition": transitions}
    allure.attach(json.dumps(facts, indent=2), name="failover", attachment_type=allure.attachment_type.JSON)
    print(f"\nkea ha: the standby answered {failover_s:.1f} s after the primary was killed (the installer's "
          f"first request came {margin_s:.2f} s after the kill)")
    assert transitions, "the standby never logged its move to PARTNER-DOWN"
    assert failover_s < 40.0, facts  # Kea's 10 s heartbeat timeout + the scaled max-response-delay, with room

    m = session.backend.wait_state(name, {"booted-ok"}, timeout=30.0)
    assert m["attempts"] == 1 and m["boot_mode"] == "local", m
    history = session.backend.history(name)["events"]
    started = [e["message"] for e in history if e["kind"] == "attempt"]
    assert started == ["attempt 1 started: install token issued"], history
