"""Scenario 5: the image's hash does not match. The install fails and is reported; the card is not left
bootable (its first MiB is written last, never on a failure); the board is not looped: the installer stays
down with the error, and a board that is power-cycled anyway stops being offered installs at the attempt cap."""

from __future__ import annotations

import time

import pytest

from fixtures.plugin import StrategyFactory
from harness.console.parser import parse_bytes
from harness.drivers.base import Backend, DhcpTrace
from harness.session import Session, Target
from harness.strategy.boot import BANNER, INSTALL_FAILED, SD_MODE, START_FROM_NET
from scenarios.checks import acks, assert_no_netboot, boot_modes, events_of, firmware_starts, option


@pytest.mark.release_gate
def test_bad_image_hash_fails_reported_and_not_looped(board: Target, lab_session: Session, backend: Backend,
                                                      dhcp_trace: DhcpTrace, boot_strategy: StrategyFactory) -> None:
    bad = {**lab_session.image, "sha256": "0" * 64}
    lab_session.define(board.name, mode="install", image=bad)
    cap = lab_session.lab.services.backend.max_attempts
    tftp_ip = str(lab_session.lab.services.tftp.address)
    for attempt in range(1, cap + 1):
        s = boot_strategy(board)
        s.off()
        s.power_on()
        s.dhcp(expect_tftp=tftp_ip)
        s.tftp()
        s.installer()
        failed = board.console.expect(INSTALL_FAILED, s.timeouts["writing"], deaths=())
        s.attach()
        assert b"sha256" in failed.match.group(0), (attempt, failed.match.group(0),
                                                    backend.history(board.name, 20)["events"])
        m = backend.wait_state(board.name, {"failed"}, timeout=30.0)
        assert m["attempts"] == attempt, (attempt, m)  # one attempt per install, the cap's included
        # console: this attempt netbooted the installer (network firmware, its kernel) and failed there
        events = s.console_events()
        assert boot_modes(events)[0] == "NETWORK" and "NETWORK" in firmware_starts(events), events
        assert events_of(events, "kernel"), f"no installer kernel on the console: {events}"
        assert not events_of(events, "login_prompt"), "a failed install must not boot a system"
        assert "sha256" in (m["last_attempt"]["error"] or ""), m["last_attempt"]
        head = board.card_head(1 << 20)
        if head is not None:
            assert head == bytes(len(head)), "a failed install left a boot sector on the card"
        if attempt == 1:
            # the installer stays with the error: no reboot, no new attempt
            mark = board.console.mark()
            time.sleep(max(3.0, 40 * lab_session.lab.lab.time_factor))
            assert BANNER.encode() not in board.console.slice(mark)
            quiet = parse_bytes(board.console.slice(mark))
            assert not [e for e in quiet if e["event"] in ("banner", "boot_mode", "start_firmware")], quiet
            assert backend.machine(board.name)["attempts"] == 1
    m = backend.machine(board.name)
    assert m["boot_mode"] == "local" and m["flagged"], m
    # power-cycled once more, it is told to boot local: no new install
    s = boot_strategy(board)
    s.off()
    s.power_on()
    net = s.netboot_fails()
    assert net is None or net["tftp"] == "0.0.0.0"
    s.attach()
    # console: the network attempt fails and the bootloader moves on to the card; no firmware from the network
    # (the board is not looped through the installer again)
    board.console.expect(SD_MODE, s.timeouts["sd-boot"], deaths=(START_FROM_NET,))
    time.sleep(max(2.0, 20 * lab_session.lab.lab.time_factor))
    events = s.console_events()
    assert "SD" in boot_modes(events), boot_modes(events)
    assert all(e["tftp"] == "0.0.0.0" for e in events_of(events, "net_config")), events_of(events, "net_config")
    assert_no_netboot(events)
    assert not events_of(events, "tftp_get"), events_of(events, "tftp_get")
    last = acks(dhcp_trace, board)[-1]
    assert option(last, 66) == "0.0.0.0" and 224 not in last.options
    urls = {option(p, 224) for p in acks(dhcp_trace, board) if 224 in p.options}
    assert len(urls) == cap, f"one token per attempt: {urls}"
