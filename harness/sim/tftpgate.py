"""The TFTP gate of the lab's TFTP server (issue 19, boot-local methods ``tftp-deny`` and the default
``opt66-zero+tftp-deny``): whether the server may serve a board, asked of the backend.

Why ask the backend over HTTP rather than read a gate file the backend keeps: the backend's database is the
one place that knows whether a board must boot local (boot mode, flag, attempt cap, its method), and it already
decides the DHCP answer from it; a file would be a second copy, written by the backend into a directory the TFTP
server's host must share, and stale whenever the two disagree. An HTTP read (``GET /v1/tftp/gate``) is the same
decision at the moment the board asks, cached for at most a second here (a board asks for a dozen files in a
burst), and works across hosts and containers with nothing shared but the network. The cost is that the TFTP
server needs the backend up: when the backend cannot be reached, answers an error or anything unexpected, the
gate is **closed** — when in doubt a board boots local (the hook's failure policy says the same).

Which board asks: the bootloader reads ``<serial>/…`` first (``TFTP_PREFIX`` 0, the default: the serial as 8
lower-case hex digits) or ``dc-a6-32-…/…`` (``TFTP_PREFIX`` 2, the MAC) [DOC-BL]; after a failed prefix probe it
clears the prefix and asks for ``config.txt``, ``start4.elf`` … at the root [DOC-BL, W-E74]. So the gate learns
the board from the path prefix and remembers it per client address: a path without a board prefix is judged as
the last board seen from that address, and closed when none was seen (nothing in malina's trees lives at the
root; only a board's own directory serves it).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

SERIAL_PREFIX = re.compile(r"^[0-9a-f]{8}$")
MAC_PREFIX = re.compile(r"^[0-9a-f]{2}(-[0-9a-f]{2}){5}$")
MAX_CACHE_S = 1.0  # a boot-local switch reaches the TFTP server within this
REMEMBER_S = 600.0  # how long a client address stays tied to the board it last named
ACTIVE_S = 60.0  # a board that asked within this is kept fresh by the refresher (``refresh=True``); longer than
# one transfer under load (start4.elf took 20-40 s with 64 boards at once: a board forgotten mid-transfer found its
# verdict expired at the next file and waited, inside the transfer loop, for a backend busy with 64 installs)
ASK_TIMEOUT_S = 2.0  # a caller's own ask (a board's first file, or after a quiet minute)
REFRESH_WORKERS = 8  # boards the refresher asks about at once (64 boards asked one by one outran ``cache_s``)
REFRESH_TIMEOUT_S = 3.0  # the refresher may wait longer than a caller: it stalls no transfer


@dataclass(frozen=True)
class Verdict:
    open: bool
    reason: str
    board: str | None = None  # "serial <hex>" / "mac <mac>", when known
    unanswered: bool = False  # closed because the backend did not answer, not because it said so


class Gate(Protocol):
    def check(self, path: str, client: str) -> Verdict: ...


class OpenGate:
    """No gate configured: every request is served (the server as it was before issue 19)."""

    def check(self, path: str, client: str) -> Verdict:
        return Verdict(True, "no gate configured")


def board_of(path: str) -> tuple[str, str] | None:
    """``("serial", "6e87a417")`` or ``("mac", "dc:a6:32:01:36:c2")`` from a path's first component, else None."""
    head = path.lstrip("/").split("/", 1)[0].lower()
    if "/" not in path.lstrip("/"):
        return None  # a file at the root: no board prefix
    if SERIAL_PREFIX.match(head):
        return "serial", head
    if MAC_PREFIX.match(head):
        return "mac", head.replace("-", ":")
    return None


Fetch = Callable[[str, dict[str, str], float], tuple[int, bytes]]


def http_get(url: str, headers: dict[str, str], timeout: float, *,
             context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """One GET: (status, body); ``context`` verifies an https backend. Transport errors (a certificate that does
    not verify included) raise ``OSError``."""
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return int(response.status), bytes(response.read(65536))
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read(4096) or b"")


def verified_get(ca_file: str) -> Fetch:
    """``http_get`` that trusts ``ca_file`` alone for an https backend (an https lab's run CA)."""
    context = ssl.create_default_context(cafile=ca_file)

    def fetch(url: str, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
        return http_get(url, headers, timeout, context=context)

    return fetch


class BackendGate:
    """The gate as the backend decides it (``GET <url>/v1/tftp/gate?serial=|mac=&client=``, bearer ``token``)."""

    def __init__(self, url: str, token: str, *, cache_s: float = MAX_CACHE_S, timeout_s: float = ASK_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic, fetch: Fetch = http_get, refresh: bool = False,
                 refresh_timeout_s: float = REFRESH_TIMEOUT_S) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the gate URL must be the backend's http(s) base URL: {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.cache_s = min(max(0.0, cache_s), MAX_CACHE_S)
        self.timeout_s = timeout_s
        self.refresh_timeout_s = refresh_timeout_s
        self.clock = clock
        self.fetch = fetch
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], tuple[float, Verdict]] = {}
        self._clients: dict[str, tuple[float, tuple[str, str]]] = {}
        # With ``refresh``, a thread asks again for every board active in the last ACTIVE_S before its verdict
        # expires, so that ``check`` (called inside the TFTP server's one transfer loop) finds a verdict at most
        # ``cache_s`` old without waiting for the backend: a synchronous ask stalled every transfer of the server
        # while 64 boards booted (issue 18.5). Only a board's first file after a quiet spell still waits.
        self._active: dict[tuple[str, str], tuple[float, str]] = {}
        if refresh:
            threading.Thread(target=self._refresher, name="tftp gate refresher", daemon=True).start()

    def _refresher(self) -> None:
        with ThreadPoolExecutor(max_workers=REFRESH_WORKERS, thread_name_prefix="tftp gate refresh") as pool:
            while True:
                began = time.monotonic()
                list(pool.map(self._refresh, self._due()))
                time.sleep(max(0.05, self.cache_s * 0.6 - (time.monotonic() - began)))

    def _due(self) -> list[tuple[tuple[str, str], str]]:
        """The boards that asked within ACTIVE_S (the others are forgotten), with the address they asked from."""
        now = self.clock()
        with self._lock:
            for board in [b for b, (seen, _) in self._active.items() if seen + ACTIVE_S <= now]:
                del self._active[board]
            return [(board, host) for board, (_, host) in self._active.items()]

    def _refresh(self, item: tuple[tuple[str, str], str]) -> None:
        """Ask again before the verdict expires. A refresh the backend did not answer leaves a verdict that is
        still valid as it is: it expires on time, and then the caller's own ask decides (closed when the backend
        is still unreachable), so a momentary stall under load does not close a board's gate mid-boot and a
        boot-local switch still reaches the server within ``cache_s`` of an answer."""
        board, host = item
        verdict = self._ask(board, host, self.refresh_timeout_s)
        with self._lock:
            cached = self._answers.get(board)
            if verdict.unanswered and cached is not None and cached[0] > self.clock():
                return
            self._answers[board] = (self.clock() + self.cache_s, verdict)

    def check(self, path: str, client: str) -> Verdict:
        host = client.rsplit(":", 1)[0]
        now = self.clock()
        board = board_of(path)
        with self._lock:
            if board is not None:
                self._clients[host] = (now + REMEMBER_S, board)
            else:
                known = self._clients.get(host)
                if known is None or known[0] < now:
                    return Verdict(False, "no board seen from this address yet (no serial or MAC prefix)")
                board = known[1]
            self._active[board] = (now, host)
            cached = self._answers.get(board)
            if cached is not None and cached[0] > now:
                return cached[1]
        verdict = self._ask(board, host, self.timeout_s)
        with self._lock:
            self._answers[board] = (self.clock() + self.cache_s, verdict)
        return verdict

    def _ask(self, board: tuple[str, str], host: str, timeout_s: float) -> Verdict:
        kind, value = board
        label = f"{kind} {value}"
        query = urllib.parse.urlencode({kind: value, "client": host})
        try:
            status, body = self.fetch(f"{self.url}/v1/tftp/gate?{query}",
                                      {"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
                                      timeout_s)
        except (OSError, ValueError) as exc:  # unreachable, timed out, refused: closed
            return Verdict(False, f"backend unreachable: {exc}", label, unanswered=True)
        if status != 200:
            return Verdict(False, f"backend answered HTTP {status}", label)
        try:
            answer = json.loads(body)
            is_open, reason = answer["open"], str(answer.get("reason", ""))
        except (ValueError, KeyError, TypeError):
            return Verdict(False, "backend answered something that is not a gate verdict", label)
        return Verdict(is_open is True, reason or ("open" if is_open is True else "closed"), label)
