"""Bootloader events -> UART bytes, through ``harness.sim.bootloader.uartlog`` (the renderer of the real Pi 4 UART
text in the 2021 / 2022 / 2024 format generations). No console text is formatted here.

``open_console(generation, stream, enabled=..., time_factor=...)`` gives the ``Uart`` the firmware emits
its events to. With ``BOOT_UART=0`` the bootloader prints nothing (``enabled=False``).
"""

from __future__ import annotations

from typing import Any, BinaryIO

from harness.sim.bootloader import uartlog
from harness.sim.bootloader.events import Uart


class Silent:
    def event(self, name: str, /, **fields: Any) -> None:
        return None


def open_console(generation: str, stream: BinaryIO, *, enabled: bool = True, time_factor: float = 1.0) -> Uart:
    if not enabled:
        return Silent()
    console: Uart = uartlog.open_console(generation, stream, time_factor=time_factor)
    return console
