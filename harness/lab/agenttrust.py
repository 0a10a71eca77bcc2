"""What a lab bakes into its netboot image for the agent's trust (issue 13.3), as files at the paths where the
malina-agent package installs them (buildroot/package/malina-agent: ``BR2_PACKAGE_MALINA_AGENT_ALLOWED_ORIGINS``
→ ``/etc/malina/allowed-origins``, ``BR2_PACKAGE_MALINA_AGENT_CA_FILE`` → ``/etc/malina/ca.pem``). The simulated
board gets the same files in its container; a rack's image gets them from its Buildroot configuration.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.lab.model import Lab

ORIGINS_FILE = "/etc/malina/allowed-origins"
CA_FILE = "/etc/malina/ca.pem"


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL, the port always explicit (the agent's ``origin_of`` in trust.sh)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def origins_text(lab: Lab) -> str:
    """The allowlist: the lab's backend, the one origin option 224 may name."""
    return f"# origins the installer accepts in DHCP option 224\n{origin(lab.services.backend.url)}\n"


def agent_trust_files(lab: Lab, ca_pem: bytes | None = None) -> dict[str, bytes]:
    """The allowlist, and the lab CA when the lab serves https."""
    files = {ORIGINS_FILE: origins_text(lab).encode()}
    if ca_pem is not None:
        files[CA_FILE] = ca_pem
    return files
