"""The lab's image server over https (lab.yaml ``services.files.tls``): Python's own ``http.server`` file handler
behind TLS with the run's certificate, so that images and bmaps are served exactly as the plain lab serves them.

    python -m harness.sim.fileserver --port 8081 --directory /srv/files --tls-cert CERT --tls-key KEY

A plain-http lab keeps ``python -m http.server``. Each connection's TLS handshake runs in that connection's thread,
never in the accept loop (a client that connects and says nothing must not stall the others). The log (stderr:
the container's log) names the scheme of every request, ``https 10.90.1.100 - "GET /ubuntu.img.xz HTTP/1.1" 200 -``,
and every failed handshake, ``tls handshake from 10.89.0.254 failed: ...``: a plain-http request to this port is
one of those (it is refused, never answered in clear).
"""

from __future__ import annotations

import argparse
import functools
import socket
import ssl
import sys
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HANDSHAKE_TIMEOUT_S = 10.0


def log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class TlsFileHandler(SimpleHTTPRequestHandler):
    """The standard file handler; its log lines say they were https."""

    server: TlsFileServer

    def log_message(self, format: str, *args: Any) -> None:
        self.server.say(f"https {self.client_address[0]} - {format % args}")


class TlsFileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, context: ssl.SSLContext,
                 say: Callable[[str], None] = log) -> None:
        self.context = context
        self.say = say
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs in the connection's own thread: the handshake first (bounded), then the request."""
        try:
            request.settimeout(HANDSHAKE_TIMEOUT_S)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.say(f"tls handshake from {client_address[0]} failed: {exc}")
            return
        try:
            tls.settimeout(None)
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            tls.close()


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


def make_server(host: str, port: int, directory: Path, context: ssl.SSLContext,
                say: Callable[[str], None] = log) -> TlsFileServer:
    """``say``: where the log lines go (default stderr)."""
    handler = functools.partial(TlsFileHandler, directory=str(directory))
    return TlsFileServer((host, port), handler, context, say)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness.sim.fileserver", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--directory", required=True, type=Path)
    parser.add_argument("--tls-cert", required=True, type=Path, help="the server's certificate (PEM)")
    parser.add_argument("--tls-key", required=True, type=Path, help="its private key (PEM)")
    args = parser.parse_args(argv)
    try:
        server = make_server(args.host, args.port, args.directory, server_context(args.tls_cert, args.tls_key))
    except (OSError, ssl.SSLError) as exc:
        log(f"fileserver: {exc}")
        return 2
    log(f"fileserver: serving {args.directory} on https://{args.host}:{args.port}/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
