"""Scenario 2: a board in service (installed, booting local) is reinstalled on the operator's word."""

from __future__ import annotations

import pytest

from fixtures.plugin import StrategyFactory
from harness.drivers.base import Backend, DhcpTrace
from harness.session import Session, Target
from harness.sim.media.cardfs import ext4_read, root_partition
from harness.sim.media.cards import write_files
from harness.strategy.boot import BootStrategy
from scenarios.checks import acks, assert_came_up_from_sd, boot_modes, events_of, firmware_starts, option

MARKER = "/etc/malina/previous-install"


def _retries(target: Target) -> int:
    return int(target.board.eeprom.get("NET_BOOT_MAX_RETRIES", 1))


@pytest.mark.release_gate
def test_reinstall_of_an_installed_board(board: Target, lab_session: Session, backend: Backend,
                                         dhcp_trace: DhcpTrace, strategy: BootStrategy,
                                         boot_strategy: StrategyFactory) -> None:
    # first install through the product, then a marker on the card from "the previous life"
    strategy.install(tftp_server=str(lab_session.lab.services.tftp.address)).close()
    first = backend.wait_state(board.name, {"booted-ok"}, timeout=30.0)
    board.power.off()
    if board.card is not None:  # a simulated card, written and read on the host (a rack's card is out of reach)
        write_files(board.card, {MARKER: (b"installed before the reinstall\n", 0o644)})
        assert ext4_read(board.card, root_partition(board.card), MARKER) is not None

    # in service: it boots local and nothing is written
    before = board.card_digest()
    local = boot_strategy(board)
    ssh = local.boot_local()
    assert ssh is not None
    ssh.close()
    assert backend.machine(board.name)["boot_mode"] == "local"
    assert_came_up_from_sd(local.console_events(), board.board.install.hostname, _retries(board))

    # the operator asks for a reinstall: the next boot installs again, with a new token
    action = backend.reinstall(board.name)
    assert action["machine"]["boot_mode"] == "install"
    again = boot_strategy(board)
    tftp_ip = str(lab_session.lab.services.tftp.address)
    again.install(tftp_server=tftp_ip).close()
    again.attach()
    # console: the reinstall netbooted from the TFTP server (the installer's kernel), then came up from the card
    events = again.console_events()
    first_sd = next(i for i, e in enumerate(events) if e["event"] == "boot_mode" and e["mode"] == "SD")
    netboot = events[:first_sd]
    assert boot_modes(netboot)[0] == "NETWORK", boot_modes(events)
    assert [e for e in events_of(netboot, "net_config") if e["tftp"] == tftp_ip], netboot
    assert f"{board.board.serial}/start4.elf" in [e["path"] for e in events_of(netboot, "tftp_get")], netboot
    assert "NETWORK" in firmware_starts(netboot) and events_of(netboot, "kernel"), netboot
    assert events_of(events, "login_prompt")[-1]["host"] == board.board.install.hostname
    after = backend.wait_state(board.name, {"booted-ok"}, timeout=30.0)
    assert after["boot_mode"] == "local" and after["attempts"] >= 1
    assert after["last_attempt"]["created_at"] > first["last_attempt"]["created_at"]
    # the card was written afresh: the agent's verified hash over the whole image (the only proof on a rack) ...
    assert after["last_attempt"]["bytes_written"] == lab_session.image["size"], after["last_attempt"]
    if board.card is not None:  # ... and, on a simulated card, the marker gone
        assert ext4_read(board.card, root_partition(board.card), MARKER) is None, "the card was not rewritten"
        assert board.card_digest() != before
    urls = [option(p, 224) for p in acks(dhcp_trace, board) if 224 in p.options]
    assert len(set(urls)) == 2, f"two installs, two tokens: {urls}"
