"""Container specs of the lab's infrastructure roles (Kea, backend, TFTP, files, relay).

A spec is plain data; ``harness.lab.docker_lab`` turns it into containers. Boards' specs come from
``harness.lab.boardspec``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.lab.keaconfig import HOOK_CA_PATH, HOOK_SECRET_PATH, ctrl_agent_config, dhcp4_config
from harness.lab.keaversions import has_ctrl_agent, image_name
from harness.lab.labtls import CA_PATH, CERT_PATH, KEY_PATH, LabTls
from harness.lab.model import Lab


@dataclass
class ContainerSpec:
    role: str
    image: str  # key into harness.lab.images.SPECS
    command: list[str]
    networks: dict[str, str | None]  # lab network name -> static IPv4 (None: docker assigns)
    env: dict[str, str] = field(default_factory=dict)
    cap_add: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # absolute path in the container -> content
    binds: dict[str, str] = field(default_factory=dict)  # host path -> "container path[:ro]"
    routes_via_relay: bool = False  # add a route to the access subnets via the relay
    mac_address: str | None = None
    hostname: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()


def _run_tls(tls: LabTls | None, option: str, what: str) -> LabTls:
    """The run's CA and certificates, which an https lab's specs cannot do without."""
    if tls is None:
        raise ValueError(f"{option}: {what} comes from the run's CA; pass tls= (harness.lab.labtls.make)")
    return tls


# where the backend container holds the hook's bearer secret (MALINA_HOOK_SECRET_FILE)
BACKEND_HOOK_SECRET_PATH = "/etc/malina/hook.secret"


def kea_spec(lab: Lab, *, with_hook: bool | None = None, standby: bool = False,
             hook_secret: str | None = None, tls: LabTls | None = None) -> ContainerSpec:
    """kea-dhcp4 of the lab's Kea release; on Kea 2.x kea-ctrl-agent beside it (3.0 answers HTTP itself). In a
    lab with ``services.kea.ha`` the primary of the HA pair, or with ``standby`` the standby (role
    ``kea-standby``, at ``ha.standby``). ``hook_secret`` goes to the hook's ``auth-secret-file`` (None: no
    credential, and a real backend answers 401); with an https backend, ``tls``'s CA to its ``tls-ca-file``."""
    kea = lab.services.kea
    hook = kea.hook if with_hook is None else with_hook
    agent = has_ctrl_agent(kea.version)
    ha = kea.ha
    if standby and ha is None:
        raise ValueError("a Kea standby needs services.kea.ha in the lab file")
    ha_role = None if ha is None else ("standby" if standby else "primary")
    address = ha.standby if standby and ha is not None else kea.address
    secret_file = HOOK_SECRET_PATH if hook and hook_secret else None
    ca_file = HOOK_CA_PATH if hook and lab.services.backend.tls else None
    script = (
        # restarts: stale pids; Kea 2.6.2+ refuses a socket directory more open than 0750
        "set -e; mkdir -p /run/kea /var/lib/kea; chmod 0750 /run/kea; rm -f /run/kea/*.pid /run/kea/*.lock; "
        + ("kea-ctrl-agent -c /etc/kea/kea-ctrl-agent.conf & " if agent else "")
        + "exec kea-dhcp4 -c /etc/kea/kea-dhcp4.conf"
    )
    files = {"/etc/kea/kea-dhcp4.conf": _json(dhcp4_config(lab, with_hook=hook, ha_role=ha_role,
                                                       secret_file=secret_file, ca_file=ca_file))}
    if secret_file and hook_secret:
        files[HOOK_SECRET_PATH] = (hook_secret + "\n").encode()
    if ca_file:
        files[HOOK_CA_PATH] = _run_tls(tls, "services.backend.tls", "the hook's CA").ca_pem
    if agent:
        files["/etc/kea/kea-ctrl-agent.conf"] = _json(ctrl_agent_config(lab))
    return ContainerSpec(
        role="kea-standby" if standby else "kea",
        image=image_name(kea.version, hook=hook),
        command=["sh", "-c", script],
        networks={"server": str(address)},
        cap_add=["NET_ADMIN", "NET_RAW"],
        files=files,
        routes_via_relay=True,
    )


def backend_spec(lab: Lab, *, hook_secret: str | None = None, tls: LabTls | None = None) -> ContainerSpec:
    """The backend; ``hook_secret`` is the credential it wants on ``/v1/dhcp/options`` (None: it refuses all);
    with ``services.backend.tls``, https with ``tls``'s certificate for it."""
    b = lab.services.backend
    env = {
        "MALINA_DB_URL": "sqlite:////var/lib/malina/malina.db",
        "MALINA_PUBLIC_URL": b.url,
        "MALINA_TFTP_SERVER": str(lab.services.tftp.address),
        "MALINA_ADMIN_READ_TOKEN": b.read_token,
        "MALINA_ADMIN_WRITE_TOKEN": b.write_token,
        "MALINA_MAX_ATTEMPTS": str(b.max_attempts),
        "MALINA_MAX_INTERRUPTIONS": str(b.max_interruptions),
        "MALINA_LOOP_GUARD_WINDOW_S": str(max(30.0, lab.scaled(600.0))),
        "MALINA_LOOP_GUARD_COUNT": "3",
        "MALINA_BOOT_LOCAL_METHOD": b.boot_local_method,
        "MALINA_TFTP_GATE_TOKEN": b.tftp_gate_token,
    }
    files: dict[str, bytes] = {}
    if hook_secret:
        env["MALINA_HOOK_SECRET_FILE"] = BACKEND_HOOK_SECRET_PATH
        files[BACKEND_HOOK_SECRET_PATH] = (hook_secret + "\n").encode()
    if lab.services.kea.hook:
        env["MALINA_KEA_CONTROL_URL"] = f"http://{lab.services.kea.address}:{lab.services.kea.control_port}/"
        if lab.services.kea.ha is not None:  # both servers' hooks cache answers: a flush must reach both
            env["MALINA_KEA_STANDBY_CONTROL_URL"] = (f"http://{lab.services.kea.ha.standby}:"
                                                     f"{lab.services.kea.control_port}/")
    serve = f"--port {b.port}"
    if b.tls:
        serve += f" --tls-cert {CERT_PATH} --tls-key {KEY_PATH}"
        files.update(_run_tls(tls, "services.backend.tls", "the backend's certificate").server_files("backend"))
    return ContainerSpec(
        role="backend",
        image="backend",
        command=["sh", "-c", "mkdir -p /var/lib/malina && exec malina-backend serve --host 0.0.0.0 " + serve],
        networks={"server": str(b.address)},
        env=env,
        files=files,
        cap_add=["NET_ADMIN"],
        routes_via_relay=True,
    )


def tftp_spec(lab: Lab, root: Path, logdir: Path | None = None, *, tls: LabTls | None = None) -> ContainerSpec:
    binds = {str(root): "/srv/tftp:ro"}
    if logdir is not None:  # the transfer log on the host, for the harness's TFTP driver
        binds[str(logdir)] = "/var/log/malina"
    # the TFTP gate (issue 19): the server asks the backend whether it may serve a board (an https backend:
    # verified against the run's CA)
    command = ["python", "-m", "harness.sim.tftpserver", "--root", "/srv/tftp", "--log",
               "/var/log/malina/tftp.jsonl", "--gate-url", lab.services.backend.url]
    files: dict[str, bytes] = {}
    if lab.services.backend.tls:
        command += ["--gate-ca", CA_PATH]
        files = _run_tls(tls, "services.backend.tls", "the TFTP gate's CA").ca_files()
    return ContainerSpec(
        role="tftp",
        image="runtime",
        command=command,
        networks={"server": str(lab.services.tftp.address)},
        env={"MALINA_TFTP_GATE_TOKEN": lab.services.backend.tftp_gate_token},
        cap_add=["NET_ADMIN"],
        files=files,
        binds=binds,
        routes_via_relay=True,
    )


def files_spec(lab: Lab, root: Path, *, tls: LabTls | None = None) -> ContainerSpec:
    """The image server: Python's http.server, or with ``services.files.tls`` the same handler over https
    (``harness.sim.fileserver``, ``tls``'s certificate for it)."""
    port = str(lab.services.files.port)
    command = ["python", "-m", "http.server", port, "--directory", "/srv/files"]
    files: dict[str, bytes] = {}
    if lab.services.files.tls:
        command = ["python", "-m", "harness.sim.fileserver", "--port", port, "--directory", "/srv/files",
                   "--tls-cert", CERT_PATH, "--tls-key", KEY_PATH]
        files = _run_tls(tls, "services.files.tls", "the file server's certificate").server_files("files")
    return ContainerSpec(
        role="files",
        image="runtime",
        command=command,
        networks={"server": str(lab.services.files.address)},
        cap_add=["NET_ADMIN"],
        files=files,
        binds={str(root): "/srv/files:ro"},
        routes_via_relay=True,
    )


def relay_config(lab: Lab) -> dict[str, Any]:
    """The relay's JSON config (see harness/sim/relay/agent.py for its meaning)."""
    ports = []
    for port in lab.switch.ports:
        subs = lab.switch.option82(port)
        ports.append(
            {
                "name": port.name,
                "address": str(port.gateway),
                "subnet": str(port.subnet),
                "circuit_id": "hex:" + subs[1].hex(),
                "remote_id": "hex:" + subs[2].hex(),
                "vendor_specific": ("hex:" + subs[9].hex()) if 9 in subs else None,
            }
        )
    return {
        "server_address": str(lab.services.relay.address),
        # a Kea HA pair: the switch relays to both (one ip helper-address line each)
        "dhcp_server": ([str(lab.services.kea.address), str(lab.services.kea.ha.standby)]
                        if lab.services.kea.ha is not None else str(lab.services.kea.address)),
        "ports": ports,
    }


def relay_spec(lab: Lab) -> ContainerSpec:
    networks: dict[str, str | None] = {"server": str(lab.services.relay.address)}
    for port in lab.switch.ports:
        networks[f"port-{port.name}"] = str(port.gateway)
    return ContainerSpec(
        role="relay",
        image="runtime",
        command=["python", "-m", "harness.sim.relay", "--config", "/etc/malina/relay.json"],
        networks=networks,
        cap_add=["NET_ADMIN", "NET_RAW"],
        sysctls={"net.ipv4.ip_forward": "1"},
        files={"/etc/malina/relay.json": _json(relay_config(lab))},
    )
