"""Power drivers: the sim API over HTTP, shell commands, and SNMP (POWER-ETHERNET-MIB) against a small PoE
switch stand-in on 127.0.0.1 that speaks real SNMP v2c (pysnmp's message codec)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from harness.drivers.base import PowerError
from harness.drivers.power import PETH_ADMIN_ENABLE, CommandPower, SimPower, SnmpPower, power_for
from harness.lab.model import Board, LabConfigError, parse_lab

REPO = Path(__file__).resolve().parents[2]


def _board_with_power(power: dict[str, Any]) -> Board:
    """pi-01 of the default lab with ``power`` as its lab.yaml power section (through the YAML loader)."""
    doc = yaml.safe_load((REPO / "lab.yaml").read_text())
    doc["boards"][0]["power"] = power
    return parse_lab(yaml.safe_dump(doc), "lab.yaml").boards[0]


class PowerApi:
    def __init__(self) -> None:
        self.state = "off"
        self.calls: list[str] = []
        api_ = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                return

            def _answer(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer(200, {"state": api_.state, "boots": 0})

            def do_POST(self) -> None:
                action = self.path.rsplit("/", 1)[-1]
                api_.calls.append(action)
                if action not in ("on", "off", "cycle"):
                    self._answer(404, {"error": "no such action"})
                    return
                api_.state = "off" if action == "off" else "on"
                self._answer(200, {"state": api_.state})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def test_sim_power_round_trip() -> None:
    srv = PowerApi()
    p = SimPower(srv.url)
    assert p.state() == "off"
    p.on()
    assert p.state() == "on"
    p.cycle()
    p.off()
    assert p.state() == "off" and srv.calls == ["on", "cycle", "off"]
    srv.server.shutdown()
    srv.server.server_close()
    with pytest.raises(PowerError, match="power API"):
        SimPower(srv.url, timeout_s=1).on()


def test_command_power(tmp_path: Path) -> None:
    flag = tmp_path / "relay"
    p = CommandPower(f"touch {flag}", f"rm -f {flag}", f"test -e {flag}", off_time=0.01)
    assert p.state() == "off"
    p.on()
    assert flag.exists() and p.state() == "on"
    p.cycle()
    assert p.state() == "on"
    p.off()
    assert p.state() == "off"
    assert CommandPower("true", "true").state() == "unknown"
    with pytest.raises(PowerError, match="exit 3"):
        CommandPower("exit 3", "true").on()
    with pytest.raises(PowerError, match="timed out"):
        CommandPower("sleep 5", "true", timeout_s=0.3).on()


class PoeSwitch:
    """An SNMP v2c agent for pethPsePortAdminEnable.<group>.<port> only (GET and SET), on 127.0.0.1."""

    def __init__(self, community: str = "private") -> None:
        self.community = community
        self.ports: dict[str, int] = {f"{PETH_ADMIN_ENABLE}.{g}.{i}": 2 for g in (1, 2) for i in range(1, 9)}
        self.sets: list[tuple[str, int]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                return
            msg, _ = decoder.decode(data, asn1Spec=p.Message())
            if str(p.apiMessage.get_community(msg)) != self.community:
                continue  # a wrong community gets no answer, as on a real switch
            req = p.apiMessage.get_pdu(msg)
            rsp = p.apiPDU.get_response(req)
            binds = []
            for oid, value in p.apiPDU.get_varbinds(req):
                key = str(oid)
                if key not in self.ports:
                    binds.append((oid, p.NoSuchInstance()))
                    continue
                if req.isSameTypeWith(p.SetRequestPDU()):
                    self.ports[key] = int(value)
                    self.sets.append((key, int(value)))
                binds.append((oid, p.Integer(self.ports[key])))
            p.apiPDU.set_varbinds(rsp, binds)
            p.apiMessage.set_pdu(msg, rsp)
            self.sock.sendto(encoder.encode(msg), peer)

    def close(self) -> None:
        self.sock.close()


def test_snmp_power_against_a_poe_switch() -> None:
    sw = PoeSwitch()
    try:
        p = SnmpPower("127.0.0.1", 3, port=sw.port, off_time=0.01)
        assert p.state() == "off"
        p.on()
        assert sw.ports[f"{PETH_ADMIN_ENABLE}.1.3"] == 1 and p.state() == "on"
        p.cycle()
        assert sw.sets[-2:] == [(f"{PETH_ADMIN_ENABLE}.1.3", 2), (f"{PETH_ADMIN_ENABLE}.1.3", 1)]
        p.off()
        assert p.state() == "off"
        with pytest.raises(PowerError, match="SNMP"):
            SnmpPower("127.0.0.1", 3, port=sw.port, community="wrong", timeout_s=0.3).on()
    finally:
        sw.close()


def test_power_for_picks_by_lab(default_lab: Any) -> None:
    board: Board = default_lab.boards[0]
    assert isinstance(power_for(board, sim_url="http://10.89.1.100:7000"), SimPower)
    with pytest.raises(PowerError):
        power_for(board, sim_url=None)
    snmp = board.model_copy(update={"power": board.power.model_copy(
        update={"driver": "snmp", "host": "192.0.2.10", "port_index": 4})})
    assert isinstance(power_for(snmp, sim_url=None), SnmpPower)
    cmd = board.model_copy(update={"power": board.power.model_copy(
        update={"driver": "command", "on": "true", "off": "true"})})
    assert isinstance(power_for(cmd, sim_url=None), CommandPower)


def test_command_power_state_and_off_time_come_from_the_lab_file(tmp_path: Path) -> None:
    flag = tmp_path / "relay"
    text = (REPO / "lab.yaml").read_text()
    doc = yaml.safe_load(text)
    # the documented form: quoted "on"/"off" keys, a state command (exit 0 = on, 1 = off), an off time
    doc["boards"][0]["power"] = {"driver": "command", "on": f"touch {flag}", "off": f"rm -f {flag}",
                                 "state": f"test -e {flag}", "off_time": 0.05}
    board = parse_lab(yaml.safe_dump(doc), "lab.yaml").boards[0]
    assert board.power.state == f"test -e {flag}" and board.power.off_time == 0.05
    p = power_for(board, sim_url=None)
    assert isinstance(p, CommandPower) and p.off_time == 0.05
    assert p.state() == "off"
    p.on()
    assert p.state() == "on"
    p.off()
    assert p.state() == "off"
    assert power_for(_board_with_power({"driver": "command", "on": "true", "off": "true"}),
                     sim_url=None).state() == "unknown"


def test_power_config_rejects_misplaced_commands() -> None:
    with pytest.raises(LabConfigError, match="state: only for power driver 'command'"):
        _board_with_power({"driver": "snmp", "host": "192.0.2.10", "port_index": 1, "state": "true"})
    with pytest.raises(LabConfigError, match="off_time"):
        _board_with_power({"driver": "command", "on": "true", "off": "true", "off_time": 0})
    with pytest.raises(LabConfigError, match="needs 'on' and 'off'"):
        _board_with_power({"driver": "command", "on": "true"})


def test_snmp_group_community_and_off_time_come_from_the_lab_file() -> None:
    sw = PoeSwitch(community="rack-rw")
    try:
        board = _board_with_power({"driver": "snmp", "host": "127.0.0.1", "snmp_port": sw.port, "group": 2,
                                   "port_index": 5, "community": "rack-rw", "off_time": 0.01})
        p = power_for(board, sim_url=None)
        assert isinstance(p, SnmpPower) and p.off_time == 0.01
        p.on()
        assert sw.sets == [(f"{PETH_ADMIN_ENABLE}.2.5", 1)]  # the configured group, not unit 1
        assert p.state() == "on" and sw.ports[f"{PETH_ADMIN_ENABLE}.1.5"] == 2
        p.cycle()
        assert sw.sets[-2:] == [(f"{PETH_ADMIN_ENABLE}.2.5", 2), (f"{PETH_ADMIN_ENABLE}.2.5", 1)]
    finally:
        sw.close()
