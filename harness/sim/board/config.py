"""``board.json``: what one simulated board container knows about itself.

Written by ``harness.lab.boardspec.board_spec`` into the container at ``/etc/malina/board.json``; read by the board
controller (``controller.py``), the firmware (``firmware.py``) and the installed OS (``installed_os.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_PATH = "/etc/malina/board.json"


class BoardConfigError(ValueError):
    """board.json is missing, unreadable or invalid; the message names the field."""


@dataclass(frozen=True)
class BoardConfig:
    name: str
    mac: str  # aa:bb:cc:dd:ee:ff
    serial: str  # 8 lower-case hex digits
    revision: str = "c03111"
    uart_format: str = "2022"  # "2021" | "2022" | "2024"
    time_factor: float = 1.0
    eeprom_file: str = "/etc/malina/eeprom.conf"
    card: str = "/dev/mmcblk0"
    iface: str = "eth0"  # the access interface (the Pi's eth0)
    mgmt_ip: str = ""  # the board's address on the lab's mgmt network (power API, console); never the Pi's eth0
    power_port: int = 7000
    console_port: int = 7001
    uart_log: str = "/var/log/malina/uart.log"
    event_log: str = "/var/log/malina/bootloader-events.jsonl"  # every bootloader event, JSON lines
    state_dir: str = "/run/malina-sim"  # volatile: emptied at every power cut
    volatile_dirs: tuple[str, ...] = ("/run/malina", "/run/malina-sim")
    installer: tuple[str, ...] = ("/usr/bin/malina-installer",)
    installer_env: dict[str, str] = field(default_factory=dict)
    power_on_at_start: bool = False
    ssh_port: int = 22

    @property
    def mac_bytes(self) -> bytes:
        return bytes.fromhex(self.mac.replace(":", ""))

    @property
    def serial_int(self) -> int:
        return int(self.serial, 16)

    @property
    def revision_int(self) -> int:
        return int(self.revision, 16)

    def to_json(self) -> str:
        data = asdict(self)
        data["volatile_dirs"] = list(self.volatile_dirs)
        data["installer"] = list(self.installer)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _check(cfg: BoardConfig) -> BoardConfig:
    if not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", cfg.mac):
        raise BoardConfigError(f"mac: not a lower-case MAC address: {cfg.mac!r}")
    if not re.fullmatch(r"[0-9a-f]{8}", cfg.serial):
        raise BoardConfigError(f"serial: 8 lower-case hex digits expected: {cfg.serial!r}")
    if not re.fullmatch(r"[0-9a-f]{6,8}", cfg.revision):
        raise BoardConfigError(f"revision: 6-8 hex digits expected: {cfg.revision!r}")
    if cfg.uart_format not in ("2021", "2022", "2024"):
        raise BoardConfigError(f"uart_format: one of 2021, 2022, 2024: {cfg.uart_format!r}")
    if not 0 < cfg.time_factor <= 1:
        raise BoardConfigError(f"time_factor: must be in (0, 1]: {cfg.time_factor}")
    for port in (cfg.power_port, cfg.console_port, cfg.ssh_port):
        if not 0 < port < 65536:
            raise BoardConfigError(f"port out of range: {port}")
    if not cfg.installer:
        raise BoardConfigError("installer: the command must not be empty")
    return cfg


def from_dict(data: dict[str, Any]) -> BoardConfig:
    known = {f.name for f in fields(BoardConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BoardConfigError(f"unknown keys {unknown}")
    for key in ("name", "mac", "serial"):
        if key not in data:
            raise BoardConfigError(f"{key}: missing")
    values = dict(data)
    for key in ("volatile_dirs", "installer"):
        if key in values:
            values[key] = tuple(str(v) for v in values[key])
    if "installer_env" in values:
        values["installer_env"] = {str(k): str(v) for k, v in dict(values["installer_env"]).items()}
    try:
        cfg = BoardConfig(**values)
    except TypeError as exc:
        raise BoardConfigError(str(exc)) from None
    return _check(cfg)


def load(path: str | Path = DEFAULT_PATH) -> BoardConfig:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except OSError as exc:
        raise BoardConfigError(f"{p}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise BoardConfigError(f"{p}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BoardConfigError(f"{p}: a JSON object expected")
    try:
        return from_dict(data)
    except BoardConfigError as exc:
        raise BoardConfigError(f"{p}: {exc}") from None
