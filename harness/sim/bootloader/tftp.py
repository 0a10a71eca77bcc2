"""The bootloader's TFTP reads (RFC 1350 + RFC 2347/2348/2349 options), as seen on the wire [W-E74]:

- every file is read from a **new UDP source port** (a new socket per RRQ);
- the RRQ is ``octet`` with ``tsize 0`` and ``blksize`` 1024 [W-E74], or 1468 on releases since the 2022-10-03
  beta ("Increase TFTP_MAX_BLOCKSIZE to 1468" [RN]; per generation: ``uartlog.TFTP_BLKSIZE``);
- an unanswered RRQ is repeated every ``timing.RRQ_RETRY_S`` (x the lab time factor) until TFTP_FILE_TIMEOUT
  (x the factor; once blocks arrive it counts from the last one, since the host's own transfer time is real);
- existence probes are started and aborted with TFTP ERROR 0 "Early terminate" [STR, CMP5, E87].

Bracketed keys ([DOC-BL], [W-E58], …) name the sources listed at the end of tests/data/pi4/SPEC.md.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from typing import Literal, Protocol

RRQ, DATA, ACK, ERROR, OACK = 1, 3, 4, 5, 6
BLKSIZE = 1024
MAX_FILE_BYTES = 512 * 1024 * 1024

Status = Literal["ok", "exists", "error", "timeout"]


@dataclass(frozen=True)
class TftpResult:
    status: Status
    data: bytes = b""
    size: int = 0
    code: int = 0
    message: str = ""
    server_port: int = 0


class Tftp(Protocol):
    def get(self, server: str, path: str, *, probe: bool = False) -> TftpResult: ...


def rrq(path: str, blksize: int = BLKSIZE) -> bytes:
    return (
        struct.pack("!H", RRQ)
        + path.encode()
        + b"\0octet\0tsize\0"
        + b"0\0blksize\0"
        + str(blksize).encode()
        + b"\0"
    )


def error_packet(code: int, message: str) -> bytes:
    return struct.pack("!HH", ERROR, code) + message.encode() + b"\0"


def _parse_oack(body: bytes) -> dict[str, str]:
    parts = body.split(b"\0")
    out: dict[str, str] = {}
    for i in range(0, len(parts) - 1, 2):
        if parts[i]:
            out[parts[i].decode("ascii", "replace").lower()] = parts[i + 1].decode("ascii", "replace")
    return out


@dataclass
class UdpTftp:
    """TFTP over the kernel's UDP stack (the board's interface has the leased address by then)."""

    file_timeout: float
    retry: float
    bind_ip: str = "0.0.0.0"
    blksize: int = BLKSIZE
    port: int = 69  # the server's (tests run one on a free port)

    def get(self, server: str, path: str, *, probe: bool = False) -> TftpResult:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.bind_ip, 0))  # a new source port per file
            return self._get(sock, server, path, probe)

    def _get(self, sock: socket.socket, server: str, path: str, probe: bool) -> TftpResult:
        deadline = time.monotonic() + self.file_timeout
        request = rrq(path, self.blksize)
        last_sent = request
        dest: tuple[str, int] = (server, self.port)
        peer: tuple[str, int] | None = None
        blksize = 512
        expected = 1
        data = bytearray()
        tsize = 0
        sock.sendto(request, dest)
        sent_at = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline:
                return TftpResult("timeout", message="TFTP_FILE_TIMEOUT")
            sock.settimeout(max(0.001, min(deadline, sent_at + self.retry) - now))
            try:
                packet, addr = sock.recvfrom(65536)
            except TimeoutError:
                sock.sendto(last_sent, peer or dest)  # RRQ (or last ACK) repeated
                sent_at = time.monotonic()
                continue
            if addr[0] != server or (peer is not None and addr != peer) or len(packet) < 4:
                continue
            peer = addr
            opcode = struct.unpack("!H", packet[:2])[0]
            if opcode == ERROR:
                code = struct.unpack("!H", packet[2:4])[0]
                msg = packet[4:].split(b"\0", 1)[0].decode("ascii", "replace")
                return TftpResult("error", code=code, message=msg, server_port=addr[1])
            if opcode == OACK:
                opts = _parse_oack(packet[2:])
                tsize = int(opts.get("tsize", "0") or 0) if opts.get("tsize", "0").isdigit() else 0
                if probe:
                    sock.sendto(error_packet(0, "Early terminate"), addr)
                    return TftpResult("exists", size=tsize, server_port=addr[1])
                if opts.get("blksize", "").isdigit():
                    blksize = int(opts["blksize"])
                last_sent = struct.pack("!HH", ACK, 0)
                sock.sendto(last_sent, addr)
                sent_at = time.monotonic()
                continue
            if opcode == DATA:
                block = struct.unpack("!H", packet[2:4])[0]
                if probe:
                    sock.sendto(error_packet(0, "Early terminate"), addr)
                    return TftpResult("exists", size=tsize, server_port=addr[1])
                if block == expected & 0xFFFF:  # the counter may roll over on large files [RN 2025-09]
                    payload = packet[4:]
                    data += payload
                    if len(data) > MAX_FILE_BYTES:
                        sock.sendto(error_packet(3, "Disk full or allocation exceeded"), addr)
                        return TftpResult("error", code=3, message="file too large", server_port=addr[1])
                    last_sent = struct.pack("!HH", ACK, block)
                    sock.sendto(last_sent, addr)
                    sent_at = time.monotonic()
                    # the host's transfer time is not scaled by the time factor: TFTP_FILE_TIMEOUT counts from
                    # the last block here (a real 2.2 MB start4.elf takes 1.6 s of the 30 s [E87, DOC-BL])
                    deadline = max(deadline, sent_at + self.file_timeout)
                    expected += 1
                    if len(payload) < blksize:
                        return TftpResult("ok", data=bytes(data), size=len(data), server_port=addr[1])
                elif block == (expected - 1) & 0xFFFF:
                    sock.sendto(struct.pack("!HH", ACK, block), addr)  # ACK duplicate data blocks (2021 fix)
                continue
