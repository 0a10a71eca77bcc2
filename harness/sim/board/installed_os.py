"""The installed Ubuntu, as far as the harness can see it: what an SD boot hands over to.

    python -m harness.sim.board.installed_os --config /etc/malina/board.json

Reads the card's ext4 rootfs (the first 0x83 partition, with debugfs, nothing mounted) as the installer left
it (docs/ARCHITECTURE.md "Installed OS contract"):

- ``/etc/hostname`` → the hostname and the login prompt ``<hostname> login:``;
- ``/etc/netplan/90-malina.yaml`` → the static address and gateway on the access interface (no malina
  netplan, or ``dhcp4: true``: a DHCP lease with busybox udhcpc, as cloud-init's default netplan would);
- ``/home/ubuntu/.ssh/authorized_keys`` → sshd (openssh-server) on port 22 accepting exactly those keys;
- ``/etc/malina/booted-url`` → POSTed once (what ``malina-booted.service`` does), then renamed on the card
  to ``booted-url.done`` so that later boots do not call it again; an https URL is verified against
  ``/etc/malina/ca.pem`` on the card when the installer put it there (else the system's CAs), as the unit does.

Then a getty on the console: the login prompt, answering input as an unknown login would.

What an SSH user looks at is materialised from the card into the board container's own filesystem at boot
(``SHOWN``: hostname, the netplan file with its mode, the cloud-init switch, os-release), since the sim does not
mount the card as its root: SSH sees what the installer wrote, read back from the card on every boot.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import pwd
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.sim.board import config as board_config
from harness.sim.board import link as board_link
from harness.sim.board.config import BoardConfig
from harness.sim.media.cardfs import CardError, Partition, ext4_read, ext4_rename, root_partition

NETPLAN = "/etc/netplan/90-malina.yaml"
BOOTED = "/etc/malina/booted-url"
BOOTED_CA = "/etc/malina/ca.pem"  # the netboot image's CA, copied by the installer for an https backend
KEYS = "/home/ubuntu/.ssh/authorized_keys"
SHOWN = ("/etc/hostname", NETPLAN, "/etc/cloud/cloud.cfg.d/99-disable-network-config.cfg", "/etc/os-release")
BOOTED_RETRIES = 30  # curl --retry 30 in malina-booted.service
BOOTED_RETRY_DELAY_S = 5.0  # --retry-delay 5, scaled by the time factor


def say(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@dataclass
class NetConfig:
    addresses: list[str] = field(default_factory=list)
    gateway: str | None = None
    dns: list[str] = field(default_factory=list)
    dhcp4: bool = False


def parse_netplan(text: str) -> NetConfig:
    """The first ethernet of a netplan file: addresses, default route (routes: to default, or gateway4),
    nameservers, dhcp4. ValueError for a file that is not netplan."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("network"), dict):
        raise ValueError("not a netplan file (no 'network' mapping)")
    eths = data["network"].get("ethernets") or {}
    if not isinstance(eths, dict) or not eths:
        raise ValueError("netplan has no ethernets")
    eth: dict[str, Any] = next(iter(eths.values())) or {}
    out = NetConfig(dhcp4=bool(eth.get("dhcp4", False)))
    for addr in eth.get("addresses") or []:
        out.addresses.append(str(ipaddress.IPv4Interface(str(addr))))
    for route in eth.get("routes") or []:
        if isinstance(route, dict) and str(route.get("to")) in ("default", "0.0.0.0/0"):
            out.gateway = str(ipaddress.IPv4Address(str(route["via"])))
    if out.gateway is None and eth.get("gateway4"):
        out.gateway = str(ipaddress.IPv4Address(str(eth["gateway4"])))
    ns = eth.get("nameservers") or {}
    if isinstance(ns, dict):
        out.dns = [str(a) for a in ns.get("addresses") or []]
    return out


def apply_network(iface: str, net: NetConfig, state_dir: Path) -> None:
    board_link.flush(iface)
    board_link.ip_cmd("link", "set", "dev", iface, "up")
    if net.addresses:
        for addr in net.addresses:
            board_link.ip_cmd("addr", "add", addr, "dev", iface)
        if net.gateway:
            board_link.ip_cmd("route", "replace", "default", "via", net.gateway, "dev", iface)
        return
    if net.dhcp4:
        env = dict(os.environ, MALINA_DHCP_ENV=str(state_dir / "dhcp.env"))
        subprocess.run(["busybox", "udhcpc", "-i", iface, "-q", "-n", "-t", "5", "-T", "2",
                        "-s", "/usr/share/udhcpc/malina.script"], env=env, capture_output=True,
                       timeout=60, check=False)


def start_sshd(keys: bytes, state_dir: Path, port: int) -> subprocess.Popen[bytes] | None:
    try:
        user = pwd.getpwnam("ubuntu")
    except KeyError:
        say("sim: no 'ubuntu' user in the board image; sshd not started\n")
        return None
    ssh_dir = Path(user.pw_dir) / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    auth = ssh_dir / "authorized_keys"
    auth.write_bytes(keys)
    os.chmod(auth, 0o600)
    for p in (ssh_dir, auth):
        os.chown(p, user.pw_uid, user.pw_gid)
    subprocess.run(["ssh-keygen", "-A"], capture_output=True, check=False, timeout=60)
    Path("/run/sshd").mkdir(exist_ok=True)
    conf = state_dir / "sshd_config"
    conf.write_text(
        f"Port {port}\nListenAddress 0.0.0.0\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nAuthorizedKeysFile .ssh/authorized_keys\nUsePAM yes\nPermitRootLogin no\n"
        "PidFile none\nSubsystem sftp internal-sftp\n"
    )
    log = open("/var/log/malina/sshd.log", "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)


def call_booted(url: str, card: Path, part: Partition, time_factor: float, ca_pem: bytes | None = None) -> bool:
    """POST the booted-ok callback (retrying like the unit; ``ca_pem``: the CA it verifies against), then rename
    the file on the card."""
    context = None
    if ca_pem:
        try:
            context = ssl.create_default_context(cadata=ca_pem.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError):  # an unreadable CA: the system's CAs, as curl would fall back to
            context = None
    for _ in range(BOOTED_RETRIES + 1):
        try:
            req = urllib.request.Request(url, data=b"", method="POST")
            with urllib.request.urlopen(req, timeout=10, context=context) as resp:
                if 200 <= resp.status < 300:
                    ext4_rename(card, part, BOOTED, BOOTED + ".done")
                    return True
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(max(0.2, BOOTED_RETRY_DELAY_S * time_factor))
    return False


def getty(hostname: str, pretty: str) -> None:
    prompt = f"{hostname} login: "
    say(f"\n{pretty} {hostname} ttyS0\n\n{prompt}")
    asking_password = False
    for raw in sys.stdin.buffer:
        line = raw.decode("utf-8", "replace").strip()
        if asking_password:
            time.sleep(1)
            say(f"\nLogin incorrect\n{prompt}")
            asking_password = False
        elif line:
            say("Password: ")
            asking_password = True
        else:
            say(prompt)
    while True:  # console input closed: the system keeps running
        time.sleep(3600)


def _text(card: Path, part: Partition, path: str) -> str | None:
    data = ext4_read(card, part, path)
    return None if data is None else data.decode("utf-8", "replace")


def show_card_files(card: Path, part: Partition, root: Path = Path("/")) -> list[str]:
    """Copy ``SHOWN`` from the card into ``root`` (stale copies of files the card lacks are removed)."""
    shown = []
    for path in SHOWN:
        target = root / path.lstrip("/")
        data = ext4_read(card, part, path)
        with contextlib.suppress(OSError):
            if data is None:
                if path != "/etc/os-release":
                    target.unlink(missing_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o600 if path == NETPLAN else 0o644)
            shown.append(path)
    return shown


def run(cfg: BoardConfig) -> None:
    card = Path(cfg.card)
    state = Path(cfg.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    Path("/var/log/malina").mkdir(parents=True, exist_ok=True)
    try:
        part = root_partition(card)
        hostname = (_text(card, part, "/etc/hostname") or "ubuntu").strip() or "ubuntu"
    except CardError as exc:
        say(f"[    3.100000] VFS: Cannot open root device: {exc}\n")
        while True:
            time.sleep(3600)
    show_card_files(card, part)
    pretty = "Ubuntu"
    os_release = _text(card, part, "/etc/os-release") or ""
    for line in os_release.splitlines():
        if line.startswith("PRETTY_NAME="):
            pretty = line.split("=", 1)[1].strip().strip('"')
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(["hostname", hostname], capture_output=True, check=False, timeout=10)
    netplan = _text(card, part, NETPLAN)
    try:
        net = parse_netplan(netplan) if netplan is not None else NetConfig(dhcp4=True)
    except (ValueError, yaml.YAMLError) as exc:
        say(f"netplan: {NETPLAN}: {exc}\n")
        net = NetConfig()
    try:
        apply_network(cfg.iface, net, state)
    except (board_link.LinkError, subprocess.SubprocessError) as exc:
        say(f"netplan: {exc}\n")
    keys = ext4_read(card, part, KEYS)
    if keys:
        start_sshd(keys, state, cfg.ssh_port)
    url = _text(card, part, BOOTED)
    if url and url.strip():
        threading.Thread(target=call_booted, args=(url.strip(), card, part, cfg.time_factor,
                                                   ext4_read(card, part, BOOTED_CA)), daemon=True).start()
    getty(hostname, pretty)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.sim.board.installed_os")
    parser.add_argument("--config", default=board_config.DEFAULT_PATH)
    args = parser.parse_args(argv)
    try:
        cfg = board_config.load(args.config)
    except board_config.BoardConfigError as exc:
        print(f"installed os: {exc}", file=sys.stderr)
        return 2
    run(cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
