"""The relay switch's config file (JSON), validated; its format is documented in ``harness.sim.relay``."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.dhcp.codec import (
    SUB_CIRCUIT_ID,
    SUB_REMOTE_ID,
    SUB_VENDOR_SPECIFIC,
    DhcpWireError,
    build_option82,
    parse_id,
)


class RelayConfigError(ValueError):
    """The relay config is unreadable or invalid; the message names the file and the field."""


def _id_ok(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_id(value)
        except DhcpWireError as exc:
            raise ValueError(str(exc)) from None
    return value


class PortModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    address: ipaddress.IPv4Address
    subnet: ipaddress.IPv4Network | None = None
    circuit_id: str
    remote_id: str | None = None
    vendor_specific: str | None = None
    insert_option82: bool = True  # False: a port that relays without option 82 (a switch misconfiguration)

    _ids = field_validator("circuit_id", "remote_id", "vendor_specific")(_id_ok)

    @model_validator(mode="after")
    def _inside(self) -> PortModel:
        if self.subnet is not None and self.address not in self.subnet:
            raise ValueError(f"address {self.address} is not inside subnet {self.subnet}")
        return self


class RelayModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    server_address: ipaddress.IPv4Address
    # one address, or several as a switch's several ``ip helper-address`` lines (e.g. a Kea HA pair)
    dhcp_server: ipaddress.IPv4Address | list[ipaddress.IPv4Address]
    max_hops: int = Field(default=16, ge=1, le=255)
    ports: list[PortModel] = Field(min_length=1)

    @property
    def servers(self) -> tuple[ipaddress.IPv4Address, ...]:
        return tuple(self.dhcp_server) if isinstance(self.dhcp_server, list) else (self.dhcp_server,)

    @model_validator(mode="after")
    def _unique(self) -> RelayModel:
        servers = self.servers
        if not servers or len(set(servers)) != len(servers):
            raise ValueError(f"dhcp_server: one address or a list of distinct addresses, got {self.dhcp_server}")
        for what in ("name", "address"):
            values = [getattr(p, what) for p in self.ports]
            dup = sorted({str(v) for v in values if values.count(v) > 1})
            if dup:
                raise ValueError(f"ports share the same {what}: {', '.join(dup)}")
        if self.server_address in {p.address for p in self.ports}:
            raise ValueError("server_address must differ from every port address")
        return self


@dataclass(frozen=True)
class Port:
    """One access port: where its clients live and what the switch inserts for them."""

    name: str
    address: ipaddress.IPv4Address  # the relay's address on the port's network = giaddr
    subs: dict[int, bytes]  # option-82 sub-options (1, 2, 9)
    insert_option82: bool = True

    @property
    def option82(self) -> bytes:
        """The option-82 value inserted into this port's requests."""
        return build_option82(self.subs)


@dataclass(frozen=True)
class RelayConfig:
    server_address: ipaddress.IPv4Address
    dhcp_servers: tuple[ipaddress.IPv4Address, ...]  # every request goes to each; replies count from any
    max_hops: int
    ports: tuple[Port, ...]

    @property
    def dhcp_server(self) -> ipaddress.IPv4Address:
        """The first DHCP server (the only one of a relay with a single helper address)."""
        return self.dhcp_servers[0]

    def port_by_address(self) -> dict[ipaddress.IPv4Address, Port]:
        return {p.address: p for p in self.ports}


def from_dict(data: Any, source: str = "relay config") -> RelayConfig:
    try:
        model = RelayModel.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise RelayConfigError(f"{source}: {problems}") from None
    ports = []
    for p in model.ports:
        subs = {SUB_CIRCUIT_ID: parse_id(p.circuit_id)}
        if p.remote_id is not None:
            subs[SUB_REMOTE_ID] = parse_id(p.remote_id)
        if p.vendor_specific is not None:
            subs[SUB_VENDOR_SPECIFIC] = parse_id(p.vendor_specific)
        try:
            build_option82(subs)
        except DhcpWireError as exc:
            raise RelayConfigError(f"{source}: ports[{p.name}]: {exc}") from None
        ports.append(Port(name=p.name, address=p.address, subs=subs, insert_option82=p.insert_option82))
    return RelayConfig(model.server_address, model.servers, model.max_hops, tuple(ports))


def load(path: Path) -> RelayConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise RelayConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RelayConfigError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    return from_dict(data, str(path))
