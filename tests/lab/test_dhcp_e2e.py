"""End to end: real kea-dhcp4 in a container on an internal lab network answers a relayed DORA sent with
scapy from another container, with a lease from the lab.yaml pool; asserted from the captured packets."""

from __future__ import annotations

import ipaddress
import json

import pytest

from harness.lab.docker_lab import LabRun
from harness.lab.model import Lab
from harness.lab.services import ContainerSpec

pytestmark = pytest.mark.docker


def test_kea_answers_relayed_dora(default_lab: Lab, docker_engine: object) -> None:
    with LabRun(default_lab, services=("kea",), with_hook=False) as run:
        lab = run.lab
        port = lab.switch.ports[0]
        board = lab.boards[0]
        probe = ContainerSpec(
            role="probe",
            image="runtime",
            command=["sleep", "300"],
            networks={"server": str(lab.services.relay.address)},
            cap_add=["NET_ADMIN", "NET_RAW"],
        )
        run.start_spec(probe)
        rc, out = run.exec("probe", ["ip", "addr", "add", f"{port.gateway}/32", "dev", "eth0"])
        assert rc == 0, out
        subs = lab.switch.option82(port)
        cmd = [
            "python", "-m", "harness.lab.dhcpprobe", "--server", str(lab.services.kea.address),
            "--giaddr", str(port.gateway), "--mac", board.mac,
            "--circuit-id", subs[1].decode(), "--remote-id", subs[2].decode(), "--timeout", "8",
        ]
        for _attempt in range(3):  # Kea may still be opening its sockets right after start
            rc, out = run.exec("probe", cmd)
            if rc == 0:
                break
        assert rc == 0, f"probe failed: {out}\nkea log:\n{run.logs('kea')[-3000:]}"
        result = json.loads(out.strip().splitlines()[-1])
        types = [p["options"].get("message-type") for p in result["received"]]
        assert 2 in types and 5 in types, result
        offer = next(p for p in result["received"] if p["options"]["message-type"] == 2)
        ack = next(p for p in result["received"] if p["options"]["message-type"] == 5)
        lo, hi = port.pool
        leased = ipaddress.IPv4Address(ack["yiaddr"])
        assert lo <= leased <= hi, f"lease {leased} outside the lab.yaml pool {lo}-{hi}"
        assert offer["yiaddr"] == ack["yiaddr"]
        assert ack["options"]["server_id"] == str(lab.services.kea.address)
        assert ack["options"]["router"] == str(port.gateway)
        assert ack["dst"] == str(port.gateway), "the reply must go back to the relay (giaddr)"
        assert ack["chaddr"] == board.mac
        assert "DHCP4_LEASE_ALLOC" in run.logs("kea")
