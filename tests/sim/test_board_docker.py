"""The board container end to end on the docker engine, with its own internal networks (labelled
``malina.owner=sim-board``, removed afterwards): Kea on the access network names a TFTP server
(option 66); the board, started from ``boardspec.board_spec``, is powered through its HTTP API, netboots
(DORA + TFTP with real packets), hands over to the Buildroot overlay's installer; a power cut kills it and
clears the interface; with a card holding an installed Ubuntu and ``BOOT_ORDER=0xf1`` it boots from SD,
applies the static address, answers SSH with the card's key, prints the login prompt and calls the booted
URL exactly once (remembered on the card across power cycles).
"""

from __future__ import annotations

import io
import ipaddress
import json
import secrets
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import paramiko
import pytest
from docker.models.containers import Container
from docker.models.networks import Network
from docker.types import IPAMConfig, IPAMPool

from harness.console.parser import parse_bytes
from harness.lab import boardspec
from harness.lab import images as lab_images
from harness.lab.docker_lab import allow_intra_bridge, forget_bridge
from harness.lab.model import Lab
from harness.sim.media import osimage
from harness.sim.media.cardfs import ext4_read, root_partition

pytestmark = [pytest.mark.docker, pytest.mark.slow]
OWNER = {"malina.owner": "sim-board"}
SERIAL = "6e87a417"
MAC = "dc:a6:32:00:00:01"

SERVER_SCRIPT = r"""
import http.server, json, logging, sys, threading, tftpy
logging.basicConfig(level=logging.WARNING)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        with open('/tmp/posts.log', 'a') as f:
            f.write(self.path + '\n')
        self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers(); self.wfile.write(b'{}')
    def log_message(self, *a):
        pass
threading.Thread(target=http.server.ThreadingHTTPServer(('0.0.0.0', 8080), H).serve_forever, daemon=True).start()
tftpy.TftpServer('/srv/tftp').listen('0.0.0.0', 69)
"""


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Env:
    client: docker.DockerClient
    tmp: Path
    access: ipaddress.IPv4Network
    mgmt: ipaddress.IPv4Network
    lab: Lab | None = None
    bridges: list[str] = field(default_factory=list)
    networks: dict[str, Network] = field(default_factory=dict)
    containers: list[Container] = field(default_factory=list)

    @property
    def workdir(self) -> Path:
        return self.tmp

    def addr(self, host: int) -> str:
        return str(self.access.network_address + host)


@pytest.fixture
def env(docker_engine: Any, tmp_path: Path) -> Iterator[Env]:
    client: docker.DockerClient = docker_engine  # type: ignore[assignment]
    e: Env | None = None
    try:
        for second in range(233, 250):
            access = ipaddress.IPv4Network(f"10.{second}.1.0/24")
            mgmt = ipaddress.IPv4Network(f"10.{second}.2.0/24")
            e = Env(client, tmp_path, access, mgmt)
            try:
                for name, net in (("access", access), ("mgmt", mgmt)):
                    pool = IPAMPool(subnet=str(net), gateway=str(net.broadcast_address - 1),
                                    iprange=f"{net.network_address + 224}/28")
                    bridge = f"msb{secrets.token_hex(3)}{name[0]}"
                    e.networks[name] = client.networks.create(
                        f"malina-simboard-{tmp_path.name[-12:]}-{name}", driver="bridge", internal=True,
                        ipam=IPAMConfig(pool_configs=[pool]), labels=OWNER,
                        options={"com.docker.network.bridge.name": bridge})
                    # docker's isolation drops frames from 0.0.0.0 (DHCP) on internal networks
                    allow_intra_bridge(bridge)
                    e.bridges.append(bridge)
                break
            except docker.errors.APIError:
                for n in e.networks.values():
                    n.remove()
                e = None
        assert e is not None, "no free subnet for the test networks"
        yield e
    finally:
        if e is not None:
            for c in e.containers:
                try:
                    c.remove(force=True)
                except docker.errors.APIError:
                    pass
            for n in e.networks.values():
                try:
                    n.remove()
                except docker.errors.APIError:
                    pass
            for b in e.bridges:
                forget_bridge(b)


def _start(e: Env, image: str, name: str, command: list[str], nets: list[tuple[str, str | None]],
           files: dict[str, bytes], **host: Any) -> Container:
    api = e.client.api
    first, ip = nets[0]
    endpoint = api.create_endpoint_config(ipv4_address=ip) if ip else api.create_endpoint_config()
    created = api.create_container(
        image, command=command, name=f"malina-simboard-{e.tmp.name[-12:]}-{name}", labels=OWNER,
        host_config=api.create_host_config(init=True, **host), hostname=name,
        networking_config=api.create_networking_config({e.networks[first].name: endpoint}),
        mac_address=host.pop("mac", None) if False else None, detach=True,
    )
    c = e.client.containers.get(created["Id"])
    e.containers.append(c)
    for net, addr in nets[1:]:
        e.networks[net].connect(c, ipv4_address=addr)
    if files:
        c.put_archive("/", _tar(files))
    c.start()
    return c


def _lab(e: Env) -> Lab:
    data = {
        "lab": {"name": "simboard", "time_factor": 0.05},
        "networks": {"server": {"subnet": "10.251.0.0/24"}, "mgmt": {"subnet": str(e.mgmt)}},
        "services": {"kea": {"address": "10.251.0.2"}, "backend": {"address": "10.251.0.3"},
                     "tftp": {"address": "10.251.0.4"}, "files": {"address": "10.251.0.5"},
                     "relay": {"address": "10.251.0.10"}},
        "switch": {"ports": [{"name": "port1", "subnet": str(e.access), "circuit_id": "Gi1/0/1"}]},
        "boards": [{"name": "pi-01", "port": "port1", "mac": MAC, "serial": SERIAL, "uart_format": "2022",
                    "eeprom": {"BOOT_ORDER": "0xf12", "NET_BOOT_MAX_RETRIES": 1},
                    "install": {"hostname": "pi-01", "address": f"{e.addr(50)}/24"}}],
    }
    return Lab.model_validate(data)


class Console:
    def __init__(self, host: str, port: int) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.sock.settimeout(0.2)
        self.buf = b""

    def wait(self, needle: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not on the console within {timeout} s:\n"
                                     f"{self.buf[-3000:].decode(errors='replace')}")
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise AssertionError("console closed")
            self.buf += data
        return self.buf


def _power(host: str, action: str | None = None) -> dict[str, Any]:
    import urllib.request

    url = f"http://{host}:7000/power" + (f"/{action}" if action else "")
    req = urllib.request.Request(url, data=b"" if action else None, method="POST" if action else "GET")
    with urllib.request.urlopen(req, timeout=20) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def _debugfs_write(card: Path, offset: int, files: dict[str, bytes], tmp: Path) -> None:
    cmds = []
    dirs = sorted({str(Path(p).parent) for p in files})
    for d in dirs:
        parts = Path(d).parts[1:]
        for i in range(1, len(parts) + 1):
            cmds.append("mkdir /" + "/".join(parts[:i]))
    for i, (path, data) in enumerate(files.items()):
        src = tmp / f"f{i}"
        src.write_bytes(data)
        cmds.append(f"rm {path}")
        cmds.append(f"write {src} {path}")
    script = tmp / "debugfs.cmds"
    script.write_text("\n".join(cmds) + "\n")
    subprocess.run(["debugfs", "-w", "-f", str(script), f"{card}?offset={offset}"], check=True,
                   capture_output=True, timeout=60)


def test_board_netboots_then_boots_the_installed_card(env: Env) -> None:
    e = env
    tags = lab_images.ensure_images(e.client, ["board", "kea", "runtime"])
    lab = _lab(e)
    e.lab = lab
    board = lab.boards[0]
    kea_conf = {"Dhcp4": {
        "interfaces-config": {"interfaces": ["eth0"]},
        "lease-database": {"type": "memfile", "persist": False},
        "valid-lifetime": 600,
        "subnet4": [{"id": 1, "subnet": str(e.access), "pools": [{"pool": f"{e.addr(100)} - {e.addr(199)}"}],
                     "option-data": [{"name": "routers", "data": e.addr(1)},
                                     {"name": "tftp-server-name", "data": e.addr(4)}]}],
    }}
    kea_cmd = ["sh", "-c", "mkdir -p /run/kea /var/lib/kea && exec kea-dhcp4 -c /etc/kea/k.json"]
    kea = _start(e, tags["kea"], "kea", kea_cmd, [("access", e.addr(2))],
                 {"/etc/kea/k.json": json.dumps(kea_conf).encode()}, cap_add=["NET_ADMIN", "NET_RAW"])
    tree = {
        f"/srv/tftp/{SERIAL}/start4.elf": b"start4" * 1000, f"/srv/tftp/{SERIAL}/fixup4.dat": b"fixup",
        f"/srv/tftp/{SERIAL}/config.txt": b"[all]\nenable_uart=1\n",
        f"/srv/tftp/{SERIAL}/cmdline.txt": b"console=serial0,115200 net.ifnames=0 malina.http_retries=0\n",
        f"/srv/tftp/{SERIAL}/kernel8.img": b"kernel" * 20000, "/srv/script.py": SERVER_SCRIPT.encode(),
    }
    server = _start(e, tags["runtime"], "server", ["python", "/srv/script.py"], [("access", e.addr(4))], tree)

    deadline = time.monotonic() + 30
    while b"0.0.0.0:8080" not in server.exec_run(["cat", "/proc/net/tcp"]).output and time.monotonic() < deadline:
        rc, _ = server.exec_run(["curl", "-s", "-o", "/dev/null", "-X", "POST", "http://127.0.0.1:8080/ready"])
        if rc == 0:
            break
        time.sleep(0.3)
    spec = boardspec.board_spec(e, board)  # type: ignore[arg-type]
    assert spec.networks == {"port-port1": None, "mgmt": str(boardspec.mgmt_address(lab, board))}
    assert set(spec.cap_add) == {"NET_ADMIN", "NET_RAW", "SYS_ADMIN"}
    card = boardspec.card_path(e.tmp, board)
    assert card.exists() and card.stat().st_size == boardspec.CARD_SIZE
    mgmt_ip = str(boardspec.mgmt_address(lab, board))
    api = e.client.api
    created = api.create_container(
        tags["board"], command=spec.command, name=f"malina-simboard-{e.tmp.name[-12:]}-board", labels=OWNER,
        hostname=spec.hostname, mac_address=spec.mac_address,
        host_config=api.create_host_config(init=True, cap_add=spec.cap_add,
                                           binds=[f"{h}:{c}" for h, c in spec.binds.items()]),
        networking_config=api.create_networking_config({e.networks["access"].name: api.create_endpoint_config()}),
        detach=True,
    )
    bc = e.client.containers.get(created["Id"])
    e.containers.append(bc)
    e.networks["mgmt"].connect(bc, ipv4_address=mgmt_ip)
    bc.put_archive("/", _tar(spec.files))
    bc.start()

    console = Console(mgmt_ip, 7001)
    assert _power(mgmt_ip)["state"] == "off"
    assert _power(mgmt_ip, "on")["state"] == "on"
    try:
        out = console.wait(b"malina: ", 60)  # the installer speaks
    except AssertionError:
        print(kea.logs().decode(errors="replace")[-5000:])
        print(server.logs().decode(errors="replace")[-3000:])
        print(bc.exec_run(["sh", "-c", "sysctl -a 2>/dev/null | grep -E 'rp_filter|ip_forward'; "
                                         "grep Udp: /proc/net/snmp; ip link; ip route; ip neigh"]).output.decode())
        raise
    parsed = parse_bytes(out)
    kinds = [ev["event"] for ev in parsed]
    for kind in ("banner", "boot_mode", "dhcp_reply", "net_config", "tftp_get", "tftp_error", "start_firmware",
                 "kernel"):
        assert kind in kinds, (kind, out.decode(errors="replace")[-4000:])
    banner = next(ev for ev in parsed if ev["event"] == "banner")
    assert banner["serial"] == SERIAL
    first_mode = next(ev for ev in parsed if ev["event"] == "boot_mode")
    assert (first_mode["mode"], first_mode["nibble"], first_mode["order"]) == ("NETWORK", 2, "f1")
    summary = next(ev for ev in parsed if ev["event"] == "summary")
    assert summary["boot_order"] == "0xf12"
    events = [json.loads(x) for x in bc.exec_run(["cat", "/var/log/malina/bootloader-events.jsonl"])
              .output.decode().splitlines()]
    names = [ev["event"] for ev in events]
    # pi-01 is an R1.1 board (c03111) on the 2022 format: the USB port-power reset before the first mode [NST]
    assert names[:3] == ["banner", "usb_port_power", "boot_mode"] and "start_firmware" in names
    tftp_paths = [ev["path"] for ev in events if ev["event"] == "tftp_get"]
    assert tftp_paths[0] == f"{SERIAL}/start4.elf"

    # power cut: everything the board ran is gone, the interface has no address
    assert _power(mgmt_ip, "off")["state"] == "off"
    ps = bc.exec_run(["ps", "-eo", "args"]).output.decode()
    assert "malina-installer" not in ps and "harness.sim.board.firmware" not in ps and "udhcpc" not in ps
    assert bc.exec_run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).output.strip() == b""

    # an installed card: SD boot
    img = osimage.build_image(e.tmp / "img", name="ubuntu")
    key = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") else None
    if key is None:
        keyfile = e.tmp / "id"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keyfile)], check=True)
        pkey: paramiko.PKey = paramiko.Ed25519Key.from_private_key_file(str(keyfile))
        pub = (e.tmp / "id.pub").read_bytes()
    else:
        pkey = key
        pub = f"{key.get_name()} {key.get_base64()}\n".encode()
    card.write_bytes(img.raw.read_bytes()[: img.size] + b"")
    with card.open("r+b") as f:
        f.truncate(boardspec.CARD_SIZE)
    root = root_partition(card)
    booted = f"http://{e.addr(4)}:8080/v1/install/tok/booted"
    _debugfs_write(card, root.start, {
        "/etc/hostname": b"pi-01\n",
        "/etc/netplan/90-malina.yaml": (f"network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses: "
                                        f"[{e.addr(50)}/24]\n      routes:\n        - to: default\n"
                                        f"          via: {e.addr(1)}\n").encode(),
        "/home/ubuntu/.ssh/authorized_keys": pub,
        "/etc/malina/booted-url": booted.encode() + b"\n",
    }, e.tmp)
    bc.exec_run(["sh", "-c", "printf 'BOOT_UART=1\\nBOOT_ORDER=0xf1\\n' > /etc/malina/eeprom.conf"])
    console.buf = b""
    _power(mgmt_ip, "on")
    sd_out = console.wait(b"pi-01 login: ", 60)
    sd_events = parse_bytes(sd_out)
    sd_modes = [(ev["mode"], ev["nibble"], ev["order"]) for ev in sd_events if ev["event"] == "boot_mode"]
    assert sd_modes == [("SD", 1, "f")]
    assert [ev["event"] for ev in sd_events][-2:] == ["login_prompt", "summary"]
    addrs = bc.exec_run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).output.decode()
    assert f"{e.addr(50)}/24" in addrs
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        posts = server.exec_run(["cat", "/tmp/posts.log"]).output.decode()
        if "/booted" in posts:
            break
        time.sleep(0.3)
    assert [x for x in posts.splitlines() if x != "/ready"] == ["/v1/install/tok/booted"]
    ssh = paramiko.SSHClient()
    ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    for _ in range(30):
        try:
            ssh.connect(e.addr(50), username="ubuntu", pkey=pkey, timeout=5, allow_agent=False,
                        look_for_keys=False)
            break
        except (OSError, paramiko.SSHException):
            time.sleep(0.5)
    _, stdout, _ = ssh.exec_command("hostname; id -un")
    assert stdout.read().decode().split() == ["pi-01", "ubuntu"]
    ssh.close()
    # the callback is remembered on the card: the next boot does not call it again
    time.sleep(0.5)
    assert ext4_read(card, root, "/etc/malina/booted-url") is None
    assert ext4_read(card, root, "/etc/malina/booted-url.done") is not None
    console.buf = b""
    _power(mgmt_ip, "cycle")
    console.wait(b"pi-01 login: ", 60)
    time.sleep(1.0)
    posts = server.exec_run(["cat", "/tmp/posts.log"]).output.decode()
    assert [x for x in posts.splitlines() if x != "/ready"] == ["/v1/install/tok/booted"]
