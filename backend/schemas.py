"""Request and response bodies of the HTTP API (pydantic 2); they are the OpenAPI schema."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.decision import BootLocalMethod
from backend.identity import IdentityError, norm_hex, norm_mac, norm_serial

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
HOSTNAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
SSH_KEY_RE = re.compile(
    r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( .*)?$"
)

BootMode = Literal["install", "local"]
State = Literal["pending", "netbooting", "writing", "verifying", "configured", "booted-ok", "failed"]
Phase = Literal["netbooting", "writing", "verifying", "configured"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(char.isspace() for char in value):
        raise ValueError(f"{what} must be an http(s) URL, got {value!r}")
    return value


class Image(_In):
    url: Annotated[str, Field(max_length=2048, description="where the OS image is downloaded from")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256, decompressed")]
    size: Annotated[int, Field(gt=0, le=2**50, description="size of the decompressed image in bytes")]
    compression: Literal["xz", "none"] | None = Field(default=None, description="default: xz for a .xz URL")
    bmap_url: Annotated[str | None, Field(max_length=2048)] = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, "image url")

    @field_validator("bmap_url")
    @classmethod
    def _bmap(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, "bmap_url")

    @field_validator("sha256")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @model_validator(mode="after")
    def _compression(self) -> Image:
        if self.compression is None:
            self.compression = "xz" if urlsplit(self.url).path.endswith(".xz") else "none"
        return self


class NetworkConfig(_In):
    interface: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_.-]{1,15}$")] = "eth0"
    address: ipaddress.IPv4Interface = Field(description="address/prefix, e.g. 10.90.1.50/24")
    gateway: ipaddress.IPv4Address | None = None
    dns: Annotated[list[ipaddress.IPv4Address], Field(max_length=8)] = []

    @model_validator(mode="after")
    def _gateway_on_link(self) -> NetworkConfig:
        if self.address.network.prefixlen == 32 or self.address.ip == self.address.network.network_address:
            raise ValueError(f"address {self.address} is not a host address with a prefix like /24")
        if self.gateway is not None and self.gateway not in self.address.network:
            raise ValueError(f"gateway {self.gateway} is not in {self.address.network}")
        if self.gateway is not None and self.gateway == self.address.ip:
            raise ValueError("the gateway cannot be the machine's own address")
        return self


class InstallSpec(_In):
    hostname: Annotated[str, Field(pattern=HOSTNAME_PATTERN)]
    image: Image
    ssh_authorized_keys: Annotated[list[Annotated[str, Field(max_length=16384)]], Field(max_length=64)] = []
    network: NetworkConfig

    @field_validator("ssh_authorized_keys")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            if not SSH_KEY_RE.match(key) or "\n" in key:
                raise ValueError(f"not an SSH public key line like 'ssh-ed25519 AAAA... x': {key[:40]!r}")
        return keys


class MachineIn(_In):
    """A machine as the admin API takes it. Port ids are hex, as the hook sends them."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    sub82_1: Annotated[str, Field(max_length=765, description="circuit-id (option 82.1), hex")] = ""
    sub82_2: Annotated[str, Field(max_length=765, description="remote-id (option 82.2), hex")] = ""
    sub82_9: Annotated[str, Field(max_length=765, description="vendor-specific (option 82.9), hex")] = ""
    mac: str | None = None
    serial: str | None = None
    boot_mode: BootMode = "install"
    install: InstallSpec | None = None
    subnet: ipaddress.IPv4Network | None = Field(
        default=None, description="the switch port's subnet: the install token works only for requests from it; "
                                  "default: the network of install.network.address")

    @field_validator("sub82_1", "sub82_2", "sub82_9")
    @classmethod
    def _hex(cls, value: str) -> str:
        try:
            return norm_hex(value, "option-82 id")
        except IdentityError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return norm_mac(value)
        except IdentityError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("serial")
    @classmethod
    def _serial(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return norm_serial(value)
        except IdentityError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _complete(self) -> MachineIn:
        if not self.sub82_1 and not self.sub82_2:
            raise ValueError("a machine needs its switch port: sub82_1 (circuit-id) or sub82_2 (remote-id)")
        if self.boot_mode == "install" and self.install is None:
            raise ValueError("boot_mode 'install' needs an install scenario")
        if self.subnet is None and self.install is not None:
            # the installed OS's address lives on the board's port (its gateway is the port's relay address)
            self.subnet = self.install.network.address.network
        return self


class ImportIn(_In):
    machines: Annotated[list[MachineIn], Field(min_length=1, max_length=10_000)]


class AttemptOut(BaseModel):
    number: int
    state: State
    created_at: float
    updated_at: float
    finished_at: float | None
    expires_at: float
    bytes_written: int | None
    bytes_total: int | None
    rate_bps: float | None
    result_status: str | None
    error: str | None


class MachineOut(BaseModel):
    name: str
    sub82_1: str
    sub82_2: str
    sub82_9: str
    mac: str | None
    serial: str | None
    subnet: str | None = Field(description="the switch port's subnet (install tokens work only from there)")
    boot_mode: BootMode
    boot_local_method: BootLocalMethod | None = Field(description="the machine's own method; null: the lab's")
    boot_local_method_effective: BootLocalMethod = Field(description="the method its boot-local answers use")
    flagged: bool
    flag_reason: str | None
    attempts: int
    interruptions: int = Field(description="installs that started over mid-write since the last reinstall")
    install: dict[str, Any] | None
    last_attempt: AttemptOut | None
    created_at: float
    updated_at: float


class BootLocalMethodIn(_In):
    method: BootLocalMethod | None = Field(description="opt66-zero, tftp-deny or opt66-zero+tftp-deny; null: "
                                                       "follow the lab's setting (MALINA_BOOT_LOCAL_METHOD)")


class GateOut(BaseModel):
    open: bool = Field(description="whether the TFTP server may serve this board")
    reason: str
    machine: str | None
    method: BootLocalMethod | None


class MachineList(BaseModel):
    machines: list[MachineOut]


class ActionOut(BaseModel):
    machine: MachineOut
    kea_flush: str = Field(description="outcome of the Kea cache flush: ok, disabled or the error")


class ImportOut(BaseModel):
    created: list[str]
    updated: list[str]


class EventOut(BaseModel):
    id: int
    at: float
    kind: str
    attempt: int | None
    message: str
    data: dict[str, Any] | None


class HistoryOut(BaseModel):
    machine: str
    events: list[EventOut]


class ImageOut(BaseModel):
    url: str
    sha256: str
    size: int
    compression: Literal["xz", "none"]
    bmap_url: str | None


class NetworkOut(BaseModel):
    interface: str
    address: str
    gateway: str | None
    dns: list[str]


class ScenarioOut(BaseModel):
    machine: str
    attempt: int
    serial: str | None
    mac: str | None
    image: ImageOut
    hostname: str
    ssh_authorized_keys: list[str]
    network: NetworkOut
    netplan_url: str
    progress_url: str
    result_url: str
    booted_url: str


class ProgressIn(_In):
    phase: Phase
    bytes_written: Annotated[int, Field(ge=0, le=2**50)] = 0
    bytes_total: Annotated[int, Field(ge=0, le=2**50)] = 0
    rate_bps: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] = 0.0
    # seconds left at the current rate (the agent's console ETA); null while no rate is known
    eta_s: Annotated[float | None, Field(ge=0, le=1e9, allow_inf_nan=False)] = None


class ResultIn(_In):
    status: Literal["success", "failure"]
    sha256: Annotated[str | None, Field(pattern=r"^[0-9a-fA-F]{64}$")] = None
    bytes_written: Annotated[int | None, Field(ge=0, le=2**50)] = None
    error: Annotated[str | None, Field(max_length=4000)] = None

    @model_validator(mode="after")
    def _success_has_sha(self) -> ResultIn:
        if self.status == "success" and self.sha256 is None:
            raise ValueError("a success result must carry the sha256 of what was written")
        return self


class AttemptStateOut(BaseModel):
    machine: str
    attempt: int
    state: State
    boot_mode: BootMode
    error: str | None


class ErrorOut(BaseModel):
    detail: str
    request_id: str | None = Field(default=None, description="an internal error's id: its details are in the log")


class HealthOut(BaseModel):
    ok: bool
    database: str
    schema_revision: str | None
