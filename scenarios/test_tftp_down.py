"""Scenario 4: the TFTP server is down. The board is told to netboot (66 = the TFTP server, 224 = an install
URL), the transfer fails, and the bootloader falls back to the SD card; nothing is written."""

from __future__ import annotations

import pytest

from fixtures.plugin import StrategyFactory
from harness.drivers.base import Backend, DhcpTrace
from harness.session import SimSession, Target
from scenarios.checks import acks, assert_came_up_from_sd, assert_no_netboot, events_of, option


@pytest.mark.sim_only
def test_tftp_down_falls_back_to_sd(board: Target, lab_session: SimSession, dhcp_trace: DhcpTrace,
                                    backend: Backend, boot_strategy: StrategyFactory) -> None:
    target = lab_session.target(board.name, card=lab_session.installed_card(board.name))
    before = target.card_digest()
    tftp_ip = str(lab_session.lab.services.tftp.address)
    lab_session.stop_service("tftp")
    try:
        strategy = boot_strategy(target)
        ssh = strategy.boot_local()
        strategy.attach()
        assert ssh is not None
        ssh.close()
    finally:
        lab_session.start_service("tftp")
    net = strategy.report.facts["net"]
    assert net is not None and net["tftp"] == tftp_ip, net
    got = acks(dhcp_trace, target)
    assert option(got[0], 66) == tftp_ip and 224 in got[0].options
    events = strategy.console_events()
    assert_came_up_from_sd(events, target.board.install.hostname,
                           int(target.board.eeprom.get("NET_BOOT_MAX_RETRIES", 1)))
    # the network attempt named the TFTP server and failed there: the console says so before the SD boot mode,
    # and no firmware came from the network
    first_sd = next(i for i, e in enumerate(events) if e["event"] == "boot_mode" and e["mode"] == "SD")
    before_sd = events[:first_sd]
    assert [e for e in events_of(before_sd, "net_config") if e["tftp"] == tftp_ip], before_sd
    failed = [e for e in before_sd if e["event"] in ("netboot_failed", "tftp_error", "firmware_not_found")]
    assert failed, f"no TFTP / netboot failure on the console before the SD boot: {before_sd}"
    assert_no_netboot(events)
    assert target.card_digest() == before
    m = backend.machine(target.name)
    assert m["boot_mode"] == "install" and (m["last_attempt"] or {}).get("state") in (None, "pending"), m
