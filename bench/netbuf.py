"""UDP receive buffers for ``bench.hook``: the default size the kernel gives new sockets, and the datagrams a
container's sockets dropped because theirs was full.

Kea sets no size on its DHCP socket, so it gets ``net.core.rmem_default`` (212,992 bytes on Debian: about 150
small datagrams). Behind a 100 ms backend the parked path answers in bursts (the calls of a burst of DISCOVERs
complete together), the clients' REQUESTs come back in bursts, and a burst longer than the buffer is dropped
by the kernel before Kea sees it: Kea's own ``pkt4-receive-drop`` stays 0, its network namespace's
``RcvbufErrors`` counts them. Each such REQUEST is a closed-loop client lost for its whole timeout: 3 % of the
capacity case's exchanges, a third of its clients' time. ``receive_buffers`` raises the default for the run
(the sysctl is not per network namespace here, so it is the host's, restored on exit); ``rcvbuf_errors`` reads
a container's counter so every capacity case reports what the kernel dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SYSCTL = Path("/proc/sys/net/core")
BENCH_RCVBUF = 4 * 1024 * 1024   # bytes: some 3,000 datagrams of a DHCP exchange's size


def _read(path: Path) -> int:
    return int(path.read_text().split()[0])


@contextmanager
def receive_buffers(size: int = BENCH_RCVBUF, sysctl: Path = SYSCTL) -> Iterator[int]:
    """Sockets created inside get a receive buffer of ``size`` bytes by default (``rmem_max`` raised to match
    when lower); both values are put back on exit. Yields the default in force: the old one, unchanged, when the
    sysctls cannot be written (not root), so a run records what it really had."""
    default, ceiling = sysctl / "rmem_default", sysctl / "rmem_max"
    old_default, old_ceiling = _read(default), _read(ceiling)
    changed: list[tuple[Path, int]] = []
    try:
        try:
            if old_ceiling < size:
                ceiling.write_text(f"{size}\n")
                changed.append((ceiling, old_ceiling))
            if old_default != size:
                default.write_text(f"{size}\n")
                changed.append((default, old_default))
        except OSError:
            pass
        yield _read(default)
    finally:
        for path, value in reversed(changed):
            path.write_text(f"{value}\n")


def parse_rcvbuf_errors(snmp: str) -> int:
    """``RcvbufErrors`` of the ``Udp:`` rows of a /proc/net/snmp text (a header row, then a value row)."""
    rows = [line.split() for line in snmp.splitlines() if line.startswith("Udp:")]
    if len(rows) < 2 or "RcvbufErrors" not in rows[0]:
        raise ValueError("no Udp RcvbufErrors in /proc/net/snmp")
    return int(rows[1][rows[0].index("RcvbufErrors")])


def rcvbuf_errors(run: Any, role: str) -> int:
    """UDP datagrams dropped so far in ``role``'s network namespace because a socket's buffer was full."""
    rc, out = run.exec(role, ["cat", "/proc/net/snmp"])
    if rc != 0:
        raise RuntimeError(f"reading /proc/net/snmp in {role} failed ({rc}): {out[-500:]}")
    return parse_rcvbuf_errors(out)
