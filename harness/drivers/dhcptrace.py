"""The DHCP trace driver: capture DHCP at one point of the lab (scapy), decode it into packets and exchanges,
and show it as a table.

``ScapyTrace(iface, pcap_path)``: ``start()`` (returns once capturing) / ``stop()`` an ``AsyncSniffer`` on
``iface`` (a docker lab bridge from ``LabRun.bridge(net)`` — ``server`` shows the relayed traffic with option
82; ``port-<name>`` a board's own side — or a rack interface); ``stop`` writes the pcap.
``ScapyTrace.from_pcap(path)`` decodes a saved capture. Decoding never raises: packets that are not BOOTP/DHCP
or are malformed are counted in ``malformed``.
"""

from __future__ import annotations

import contextlib
import html
import logging
import socket
import threading
from pathlib import Path
from typing import Any

from scapy.config import conf
from scapy.layers.dhcp import BOOTP
from scapy.layers.inet import IP, UDP
from scapy.packet import Packet
from scapy.sendrecv import AsyncSniffer
from scapy.utils import rdpcap, wrpcap

from harness.dhcp.codec import (
    COOKIE,
    FIXED_LEN,
    MIN_LEN,
    OPT_MESSAGE_TYPE,
    OPT_RELAY_AGENT,
    DhcpWireError,
    decode_options,
    parse_option82_list,
    type_name,
)
from harness.dhcp.frames import mac_text
from harness.drivers.base import DhcpExchange, DhcpPacket, DhcpTrace, InfraFailure
from harness.wait import Deadline

COLUMNS = ("t", "xid", "type", "chaddr", "src > dst", "giaddr", "yiaddr", "66", "224", "82", "97", "77")


def _option82(value: bytes | None) -> dict[int, bytes]:
    """Option 82's sub-options by code (a repeated one: the last); a malformed option 82 shows none (the raw
    value stays in the packet's options)."""
    if value is None:
        return {}
    try:
        return dict(parse_option82_list(value))
    except DhcpWireError:
        return {}


def decode(pkt: Packet) -> DhcpPacket | None:
    """One captured packet as a :class:`DhcpPacket`; None when it is not BOOTP over IPv4/UDP. Options are read
    with the codec (repeated options joined, RFC 3396); malformed options raise its DhcpWireError."""
    if BOOTP not in pkt or IP not in pkt or UDP not in pkt:
        return None
    bootp = pkt[BOOTP]
    wire = bytes(bootp)  # the fixed header is 236 bytes, then the magic cookie and the options
    opts = decode_options(wire[MIN_LEN:]) if wire[FIXED_LEN:MIN_LEN] == COOKIE else {}
    mtype = opts.get(OPT_MESSAGE_TYPE)
    return DhcpPacket(
        time=float(pkt.time), xid=int(bootp.xid), op=int(bootp.op),
        msg_type=type_name(mtype[0] if mtype else None),
        chaddr=mac_text(bytes(bootp.chaddr)[:6]), src=str(pkt[IP].src), dst=str(pkt[IP].dst),
        giaddr=str(bootp.giaddr), yiaddr=str(bootp.yiaddr), siaddr=str(bootp.siaddr), options=opts,
        option82=_option82(opts.get(OPT_RELAY_AGENT)),
    )


def _show(raw: bytes | None) -> str:
    if raw is None:
        return "-"
    text = raw.rstrip(b"\x00")
    if text and all(32 <= b < 127 for b in text):
        return text.decode()
    return "0x" + raw.hex()


def _refresh_interfaces(iface: str) -> None:
    """Make scapy's interface table agree with the kernel about ``iface``: scapy caches interface indexes, and
    a lab bridge or veth re-created under the same name has a new one (the capture would fail with ENODEV)."""
    try:
        index = socket.if_nametoindex(iface)
    except OSError:
        raise InfraFailure(f"the DHCP capture on {iface} did not start: no such interface") from None
    try:
        cached = conf.ifaces.dev_from_name(iface).index
    except (ValueError, KeyError, AttributeError):
        cached = None
    if cached != index:
        conf.ifaces.reload()


log = logging.getLogger(__name__)


class ScapyTrace(DhcpTrace):
    def __init__(self, iface: str | None, pcap_path: Path, bpf: str = "udp and (port 67 or port 68)") -> None:
        self.iface = iface
        self.pcap_path = pcap_path
        self.bpf = bpf
        self._sniffer: AsyncSniffer | None = None
        self._raw: list[Packet] = []
        self._lock = threading.Lock()
        self.malformed = 0

    @classmethod
    def from_pcap(cls, path: Path) -> ScapyTrace:
        trace = cls(None, path)
        try:
            trace._raw = list(rdpcap(str(path)))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the capture {path}: {exc}") from None
        return trace

    def start(self, timeout: float = 10.0) -> None:
        """Start capturing; returns once the capture socket is open (scapy's ``started_callback``), so a packet
        sent right after ``start()`` (the board's first DISCOVER) is in the trace."""
        if self.iface is None:
            raise ValueError("a trace read from a file cannot capture")
        _refresh_interfaces(self.iface)
        started = threading.Event()
        sniffer = AsyncSniffer(iface=self.iface, filter=self.bpf, store=False, prn=self._keep,
                               started_callback=started.set)
        self._sniffer = sniffer
        sniffer.start()
        deadline = Deadline(timeout)
        while not started.wait(min(0.05, deadline.remaining)):
            thread = getattr(sniffer, "thread", None)
            died = thread is not None and not thread.is_alive()
            if deadline.expired or died:
                self._sniffer = None
                with contextlib.suppress(Exception):
                    sniffer.stop(join=False)
                why = sniffer.exception or "root or CAP_NET_RAW needed?"
                if died:
                    raise InfraFailure(f"the DHCP capture on {self.iface} did not start ({why})")
                raise InfraFailure(deadline.message(f"the DHCP capture on {self.iface}: started", why))
        log.info("dhcp capture started on %s -> %s", self.iface, self.pcap_path)

    def _keep(self, pkt: Packet) -> None:
        with self._lock:
            self._raw.append(pkt)

    def stop(self) -> None:
        if self._sniffer is not None:
            try:
                if self._sniffer.running:
                    self._sniffer.stop(join=True)
            except Exception:  # scapy raises odd types when the interface vanished
                pass
            self._sniffer = None
        with self._lock:
            raw = list(self._raw)
        self.pcap_path.parent.mkdir(parents=True, exist_ok=True)
        wrpcap(str(self.pcap_path), raw)
        log.info("dhcp capture stopped on %s: %d packet(s) in %s", self.iface, len(raw), self.pcap_path)

    def packets(self) -> list[DhcpPacket]:
        with self._lock:
            raw = list(self._raw)
        out, bad = [], 0
        for pkt in raw:
            try:
                decoded = decode(pkt)
            except Exception:  # scapy dissection of hostile bytes
                decoded = None
            if decoded is None:
                bad += 1
            else:
                out.append(decoded)
        self.malformed = bad
        return sorted(out, key=lambda p: p.time)

    def exchanges(self, chaddr: str | None = None) -> list[DhcpExchange]:
        groups: dict[tuple[int, str], DhcpExchange] = {}
        for p in self.packets():
            if chaddr is not None and p.chaddr != chaddr.lower():
                continue
            groups.setdefault((p.xid, p.chaddr), DhcpExchange(p.xid, p.chaddr)).packets.append(p)
        return list(groups.values())

    def rows(self, chaddr: str | None = None) -> list[list[str]]:
        pkts = [p for p in self.packets() if chaddr is None or p.chaddr == chaddr.lower()]
        t0 = pkts[0].time if pkts else 0.0
        rows = []
        for p in pkts:
            sub82 = " ".join(f"{k}={_show(v)}" for k, v in sorted(p.option82.items())) or "-"
            rows.append([f"{p.time - t0:7.3f}", f"0x{p.xid:08x}", p.msg_type, p.chaddr, f"{p.src} > {p.dst}",
                         p.giaddr, p.yiaddr, _show(p.options.get(66)), _show(p.options.get(224)), sub82,
                         "0x" + p.options[97].hex() if 97 in p.options else "-", _show(p.options.get(77))])
        return rows

    def table(self, chaddr: str | None = None) -> str:
        rows = self.rows(chaddr)
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(COLUMNS)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
        lines.append("-" * len(lines[0]))
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        if not rows:
            lines.append("(no DHCP packets captured)")
        return "\n".join(lines)

    def html_table(self, chaddr: str | None = None) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in self.rows(chaddr))
        style = ("<style>table{border-collapse:collapse;font:12px monospace}td,th{border:1px solid #ccc;"
                 "padding:2px 6px;text-align:left}th{background:#eee}</style>")
        return f"<html><head>{style}</head><body><table><tr>{head}</tr>{body}</table></body></html>"

    def summary(self) -> dict[str, Any]:
        pkts = self.packets()
        return {"packets": len(pkts), "malformed": self.malformed,
                "types": sorted({p.msg_type for p in pkts})}
