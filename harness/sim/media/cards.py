"""Cards for simulated boards that start out already installed (scenarios about a board that is in service:
backend down, TFTP down, moved to another port).

``preinstalled_card(image, dest, hostname=, address=, dns=, gateway=, ssh_public_key=)`` copies a test OS image
to ``dest`` and writes into its rootfs what the installer would have written (docs/ARCHITECTURE.md, "Installed
OS contract"): hostname, netplan (0600) with the board's static address, the cloud-init switch and the SSH key.
No booted callback: the board is long past its first boot. Plain values, not the lab model: the sim does not
import the lab (the caller reads them from lab.yaml's board).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness.sim.media.cardfs import root_partition

TOOL_TIMEOUT = 60


def _netplan(address: str, dns_servers: Sequence[str], gateway: str) -> bytes:
    dns = "".join(f"\n          - {d}" for d in dns_servers)
    text = (
        "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: false\n"
        f"      addresses:\n        - {address}\n"
        f"      routes:\n        - to: default\n          via: {gateway}\n"
    )
    if dns:
        text += f"      nameservers:\n        addresses:{dns}\n"
    return text.encode()


def write_files(card: Path, files: dict[str, tuple[bytes, int]]) -> None:
    """Write ``{path: (content, mode)}`` into the card's ext4 rootfs with debugfs (directories created)."""
    part = root_partition(card)
    with tempfile.TemporaryDirectory(prefix="malina-card-") as tmp:
        cmds: list[str] = []
        dirs = sorted({str(Path(p).parent) for p in files})
        for d in dirs:
            parts = Path(d).parts[1:]
            cmds += ["mkdir /" + "/".join(parts[: i + 1]) for i in range(len(parts))]
        for i, (path, (data, mode)) in enumerate(files.items()):
            src = Path(tmp) / f"f{i}"
            src.write_bytes(data)
            cmds += [f"rm {path}", f"write {src} {path}", f"sif {path} mode 0{0o100000 | mode:o}"]
        script = Path(tmp) / "cmds"
        script.write_text("\n".join(cmds) + "\n")
        subprocess.run(["debugfs", "-w", "-f", str(script), f"{card}?offset={part.start}"], check=True,
                       capture_output=True, timeout=TOOL_TIMEOUT)


def preinstalled_card(image: Path, dest: Path, *, hostname: str, address: str, dns: Sequence[str], gateway: str,
                      ssh_public_key: str) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(image, dest)
    write_files(dest, {
        "/etc/hostname": (f"{hostname}\n".encode(), 0o644),
        "/etc/netplan/90-malina.yaml": (_netplan(address, dns, gateway), 0o600),
        "/etc/cloud/cloud.cfg.d/99-disable-network-config.cfg": (b"network: {config: disabled}\n", 0o644),
        "/home/ubuntu/.ssh/authorized_keys": (ssh_public_key.strip().encode() + b"\n", 0o600),
    })
    return dest
