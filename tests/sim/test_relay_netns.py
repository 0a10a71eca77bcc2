"""The relay switch end to end, as a real process in Linux network namespaces joined by veth pairs.

    client c1 (dc:a6:32:00:00:01, no address) ──p1 10.77.1.1┐
    client c2 (dc:a6:32:00:00:02, no address) ──p2 10.77.2.1┤ relay ── srv 10.77.0.10 ── server 10.77.0.2
                                                            ┘

The clients send scapy-built DISCOVERs as raw broadcast frames and capture what comes back; a fake DHCP
server (scapy) records what the relay forwarded and answers like Kea does (to giaddr:67, option 82 echoed,
the client's broadcast flag kept). Needs root and iproute2; a missing tool is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

CLIENT_SCRIPT = r"""
import json, socket, sys, time
from scapy.all import BOOTP, DHCP, IP, UDP, Ether
a = json.loads(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind(("eth0", 0))
mac = a["mac"]
def frame(payload, dport=67, sport=68):
    return bytes(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255", id=7)
                 / UDP(sport=sport, dport=dport) / payload)
for raw in a.get("pre", []):
    s.send(frame(bytes.fromhex(raw)))
opts = [("message-type", "discover"), ("vendor_class_id", b"PXEClient:Arch:00000:UNDI:002001")]
if a.get("spoof82"):
    opts.append(("relay_agent_information", bytes.fromhex(a["spoof82"])))
opts.append("end")
s.send(frame(BOOTP(op=1, xid=a["xid"], flags=a["flags"], chaddr=bytes.fromhex(mac.replace(":", "")) + bytes(10))
             / DHCP(options=opts)))
seen, deadline, own_at = [], time.time() + a["timeout"], None
s.settimeout(0.2)
while time.time() < deadline and (own_at is None or time.time() < own_at + a["grace"]):
    try:
        data, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    pkt = Ether(data)
    if UDP not in pkt or pkt[UDP].dport != 68 or BOOTP not in pkt:
        continue
    b = pkt[BOOTP]
    check = Ether(data)
    del check[UDP].chksum
    del check[IP].chksum
    check = Ether(bytes(check))
    seen.append({
        "eth_dst": pkt[Ether].dst, "eth_src": pkt[Ether].src, "ip_src": pkt[IP].src, "ip_dst": pkt[IP].dst,
        "sport": pkt[UDP].sport, "xid": b.xid, "yiaddr": b.yiaddr, "giaddr": b.giaddr,
        "udp_csum_ok": check[UDP].chksum == pkt[UDP].chksum, "ip_csum_ok": check[IP].chksum == pkt[IP].chksum,
        "options": [o[0] if isinstance(o, tuple) else o for o in pkt[DHCP].options],
    })
    if b.xid == a["xid"] and own_at is None:
        own_at = time.time()
print(json.dumps(seen))
"""

SERVER_SCRIPT = r"""
import json, socket, sys
from scapy.all import BOOTP, DHCP
yiaddr = json.loads(sys.argv[1])
bind = sys.argv[2] if len(sys.argv) > 2 else "0.0.0.0"  # one address of the namespace: two servers side by side
silent = len(sys.argv) > 3 and sys.argv[3] == "silent"  # records, never answers (an HA peer out of scope)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((bind, 67))
print(json.dumps({"listening": True}), flush=True)
while True:
    data, src = s.recvfrom(65535)
    b = BOOTP(data)
    opts = [o for o in b[DHCP].options if isinstance(o, tuple)]
    o82 = dict(opts).get("relay_agent_information", b"")
    codes = [o[0] if isinstance(o, tuple) else o for o in b[DHCP].options]
    print(json.dumps({"src": list(src), "hex": data.hex(), "giaddr": b.giaddr, "hops": b.hops, "xid": b.xid,
                      "flags": int(b.flags), "option82": o82.hex(), "codes": codes}), flush=True)
    if silent:
        continue
    mac = bytes(b.chaddr)[:6].hex(":")
    reply = BOOTP(op=2, xid=b.xid, flags=int(b.flags), chaddr=b.chaddr, giaddr=b.giaddr, hops=b.hops,
                  yiaddr=yiaddr[mac]) / DHCP(options=[("message-type", "offer"),
                  ("server_id", "10.77.0.2" if bind == "0.0.0.0" else bind),
                  ("tftp_server_name", b"10.77.0.4"), ("relay_agent_information", o82), "end"])
    s.sendto(bytes(reply), (b.giaddr, 67))
"""

MACS = {"c1": "dc:a6:32:00:00:01", "c2": "dc:a6:32:00:00:02"}
YIADDR = {MACS["c1"]: "10.77.1.150", MACS["c2"]: "10.77.2.150"}
CONFIG = {
    "server_address": "10.77.0.10",
    "dhcp_server": "10.77.0.2",
    "ports": [
        {"name": "port1", "address": "10.77.1.1", "subnet": "10.77.1.0/24", "circuit_id": "Gi1/0/1",
         "remote_id": "tor-t", "vendor_specific": "hex:0000a0b40104cafe0001"},
        {"name": "port2", "address": "10.77.2.1", "subnet": "10.77.2.0/24", "circuit_id": "hex:00020001",
         "remote_id": "tor-t"},
    ],
}
OPT82_P1 = b"\x01\x07Gi1/0/1" + b"\x02\x05tor-t" + b"\x09\x0a" + bytes.fromhex("0000a0b40104cafe0001")
OPT82_P2 = b"\x01\x04" + bytes.fromhex("00020001") + b"\x02\x05tor-t"


def sh(*cmd: str) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class Rig:
    ns: dict[str, str]
    tmp: Path
    procs: list[subprocess.Popen[bytes]]

    def spawn(self, where: str, args: list[str], log: str) -> subprocess.Popen[bytes]:
        out = open(self.tmp / log, "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns[where], sys.executable, *args], stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
        out.close()
        self.procs.append(proc)
        return proc

    def lines(self, log: str) -> list[dict[str, Any]]:
        out = []
        for line in (self.tmp / log).read_text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:  # a line still being written
                    continue
        return out

    def wait_for(self, log: str, pred: Any, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rec in self.lines(log):
                if pred(rec):
                    return rec
            time.sleep(0.05)
        raise AssertionError(f"{log}: nothing matching within {timeout} s:\n{(self.tmp / log).read_text()}")

    def client(self, name: str, **args: Any) -> subprocess.Popen[bytes]:
        args = {"mac": MACS[name], "flags": 0, "timeout": 8.0, "grace": 0.7, **args}
        return self.spawn(name, ["-c", CLIENT_SCRIPT, json.dumps(args)], f"{name}-{args['xid']}.out")

    def result(self, name: str, proc: subprocess.Popen[bytes], xid: int) -> list[dict[str, Any]]:
        assert proc.wait(timeout=30) == 0, (self.tmp / f"{name}-{xid}.out").read_text()
        text = (self.tmp / f"{name}-{xid}.out").read_text().strip().splitlines()[-1]
        seen: list[dict[str, Any]] = json.loads(text)
        return seen


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    if shutil.which("ip") is None:
        pytest.fail("iproute2 (ip) is not installed (scripts/setup.sh installs it)")
    if os.geteuid() != 0:
        pytest.fail("network namespaces need root")
    base = f"malina-t-{os.getpid()}"
    ns = {k: f"{base}-{k}" for k in ("c1", "c2", "r", "s")}
    veth = f"mt{os.getpid() % 1_000_000}"
    r = Rig(ns, tmp_path, [])
    try:
        for name in ns.values():
            sh("ip", "netns", "add", name)
        for client, port in (("c1", "p1"), ("c2", "p2")):
            sh("ip", "link", "add", f"{veth}{client}", "type", "veth", "peer", "name", f"{veth}{port}")
            sh("ip", "link", "set", f"{veth}{client}", "netns", ns[client], "name", "eth0", "address", MACS[client])
            sh("ip", "link", "set", f"{veth}{port}", "netns", ns["r"], "name", port)
        sh("ip", "link", "add", f"{veth}up", "type", "veth", "peer", "name", f"{veth}sv")
        sh("ip", "link", "set", f"{veth}up", "netns", ns["r"], "name", "srv")
        sh("ip", "link", "set", f"{veth}sv", "netns", ns["s"], "name", "eth0")
        sh("ip", "-n", ns["r"], "addr", "add", "10.77.1.1/24", "dev", "p1")
        sh("ip", "-n", ns["r"], "addr", "add", "10.77.2.1/24", "dev", "p2")
        sh("ip", "-n", ns["r"], "addr", "add", "10.77.0.10/24", "dev", "srv")
        sh("ip", "-n", ns["s"], "addr", "add", "10.77.0.2/24", "dev", "eth0")
        for n in ns.values():
            for dev in ("lo", *(("p1", "p2", "srv") if n == ns["r"] else ("eth0",))):
                sh("ip", "-n", n, "link", "set", "dev", dev, "up")
        sh("ip", "-n", ns["s"], "route", "add", "10.77.0.0/16", "via", "10.77.0.10")
        yield r
    finally:
        for proc in r.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
        for name in ns.values():
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30, check=False)


def test_relay_between_namespaces(rig: Rig) -> None:
    (rig.tmp / "relay.json").write_text(json.dumps(CONFIG))
    relay = rig.spawn("r", ["-m", "harness.sim.relay", "--config", str(rig.tmp / "relay.json"), "--wait", "5"],
                      "relay.out")
    rig.spawn("s", ["-c", SERVER_SCRIPT, json.dumps(YIADDR)], "server.out")
    rig.wait_for("relay.out", lambda r: r["event"] == "ready")
    rig.wait_for("server.out", lambda r: r.get("listening") is True)
    fwd = [r for r in rig.lines("relay.out") if r["event"] == "ip_forward"]
    assert fwd and fwd[0]["enabled"] is True
    assert sh("ip", "netns", "exec", rig.ns["r"], "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"
    ports = {r["name"]: r for r in rig.lines("relay.out") if r["event"] == "port"}
    assert {p: ports[p]["interface"] for p in ports} == {"port1": "p1", "port2": "p2"}

    # Both ports at once: port1 unicast (flags 0, as the Pi sends), port2 with the broadcast flag.
    c1 = rig.client("c1", xid=0x11110001)
    c2 = rig.client("c2", xid=0x22220002, flags=0x8000)
    seen1, seen2 = rig.result("c1", c1, 0x11110001), rig.result("c2", c2, 0x22220002)

    got = {r["xid"]: r for r in rig.lines("server.out") if "xid" in r}
    s1, s2 = got[0x11110001], got[0x22220002]
    assert s1["src"] == ["10.77.0.10", 67] and s2["src"] == ["10.77.0.10", 67]
    assert (s1["giaddr"], s1["hops"], s2["giaddr"], s2["hops"]) == ("10.77.1.1", 1, "10.77.2.1", 1)
    assert bytes.fromhex(s1["option82"]) == OPT82_P1
    assert bytes.fromhex(s2["option82"]) == OPT82_P2
    assert s1["codes"][-2:] == ["relay_agent_information", "end"]
    assert s1["hex"].endswith((bytes([82, len(OPT82_P1)]) + OPT82_P1 + b"\xff").hex())

    assert [r["xid"] for r in seen1] == [0x11110001], "port1 must see its own reply only"
    assert [r["xid"] for r in seen2] == [0x22220002], "port2 must see its own reply only"
    r1, r2 = seen1[0], seen2[0]
    assert (r1["eth_dst"], r1["ip_dst"], r1["yiaddr"]) == (MACS["c1"], "10.77.1.150", "10.77.1.150")
    assert (r2["eth_dst"], r2["ip_dst"]) == ("ff:ff:ff:ff:ff:ff", "255.255.255.255")
    for r, src in ((r1, "10.77.1.1"), (r2, "10.77.2.1")):
        assert r["ip_src"] == src and r["sport"] == 67
        assert r["udp_csum_ok"] and r["ip_csum_ok"]
        assert "relay_agent_information" not in r["options"]
        assert "tftp_server_name" in r["options"]
    assert r1["eth_src"] == ports["port1"]["mac"] and r2["eth_src"] == ports["port2"]["mac"]

    # Junk first, a spoofed reply, then a DISCOVER carrying its own option 82: the relay survives, drops the
    # junk with a log line each, and replaces the client's option 82 with the port's.
    junk = [b"\x01hello".hex(), bytes(300).hex(), (b"\x02" + bytes(239)).hex()]
    c1 = rig.client("c1", xid=0x11110003, pre=junk, spoof82=(b"\x01\x05Gi9/9" + b"\x02\x03bad").hex())
    seen = rig.result("c1", c1, 0x11110003)
    assert [r["xid"] for r in seen] == [0x11110003]
    s3 = next(r for r in rig.lines("server.out") if r.get("xid") == 0x11110003)
    assert bytes.fromhex(s3["option82"]) == OPT82_P1
    assert s3["codes"].count("relay_agent_information") == 1
    drops = [r["reason"] for r in rig.lines("relay.out") if r["event"] == "drop"]
    assert drops.count("malformed") >= 2 and "reply_on_access_port" in drops
    req = next(r for r in rig.lines("relay.out") if r["event"] == "request" and r["xid"] == "0x11110003")
    assert req["client_option82_removed"] is True and req["port"] == "port1"
    replies = [r for r in rig.lines("relay.out") if r["event"] == "reply"]
    assert {(r["port"], r["broadcast"]) for r in replies} == {("port1", False), ("port2", True)}
    assert all(r["option82_echoed"] and not r["circuit_mismatch"] for r in replies)

    assert relay.poll() is None, "the relay must still run"
    os.killpg(relay.pid, signal.SIGTERM)
    assert relay.wait(timeout=10) == 0
    assert rig.lines("relay.out")[-1]["event"] == "stopped"


def test_relay_forwards_to_every_helper_address(rig: Rig) -> None:
    """A Kea HA pair behind the switch: two ``ip helper-address`` lines. Every request reaches both servers;
    the reply of either goes back to the client (here the first server is silent, as a hot-standby peer out of
    scope is, and the second answers); a reply from an address that is not a helper is dropped."""
    sh("ip", "-n", rig.ns["s"], "addr", "add", "10.77.0.6/24", "dev", "eth0")
    (rig.tmp / "relay.json").write_text(json.dumps({**CONFIG, "dhcp_server": ["10.77.0.2", "10.77.0.6"]}))
    rig.spawn("r", ["-m", "harness.sim.relay", "--config", str(rig.tmp / "relay.json"), "--wait", "5"], "relay.out")
    rig.spawn("s", ["-c", SERVER_SCRIPT, json.dumps(YIADDR), "10.77.0.2", "silent"], "primary.out")
    rig.spawn("s", ["-c", SERVER_SCRIPT, json.dumps(YIADDR), "10.77.0.6"], "standby.out")
    ready = rig.wait_for("relay.out", lambda r: r["event"] == "ready")
    assert ready["dhcp_server"] == ["10.77.0.2", "10.77.0.6"]
    for log in ("primary.out", "standby.out"):
        rig.wait_for(log, lambda r: r.get("listening") is True)
    seen = rig.result("c1", rig.client("c1", xid=0x11110011), 0x11110011)
    for log in ("primary.out", "standby.out"):  # the same relayed request, once each
        got = [r for r in rig.lines(log) if r.get("xid") == 0x11110011]
        assert len(got) == 1 and got[0]["src"] == ["10.77.0.10", 67] and got[0]["giaddr"] == "10.77.1.1", got
        assert bytes.fromhex(got[0]["option82"]) == OPT82_P1
    assert [(r["xid"], r["yiaddr"]) for r in seen] == [(0x11110011, "10.77.1.150")]
    reply = rig.wait_for("relay.out", lambda r: r["event"] == "reply")
    assert reply["server"] == "10.77.0.6" and reply["port"] == "port1", reply
    # a third address of the server side answering: not a helper of this switch, dropped
    sh("ip", "-n", rig.ns["s"], "addr", "add", "10.77.0.7/24", "dev", "eth0")
    sh("ip", "netns", "exec", rig.ns["s"], sys.executable, "-c",
       "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.77.0.7', 0)); "
       "s.sendto(b'\\x02' + bytes(239) + bytes.fromhex('63825363ff'), ('10.77.0.10', 67))")
    drop = rig.wait_for("relay.out", lambda r: r["event"] == "drop" and r["reason"] == "reply_not_from_server")
    assert "10.77.0.7" in drop["detail"], drop


DORA_SCRIPT = r"""
import json, socket, sys, time
from scapy.all import BOOTP, DHCP, IP, UDP, Ether
a = json.loads(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind(("eth0", 0))
s.settimeout(0.2)
mac, xid = a["mac"], a["xid"]
chaddr = bytes.fromhex(mac.replace(":", "")) + bytes(10)
def send(opts):
    s.send(bytes(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
                 / UDP(sport=68, dport=67) / BOOTP(op=1, xid=xid, chaddr=chaddr) / DHCP(options=opts + ["end"])))
def wait(mtype):
    deadline = time.time() + 8
    while time.time() < deadline:
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        pkt = Ether(data)
        if addr[2] == socket.PACKET_OUTGOING or BOOTP not in pkt or pkt[BOOTP].xid != xid or pkt[UDP].dport != 68:
            continue
        opts = {o[0]: o[1] for o in pkt[DHCP].options if isinstance(o, tuple)}
        if opts.get("message-type") == mtype:
            return pkt, opts
    raise SystemExit(f"no DHCP message type {mtype}")
prl = ("param_req_list", [1, 3, 43, 60, 66, 67])
send([("message-type", "discover"), prl])
offer, oo = wait(2)
send([("message-type", "request"), ("requested_addr", offer[BOOTP].yiaddr), ("server_id", oo["server_id"]), prl])
ack, ao = wait(5)
out = []
for pkt, opts in ((offer, oo), (ack, ao)):
    out.append({"ip_src": pkt[IP].src, "ip_dst": pkt[IP].dst, "eth_dst": pkt[Ether].dst, "yiaddr": pkt[BOOTP].yiaddr,
                "option66": opts.get("tftp_server_name", b"").decode(), "has82": "relay_agent_information" in opts,
                "router": opts.get("router")})
print(json.dumps(out))
"""


def test_relay_with_real_kea(rig: Rig) -> None:
    """Full DORA through the relay against kea-dhcp4: Kea picks the subnet by giaddr and classifies by the
    circuit-id the relay inserted (each port's class gives a different option 66)."""
    if shutil.which("kea-dhcp4") is None:
        pytest.fail("kea-dhcp4 is not installed (scripts/setup.sh installs it)")
    subnets = []
    for i in (1, 2):
        subnets.append({"id": i, "subnet": f"10.77.{i}.0/24", "pools": [{"pool": f"10.77.{i}.100 - 10.77.{i}.199"}],
                        "relay": {"ip-addresses": [f"10.77.{i}.1"]},
                        "option-data": [{"name": "routers", "data": f"10.77.{i}.1"}]})
    kea = {"Dhcp4": {
        "interfaces-config": {"interfaces": ["eth0"], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False, "lfc-interval": 0},
        "valid-lifetime": 600,
        "client-classes": [
            {"name": "port1", "test": "relay4[1].hex == 'Gi1/0/1'",
             "option-data": [{"name": "tftp-server-name", "data": "10.77.0.41"}]},
            {"name": "port2", "test": "relay4[1].hex == 0x00020001",
             "option-data": [{"name": "tftp-server-name", "data": "10.77.0.42"}]},
        ],
        "subnet4": subnets,
        "loggers": [{"name": "kea-dhcp4", "severity": "INFO", "output_options": [{"output": "stdout"}]}],
    }}
    (rig.tmp / "kea.json").write_text(json.dumps(kea))
    (rig.tmp / "relay.json").write_text(json.dumps(CONFIG))
    env_dir = str(rig.tmp)
    out = open(rig.tmp / "kea.out", "wb")  # noqa: SIM115 - closed right after the spawn
    rig.procs.append(subprocess.Popen(
        ["ip", "netns", "exec", rig.ns["s"], "kea-dhcp4", "-c", str(rig.tmp / "kea.json")], stdout=out,
        stderr=subprocess.STDOUT, start_new_session=True,
        env=dict(os.environ, KEA_PIDFILE_DIR=env_dir, KEA_LOCKFILE_DIR=env_dir)))
    out.close()
    rig.spawn("r", ["-m", "harness.sim.relay", "--config", str(rig.tmp / "relay.json"), "--wait", "5"], "relay.out")
    rig.wait_for("relay.out", lambda r: r["event"] == "ready")
    deadline = time.monotonic() + 20
    while "DHCP4_STARTED" not in (rig.tmp / "kea.out").read_text(errors="replace"):
        assert time.monotonic() < deadline, (rig.tmp / "kea.out").read_text(errors="replace")
        time.sleep(0.1)

    procs = {name: rig.spawn(name, ["-c", DORA_SCRIPT, json.dumps({"mac": MACS[name], "xid": xid})], f"{name}.dora")
             for name, xid in (("c1", 0x0D0A0001), ("c2", 0x0D0A0002))}
    results = {}
    for name, proc in procs.items():
        text = (rig.tmp / f"{name}.dora").read_text() if proc.wait(timeout=30) == 0 else ""
        assert text, f"{name}: {(rig.tmp / f'{name}.dora').read_text()}\n{(rig.tmp / 'relay.out').read_text()}"
        results[name] = json.loads(text.strip().splitlines()[-1])
    for name, port, tftp in (("c1", 1, "10.77.0.41"), ("c2", 2, "10.77.0.42")):
        offer, ack = results[name]
        assert offer["yiaddr"].startswith(f"10.77.{port}.") and ack["yiaddr"] == offer["yiaddr"]
        for msg in (offer, ack):
            assert msg["ip_src"] == f"10.77.{port}.1" and msg["router"] == f"10.77.{port}.1"
            assert msg["option66"] == tftp, "Kea classified by the circuit-id the relay inserted"
            assert msg["has82"] is False
            assert msg["eth_dst"] == MACS[name] and msg["ip_dst"] == msg["yiaddr"]  # flags 0: unicast
    kinds = [(r["port"], r["type"]) for r in rig.lines("relay.out") if r["event"] in ("request", "reply")]
    for port_name in ("port1", "port2"):
        assert [k for p, k in kinds if p == port_name] == ["DISCOVER", "OFFER", "REQUEST", "ACK"]
    replies = [r for r in rig.lines("relay.out") if r["event"] == "reply"]
    assert replies and all(r["option82_echoed"] and not r["circuit_mismatch"] for r in replies), replies
