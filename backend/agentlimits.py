"""Limits of the agent routes (``/v1/install/...``): a body limit (413) and a per-port rate limit (429).

The agent routes are unauthenticated by design (the token in the path is the credential), so anyone on a
board's network can send to them: a request body larger than ``max_body`` bytes is refused before it is read
whole, and each switch port gets a token bucket of ``rate`` requests a second (bursts of ``burst``). A port is
known by its caller's address: each port has its own subnet (the backend binds every install token to it), and
the bucket's key is the caller's ``/prefix`` network (``MALINA_AGENT_RATE_PREFIX``, ``/24`` unless told), so the
callers of one port share one bucket and cannot starve the others. An agent makes a call every few seconds (its
progress); the defaults (50 a second, bursts of 200) leave room for a rack whose boards share one /24, and a site
whose ports share a larger subnet sets the prefix to 32 (one bucket per address).

A pure ASGI middleware: every other path passes through at the cost of one string comparison (the DHCP hot path
must not pay for it).
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

AGENT_PREFIX = "/v1/install/"
MAX_BUCKETS = 65536  # the buckets of this many networks at most are kept (full ones are dropped first)


class TokenBuckets:
    """One token bucket per key: ``rate`` tokens a second, at most ``burst`` kept."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, when)

    def take(self, key: str) -> float:
        """0 when the request may go; else the seconds until it may (nothing is taken then)."""
        now = self.clock()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
            self._prune(now)
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0

    def _prune(self, now: float) -> None:
        full = [key for key, (tokens, then) in self._buckets.items()
                if tokens + (now - then) * self.rate >= self.burst]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


def port_key(host: str | None, prefix: int) -> str:
    """The rate-limit key of a caller: its ``/prefix`` network (IPv4; IPv6 by ``/64``), or the host as given."""
    if not host:
        return "?"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    bits = prefix if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


async def _refuse(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class AgentLimits:
    """ASGI middleware: the body limit and the per-port rate limit of the agent routes."""

    def __init__(self, app: ASGIApp, *, max_body: int, rate: float, burst: int, prefix: int = 24,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.max_body, self.prefix = app, max_body, prefix
        self.buckets = TokenBuckets(rate, burst, clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(AGENT_PREFIX):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.buckets.take(port_key(client[0] if client else None, self.prefix))
        if wait:
            await _refuse(send, 429, "too many requests from this switch port; slow down",
                          [(b"retry-after", str(max(1, round(wait))).encode())])
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _refuse(send, 413, f"request body larger than {self.max_body} bytes")
            return
        await self._limited(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The body is read here first, at most ``max_body`` bytes of it (a body without a length, chunked, is
        counted as it arrives), then handed to the app whole; past the limit the request is refused."""
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_body:
                await _refuse(send, 413, f"request body larger than {self.max_body} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the disconnect as the app would
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def limits_of(settings: Any) -> dict[str, Any]:
    """The middleware's arguments from the settings."""
    return {"max_body": settings.agent_max_body, "rate": settings.agent_rate_per_s, "burst": settings.agent_burst,
            "prefix": settings.agent_rate_prefix}
