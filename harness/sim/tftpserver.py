"""Read-only TFTP server for the lab (tftpy) that logs every RRQ, error and completed transfer as JSON lines.

`python -m harness.sim.tftpserver --root DIR --log FILE [--port 69] [--host 0.0.0.0] [--gate-url URL]
[--gate-ca FILE]`

tftpy gives RFC 2347/2348/2349 (blksize up to 65464, tsize), "File not found" (error 1) at once for a missing
file, clean handling of a client's ERROR mid-transfer (the Pi's "Early terminate" probes) and concurrent
sessions. Writes (WRQ) are refused with an access violation. Each session is logged through a subclass of
tftpy's server context: `{"event": "rrq"|"complete"|"error", "path", "client", "bytes", "outcome", ...}`.

With `--gate-url` (the backend's base URL; the token in `MALINA_TFTP_GATE_TOKEN`) every RRQ first passes the TFTP
gate (`harness.sim.tftpgate`): a board that must boot local by a `tftp-deny` method gets "File not found"
(error 1) for whatever it asks, at once, as for a missing file; the log's `error` line then carries
`"gate": <why>` (outcome `not_found`). Without `--gate-url` nothing is gated. An https backend is verified against
`--gate-ca` (an https lab's run CA; without it, the system's CAs).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import tftpy
from tftpy.TftpContexts import TftpContextServer
from tftpy.TftpPacketTypes import (
    TftpPacketERR,
    TftpPacketRRQ,
    TftpPacketWRQ,
)
from tftpy.TftpShared import TftpErrors, TftpException

from harness.sim.tftpgate import BackendGate, Fetch, Gate, OpenGate, http_get, verified_get


class JsonLog:
    """Thread-safe JSON-lines writer to a file and stdout."""

    def __init__(self, path: Path | None, echo: bool = True) -> None:
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        self._echo = echo

    def write(self, event: str, **fields: Any) -> None:
        line = json.dumps({"ts": round(time.time(), 3), "event": event, **fields})
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()
            if self._echo:
                print(line, flush=True)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


_sink: JsonLog | None = None
_gate: Gate = OpenGate()


def _emit(event: str, **fields: Any) -> None:
    if _sink is not None:
        _sink.write(event, **fields)


class LoggingContext(TftpContextServer):  # type: ignore[misc]
    """tftpy's server context, logging the request and how the session ended."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_path: str | None = None
        self.request_options: dict[str, str] = {}
        self.failure: str | None = None
        self.gate_reason: str | None = None
        self.peer_error: tuple[int, str] | None = None
        # tftpy sets this only once a request parsed; a session that fails earlier would otherwise look
        # timed out before it is deleted and crash the server loop in resendLast()
        self.last_update = time.time()
        parse = self.factory.parse

        def parse_and_note(buffer: bytes) -> Any:
            pkt = parse(buffer)
            if isinstance(pkt, TftpPacketERR):
                raw = getattr(pkt, "errmsg", b"") or b""
                text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                self.peer_error = (int(pkt.errorcode), text.rstrip("\0"))
            return pkt

        self.factory.parse = parse_and_note

    @property
    def client(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, buffer: bytes) -> None:
        try:
            pkt = self.factory.parse(buffer)
        except Exception as exc:
            self.failure = f"malformed request: {exc}"
            raise TftpException(self.failure) from exc
        if isinstance(pkt, TftpPacketRRQ | TftpPacketWRQ):
            self.request_path = str(pkt.filename)
            self.request_options = {str(k): str(v) for k, v in (pkt.options or {}).items()}
            _emit("rrq" if isinstance(pkt, TftpPacketRRQ) else "wrq", client=self.client, path=self.request_path,
                  options=self.request_options)
        if isinstance(pkt, TftpPacketRRQ):
            self._gate(str(pkt.filename))
        try:
            super().start(buffer)
        except TftpException as exc:
            self.failure = str(exc)
            raise
        except Exception as exc:  # a bug or odd input in tftpy must not stop the server
            self.failure = f"internal: {exc!r}"
            raise TftpException(self.failure) from exc

    def _gate(self, path: str) -> None:
        """A closed gate answers like a missing file: ERROR 1 "File not found" [F1850], and the session ends."""
        verdict = _gate.check(path, self.client)
        if verdict.open:
            return
        self.gate_reason = verdict.reason
        error = TftpPacketERR()
        error.errorcode = TftpErrors.FileNotFound
        self.sock.sendto(error.encode().buffer, (self.host, self.port))
        self.failure = f"File not found: the TFTP gate is closed for {verdict.board or 'this client'}"
        raise TftpException(self.failure)

    def cycle(self) -> None:
        try:
            super().cycle()
        except TftpException as exc:
            self.failure = str(exc)
            raise
        except Exception as exc:
            self.failure = f"internal: {exc!r}"
            raise TftpException(self.failure) from exc

    def end(self) -> None:
        super().end()
        sent = int(self.metrics.bytes)
        fields: dict[str, Any] = {"client": self.client, "path": self.request_path, "bytes": sent,
                                  "options": self.request_options}
        if self.gate_reason is not None:
            fields["gate"] = self.gate_reason
        if self.state is None and self.failure is None:
            _emit("complete", outcome="complete", duration=round(float(self.metrics.duration), 4), **fields)
            return
        message = self.failure or "timeout waiting for the client"
        if self.peer_error is not None:
            code, text = self.peer_error
            message = f"client sent error {code}: {text}"
            outcome = "client_error"
        elif message.startswith("malformed"):
            outcome = "malformed"
        elif "File not found" in message:
            outcome = "not_found"
        elif self.failure is None:
            outcome = "timeout"
        elif "not permitted" in message or "bad file path" in message:
            outcome = "refused"
        else:
            outcome = "error"
        _emit("error", outcome=outcome, message=message, **fields)


def _refuse_upload(path: str, context: Any) -> None:
    return None


def make_server(root: Path, log: JsonLog, gate: Gate | None = None) -> Any:
    """A tftpy server on `root` whose sessions log to `log` and pass `gate` (None: nothing is gated)."""
    global _sink, _gate
    _sink = log
    _gate = gate or OpenGate()
    # tftpy's listen() builds contexts through this module-level name; point it at the logging subclass
    setattr(importlib.import_module("tftpy.TftpServer"), "TftpContextServer", LoggingContext)  # noqa: B010
    return tftpy.TftpServer(str(root), upload_open=_refuse_upload)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness.sim.tftpserver", description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--port", type=int, default=69)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--gate-url", help="the backend's base URL: serve a board only while its TFTP gate is open "
                                           "(bearer token from MALINA_TFTP_GATE_TOKEN)")
    parser.add_argument("--gate-cache-s", type=float, default=1.0, help="seconds a gate answer is reused (<= 1)")
    parser.add_argument("--gate-ca", help="an https --gate-url's certificate must chain to this CA file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("tftpy").setLevel(logging.CRITICAL)  # our JSON lines say it all
    if not args.root.is_dir():
        print(f"tftpserver: root {args.root} is not a directory", file=sys.stderr)
        return 2
    gate: Gate = OpenGate()
    if args.gate_url:
        token = os.environ.get("MALINA_TFTP_GATE_TOKEN", "")
        if not token:
            print("tftpserver: --gate-url needs the token in MALINA_TFTP_GATE_TOKEN", file=sys.stderr)
            return 2
        try:
            fetch: Fetch = verified_get(args.gate_ca) if args.gate_ca else http_get
            gate = BackendGate(args.gate_url, token, cache_s=args.gate_cache_s, refresh=True, fetch=fetch)
        except (ValueError, OSError) as exc:  # OSError: an unreadable --gate-ca (ssl.SSLError is one too)
            print(f"tftpserver: {exc}", file=sys.stderr)
            return 2
    try:
        log = JsonLog(args.log)
    except OSError as exc:
        print(f"tftpserver: cannot open log {args.log}: {exc}", file=sys.stderr)
        return 2
    try:
        while True:
            server = make_server(args.root, log, gate)
            log.write("ready", root=str(args.root), host=args.host, port=args.port, gate=args.gate_url)
            try:
                server.listen(args.host, args.port)
                return 0
            except (AssertionError, TftpException) as exc:  # a tftpy bug: restart, never stay down
                log.write("restart", reason=repr(exc))
                if server.sock is not None:
                    server.sock.close()
    except OSError as exc:
        print(f"tftpserver: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        log.close()


if __name__ == "__main__":
    sys.exit(main())
