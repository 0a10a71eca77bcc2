"""Assertions the scenarios share: DHCP traces and console events, each failing with the evidence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.drivers.base import DhcpPacket, DhcpTrace
from harness.session import Session, Target


def board_packets(trace: DhcpTrace, target: Target, msg_type: str | None = None) -> list[DhcpPacket]:
    mac = target.board.mac.lower()
    return [p for p in trace.packets()
            if p.chaddr.lower() == mac and (msg_type is None or p.msg_type == msg_type)]


def acks(trace: DhcpTrace, target: Target) -> list[DhcpPacket]:
    got = board_packets(trace, target, "ACK")
    assert got, f"no DHCP ACK for {target.name} in the trace:\n{trace.table()}"
    return got


def option(p: DhcpPacket, code: int) -> str | None:
    return p.option_text(code)


def assert_boot_local_acks(trace: DhcpTrace, target: Target) -> None:
    """Every ACK the board got says boot local: option 66 = 0.0.0.0, no option 224."""
    for p in acks(trace, target):
        assert option(p, 66) == "0.0.0.0" and 224 not in p.options, (
            f"{target.name} got an install answer while it must boot local:\n{trace.table(target.board.mac)}")


def assert_relayed_with_port(trace: DhcpTrace, target: Target, circuit_id: bytes) -> None:
    """The board's requests reached Kea relayed, with the switch port's circuit-id (option 82.1)."""
    reqs = [p for p in board_packets(trace, target) if p.op == 1]
    assert reqs, f"no request of {target.name} in the server-side trace:\n{trace.table()}"
    for p in reqs:
        assert p.option82.get(1) == circuit_id, (p.option82, trace.table(target.board.mac))
        assert p.giaddr != "0.0.0.0"


def events_of(events: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]


def boot_modes(events: Sequence[dict[str, Any]]) -> list[str]:
    return [str(e["mode"]) for e in events_of(events, "boot_mode")]


def assert_network_then_sd(events: Sequence[dict[str, Any]], retries: int = 1) -> None:
    """The network attempt (tried 1 + NET_BOOT_MAX_RETRIES times) failed, then the SD card booted."""
    modes = boot_modes(events)
    assert modes and modes[-1] == "SD", modes
    tries = modes[:-1]
    assert tries and set(tries) == {"NETWORK"} and len(tries) <= 1 + retries, modes


def assert_tree_served(session: Session, target: Target, names: Sequence[str],
                       started: Sequence[dict[str, Any]], *, port: int = 69) -> None:
    """The board's TFTP tree was served: from the server's transfer log (every ``name`` completed for this
    board since ``started``) when the lab has one — always in the sim — otherwise (a rack's tftpd-hpa keeps no
    JSON log) by reading each file back over TFTP and comparing it with the tree in ``services.tftp.root``."""
    serial = target.board.serial
    if session.tftp.logged:
        served = [e for e in session.tftp.served() if e not in started and e.get("event") == "complete"]
        done = {str(e.get("path", "")) for e in served}
        missing = [n for n in names if f"{serial}/{n}" not in done]
        assert not missing, f"not served to {target.name} per the TFTP log: {missing}; served {sorted(done)}"
        return
    tree = session.tftp.root / serial
    files = {n: (tree / n).read_bytes() for n in names}
    bad = session.tftp.verify(str(session.lab.services.tftp.address), serial, files, port=port)
    assert not bad, f"the TFTP server does not serve {target.name}'s tree as staged: {bad}"


def firmware_starts(events: Sequence[dict[str, Any]]) -> list[str]:
    """For each ``start_firmware`` event, the boot mode it was loaded in (``NETWORK``: over TFTP; ``SD``: from
    the card): the mode of the last ``boot_mode`` before it ("" before any)."""
    mode, out = "", []
    for e in events:
        if e["event"] == "boot_mode":
            mode = str(e["mode"])
        elif e["event"] == "start_firmware":
            out.append(mode)
    return out


def assert_no_netboot(events: Sequence[dict[str, Any]]) -> None:
    """No firmware was started from the network (the board must not have netbooted)."""
    starts = firmware_starts(events)
    assert "NETWORK" not in starts, f"start4.elf was loaded over TFTP: firmware starts in modes {starts}"


def assert_came_up_from_sd(events: Sequence[dict[str, Any]], hostname: str, retries: int = 1) -> None:
    """Network tried and failed, the card's firmware, kernel and login prompt followed (console parser)."""
    assert_network_then_sd(events, retries)
    assert_no_netboot(events)
    assert firmware_starts(events)[-1:] == ["SD"], firmware_starts(events)
    modes_seen = [e for e in events if e["event"] in ("boot_mode", "kernel", "login_prompt")]
    last_sd = max(i for i, e in enumerate(modes_seen) if e["event"] == "boot_mode" and e["mode"] == "SD")
    after = [e["event"] for e in modes_seen[last_sd:]]
    assert "kernel" in after, f"no kernel after the SD boot mode: {after}"
    logins = events_of(events, "login_prompt")
    assert logins and logins[-1]["host"] == hostname, logins


def check_generation(events: Sequence[dict[str, Any]], uart_format: str, *, sim: bool = True) -> None:
    """A whole install (netboot, then SD boot) as its console format generation prints it, read back by the
    parser (tests/data/pi4/SPEC.md section 0): the 2024 builds' BOOTSYS stage, the link at the GENET's speed,
    the firmware read over TFTP and from the card. On the sim also the lines it models per generation (the
    on-board hub from 2022 on, the card's MBR on the SD boot; harness/sim/bootloader/uartlog.py)."""
    stages = [b["stage"] for b in events_of(events, "banner")]
    assert stages and ("BOOTSYS" in stages) == (uart_format == "2024"), (uart_format, stages)
    speeds = {e["speed"] for e in events_of(events, "link_status")}
    assert speeds and speeds <= {100, 1000}, speeds
    reads = [e["path"].rsplit("/", 1)[-1] for e in events_of(events, "file_read")]
    assert reads.count("start4.elf") >= 2, reads  # over TFTP for the installer, then from the card
    if sim:
        assert bool(events_of(events, "usb_hub")) == (uart_format != "2021"), (uart_format, events)
        assert events_of(events, "mbr_partition"), "the SD boot printed no MBR"
        assert "config.txt" in reads, reads  # "Read config.txt bytes …" before the card's firmware


def card_untouched(card: Path) -> bool:
    """Every byte of a card that started blank is still zero (nothing was written to it)."""
    with card.open("rb") as f:
        return all(not chunk.strip(b"\0") for chunk in iter(lambda: f.read(4 << 20), b""))
