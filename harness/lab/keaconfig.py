"""Kea configuration generated from the lab model: kea-dhcp4 and kea-ctrl-agent.

Kea sees only relayed traffic (the relay switch unicasts to it), so it listens on UDP sockets. One subnet per
switch port, selected by the relay's address (giaddr); the hook asks the backend for options 66 and 224.
"""

from __future__ import annotations

from typing import Any

from harness.lab.model import Lab

HOOK_PATH = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_remote_options.so"
CONTROL_SOCKET = "/run/kea/kea4-ctrl-socket"
# where the kea container holds the hook's bearer secret (the lab writes it there: harness.lab.services.kea_spec)
HOOK_SECRET_PATH = "/etc/kea/malina-hook.secret"


def hook_parameters(lab: Lab, threads: int = 8, *, secret_file: str | None = HOOK_SECRET_PATH) -> dict[str, Any]:
    """The hook's parameters; ``secret_file`` (the container's path of the bearer secret, None: none sent)."""
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
    return params


def dhcp4_config(lab: Lab, *, with_hook: bool | None = None, threads: int = 8,
                 secret_file: str | None = HOOK_SECRET_PATH) -> dict[str, Any]:
    use_hook = lab.services.kea.hook if with_hook is None else with_hook
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
        "control-socket": {"socket-type": "unix", "socket-name": CONTROL_SOCKET},
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
                "output_options": [{"output": "stdout", "pattern": "%d{%Y-%m-%d %H:%M:%S.%q} %-5p [%c] %m\n"}],
                "severity": "INFO",
            }
        ],
    }
    if use_hook:
        params = hook_parameters(lab, threads, secret_file=secret_file)
        config["hooks-libraries"] = [{"library": HOOK_PATH, "parameters": params}]
    return {"Dhcp4": config}


def ctrl_agent_config(lab: Lab) -> dict[str, Any]:
    return {
        "Control-agent": {
            "http-host": "0.0.0.0",
            "http-port": lab.services.kea.control_port,
            "control-sockets": {"dhcp4": {"socket-type": "unix", "socket-name": CONTROL_SOCKET}},
            "loggers": [{"name": "kea-ctrl-agent", "output_options": [{"output": "stdout"}], "severity": "WARN"}],
        }
    }
