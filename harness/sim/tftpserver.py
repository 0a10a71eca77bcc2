"""Read-only TFTP server for the lab (tftpy) that logs every RRQ, error and completed transfer as JSON lines.

`python -m harness.sim.tftpserver --root DIR --log FILE [--port 69] [--host 0.0.0.0]`

tftpy gives RFC 2347/2348/2349 (blksize up to 65464, tsize), "File not found" (error 1) at once for a missing
file, clean handling of a client's ERROR mid-transfer (the Pi's "Early terminate" probes) and concurrent
sessions. Writes (WRQ) are refused with an access violation. Each session is logged through a subclass of
tftpy's server context: `{"event": "rrq"|"complete"|"error", "path", "client", "bytes", "outcome", ...}`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
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
from tftpy.TftpShared import TftpException


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
        try:
            super().start(buffer)
        except TftpException as exc:
            self.failure = str(exc)
            raise
        except Exception as exc:  # a bug or odd input in tftpy must not stop the server
            self.failure = f"internal: {exc!r}"
            raise TftpException(self.failure) from exc

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


def make_server(root: Path, log: JsonLog) -> Any:
    """A tftpy server on `root` whose sessions log to `log`."""
    global _sink
    _sink = log
    # tftpy's listen() builds contexts through this module-level name; point it at the logging subclass
    setattr(importlib.import_module("tftpy.TftpServer"), "TftpContextServer", LoggingContext)  # noqa: B010
    return tftpy.TftpServer(str(root), upload_open=_refuse_upload)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness.sim.tftpserver", description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--port", type=int, default=69)
    parser.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("tftpy").setLevel(logging.CRITICAL)  # our JSON lines say it all
    if not args.root.is_dir():
        print(f"tftpserver: root {args.root} is not a directory", file=sys.stderr)
        return 2
    try:
        log = JsonLog(args.log)
    except OSError as exc:
        print(f"tftpserver: cannot open log {args.log}: {exc}", file=sys.stderr)
        return 2
    try:
        while True:
            server = make_server(args.root, log)
            log.write("ready", root=str(args.root), host=args.host, port=args.port)
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
