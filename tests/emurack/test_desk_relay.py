"""The desk lab's relay mode (issue 15.3): the harness host relays for the board cabled to one of its interfaces,
adding that port's option 82 (``python -m harness.deskrelay``), tested with network namespaces joined by veth
pairs, the desk example lab file as it is in docs/:

    board netns (dc:a6:32:12:34:56) ──eth0 ═ usb0 10.61.1.1┐ "harness host" netns ── srv 10.60.0.250 ═ eth0 10.60.0.2
                                                            ┘  (deskrelay)                              DHCP server

At its end the relay is gone and the gateway address it put on the board's interface too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "docs" / "lab.desk.example.yaml"
MAC = "dc:a6:32:12:34:56"
pytestmark = pytest.mark.slow

# the board: one DISCOVER as a raw broadcast frame (as the Pi sends it: no address, flags 0), then what comes back
CLIENT_SCRIPT = r"""
import json, socket, sys, time
from scapy.all import BOOTP, DHCP, IP, UDP, Ether
a = json.loads(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind(("eth0", 0))
chaddr = bytes.fromhex(a["mac"].replace(":", "")) + bytes(10)
s.send(bytes(Ether(src=a["mac"], dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
             / UDP(sport=68, dport=67) / BOOTP(op=1, xid=a["xid"], chaddr=chaddr)
             / DHCP(options=[("message-type", "discover"), "end"])))
seen, deadline = [], time.time() + a["timeout"]
s.settimeout(0.2)
while time.time() < deadline and not seen:
    try:
        data, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    pkt = Ether(data)
    if addr[2] != socket.PACKET_OUTGOING and UDP in pkt and pkt[UDP].dport == 68 and BOOTP in pkt:
        seen.append({"xid": pkt[BOOTP].xid, "yiaddr": pkt[BOOTP].yiaddr,
                     "options": [o[0] if isinstance(o, tuple) else o for o in pkt[DHCP].options]})
print(json.dumps(seen))
"""

# the DHCP server: records what the relay forwarded and answers as Kea does (to giaddr:67, option 82 echoed)
SERVER_SCRIPT = r"""
import json, socket, sys
from scapy.all import BOOTP, DHCP
yiaddr = json.loads(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 67))
while True:
    data, src = s.recvfrom(65535)
    b = BOOTP(data)
    o82 = dict(o for o in b[DHCP].options if isinstance(o, tuple)).get("relay_agent_information", b"")
    print(json.dumps({"src": list(src), "giaddr": b.giaddr, "hops": b.hops, "xid": b.xid, "option82": o82.hex()}),
          flush=True)
    reply = BOOTP(op=2, xid=b.xid, chaddr=b.chaddr, giaddr=b.giaddr, hops=b.hops,
                  yiaddr=yiaddr[bytes(b.chaddr)[:6].hex(":")]) / DHCP(options=[("message-type", "offer"),
                  ("server_id", "10.60.0.2"), ("relay_agent_information", o82), "end"])
    s.sendto(bytes(reply), (b.giaddr, 67))
"""


def sh(*cmd: str) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr.strip()}"
    return proc.stdout


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[dict[str, str]]:
    if os.geteuid() != 0:
        pytest.fail("network namespaces need root")
    base = f"malina-desk-{os.getpid()}"
    ns = {k: f"{base}-{k}" for k in ("pi", "h", "s")}
    v = f"md{os.getpid() % 1_000_000}"
    try:
        for name in ns.values():
            sh("ip", "netns", "add", name)
        sh("ip", "link", "add", f"{v}a", "type", "veth", "peer", "name", f"{v}b")
        sh("ip", "link", "set", f"{v}a", "netns", ns["pi"], "name", "eth0", "address", MAC)
        sh("ip", "link", "set", f"{v}b", "netns", ns["h"], "name", "usb0")
        sh("ip", "link", "add", f"{v}c", "type", "veth", "peer", "name", f"{v}d")
        sh("ip", "link", "set", f"{v}c", "netns", ns["h"], "name", "srv")
        sh("ip", "link", "set", f"{v}d", "netns", ns["s"], "name", "eth0")
        sh("ip", "-n", ns["h"], "addr", "add", "10.60.0.250/24", "dev", "srv")  # the managed host macvlan's part
        sh("ip", "-n", ns["s"], "addr", "add", "10.60.0.2/24", "dev", "eth0")
        for n, devs in ((ns["pi"], ("lo", "eth0")), (ns["h"], ("lo", "srv")), (ns["s"], ("lo", "eth0"))):
            for dev in devs:
                sh("ip", "-n", n, "link", "set", "dev", dev, "up")
        sh("ip", "-n", ns["s"], "route", "add", "10.61.0.0/16", "via", "10.60.0.250")
        yield {**ns, "tmp": str(tmp_path)}
    finally:
        for name in ns.values():
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30, check=False)


def _lines(path: Path) -> list[dict[str, object]]:
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def test_the_host_relays_for_its_port_with_option82(desk: dict[str, str]) -> None:
    tmp = Path(desk["tmp"])
    done = tmp / "done"
    server_out, relay_out = tmp / "server.out", tmp / "relay.out"
    with server_out.open("wb") as out:
        server = subprocess.Popen(["ip", "netns", "exec", desk["s"], sys.executable, "-c", SERVER_SCRIPT,
                                   json.dumps({MAC: "10.61.1.150"})], stdout=out, stderr=subprocess.STDOUT)
    waiter = f"import os, time\nwhile not os.path.exists({str(done)!r}): time.sleep(0.1)\n"
    with relay_out.open("wb") as out:
        relay = subprocess.Popen(["ip", "netns", "exec", desk["h"], sys.executable, "-m", "harness.deskrelay",
                                  "--lab", str(LAB), "--interface", "usb0", "--", sys.executable, "-c", waiter],
                                 stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while not any(r.get("event") == "ready" for r in _lines(relay_out)):
            assert time.monotonic() < deadline, relay_out.read_text()
            time.sleep(0.1)
        args = {"mac": MAC, "timeout": 8.0, "xid": 0x0DE5C001}
        client = subprocess.run(["ip", "netns", "exec", desk["pi"], sys.executable, "-c", CLIENT_SCRIPT,
                                 json.dumps(args)], capture_output=True, text=True, timeout=60, cwd=REPO)
        assert client.returncode == 0, client.stderr
        seen = json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        done.touch()
        rc = relay.wait(timeout=30)
        server.terminate()
        server.wait(timeout=10)
    assert rc == 0, relay_out.read_text()
    got = next(r for r in _lines(server_out) if r.get("xid") == 0x0DE5C001)
    assert got["src"] == ["10.60.0.250", 67] and got["giaddr"] == "10.61.1.1" and got["hops"] == 1, got
    assert bytes.fromhex(str(got["option82"])) == b"\x01\x06desk/1" + b"\x02\x07desk-01", got
    assert [r["xid"] for r in seen] == [0x0DE5C001] and seen[0]["yiaddr"] == "10.61.1.150", seen
    assert "relay_agent_information" not in seen[0]["options"]
    # nothing left: the relay ended with the command, the gateway address is off the board's interface
    assert "10.61.1.1" not in sh("ip", "-n", desk["h"], "-o", "-4", "addr", "show", "dev", "usb0")
    assert any(r.get("event") == "stopped" for r in _lines(relay_out)), relay_out.read_text()
