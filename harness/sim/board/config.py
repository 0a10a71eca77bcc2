"""``board.json``: what one simulated board container knows about itself.

Written by ``harness.lab.boardspec.board_spec`` into the container at ``/etc/malina/board.json``; read by the board
controller (``controller.py``), the firmware (``firmware.py``) and the installed OS (``installed_os.py``).
``BoardConfig`` is a frozen pydantic model: building one validates it, unknown keys are refused, and
``load`` reports every problem as ``<file>: <field>: <message>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_PATH = "/etc/malina/board.json"

TcpPort = Annotated[int, Field(gt=0, lt=65536)]


class BoardConfigError(ValueError):
    """board.json is missing, unreadable or invalid; the message names the field."""


class BoardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    mac: str = Field(pattern=r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")  # lower case, aa:bb:cc:dd:ee:ff
    serial: str = Field(pattern=r"^[0-9a-f]{8}$")  # 8 lower-case hex digits
    revision: str = Field(default="c03111", pattern=r"^[0-9a-f]{6,8}$")
    uart_format: Literal["2021", "2022", "2024"] = "2022"
    time_factor: float = Field(default=1.0, gt=0, le=1)
    eeprom_file: str = "/etc/malina/eeprom.conf"
    card: str = "/dev/mmcblk0"
    iface: str = "eth0"  # the access interface (the Pi's eth0)
    mgmt_ip: str = ""  # the board's address on the lab's mgmt network (power API, console); never the Pi's eth0
    power_port: TcpPort = 7000
    console_port: TcpPort = 7001
    uart_log: str = "/var/log/malina/uart.log"
    event_log: str = "/var/log/malina/bootloader-events.jsonl"  # every bootloader event, JSON lines
    state_dir: str = "/run/malina-sim"  # volatile: emptied at every power cut
    volatile_dirs: tuple[str, ...] = ("/run/malina", "/run/malina-sim")
    installer: tuple[str, ...] = Field(default=("/usr/bin/malina-installer",), min_length=1)
    installer_env: dict[str, str] = Field(default_factory=dict)
    power_on_at_start: bool = False
    ssh_port: TcpPort = 22

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
        """The file's text: every field, keys sorted, two-space indent."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())


def from_dict(data: Any) -> BoardConfig:
    try:
        return BoardConfig.model_validate(data)
    except ValidationError as exc:
        raise BoardConfigError(_problems(exc)) from None


def load(path: str | Path = DEFAULT_PATH) -> BoardConfig:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except OSError as exc:
        raise BoardConfigError(f"{p}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise BoardConfigError(f"{p}: not JSON: {exc}") from None
    try:
        return from_dict(data)
    except BoardConfigError as exc:
        raise BoardConfigError(f"{p}: {exc}") from None
