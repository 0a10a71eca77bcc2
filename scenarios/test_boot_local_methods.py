"""Scenario 7 (issue 19): each boot-local method end to end — a board that must boot local never gets its
installer and reaches its SD card; the full sequence and the reinstall path work with every method.

Methods (the backend's ``decision.METHODS``, set per machine here): ``opt66-zero`` (option 66 = 0.0.0.0),
``tftp-deny`` (option 66 = the TFTP server, whose gate answers "File not found" to the board) and the default
``opt66-zero+tftp-deny`` (both).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from fixtures.plugin import StrategyFactory
from harness.drivers.backend import HttpBackend
from harness.drivers.base import DhcpPacket, DhcpTrace
from harness.session import Session, SimSession, Target
from scenarios.checks import acks, assert_came_up_from_sd, boot_modes, events_of, option

METHODS = ("opt66-zero", "tftp-deny", "opt66-zero+tftp-deny")


def zeroes_option66(method: str) -> bool:
    return method != "tftp-deny"


def closes_gate(method: str) -> bool:
    return method != "opt66-zero"


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest, board: Target, backend: HttpBackend) -> Iterator[str]:
    """The board's machine gets its own boot-local method for the test; back to the lab's afterwards."""
    name = str(request.param)
    machine = backend.set_boot_local_method(board.name, name)["machine"]
    assert machine["boot_local_method_effective"] == name
    try:
        yield name
    finally:
        backend.set_boot_local_method(board.name, None)


def _retries(target: Target) -> int:
    return int(target.board.eeprom.get("NET_BOOT_MAX_RETRIES", 1))


def assert_local_answers(packets: Sequence[DhcpPacket], method: str, tftp_ip: str, target: Target,
                         trace: DhcpTrace) -> None:
    """Every ACK says boot local by ``method``: no option 224; 66 = 0.0.0.0, or the TFTP server (tftp-deny)."""
    want = "0.0.0.0" if zeroes_option66(method) else tftp_ip
    assert packets, f"no boot-local ACK for {target.name}:\n{trace.table(target.board.mac)}"
    for p in packets:
        assert option(p, 66) == want and 224 not in p.options, (
            f"{target.name} ({method}) got {option(p, 66)!r}/224={option(p, 224)!r}:\n{trace.table(target.board.mac)}")


def assert_refused_by_method(events: Sequence[dict[str, Any]], served: Sequence[dict[str, Any]], method: str,
                             serial: str, tftp_ip: str) -> None:
    """The console and the TFTP server's log of one local boot: the network attempts named no server (0.0.0.0)
    or were refused file by file (tftp-deny: ``TFTP 1: File not found`` … ``Firmware not found``); nothing of
    the board's tree was served."""
    nets = events_of(events, "net_config")
    assert len(boot_modes(events)) >= 2 and boot_modes(events)[-1] == "SD", boot_modes(events)
    mine = [e for e in served if str(e.get("path", "")).startswith(f"{serial}/")]
    assert not [e for e in mine if e.get("event") == "complete"], f"served to a board that must boot local: {mine}"
    if zeroes_option66(method):
        assert nets and {e["tftp"] for e in nets} == {"0.0.0.0"}, nets
        assert not events_of(events, "tftp_get") and events_of(events, "netboot_failed"), events
        return
    assert nets and {e["tftp"] for e in nets} == {tftp_ip}, nets
    errors = events_of(events, "tftp_error")
    assert errors and {(e["code"], e["message"]) for e in errors} == {(1, "File not found")}, errors
    assert len(events_of(events, "firmware_not_found")) == len([m for m in boot_modes(events) if m == "NETWORK"])
    assert f"{serial}/start4.elf" in [e["path"] for e in events_of(events, "tftp_get")]
    refused = [e for e in mine if e.get("event") == "error" and "gate" in e]
    assert refused and all(e["outcome"] == "not_found" for e in refused), mine
    assert all(e["gate"] == f"boot local ({method})" for e in refused), refused


@pytest.mark.sim_only
def test_boot_local_is_refused_and_reaches_sd(board: Target, method: str, lab_session: SimSession,
                                              backend: HttpBackend, dhcp_trace: DhcpTrace,
                                              boot_strategy: StrategyFactory) -> None:
    """A board in service (installed card, machine in local): by every method it never gets the installer and
    comes up from its card; tftp-deny's TFTP requests are answered "File not found" by the gate."""
    target = lab_session.target(board.name, card=lab_session.installed_card(board.name))
    backend.set_local(board.name)
    before = target.card_digest()
    tftp_ip = str(lab_session.lab.services.tftp.address)
    since = time.time()
    strategy = boot_strategy(target)
    strategy.boot_local(ssh=False)
    strategy.attach()
    events = strategy.console_events()
    assert_came_up_from_sd(events, target.board.install.hostname, _retries(target))
    assert_refused_by_method(events, lab_session.tftp.served(since), method, target.board.serial, tftp_ip)
    assert_local_answers(acks(dhcp_trace, target), method, tftp_ip, target, dhcp_trace)
    assert target.card_digest() == before, "the card changed while booting local"
    assert not backend.machine(board.name)["flagged"]


@pytest.mark.release_gate
def test_install_then_boot_local_then_reinstall(board: Target, method: str, lab_session: Session,
                                                backend: HttpBackend, dhcp_trace: DhcpTrace,
                                                boot_strategy: StrategyFactory) -> None:
    """The full sequence by ``method`` (the install's own reboot boots local), then the reinstall path."""
    tftp_ip = str(lab_session.lab.services.tftp.address)
    first = boot_strategy(board)
    first.install(tftp_server=tftp_ip).close()
    first.attach()
    installed = backend.wait_state(board.name, {"booted-ok"}, timeout=30.0)
    assert installed["boot_mode"] == "local" and not installed["flagged"]
    events = first.console_events()
    after_install = events[max(i for i, e in enumerate(events) if e["event"] == "banner"):]
    assert_came_up_from_sd(after_install, board.board.install.hostname, _retries(board))
    got = acks(dhcp_trace, board)
    assert option(got[0], 66) == tftp_ip and 224 in got[0].options  # install opens the gate, whatever the method
    assert_local_answers(_after_install(got), method, tftp_ip, board, dhcp_trace)

    # reinstall: the next boot installs again (a new token), then boots local by the method again
    assert backend.reinstall(board.name)["machine"]["boot_mode"] == "install"
    again = boot_strategy(board)
    since = time.time()
    again.install(tftp_server=tftp_ip).close()
    again.attach()
    after = backend.wait_state(board.name, {"booted-ok"}, timeout=30.0)
    assert after["boot_mode"] == "local" and after["last_attempt"]["number"] == installed["last_attempt"]["number"] + 1
    served = lab_session.tftp.served(since)
    assert [e for e in served if e.get("event") == "complete" and e.get("path") == f"{board.board.serial}/kernel8.img"]
    events = again.console_events()
    after_reinstall = events[max(i for i, e in enumerate(events) if e["event"] == "banner"):]
    # the server's log after the installer's last read: the reboot's local boot
    last_read = max(i for i, e in enumerate(served) if e.get("event") == "complete")
    assert_refused_by_method(after_reinstall, served[last_read + 1:], method, board.board.serial, tftp_ip)
    got = acks(dhcp_trace, board)
    urls = [option(p, 224) for p in got if 224 in p.options]
    assert len(set(urls)) == 2, f"two installs, two tokens: {urls}"
    assert_local_answers(_after_install(got), method, tftp_ip, board, dhcp_trace)


def _after_install(packets: Sequence[DhcpPacket]) -> list[DhcpPacket]:
    """The ACKs after the last one that carried an install URL (option 224): the boot-local answers."""
    last = max(i for i, p in enumerate(packets) if 224 in p.options)
    return list(packets[last + 1:])
