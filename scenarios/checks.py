"""Assertions the scenarios share: DHCP traces and console events, each failing with the evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.drivers.base import DhcpPacket, DhcpTrace
from harness.session import Target


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
