"""Machines from a YAML/JSON document: the import format (backend/README.md) and malina's lab.yaml.

All parsing of foreign documents lives here, so that a change of lab.yaml touches only this module.

Plain format::

    defaults:                       # optional, merged under every board's install
      image: {url: ..., sha256: ..., size: ...}
      ssh_authorized_keys: ["ssh-ed25519 AAAA... ops"]
      network: {dns: [10.89.0.3]}
    images:                         # optional, named images a board can refer to by name
      ubuntu-test: {url: ..., sha256: ..., size: ...}
    boards:
      - name: pi-01
        mac: dc:a6:32:00:00:01
        serial: 6e87a417
        boot_mode: install          # optional (install)
        port: {circuit_id: Gi1/0/1, remote_id: tor-a-01, vendor_specific: "hex:00000de9",
               subnet: 10.90.1.0/24}   # optional: default the network of install.network.address
        install:
          hostname: pi-01
          image: ubuntu-test        # or an image mapping
          network: {address: 10.90.1.50/24, gateway: 10.90.1.1}

Port ids are text (sent as its UTF-8 bytes) or ``hex:..``. A lab.yaml (it has ``switch:``) is read the same
way: a board's ``port`` names a switch port whose circuit-id, remote-id (or the switch's) and vendor-specific
sub-option are used, the port's subnet binds the install tokens, the gateway is the port's ``.1`` (the relay),
and ``install.address``/``install.dns`` become the network config.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from backend.identity import IdentityError, opaque_to_hex
from backend.schemas import MachineIn

LAB_DEFAULT_IMAGE = "ubuntu-test"  # lab.yaml's default install.image


class ImportError_(ValueError):
    """The document cannot be imported; the message names the board and the field."""


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ImportError_(f"{where} must be a mapping")
    return value


def _port_ids(port: dict[str, Any], where: str, default_remote: str | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        for key, field in (("circuit_id", "sub82_1"), ("remote_id", "sub82_2"),
                           ("vendor_specific", "sub82_9")):
            value = port.get(key, default_remote if key == "remote_id" else None)
            if value is not None:
                out[field] = opaque_to_hex(str(value), f"{where}.{key}")
    except IdentityError as exc:
        raise ImportError_(str(exc)) from None
    if "sub82_1" not in out and "sub82_2" not in out:
        raise ImportError_(f"{where}: a port needs circuit_id and/or remote_id")
    return out


def _lab_board(doc: dict[str, Any], board: dict[str, Any],
               where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A lab.yaml board → (port ids, install overrides)."""
    switch = _mapping(doc.get("switch"), "switch")
    ports = {entry.get("name"): entry for entry in switch.get("ports") or [] if isinstance(entry, dict)}
    port = ports.get(board.get("port"))
    if port is None:
        known = sorted(str(name) for name in ports)
        raise ImportError_(f"{where}.port: {board.get('port')!r} is not one of switch.ports {known}")
    ids = _port_ids(port, f"switch.ports[{board.get('port')}]", switch.get("remote_id"))
    inst = _mapping(board.get("install"), f"{where}.install")
    network: dict[str, Any] = {}
    if "address" in inst:
        network["address"] = inst["address"]
    if "dns" in inst:
        network["dns"] = inst["dns"]
    try:
        subnet = ipaddress.IPv4Network(port["subnet"])
        network["gateway"] = str(subnet.network_address + 1)
        ids["subnet"] = str(subnet)  # the port's subnet: the machine's install tokens work only from it
    except (KeyError, ValueError, TypeError):
        raise ImportError_(f"switch.ports[{board.get('port')}].subnet is missing or invalid") from None
    install: dict[str, Any] = {"network": network, "image": inst.get("image", LAB_DEFAULT_IMAGE)}
    for key in ("hostname", "ssh_authorized_keys"):
        if key in inst:
            install[key] = inst[key]
    return ids, install


def machines_from_doc(doc: Any, defaults: dict[str, Any] | None = None) -> list[MachineIn]:
    """Validate every board; all problems are reported together."""
    if not isinstance(doc, dict) or not isinstance(doc.get("boards"), list):
        raise ImportError_("the document needs a 'boards:' list")
    lab_yaml = "switch" in doc
    base = _merge(_mapping(defaults, "defaults"), _mapping(doc.get("defaults"), "defaults"))
    images = _mapping(doc.get("images"), "images")
    out: list[MachineIn] = []
    problems: list[str] = []
    for index, board in enumerate(doc["boards"]):
        where = f"boards[{index}]"
        try:
            if not isinstance(board, dict):
                raise ImportError_(f"{where} must be a mapping")
            if isinstance(board.get("name"), str):
                where = f"boards[{index}] ({board['name']})"
            if lab_yaml:
                ids, install = _lab_board(doc, board, where)
            else:
                port = _mapping(board.get("port"), f"{where}.port")
                ids = _port_ids(port, f"{where}.port")
                if port.get("subnet") is not None:
                    ids["subnet"] = str(port["subnet"])
                install = _mapping(board.get("install"), f"{where}.install")
            install = _merge(base, install)
            image = install.get("image")
            if isinstance(image, str):
                if image in images:
                    install["image"] = images[image]
                elif isinstance(base.get("image"), dict):
                    install["image"] = base["image"]
                else:
                    raise ImportError_(f"{where}.install.image: unknown image {image!r} (define it under "
                                       "'images:' or give --image-url/--image-sha256/--image-size)")
            mode = board.get("boot_mode", "install")
            if mode == "install" and not install.get("image"):
                raise ImportError_(f"{where}.install.image: no image (give one under 'defaults:' or with "
                                   "--image-url/--image-sha256/--image-size)")
            data = {"name": board.get("name"), **ids, "mac": board.get("mac"), "serial": board.get("serial"),
                    "boot_mode": mode,
                    "install": install if install.get("image") or mode == "install" else None}
            if data["serial"] is not None:
                data["serial"] = str(data["serial"])
            out.append(MachineIn.model_validate(data))
        except ImportError_ as exc:
            problems.append(str(exc))
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(part) for part in err["loc"] if not str(part).startswith("function-"))
                problems.append(f"{where}: {loc or 'board'}: {err['msg'].removeprefix('Value error, ')}")
    if problems:
        raise ImportError_("\n".join(problems))
    names = [machine.name for machine in out]
    dup = sorted({name for name in names if names.count(name) > 1})
    if dup:
        raise ImportError_(f"boards named more than once: {', '.join(dup)}")
    return out


def load(path: str | Path, defaults: dict[str, Any] | None = None) -> list[MachineIn]:
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportError_(f"{source}: cannot read: {exc}") from None
    try:
        doc = json.loads(text) if source.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ImportError_(f"{source}: not valid {'JSON' if source.suffix == '.json' else 'YAML'}: {exc}") from None
    try:
        return machines_from_doc(doc, defaults)
    except ImportError_ as exc:
        raise ImportError_(f"{source}: {exc}") from None
