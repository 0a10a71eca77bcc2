"""A backend stand-in that answers every GET after a fixed delay, for ``bench.hook``'s 100 ms capacity case.

The hook on Kea 2.6+ keeps hundreds of calls in flight against a slow backend (``max-concurrent-requests`` 600):
the stub backend of the hook lab (``testkit/hooklab/stub_backend.py``, a thread per connection) answered fewer
than that at 100 ms each and turned the rest into the hook's failure policy, measuring itself. This one is one
asyncio loop: a waiting request costs a timer, not a thread. HTTP/1.1 keep-alive, one request at a time per
connection (as libcurl sends them), the same JSON body for every request (like the bench's nginx), no parsing
beyond the request head.

``python slowbackend.py --port 8081 --delay-ms 100 --body '{"66": "10.0.0.5"}'``
"""

from __future__ import annotations

import argparse
import asyncio

MAX_HEAD = 16384  # bytes of a request head; a longer one closes the connection


def response(body: bytes) -> bytes:
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: keep-alive\r\n\r\n")
    return head.encode() + body


class SlowHttp(asyncio.Protocol):
    """One keep-alive connection: each complete request head is answered ``delay_s`` later (a loop timer, the
    cheapest thing asyncio has: no stream objects, no task per request)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay_s: float, answer: bytes) -> None:
        self.loop, self.delay_s, self.answer = loop, delay_s, answer
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.pending += data
        while b"\r\n\r\n" in self.pending:
            head, self.pending = self.pending.split(b"\r\n\r\n", 1)
            if not head.startswith(b"GET "):
                self.transport.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n"
                                     b"Connection: close\r\n\r\n")
                self.transport.close()
                return
            self.loop.call_later(self.delay_s, self.reply)
        if len(self.pending) > MAX_HEAD:
            self.transport.close()

    def reply(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def main_async(port: int, delay_ms: int, body: str) -> None:
    loop = asyncio.get_running_loop()
    answer = response(body.encode())
    server = await loop.create_server(lambda: SlowHttp(loop, delay_ms / 1000.0, answer), "0.0.0.0", port,
                                      backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--delay-ms", type=int, default=100)
    ap.add_argument("--body", required=True, help="the JSON body of every answer")
    args = ap.parse_args()
    asyncio.run(main_async(args.port, args.delay_ms, args.body))


if __name__ == "__main__":
    main()
