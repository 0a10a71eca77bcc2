"""The lab model: lab.yaml parsed and validated with pydantic.

A lab is the infrastructure (networks, Kea, backend, TFTP, file server, relay switch with its ports) and the
boards (kind ``sim`` or ``rack``). Errors name the file, the line and the field::

    lab.yaml:27: boards[0].mac: value is not a valid MAC address ('dc:a6:32:zz:00:01')

Addresses that the model derives (a port's gateway, its Kea pool, docker's ranges) are computed here once so
that every consumer (Kea config, relay config, board specs, backend import) agrees.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.lab.keaversions import DEFAULT_KEA_VERSION, KeaVersion

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
SERIAL_RE = re.compile(r"^[0-9a-f]{8}$")


class LabConfigError(ValueError):
    """lab.yaml is unreadable or invalid; the message names file, line and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _opaque_bytes(value: str) -> bytes:
    """Option-82 ids in lab.yaml: plain text, or ``hex:0a0b…`` for binary ids."""
    if value.startswith("hex:"):
        return bytes.fromhex(value[4:])
    return value.encode()


class Network(_Strict):
    subnet: ipaddress.IPv4Network

    @property
    def docker_gateway(self) -> ipaddress.IPv4Address:
        """Docker's own bridge address on the network: the last usable host, never ``.1``."""
        return self.subnet.broadcast_address - 1


class KeaHa(_Strict):
    """A Kea high-availability pair (ISC's ``libdhcp_ha.so``, hot-standby): ``services.kea.address`` is the
    primary, ``standby`` the second server; both load the hook and the relay forwards to both. The delays are a
    real network's (Kea's defaults) and are scaled by ``lab.time_factor`` like every lab timeout
    (``harness.lab.keaconfig.ha_config``); ``max_unacked_clients`` 0 = the standby takes over as soon as the primary
    misses its heartbeats (a lab has too few clients to count unanswered ones)."""

    standby: ipaddress.IPv4Address = Field(description="the standby Kea's address on the server network")
    port: int = Field(default=8001, ge=1, le=65535,
                      description="each peer's dedicated HA HTTP listener (heartbeats and lease updates)")
    heartbeat_delay_ms: int = Field(default=10_000, ge=100, le=65_535)
    max_response_delay_ms: int = Field(default=60_000, ge=200, le=65_535)
    max_ack_delay_ms: int = Field(default=10_000, ge=100, le=65_535)
    max_unacked_clients: int = Field(default=0, ge=0, le=1000)

    @model_validator(mode="after")
    def _delays(self) -> KeaHa:
        if self.max_response_delay_ms <= self.heartbeat_delay_ms:
            raise ValueError(f"max_response_delay_ms ({self.max_response_delay_ms}) must be more than "
                             f"heartbeat_delay_ms ({self.heartbeat_delay_ms}): the partner is declared down only "
                             "after heartbeats were missed")
        return self


class KeaService(_Strict):
    address: ipaddress.IPv4Address
    log: str | None = Field(default=None, description="rack: kea-dhcp4's log file as the harness host sees it")
    user_class: str = "malina"
    machine_guid: str = "RPi4"
    connect_timeout_ms: int = Field(default=200, ge=10, le=10_000)
    request_timeout_ms: int = Field(default=800, ge=10, le=30_000)
    cache_ttl_ms: int = Field(default=5_000, ge=0, le=600_000)
    hook: bool = True
    control_port: int = Field(default=8000, ge=1, le=65535)
    ha: KeaHa | None = Field(default=None, description="a hot-standby pair: the standby's address and HA timing")

    @model_validator(mode="after")
    def _ha_ports(self) -> KeaService:
        if self.ha is not None and self.ha.standby == self.address:
            raise ValueError(f"ha.standby {self.ha.standby} is the primary's address; the standby needs its own")
        if self.ha is not None and self.ha.port == self.control_port:
            raise ValueError(f"ha.port {self.ha.port} is the control agent's port (control_port)")
        return self
    version: KeaVersion = Field(default=DEFAULT_KEA_VERSION,
                                description="the Kea release the docker lab runs (its Debian suite's package)")

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        """``version: 2.6`` unquoted is a YAML float: read it as the text it was written as."""
        if isinstance(value, float):
            return f"{value:.1f}"
        return value


def _tls_flag(value: Any) -> Any:
    """``tls``: YAML's true/false only; anything else (a string, a number) is a mistake worth naming."""
    if not isinstance(value, bool):
        raise ValueError(f"tls is true (https with the lab run's own CA) or false (plain http), not {value!r}")
    return value


# How a board that must boot local is kept off the installer (the backend's ``backend.decision.METHODS``; a test
# checks the two lists agree): option 66 = 0.0.0.0, a closed TFTP gate, or both (the default).
BootLocalMethod = Literal["opt66-zero", "tftp-deny", "opt66-zero+tftp-deny"]


class BackendService(_Strict):
    address: ipaddress.IPv4Address
    port: int = Field(default=8080, ge=1, le=65535)
    read_token: str = Field(default="malina-read-token-of-the-simulated-lab", min_length=32)
    write_token: str = Field(default="malina-write-token-of-the-simulated-lab", min_length=32)
    max_attempts: int = Field(default=3, ge=1, le=100)
    max_interruptions: int = Field(default=3, ge=1, le=100,
                                   description="MALINA_MAX_INTERRUPTIONS: installs cut mid-write before the flag")
    boot_local_method: BootLocalMethod = Field(
        default="opt66-zero+tftp-deny", description="the lab's boot-local method (MALINA_BOOT_LOCAL_METHOD); "
                                                    "a machine may override it in the backend")
    tftp_gate_token: str = Field(default="malina-tftp-gate-token-of-the-simulated-lab", min_length=32,
                                 description="MALINA_TFTP_GATE_TOKEN: the TFTP server's token for the gate")
    tls: bool = Field(default=False, description="sim: serve https with a certificate of the run's own CA "
                                                 "(harness.lab.labtls); the hook, the boards and the harness "
                                                 "verify against that CA")

    @field_validator("tls", mode="before")
    @classmethod
    def _tls(cls, value: Any) -> Any:
        return _tls_flag(value)

    @model_validator(mode="after")
    def _gate_token(self) -> BackendService:
        if self.tftp_gate_token == self.write_token:
            raise ValueError("tftp_gate_token must not be the write token: the TFTP server only reads")
        return self

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}:{self.port}"


class TftpService(_Strict):
    address: ipaddress.IPv4Address
    root: str | None = Field(default=None, description="rack: the TFTP root as the harness host sees it")
    log: str | None = Field(default=None, description="rack: the TFTP server's JSON-lines transfer log")


class ImageConfig(_Strict):
    """The OS image the backend hands out for an install (the backend's ``Image``): where the installer
    downloads it, its SHA-256 and size once decompressed, and how it is compressed."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+/\S*$", max_length=2048)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: int = Field(gt=0, le=2**50, description="bytes, decompressed")
    compression: Literal["xz", "none"] | None = Field(default=None, description="default: xz for a .xz URL")
    bmap_url: Annotated[str | None, Field(pattern=r"^https?://[^\s/]+/\S*$", max_length=2048)] = None

    @field_validator("sha256", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def spec(self) -> dict[str, Any]:
        """The backend's image mapping (compression made explicit)."""
        out = self.model_dump(mode="json", exclude_none=True)
        out.setdefault("compression", "xz" if self.url.split("?")[0].endswith(".xz") else "none")
        return out


class FilesService(_Strict):
    address: ipaddress.IPv4Address
    port: int = Field(default=8081, ge=1, le=65535)
    image: ImageConfig | None = Field(
        default=None, description="rack (required): the install image on the file server; the sim builds its own")
    root: str | None = Field(default=None, description="managed services: the directory the file server serves "
                                                       "(relative to the lab file)")
    tls: bool = Field(default=False, description="sim: serve the images (and bmaps) over https with a certificate "
                                                 "of the run's own CA (harness.lab.labtls)")

    @field_validator("tls", mode="before")
    @classmethod
    def _tls(cls, value: Any) -> Any:
        return _tls_flag(value)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}:{self.port}"


class RelayService(_Strict):
    address: ipaddress.IPv4Address


class ManagedServices(_Strict):
    """Rack: the harness runs Kea (with the hook), the backend, the TFTP and the file server itself, as
    containers of the images the sim uses (the build under test), on a macvlan of ``interface`` (the host's
    interface on the rack's server network) at the addresses of ``services.*``. ``host_address``: an address
    of this host on that network, given to a macvlan of its own (a host cannot reach its macvlans through the
    parent itself); leave it out when the host reaches the server network another way."""

    interface: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$")]
    host_address: ipaddress.IPv4Address | None = None
    dummy: bool = Field(default=False, description="create interface as a dummy for the run (a desk lab: the "
                                                   "server network lives on the harness host alone)")


class Services(_Strict):
    kea: KeaService
    backend: BackendService
    tftp: TftpService
    files: FilesService
    relay: RelayService
    managed: ManagedServices | None = Field(
        default=None, description="rack: the harness runs the services itself (docs/RACK.md, 'Managed services')")


class SwitchPort(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,20}$")]
    subnet: ipaddress.IPv4Network
    circuit_id: str = Field(min_length=1, max_length=250)
    remote_id: str | None = Field(default=None, min_length=1, max_length=250)
    vendor_specific: str | None = Field(
        default=None, description="option 82 sub-option 9 payload, text or hex:…"
    )

    @field_validator("subnet")
    @classmethod
    def _subnet_size(cls, value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if value.prefixlen > 24:
            raise ValueError("a switch port subnet must be a /24 or larger")
        return value

    @field_validator("circuit_id", "remote_id", "vendor_specific")
    @classmethod
    def _hex_ok(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("hex:"):
            try:
                raw = bytes.fromhex(value[4:])
            except ValueError as exc:
                raise ValueError(f"bad hex after 'hex:': {exc}") from None
            if not raw:
                raise ValueError("empty hex id")
        return value

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """The relay's address on this port: the boards' router and the giaddr."""
        return self.subnet.network_address + 1

    @property
    def pool(self) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
        base = self.subnet.network_address
        return base + 100, base + 199

    @property
    def docker_range(self) -> ipaddress.IPv4Network:
        """Where docker may auto-assign addresses (boards' initial, unused addresses)."""
        return ipaddress.IPv4Network(f"{self.subnet.network_address + 224}/28")

    @property
    def docker_gateway(self) -> ipaddress.IPv4Address:
        return self.subnet.broadcast_address - 1


class Switch(_Strict):
    remote_id: str = Field(default="malina-tor-1", min_length=1, max_length=250)
    ports: list[SwitchPort] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Switch:
        names = [p.name for p in self.ports]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate port names: {sorted(n for n in names if names.count(n) > 1)}")
        ids = [(p.circuit_id, p.remote_id or self.remote_id) for p in self.ports]
        if len(set(ids)) != len(ids):
            raise ValueError("two ports share the same circuit-id and remote-id")
        return self

    def port(self, name: str) -> SwitchPort:
        for p in self.ports:
            if p.name == name:
                return p
        raise KeyError(name)

    def option82(self, port: SwitchPort) -> dict[int, bytes]:
        """Sub-options the switch inserts for this port: 1 circuit-id, 2 remote-id, 9 when configured."""
        subs = {1: _opaque_bytes(port.circuit_id), 2: _opaque_bytes(port.remote_id or self.remote_id)}
        if port.vendor_specific is not None:
            subs[9] = _opaque_bytes(port.vendor_specific)
        return subs


class ConsoleConfig(_Strict):
    url: str = Field(default="sim", description="'sim', /dev/tty…, socket://host:port or rfc2217://host:port")


class PowerConfig(_Strict):
    """How a board is switched: ``sim`` (the simulated board's API), ``snmp`` (a PoE switch port:
    POWER-ETHERNET-MIB ``pethPsePortAdminEnable.<group>.<port_index>``, SNMP v2c with ``community``), or
    ``command`` (shell commands ``on`` / ``off``, optionally ``state`` exiting 0 = on, 1 = off).
    ``off_time``: seconds a power cycle keeps the board off."""

    driver: Literal["sim", "snmp", "command"] = "sim"
    host: str | None = None
    community: str = Field(default="private", min_length=1)
    group: int = Field(default=1, ge=1, description="snmp: pethPsePortGroupIndex (the switch unit / PSE)")
    port_index: int | None = Field(default=None, ge=1)
    snmp_port: int = Field(default=161, ge=1, le=65535)
    on: str | None = Field(default=None, min_length=1)
    off: str | None = Field(default=None, min_length=1)
    state: str | None = Field(default=None, min_length=1)
    off_time: float = Field(default=2.0, gt=0.0, le=600.0)

    @model_validator(mode="after")
    def _complete(self) -> PowerConfig:
        if self.driver == "snmp" and (self.host is None or self.port_index is None):
            raise ValueError("power driver 'snmp' needs host and port_index")
        if self.driver == "command" and (self.on is None or self.off is None):
            raise ValueError("power driver 'command' needs 'on' and 'off' commands")
        if self.driver != "command":
            extra = [k for k in ("on", "off", "state") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)}: only for power driver 'command' (this is {self.driver!r})")
        return self


class SshConfig(_Strict):
    user: str = "ubuntu"
    host: str | None = Field(default=None, description="rack boards; sim boards use the installed address")
    port: int = Field(default=22, ge=1, le=65535)
    key: str = Field(default="build/ssh/id_ed25519", description="private key path, relative to the lab file")


class InstallConfig(_Strict):
    hostname: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    address: ipaddress.IPv4Interface
    dns: list[ipaddress.IPv4Address] = Field(default_factory=list)
    image: str = Field(default="ubuntu-test", min_length=1)


class Board(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")]
    kind: Literal["sim", "rack"] = "sim"
    port: str
    mac: str
    serial: str
    revision: str = "c03111"
    uart_format: Literal["2021", "2022", "2024"] = "2022"
    capabilities: list[str] = Field(default_factory=list)
    eeprom: dict[str, int | str] = Field(default_factory=dict)
    console: ConsoleConfig = ConsoleConfig()
    power: PowerConfig = PowerConfig()
    ssh: SshConfig = SshConfig()
    install: InstallConfig

    @field_validator("mac", mode="before")
    @classmethod
    def _mac(cls, value: Any) -> Any:
        if isinstance(value, str):
            norm = value.strip().lower().replace("-", ":")
            if not MAC_RE.match(norm):
                raise ValueError(f"not a MAC address like dc:a6:32:01:02:03: {value!r}")
            return norm
        return value

    @field_validator("serial", mode="before")
    @classmethod
    def _serial(cls, value: Any) -> Any:
        if isinstance(value, int):
            value = f"{value:08x}"
        if isinstance(value, str):
            norm = value.strip().lower().removeprefix("0x")
            if not SERIAL_RE.match(norm):
                raise ValueError(f"a Pi serial is 8 hex digits (e.g. 6e87a417): {value!r}")
            return norm
        return value

    @field_validator("revision", mode="before")
    @classmethod
    def _revision(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(r"[0-9a-fA-F]{6,8}", value):
            raise ValueError(f"a board revision is 6-8 hex digits (e.g. c03111): {value!r}")
        return value.lower() if isinstance(value, str) else value

    @field_validator("eeprom")
    @classmethod
    def _eeprom(cls, value: dict[str, int | str]) -> dict[str, int | str]:
        for key in value:
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
                raise ValueError(f"EEPROM keys are upper case like BOOT_ORDER: {key!r}")
        return value

    @property
    def mac_bytes(self) -> bytes:
        return bytes.fromhex(self.mac.replace(":", ""))


class LabInfo(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,20}$")]
    kind: Literal["sim", "rack"] = "sim"
    time_factor: float = Field(default=1.0, gt=0.0, le=1.0)
    capture_interface: str | None = Field(
        default=None, description="rack: the harness host's interface on the server network (DHCP traces)")


class Networks(_Strict):
    server: Network
    mgmt: Network


class LeasesConfig(_Strict):
    """Where the board leases live: ``file`` (this host's lease file: the workers of one host) or ``backend``
    (the backend's database: every CI host that drives the rack; docs/RACK.md)."""

    store: Literal["file", "backend"] = "file"
    url: Annotated[str | None, Field(pattern=r"^https?://[^\s/]+/?$")] = Field(
        default=None, description="backend store: the backend keeping the leases (default services.backend.url; "
                                  "required on a sim lab, whose backend lives and dies with each run)")


class HealthConfig(_Strict):
    boards: list[str] | None = Field(default=None, description="the boards the health suite checks (default all)")


class ReleaseGateConfig(_Strict):
    min_healthy_boards: int = Field(default=0, ge=0, description="-m release_gate fails on fewer boards whose "
                                                                 "last health check passed")


class Lab(_Strict):
    lab: LabInfo
    networks: Networks
    services: Services
    switch: Switch
    boards: list[Board] = Field(default_factory=list)
    leases: LeasesConfig = LeasesConfig()
    health: HealthConfig = HealthConfig()
    release_gate: ReleaseGateConfig = ReleaseGateConfig()
    source: str = Field(default="<memory>", exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Lab:
        server = self.networks.server.subnet
        for name in ("kea", "backend", "tftp", "files", "relay"):
            addr = getattr(self.services, name).address
            if addr not in server:
                raise ValueError(f"services.{name}.address {addr} is not in networks.server {server}")
        self._ha_standby()
        self._tls_sim_only()
        if self.lab.kind == "rack" and self.services.files.image is None and self.services.managed is None:
            raise ValueError("a rack lab needs services.files.image (url, sha256, size): the image the "
                             "backend hands out for installs (managed services without it serve the test image)")
        managed = self.services.managed
        if managed is not None and managed.host_address is not None and managed.host_address not in server:
            raise ValueError(f"services.managed.host_address {managed.host_address} is not in networks.server {server}")
        subnets = [self.networks.server.subnet, self.networks.mgmt.subnet] + [p.subnet for p in self.switch.ports]
        for i, a in enumerate(subnets):
            for b in subnets[i + 1 :]:
                if a.overlaps(b):
                    raise ValueError(f"subnets {a} and {b} overlap")
        seen: dict[str, str] = {}
        for board in self.boards:
            for key, val in (("name", board.name), ("mac", board.mac), ("serial", board.serial)):
                tag = f"{key}={val}"
                if tag in seen:
                    raise ValueError(f"boards {seen[tag]} and {board.name} have the same {key} {val}")
                seen[tag] = board.name
            try:
                port = self.switch.port(board.port)
            except KeyError:
                raise ValueError(
                    f"board {board.name}: port {board.port!r} is not one of switch.ports "
                    f"{[p.name for p in self.switch.ports]}"
                ) from None
            if board.install.address.ip not in port.subnet:
                raise ValueError(
                    f"board {board.name}: install.address {board.install.address} is not in its port's "
                    f"subnet {port.subnet}"
                )
            lo, hi = port.pool
            if lo <= board.install.address.ip <= hi or board.install.address.ip in port.docker_range:
                raise ValueError(
                    f"board {board.name}: install.address {board.install.address.ip} collides with the DHCP pool "
                    f"{lo}-{hi} or docker's range {port.docker_range}"
                )
        return self._operations()

    def _ha_standby(self) -> None:
        ha = self.services.kea.ha
        if ha is None:
            return
        server = self.networks.server.subnet
        if ha.standby not in server:
            raise ValueError(f"services.kea.ha.standby {ha.standby} is not in networks.server {server}")
        for name in ("backend", "tftp", "files", "relay"):
            if getattr(self.services, name).address == ha.standby:
                raise ValueError(f"services.kea.ha.standby {ha.standby} is services.{name}'s address")

    def _tls_sim_only(self) -> None:
        """``tls`` makes a CA per run and bakes it into the simulated boards: a rack's boards boot an image that
        carries its operator's CA, and its services their own certificates (docs/SECURITY.md)."""
        on = [f"services.{name}.tls" for name in ("backend", "files") if getattr(self.services, name).tls]
        if on and self.lab.kind != "sim":
            raise ValueError(f"{', '.join(on)}: only a sim lab serves https with a CA of its own; a rack's image "
                             "carries its operator's CA and its services their own certificates "
                             "(docs/SECURITY.md, 'Deploying safely')")

    def _operations(self) -> Lab:
        """leases, health and release_gate against the boards and the kind of lab."""
        if self.leases.store == "backend" and self.lab.kind == "sim" and self.leases.url is None:
            raise ValueError("leases.store 'backend' on a sim lab needs leases.url (a backend that outlives the "
                             "run: the sim lab's own backend is per run)")
        names = [b.name for b in self.boards]
        unknown = [n for n in self.health.boards or [] if n not in names]
        if unknown:
            raise ValueError(f"health.boards: {unknown} not among the boards {names}")
        if self.release_gate.min_healthy_boards > len(names):
            raise ValueError(f"release_gate.min_healthy_boards {self.release_gate.min_healthy_boards} is more than "
                             f"the lab's {len(names)} boards")
        return self

    # -- lookups ---------------------------------------------------------------------------------------------
    @property
    def lease_url(self) -> str:
        """The backend that keeps the leases (``leases.store: backend``)."""
        return (self.leases.url or self.services.backend.url).rstrip("/")

    def health_boards(self) -> list[Board]:
        """The boards the health suite checks."""
        wanted = self.health.boards
        return [b for b in self.boards if wanted is None or b.name in wanted]

    def board(self, name: str) -> Board:
        for b in self.boards:
            if b.name == name:
                return b
        raise KeyError(f"no board {name!r} in {self.source}")

    def port_of(self, board: Board) -> SwitchPort:
        return self.switch.port(board.port)

    def subnets(self) -> list[ipaddress.IPv4Network]:
        return [self.networks.server.subnet, self.networks.mgmt.subnet] + [p.subnet for p in self.switch.ports]

    def access_supernet(self) -> list[ipaddress.IPv4Network]:
        """The access subnets, collapsed: what the server side routes via the relay."""
        return list(ipaddress.collapse_addresses(p.subnet for p in self.switch.ports))

    def scaled(self, seconds: float) -> float:
        """A real-hardware duration scaled by the lab's time factor."""
        return seconds * self.lab.time_factor

    # -- relocation for concurrent runs ----------------------------------------------------------------------
    def shifted(self, step: int) -> Lab:
        """The same lab with every address moved by ``step`` /16 blocks (second octet + step).

        Two runs of one lab.yaml at once cannot share subnets on one docker engine; the second run takes the
        next free step. Every address that lies in one of the lab's subnets moves, and nothing else does.
        """
        if step == 0:
            return self
        subnets = self.subnets()
        delta = step << 16

        def move(text: str) -> str:
            try:
                if "/" in text:
                    iface = ipaddress.IPv4Interface(text)
                    if not any(iface.ip in s for s in subnets):
                        return text
                    return f"{iface.ip + delta}/{iface.network.prefixlen}"
                addr = ipaddress.IPv4Address(text)
            except ValueError:
                return text
            if not any(addr in s for s in subnets):
                return text
            return str(addr + delta)

        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                return {k: walk(v) for k, v in node.items()}
            if isinstance(node, list):
                return [walk(v) for v in node]
            if isinstance(node, str):
                return move(node)
            return node

        data = walk(self.model_dump(mode="json"))
        return Lab.model_validate({**data, "source": self.source})

    def with_kea_version(self, version: str) -> Lab:
        """The same lab running another Kea release (the hook's lab tests run on each); an unknown release is a
        ``LabConfigError`` naming the known ones."""
        data = self.model_dump(mode="json")
        data["services"]["kea"]["version"] = version
        try:
            return Lab.model_validate({**data, "source": self.source})
        except ValidationError as exc:
            raise LabConfigError("\n".join(_errors(self.source, None, exc))) from None


# -- loading with line numbers --------------------------------------------------------------------------------


def _node_at(node: yaml.Node | None, loc: tuple[int | str, ...]) -> yaml.Node | None:
    """The deepest YAML node along a pydantic error location."""
    best = node
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    nxt = value
                    break
            if nxt is None:
                return best
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return best
        best = node
    return best


def _loc_text(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<top>"


def _errors(path: str, root: yaml.Node | None, exc: ValidationError) -> Iterator[str]:
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        node = _node_at(root, loc)
        line = node.start_mark.line + 1 if node is not None else 1
        msg = err["msg"].removeprefix("Value error, ")
        yield f"{path}:{line}: {_loc_text(loc)}: {msg}"


def parse_lab(text: str, path: str = "<string>") -> Lab:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise LabConfigError(f"{path}:{line}: YAML syntax error: {problem}") from None
    if not isinstance(data, dict):
        raise LabConfigError(f"{path}:1: the lab file must be a YAML mapping with lab, networks, services, ...")
    try:
        return Lab.model_validate({**data, "source": path})
    except ValidationError as exc:
        raise LabConfigError("\n".join(_errors(path, root, exc))) from None


def load_lab(path: str | Path) -> Lab:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabConfigError(f"{p}: cannot read the lab file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise LabConfigError(f"{p}: the lab file is not UTF-8 text") from None
    return parse_lab(text, str(p))
