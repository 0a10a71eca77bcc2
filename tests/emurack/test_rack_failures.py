"""Rack failures are classified like sim ones (issue 15.4), provoked on the emulated rack: no console output, a
PoE switch's SNMP agent that does not answer, a board that never asks DHCP (its EEPROM's BOOT_ORDER) and a switch
port that relays without option 82 are each an infrastructure failure that quarantines the board, with its
evidence; and a run leaves nothing behind (containers, networks, links, ptys, socat)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.plugin import strategy_factory
from harness.drivers.base import InfraFailure
from harness.emurack import faults
from harness.emurack.rack import EmulatedRack
from harness.lab import links
from harness.lab.docker_lab import docker_client
from harness.lab.model import load_lab
from harness.leases import LeaseStore, open_store
from harness.session import RackSession, Target

pytestmark = [pytest.mark.docker, pytest.mark.slow]
LAB = Path(__file__).resolve().parents[2] / "lab.emulated-rack.yaml"
SHORT = {"off": 15.0, "power-on": 8.0, "dhcp": 15.0, "tftp": 20.0}


@pytest.fixture(scope="module")
def rack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatedRack, RackSession, LeaseStore]]:
    lab = load_lab(LAB)
    with EmulatedRack(lab) as hw:
        work = tmp_path_factory.mktemp("emurack")
        with RackSession(lab, workdir=work) as session:
            store = open_store(lab, directory=work / "leases", run_id="failures", ttl=600.0)
            yield hw, session, store
            store.close()
    # nothing left behind: containers and networks of the run, its links, the pty links, our socats
    client = docker_client()
    assert not client.containers.list(all=True, filters={"label": "malina.lab=emurack"})
    assert not client.networks.list(filters={"label": "malina.lab=emurack"})
    assert not [n for n, lb in links.run_links().items() if lb.get("malina.run") in (hw.hardware.run_id,)]
    assert not links.exists("mlemu0")
    assert not any(Path(b.console.url).exists() for b in lab.boards if b.console.url.startswith("/"))
    assert all(p.proc is None or p.proc.poll() is not None for p in hw.ptys.values())


def _done(session: RackSession, name: str) -> None:
    target = session.targets.get(name)
    if target is not None:
        target.power.off()
        session.release(target)


def _provoke(session: RackSession, store: LeaseStore, name: str) -> tuple[InfraFailure, Target]:
    session.define(name, mode="install")
    target = session.target(name)
    strategy = strategy_factory(store, session)(target, timeouts=SHORT)
    with pytest.raises(InfraFailure) as info:
        strategy.install(tftp_server=str(session.lab.services.tftp.address)).close()
    return info.value, target


def _check(store: LeaseStore, exc: InfraFailure, name: str, words: str) -> None:
    assert words in exc.message, exc.message
    assert name in store.quarantined(), store.quarantined()
    assert exc.evidence.get("console (tail)") and exc.evidence.get("power"), exc.evidence


def test_no_console_output(rack: tuple[EmulatedRack, RackSession, LeaseStore]) -> None:
    hw, session, store = rack
    faults.console_silent(hw, "emu-01")
    try:
        exc, _ = _provoke(session, store, "emu-01")
    finally:
        faults.console_silent(hw, "emu-01", False)
        _done(session, "emu-01")
    _check(store, exc, "emu-01", "no console output at all")
    assert "BOOT_UART=1" in exc.message and exc.stage == "power-on"


def test_snmp_agent_does_not_answer(rack: tuple[EmulatedRack, RackSession, LeaseStore]) -> None:
    hw, session, store = rack
    faults.snmp_silent(hw)
    try:
        exc, _ = _provoke(session, store, "emu-02")
    finally:
        faults.snmp_silent(hw, False)
        _done(session, "emu-02")
    _check(store, exc, "emu-02", "No SNMP response")
    assert "pethPsePortAdminEnable.1.2" in exc.evidence["power"]


def test_board_never_asks_dhcp(rack: tuple[EmulatedRack, RackSession, LeaseStore]) -> None:
    hw, session, store = rack
    faults.eeprom(hw, "emu-03", {"BOOT_ORDER": "0xf1", "NET_BOOT_MAX_RETRIES": 1, "BOOT_UART": 1})
    try:
        exc, _ = _provoke(session, store, "emu-03")
    finally:
        faults.eeprom(hw, "emu-03")
        _done(session, "emu-03")
    _check(store, exc, "emu-03", "never asked DHCP")
    assert "set BOOT_ORDER=0xf12" in exc.message, exc.message


def test_port_relays_without_option82(rack: tuple[EmulatedRack, RackSession, LeaseStore]) -> None:
    hw, session, store = rack
    faults.port_without_option82(hw, "gi1-0-1")
    try:
        exc, _ = _provoke(session, store, "emu-01")
    finally:
        _done(session, "emu-01")
        faults.port_without_option82(hw)
    _check(store, exc, "emu-01", "without a usable option 82")
    assert "REMOTE_OPTIONS_BAD_OPTION82" in exc.evidence["Kea log about the board"]
