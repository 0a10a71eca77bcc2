"""https in the sim lab (issue 13.3): lab.yaml ``services.backend.tls`` / ``services.files.tls``.

When either is on, a lab run makes its own CA (``harness.lab.tlsca.LabCa``, a fresh one per run: nothing to
keep, nothing to leak beyond the run) and issues one server certificate per https service for its lab address
(the run's, after ``Lab.shifted``). Who gets what:

- the backend: its certificate and key, served with ``malina-backend serve --tls-cert/--tls-key``;
- the file server: its certificate and key (``harness.sim.fileserver``), for the images and bmaps;
- Kea's hook: the CA file (hook parameter ``tls-ca-file``), its ``url`` https;
- the TFTP server: the CA file for its gate's calls to the backend (``--gate-ca``);
- each simulated board: the CA at ``/etc/malina/ca.pem`` and its https backend origin in the allowlist
  (``harness.lab.agenttrust``), as the netboot image's malina-agent package installs them;
- the harness: ``run.ca_file`` on the host (``<workdir>/tls/ca.pem``), which every client of the backend and
  the file server verifies against (``client_context``).

Off (the default) none of this exists and every spec is what it was without the option.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.lab.model import Lab
from harness.lab.tlsca import Issued, LabCa

# where a server container holds its certificate, key and the CA (one directory per container)
TLS_DIR = "/etc/malina/tls"
CERT_PATH = f"{TLS_DIR}/server.pem"
KEY_PATH = f"{TLS_DIR}/server.key"
CA_PATH = f"{TLS_DIR}/ca.pem"
HTTPS_ROLES = ("backend", "files")


def https_roles(lab: Lab) -> list[str]:
    """The services the lab serves over https (``services.<role>.tls``)."""
    return [role for role in HTTPS_ROLES if getattr(lab.services, role).tls]


@dataclass(frozen=True)
class LabTls:
    """One run's CA and the server certificates it issued (``servers``: role → certificate)."""

    ca_pem: bytes
    servers: dict[str, Issued]
    ca_file: Path  # the CA on the harness host

    def server_files(self, role: str) -> dict[str, bytes]:
        """What an https server container gets: its certificate, key and the CA."""
        issued = self.servers[role]
        return {CERT_PATH: issued.cert_pem, KEY_PATH: issued.key_pem, CA_PATH: self.ca_pem}

    def ca_files(self) -> dict[str, bytes]:
        """What a client container gets: the CA alone."""
        return {CA_PATH: self.ca_pem}


def make(lab: Lab, folder: Path, name: str) -> LabTls | None:
    """The run's CA and certificates for ``lab``'s https services (None when none is https), also written to
    ``folder`` (``ca.pem``; ``<role>.pem`` / ``<role>.key``, 0600) for a person or a test that needs them."""
    roles = https_roles(lab)
    if not roles:
        return None
    ca = LabCa.create(name)
    servers = {role: ca.issue(str(getattr(lab.services, role).address)) for role in roles}
    folder.mkdir(parents=True, exist_ok=True)
    for role, issued in servers.items():
        issued.write(folder, role)
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.pem)
    return LabTls(ca.pem, servers, ca_file)


def client_context(ca_file: str | Path) -> ssl.SSLContext:
    """A client's TLS context that trusts ``ca_file`` alone (host names and addresses checked)."""
    return ssl.create_default_context(cafile=str(ca_file))


def with_tls(lab: Lab, *, name: str | None = None, backend: bool = True, files: bool = True) -> Lab:
    """``lab`` with https for the backend and/or the file server; ``name`` renames the lab (its docker labels
    say which lab a run is). A rack lab is refused by the model (``LabConfigError`` is not raised here: the
    model's own ``ValidationError`` names the field)."""
    data: dict[str, Any] = lab.model_dump(mode="json")
    data["services"]["backend"]["tls"] = backend
    data["services"]["files"]["tls"] = files
    if name is not None:
        data["lab"]["name"] = name
    return Lab.model_validate({**data, "source": f"{lab.source} (with https)"})
