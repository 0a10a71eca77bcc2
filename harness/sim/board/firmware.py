"""One power-on of the simulated Pi 4: the EEPROM bootloader, then the hand-over.

    python -m harness.sim.board.firmware --config /etc/malina/board.json

Started by the board controller in a new session with the UART as stdout/stderr and the console input as
stdin. It reads the live EEPROM config, runs ``bootloader.core.Bootloader`` against the real access
interface (AF_PACKET DHCP, kernel UDP for TFTP) and the card at ``/dev/mmcblk0``, then replaces itself:

- after a netboot with the installer, the Buildroot overlay's entry point unchanged
  (``/usr/bin/malina-installer``). What a kernel would give it comes from files: the kernel command line
  (cmdline.txt from the TFTP tree, as the firmware passes it) via ``MALINA_CMDLINE_FILE`` and the board
  serial (``/proc/device-tree/serial-number`` on a Pi) via ``MALINA_SERIAL_FILE``;
- after an SD boot with ``harness.sim.board.installed_os`` (the installed Ubuntu).

A halted board (STOP, or a start4.elf-stage failure) sleeps until the power is cut.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.dhcp.pi4 import option97
from harness.sim.board import config as board_config
from harness.sim.board import link as board_link
from harness.sim.board.config import BoardConfig
from harness.sim.bootloader.config import EepromConfig, EepromError, parse_eeprom
from harness.sim.bootloader.console import open_console
from harness.sim.bootloader.core import (
    Bootloader,
    Halted,
    Identity,
    Netboot,
    Outcome,
    SdBooted,
    has_serial_console,
    kernel_cmdline,
)
from harness.sim.bootloader.dora import DhcpClient, Lease
from harness.sim.bootloader.events import JsonLines, RealClock, Tee, Uart
from harness.sim.bootloader.sd import SdBoot, find_firmware
from harness.sim.bootloader.tftp import UdpTftp
from harness.sim.bootloader.timing import ARP_RETRY_S, RRQ_RETRY_S
from harness.sim.bootloader.uartlog import TFTP_BLKSIZE, usb_profile
from harness.wait import Deadline


@dataclass
class RealCard:
    path: Path

    def find_firmware(self) -> SdBoot:
        return find_firmware(self.path)


@dataclass
class RealNetwork:
    """NETWORK mode on the board's access interface."""

    iface: str
    config: EepromConfig
    uart: Uart
    identity: Identity
    time_factor: float
    xid: int = field(default_factory=lambda: random.randint(1, 0xFFFFFFFF))  # random per boot
    link: board_link.RawLink | None = None
    blksize: int = 1024
    tftp: UdpTftp = field(init=False)

    def __post_init__(self) -> None:
        self.tftp = UdpTftp(
            file_timeout=self.config.tftp_file_timeout_ms / 1000.0 * self.time_factor,
            retry=max(0.05, RRQ_RETRY_S * self.time_factor),
            blksize=self.blksize,
        )

    def start(self, timeout: float) -> int | None:
        board_link.flush(self.iface)
        board_link.ip_cmd("link", "set", "dev", self.iface, "up")
        deadline = Deadline(timeout)
        while not board_link.link_up(self.iface):
            if deadline.expired:
                return None
            deadline.sleep(0.05)
        self.link = board_link.RawLink(self.iface)
        return board_link.link_speed(self.iface)

    def dhcp(self) -> Lease | None:
        assert self.link is not None
        opt97 = option97(self.identity.serial, self.identity.revision, self.identity.mac,
                         self.config.dhcp_option97)
        client = DhcpClient(self.link, RealClock(), self.uart, self.config, self.identity.mac, opt97,
                            self.time_factor, xid=self.xid)
        return client.run()

    def configure(self, lease: Lease) -> None:
        board_link.configure(self.iface, lease.ip, lease.mask, lease.router)
        self.tftp.bind_ip = lease.ip

    def arp(self, lease: Lease, target: str, timeout: float) -> str | None:
        assert self.link is not None
        got = board_link.arp_resolve(self.link, self.identity.mac, lease.ip, target, timeout,
                                          max(0.05, ARP_RETRY_S * self.time_factor))
        if got is None:
            return None
        mac = board_link.mac_text(got)
        with contextlib.suppress(board_link.LinkError):
            board_link.ip_cmd("neigh", "replace", target, "lladdr", mac, "dev", self.iface)
        return mac

    def stop(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def hand_over(cfg: BoardConfig, outcome: Outcome, uart: Uart, config_path: str) -> None:
    """Replace this process with what the firmware started. Returns only for a halted board."""
    state = Path(cfg.state_dir)
    with contextlib.suppress(board_link.LinkError):
        board_link.flush(cfg.iface)  # Linux starts with an unconfigured interface
    if isinstance(outcome, Halted):
        return
    if isinstance(outcome, Netboot):
        cmdline = outcome.files.get("cmdline.txt", b"").decode("utf-8", "replace").strip()
    else:
        assert isinstance(outcome, SdBooted)
        cmdline = outcome.boot.files.get("cmdline.txt", b"").decode("utf-8", "replace").strip()
    full = kernel_cmdline(cmdline, cfg.mac_bytes)
    if has_serial_console(cmdline):
        uart.event("kernel", cmdline=full)
    _write(state / "cmdline", full + "\n")
    _write(state / "serial-number", f"10000000{cfg.serial}\0")  # as /proc/device-tree/serial-number
    sys.stdout.flush()
    sys.stderr.flush()
    if isinstance(outcome, Netboot):
        env = dict(os.environ)
        env.update({
            "MALINA_CMDLINE_FILE": str(state / "cmdline"),
            "MALINA_SERIAL_FILE": str(state / "serial-number"),
            "MALINA_IFACE": cfg.iface,
            "MALINA_MAC": cfg.mac,
            "MALINA_DISK": cfg.card,
        })
        env.update(cfg.installer_env)
        os.execvpe(cfg.installer[0], list(cfg.installer), env)
    os.execvp(sys.executable, [sys.executable, "-m", "harness.sim.board.installed_os", "--config", config_path])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.sim.board.firmware")
    parser.add_argument("--config", default=board_config.DEFAULT_PATH)
    args = parser.parse_args(argv)
    try:
        cfg = board_config.load(args.config)
        eeprom = parse_eeprom(Path(cfg.eeprom_file).read_text())
    except (board_config.BoardConfigError, EepromError, OSError) as exc:
        # a board with a broken EEPROM config shows nothing on its UART; the reason goes to stderr (= UART
        # in the sim) so that a human can see it
        print(f"sim firmware: cannot start: {exc}", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    console = open_console(cfg.uart_format, sys.stdout.buffer, enabled=bool(eeprom.boot_uart),
                           time_factor=cfg.time_factor)
    Path(cfg.event_log).parent.mkdir(parents=True, exist_ok=True)
    uart = Tee([console, JsonLines(cfg.event_log)])
    identity = Identity(cfg.mac_bytes, cfg.serial_int, cfg.revision_int)
    network = RealNetwork(cfg.iface, eeprom, uart, identity, cfg.time_factor,
                          blksize=TFTP_BLKSIZE[cfg.uart_format])
    card = RealCard(Path(cfg.card))
    port_power, usb_hub = usb_profile(cfg.uart_format, cfg.revision_int)
    loader = Bootloader(eeprom, identity, network, card, uart, RealClock(), cfg.time_factor,
                        port_power=port_power, usb_hub=usb_hub)
    outcome = loader.boot()
    hand_over(cfg, outcome, uart, args.config)
    while True:  # halted: nothing more happens until the power is cut
        time.sleep(3600)


if __name__ == "__main__":
    raise SystemExit(main())
