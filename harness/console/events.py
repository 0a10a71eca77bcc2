"""The parser's events: plain dicts (JSON as they are), typed as TypedDicts tagged by ``"event"``.

Narrow with ``if ev["event"] == "banner": ev["serial"]`` (mypy understands the tag). Field meanings are in
harness/console/README.md; the issue-6 names come first in each class, extras after.
"""

from __future__ import annotations

from typing import Literal, TypedDict


class BannerEvent(TypedDict):
    event: Literal["banner"]
    version: str
    serial: str | None  # 8 lower-case hex digits, or None when the banner does not print it
    boardrev: str | None  # lower-case hex without leading zeros, or None
    stage: Literal["BOOTLOADER", "BOOTSYS"]
    date: str  # as printed: "Jul  6 2021" or "2022/12/07"
    time: str


class BootModeEvent(TypedDict):
    event: Literal["boot_mode"]
    mode: str  # as printed: "NETWORK", "SD", "USB-MSD", …
    nibble: int
    order: str  # the not-yet-tried nibbles as printed, e.g. "f1"


class DhcpReplyEvent(TypedDict):
    event: Literal["dhcp_reply"]
    server_mac: str  # lower case
    server_ip: str
    type: str | None  # "OFFER", "ACK", … (None when no op 53 line was printed)
    yiaddr: str | None
    options: dict[str, str]  # option code -> value as printed ("" when none), in printed order
    siaddr: str | None
    pxe_options: dict[str, str]  # option 43 sub-options ("PXE op:" lines)


class NetConfigEvent(TypedDict):
    event: Literal["net_config"]
    ip: str
    mask: str | None  # None for the IPv6 form "NET <ip> tftp <ip>"
    gw: str | None
    tftp: str


class TftpGetEvent(TypedDict):
    event: Literal["tftp_get"]
    server_ip: str
    path: str
    server_mac: str


class TftpErrorEvent(TypedDict):
    event: Literal["tftp_error"]
    code: int
    message: str


class FirmwareNotFoundEvent(TypedDict):
    event: Literal["firmware_not_found"]


class NetbootFailedEvent(TypedDict):
    event: Literal["netboot_failed"]


class StartFirmwareEvent(TypedDict):
    event: Literal["start_firmware"]
    file: str
    address: str | None  # "0xfec00200"
    partition: int | None


class KernelEvent(TypedDict):
    event: Literal["kernel"]
    line: str  # the first kernel line after each banner (or after the start of the capture)


class LoginPromptEvent(TypedDict):
    event: Literal["login_prompt"]
    host: str


class LinkStatusEvent(TypedDict):
    event: Literal["link_status"]
    speed: int  # Mbit/s as printed: 1000 or 100 on a Pi 4
    duplex: str


class NetbootCancelEvent(TypedDict):
    event: Literal["netboot_cancel"]  # the network stopped after a failed attempt ("NETBOOT CANCEL")


class UsbPortPowerEvent(TypedDict):
    event: Literal["usb_port_power"]
    ms: int


class UsbHubEvent(TypedDict):
    event: Literal["usb_hub"]
    hub: str  # "root port 1" or the device as printed, e.g. "[01:00] 2.16 000000:01"


class MbrPartitionEvent(TypedDict):
    event: Literal["mbr_partition"]
    start: int  # first sector
    sectors: int
    type: int


class FileReadEvent(TypedDict):
    event: Literal["file_read"]
    path: str
    size: int


class SummaryEvent(TypedDict):
    event: Literal["summary"]
    boot_order: str | None  # "0x…" = (order << 4) | nibble of the first boot_mode, None without one
    modes: list[str]  # every boot_mode's mode, in the order tried (retries included)
    tftp_paths: list[str]
    serial: str | None  # the first banner's serial
    dhcp_types: list[str | None]
    kernel: bool


Event = (
    BannerEvent | BootModeEvent | DhcpReplyEvent | NetConfigEvent | TftpGetEvent | TftpErrorEvent
    | FirmwareNotFoundEvent | NetbootFailedEvent | StartFirmwareEvent | KernelEvent | LoginPromptEvent
    | LinkStatusEvent | NetbootCancelEvent | UsbPortPowerEvent | UsbHubEvent | MbrPartitionEvent | FileReadEvent
    | SummaryEvent
)

EVENT_NAMES = (
    "banner", "boot_mode", "dhcp_reply", "net_config", "tftp_get", "tftp_error", "firmware_not_found",
    "netboot_failed", "start_firmware", "kernel", "login_prompt", "link_status", "netboot_cancel",
    "usb_port_power", "usb_hub", "mbr_partition", "file_read", "summary",
)
