"""bench/netbuf.py: the run's default socket receive buffer (on a sysctl directory of plain files, and for real on
this machine's own sockets) and the RcvbufErrors reading."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bench import netbuf

SNMP = """Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 100
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 27987 0 346 27931 346 0 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 9 0 0 0 0
"""


def sysctl_dir(tmp_path: Path, default: int, ceiling: int) -> Path:
    (tmp_path / "rmem_default").write_text(f"{default}\n")
    (tmp_path / "rmem_max").write_text(f"{ceiling}\n")
    return tmp_path


def test_raises_the_default_and_the_ceiling_then_puts_both_back(tmp_path: Path) -> None:
    d = sysctl_dir(tmp_path, 212992, 1048576)
    with netbuf.receive_buffers(4194304, sysctl=d) as size:
        assert size == 4194304
        assert (d / "rmem_default").read_text().strip() == "4194304"
        assert (d / "rmem_max").read_text().strip() == "4194304"
    assert (d / "rmem_default").read_text().strip() == "212992"
    assert (d / "rmem_max").read_text().strip() == "1048576"


def test_a_higher_ceiling_is_left_alone_and_an_error_inside_still_restores(tmp_path: Path) -> None:
    d = sysctl_dir(tmp_path, 212992, 8388608)
    with pytest.raises(RuntimeError), netbuf.receive_buffers(4194304, sysctl=d):
        assert (d / "rmem_max").read_text().strip() == "8388608"
        raise RuntimeError("a case failed")
    assert (d / "rmem_default").read_text().strip() == "212992"
    assert (d / "rmem_max").read_text().strip() == "8388608"


def test_unwritable_sysctls_yield_the_size_in_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = sysctl_dir(tmp_path, 212992, 212992)

    def refuse(self: Path, data: str) -> int:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_text", refuse)   # as for a user that is not root
    with netbuf.receive_buffers(4194304, sysctl=d) as size:
        assert size == 212992
    monkeypatch.undo()
    assert (d / "rmem_default").read_text().strip() == "212992"


def test_rcvbuf_errors_is_the_udp_row_not_udplite() -> None:
    assert netbuf.parse_rcvbuf_errors(SNMP) == 346


def test_a_text_without_the_udp_rows_is_an_error() -> None:
    with pytest.raises(ValueError, match="RcvbufErrors"):
        netbuf.parse_rcvbuf_errors("Ip: Forwarding\nIp: 1\n")


def test_this_machines_counter_reads_and_the_context_sizes_new_sockets() -> None:
    """For real: the host's /proc/net/snmp parses, and a socket made inside the context gets the bigger buffer
    (a socket that sets no size reports the default as it is), one made after it the old default again."""
    assert netbuf.parse_rcvbuf_errors(Path("/proc/net/snmp").read_text()) >= 0
    before = netbuf._read(netbuf.SYSCTL / "rmem_default")
    with netbuf.receive_buffers(before * 2) as size, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        inside = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        after = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    assert netbuf._read(netbuf.SYSCTL / "rmem_default") == before
    if size == before:
        pytest.fail("the sysctl could not be written: the bench runs as root (make bench-hook)")
    assert inside == size and after == before
