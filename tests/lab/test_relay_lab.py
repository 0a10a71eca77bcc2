"""The relay switch in the docker lab: a client broadcasting on an access network gets a lease from its port's
pool; Kea saw the request relayed with the port's option 82, and the reply reached the client without it."""

from __future__ import annotations

import ipaddress
import json

import pytest

from harness.lab.docker_lab import LabRun
from harness.lab.model import Lab
from harness.lab.services import ContainerSpec

pytestmark = pytest.mark.docker


def test_client_on_access_port_gets_lease_through_relay(default_lab: Lab, docker_engine: object) -> None:
    with LabRun(default_lab, services=("kea", "relay"), with_hook=False) as run:
        lab = run.lab
        port = lab.switch.ports[1]  # port2: with sub-option 9
        board = lab.boards[1]
        run.start_spec(ContainerSpec(role="client", image="runtime", command=["sleep", "300"],
                                     networks={f"port-{port.name}": None}, cap_add=["NET_ADMIN", "NET_RAW"]))
        out = ""
        for _ in range(3):  # relay and Kea may still be opening their sockets
            rc, out = run.exec("client", ["python", "-m", "harness.lab.dhcpclient", "--mac", board.mac])
            if rc == 0:
                break
        assert rc == 0, f"{out}\nrelay:\n{run.logs('relay')[-2000:]}\nkea:\n{run.logs('kea')[-2000:]}"
        result = json.loads(out.strip().splitlines()[-1])
        ack = result["ack"]
        lo, hi = port.pool
        assert lo <= ipaddress.IPv4Address(ack["yiaddr"]) <= hi
        assert ack["options"]["router"] == str(port.gateway)
        assert "relay_agent_information" not in ack["options"], "the relay must strip option 82"
        assert ack["giaddr"] == str(port.gateway)
        relay_log = [json.loads(line) for line in run.logs("relay").splitlines() if line.startswith("{")]
        assert relay_log, "the relay logs one JSON line per packet"
