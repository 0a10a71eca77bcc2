"""What the simulated bootloader reports, and the small interfaces its state machine is driven through.

The state machine (``core.Bootloader``) never formats console text itself: it emits events
(``Uart.event(name, **fields)``); the ``Uart`` from ``console.open_console`` (a ``uartlog.UartConsole``) turns
them into the real UART text in the board's format generation. Tests use ``Recorder``.

Event names and fields (all values plain Python types):

- ``banner``: serial (int), revision (int)
- ``boot_mode``: name, nibble, remaining — ``Boot mode: %s (%02x) order %x``
- ``unknown_mode``: nibble — ``Unknown boot mode %h. Trying SD.``
- ``net_start``: mac, tftp_ip (the *configured* TFTP_IP, "0.0.0.0" when unset)
- ``link_up``: speed (int)
- ``dhcp_reply``: reply (``dhcp.DhcpReply``), expect ("OFFER" / "ACK")
- ``net_config``: ip, mask, gw, tftp
- ``arp``: ip, mac
- ``tftp_get``: server_mac, server_ip, path
- ``tftp_complete``: size
- ``tftp_error``: code, message
- ``file_read``: path, size
- ``firmware_not_found``
- ``netboot_failed``
- ``network_stop`` (every failed network attempt, before ``netboot_failed`` when that follows)
- ``usb_port_power``: ms; ``usb_hub`` (once per power-on, after the first ``boot_mode``; ``uartlog.usb_profile``)
- ``sd_card``: card (``sd.CardInfo``); ``file_missing``: path (the SD boot's recovery images)
- ``insert_sd``
- ``sd_failed``: reason (sim-internal, not printed by a real board)
- ``mode_failed``: name (a mode the sim has no hardware for)
- ``restart``: count, max
- ``restart_limit``: max
- ``boot_stopped``
- ``start_firmware``: file, partition, boardrev
- ``kernel``: cmdline
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol


class Uart(Protocol):
    def event(self, name: str, /, **fields: Any) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass
class Recorder:
    """A Uart that keeps the events (tests, and the board's own event log)."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def event(self, name: str, /, **fields: Any) -> None:
        self.events.append((name, fields))

    def names(self) -> list[str]:
        return [n for n, _ in self.events]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [f for n, f in self.events if n == name]


@dataclass
class JsonLines:
    """Every event as one JSON object per line (the sim's ground truth next to the rendered UART text)."""

    path: str

    def event(self, name: str, /, **fields: Any) -> None:
        def plain(value: Any) -> Any:
            if isinstance(value, bytes):
                return value.hex()
            if hasattr(value, "__dataclass_fields__"):
                return {k: plain(v) for k, v in vars(value).items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        line = json.dumps({"event": name, "t": round(time.time(), 3), **plain(fields)}, default=str)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


@dataclass
class Tee:
    """Send every event to several sinks."""

    sinks: list[Uart]

    def event(self, name: str, /, **fields: Any) -> None:
        for sink in self.sinks:
            sink.event(name, **fields)
