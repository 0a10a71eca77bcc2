"""Scenario 2: a board in service (installed, booting local) is reinstalled on the operator's word."""

from __future__ import annotations

import pytest

from harness.drivers.backend import HttpBackend
from harness.drivers.base import DhcpTrace
from harness.session import Session, Target
from harness.sim.bootloader_sd import ext4_read, root_partition
from harness.sim.cards import write_files
from harness.strategy.boot import BootStrategy
from scenarios.checks import acks, option

MARKER = "/etc/malina/previous-install"


@pytest.mark.release_gate
def test_reinstall_of_an_installed_board(board: Target, lab_session: Session, backend: HttpBackend,
                                         dhcp_trace: DhcpTrace, strategy: BootStrategy) -> None:
    # first install through the product, then a marker on the card from "the previous life"
    strategy.install(tftp_server=str(lab_session.lab.services.tftp.address)).close()
    first = backend.wait_state(board.name, {"booted-ok"}, timeout=30.0)
    assert board.card is not None
    board.power.off()
    write_files(board.card, {MARKER: (b"installed before the reinstall\n", 0o644)})
    assert ext4_read(board.card, root_partition(board.card), MARKER) is not None

    # in service: it boots local and nothing is written
    before = board.card_digest()
    local = BootStrategy(board)
    local.boot_local().close()  # type: ignore[union-attr]
    assert backend.machine(board.name)["boot_mode"] == "local"

    # the operator asks for a reinstall: the next boot installs again, with a new token
    action = backend.reinstall(board.name)
    assert action["machine"]["boot_mode"] == "install"
    again = BootStrategy(board)
    again.install(tftp_server=str(lab_session.lab.services.tftp.address)).close()
    again.attach()
    after = backend.wait_state(board.name, {"booted-ok"}, timeout=30.0)
    assert after["boot_mode"] == "local" and after["attempts"] >= 1
    assert after["last_attempt"]["created_at"] > first["last_attempt"]["created_at"]
    assert ext4_read(board.card, root_partition(board.card), MARKER) is None, "the card was not rewritten"
    assert board.card_digest() != before
    urls = [option(p, 224) for p in acks(dhcp_trace, board) if 224 in p.options]
    assert len(set(urls)) == 2, f"two installs, two tokens: {urls}"
