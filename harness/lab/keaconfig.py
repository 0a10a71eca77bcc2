"""Kea configuration generated from the lab model: kea-dhcp4 and, for Kea 2.x, kea-ctrl-agent.

Kea sees only relayed traffic (the relay switch unicasts to it), so it listens on UDP sockets. One subnet per
switch port, selected by the relay's address (giaddr); the hook asks the backend for options 66 and 224.

With ``services.kea.ha`` the lab runs two servers as an ISC high-availability pair in hot-standby mode: the
same config for both but ``this-server-name``; ``libdhcp_lease_cmds.so`` (HA sends lease updates as lease
commands) and ``libdhcp_ha.so`` load before the hook, so that HA drops what the standby must not answer before
the hook would ask the backend. The peers talk over HA's own HTTP listener (``ha.port``), not through
kea-ctrl-agent: the one way Kea 2.2, 2.6 and 3.0 (which deprecates the agent) all support.
Per release (``services.kea.version``, see ``harness.lab.keaversions``): Kea 2.2/2.6 get a UNIX control socket
that kea-ctrl-agent serves on ``control_port``; Kea 3.0 serves HTTP on ``control_port`` itself
(``control-sockets``, socket-type http). Paths stay where Kea 2.6.2+ and 3.0 insist they are: the hook in Kea's
hooks directory, the UNIX socket in its socket directory (``/run/kea``, mode 0750 in the image).
"""

from __future__ import annotations

from typing import Any

from harness.lab.keaversions import KeaVersion, has_ctrl_agent
from harness.lab.model import Lab

HOOK_PATH = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_remote_options.so"
# the bench's floor library (hook/floor/floor.cc): callouts at the hook's hook points that return at once
FLOOR_PATH = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_malina_floor.so"
CONTROL_SOCKET = "/run/kea/kea4-ctrl-socket"
HOOKS_DIR = "/usr/lib/x86_64-linux-gnu/kea/hooks"
HA_ROLES = ("primary", "standby")
# where the kea container holds the hook's bearer secret (the lab writes it there: harness.lab.services.kea_spec)
HOOK_SECRET_PATH = "/etc/kea/malina-hook.secret"
# where the kea container holds the CA of an https backend (lab.yaml services.backend.tls: the run's own CA)
HOOK_CA_PATH = "/etc/kea/malina-ca.pem"


def hook_parameters(lab: Lab, threads: int = 8, *, secret_file: str | None = HOOK_SECRET_PATH,
                    ca_file: str | None = None) -> dict[str, Any]:
    """The hook's parameters; ``secret_file`` (the container's path of the bearer secret, None: none sent);
    ``ca_file`` (the container's path of the CA an https backend's certificate must chain to)."""
    kea = lab.services.kea
    params: dict[str, Any] = {
        "url": f"{lab.services.backend.url}/v1/dhcp/options",
        "user-class": kea.user_class,
        "machine-guid": kea.machine_guid,
        "connect-timeout-ms": kea.connect_timeout_ms,
        "request-timeout-ms": kea.request_timeout_ms,
        "cache-ttl-ms": kea.cache_ttl_ms,
        "allowed-options": [66, 67, 224],
        "failure-policy": "boot-local",
        # at most threads-1 packet threads wait on the backend: one always serves other clients
        "max-concurrent-requests": max(1, threads - 2),
    }
    if secret_file:
        params["auth-secret-file"] = secret_file
    if ca_file:
        params["tls-ca-file"] = ca_file
    return params


def _scaled_ms(lab: Lab, ms: int, floor: int) -> int:
    return max(floor, round(lab.scaled(ms)))


def ha_config(lab: Lab, role: str) -> dict[str, Any]:
    """The ``high-availability`` parameters of the pair's server ``role`` (``primary`` or ``standby``).

    Kea's delays are a real network's; the lab scales them by ``time_factor`` (at 0.05 the standby is told to
    expect a heartbeat every 0.5 s and declares the primary down after 3 s without one). Kea itself bounds the
    detection from below: a heartbeat to a vanished peer waits for Kea's fixed 10 s HTTP request timeout before
    it counts as failed (docs/KEA-HA.md)."""
    kea = lab.services.kea
    ha = kea.ha
    if ha is None or role not in HA_ROLES:
        raise ValueError(f"no HA role {role!r} in a lab without services.kea.ha (roles: {HA_ROLES})")
    heartbeat = _scaled_ms(lab, ha.heartbeat_delay_ms, 100)
    addresses = {"primary": kea.address, "standby": ha.standby}
    return {
        "this-server-name": role,
        "mode": "hot-standby",
        "heartbeat-delay": heartbeat,
        "max-response-delay": max(heartbeat + 100, _scaled_ms(lab, ha.max_response_delay_ms, 200)),
        "max-ack-delay": _scaled_ms(lab, ha.max_ack_delay_ms, 100),
        "max-unacked-clients": ha.max_unacked_clients,
        # explicit, because the defaults differ: Kea 2.2 uses the control agent unless told, 2.6+ this listener
        "multi-threading": {"enable-multi-threading": True, "http-dedicated-listener": True,
                            "http-listener-threads": 2, "http-client-threads": 2},
        "peers": [{"name": name, "url": f"http://{addresses[name]}:{ha.port}/", "role": name,
                   "auto-failover": True} for name in HA_ROLES],
    }


def ha_hooks(lab: Lab, role: str) -> list[dict[str, Any]]:
    """The two ISC hooks an HA server loads, in the order Kea needs (lease_cmds first)."""
    return [{"library": f"{HOOKS_DIR}/libdhcp_lease_cmds.so"},
            {"library": f"{HOOKS_DIR}/libdhcp_ha.so", "parameters": {"high-availability": [ha_config(lab, role)]}}]


def _output_key(version: KeaVersion) -> str:
    """Kea 2.2 knows only ``output_options``; 2.6+ spell it ``output-options`` (the underscore is deprecated)."""
    return "output_options" if version == "2.2" else "output-options"


def control_sockets(lab: Lab) -> dict[str, Any]:
    """kea-dhcp4's control socket entry: UNIX (for kea-ctrl-agent) on Kea 2.x, its own HTTP listener on 3.0."""
    kea = lab.services.kea
    if has_ctrl_agent(kea.version):
        return {"control-socket": {"socket-type": "unix", "socket-name": CONTROL_SOCKET}}
    return {"control-sockets": [{"socket-type": "http", "socket-address": "0.0.0.0", "socket-port": kea.control_port}]}


def dhcp4_config(lab: Lab, *, with_hook: bool | None = None, threads: int = 8,
                 ha_role: str | None = None, secret_file: str | None = HOOK_SECRET_PATH,
                 ca_file: str | None = None) -> dict[str, Any]:
    """kea-dhcp4's config; ``ha_role`` (``primary`` / ``standby``) makes it one server of the HA pair;
    ``secret_file`` and ``ca_file`` as in ``hook_parameters``."""
    kea = lab.services.kea
    use_hook = kea.hook if with_hook is None else with_hook
    subnets: list[dict[str, Any]] = []
    for index, port in enumerate(lab.switch.ports, start=1):
        lo, hi = port.pool
        subnets.append(
            {
                "id": index,
                "subnet": str(port.subnet),
                "pools": [{"pool": f"{lo} - {hi}"}],
                "relay": {"ip-addresses": [str(port.gateway)]},
                "option-data": [{"name": "routers", "data": str(port.gateway)}],
                "user-context": {"malina-port": port.name},
            }
        )
    config: dict[str, Any] = {
        "interfaces-config": {"interfaces": ["*"], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False, "lfc-interval": 0},
        "valid-lifetime": 600,
        "renew-timer": 300,
        "rebind-timer": 525,
        "authoritative": True,
        "multi-threading": {
            "enable-multi-threading": True,
            "thread-pool-size": threads,
            "packet-queue-size": 256,
        },
        "option-def": [{"name": "malina-install-url", "code": 224, "type": "string", "space": "dhcp4"}],
        "subnet4": subnets,
        "loggers": [
            {
                "name": "kea-dhcp4",
                _output_key(kea.version): [{"output": "stdout", "pattern": "%d{%Y-%m-%d %H:%M:%S.%q} %-5p [%c] %m\n"}],
                "severity": "INFO",
            }
        ],
    }
    config.update(control_sockets(lab))
    hooks = ha_hooks(lab, ha_role) if ha_role is not None else []
    if use_hook:
        hooks.append({"library": HOOK_PATH, "parameters": hook_parameters(lab, threads, secret_file=secret_file,
                                                                                 ca_file=ca_file)})
    if hooks:
        config["hooks-libraries"] = hooks
    return {"Dhcp4": config}


def ctrl_agent_config(lab: Lab) -> dict[str, Any]:
    """kea-ctrl-agent's configuration (Kea 2.x only: on 3.0 the lab runs no agent)."""
    return {
        "Control-agent": {
            "http-host": "0.0.0.0",
            "http-port": lab.services.kea.control_port,
            "control-sockets": {"dhcp4": {"socket-type": "unix", "socket-name": CONTROL_SOCKET}},
            "loggers": [{"name": "kea-ctrl-agent", _output_key(lab.services.kea.version): [{"output": "stdout"}],
                         "severity": "WARN"}],
        }
    }
