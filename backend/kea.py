"""Best-effort Kea cache flushes (``remote-options-cache-flush`` through Kea's control API).

The URL is kea-ctrl-agent's on Kea 2.x and kea-dhcp4's own HTTP control socket on Kea 3.0; both take
``{"command", "service": ["dhcp4"], "arguments"}`` and answer with a one-element list (3.0 emulates the agent's
answer unless configured not to, then a bare map: both are read).

When a machine's answer changes (reinstall, set-local, flagged, installed), the hook's cached answer for its
port must go. A flush never fails the request that caused it: errors come back as text and are logged.
With a Kea HA pair (``MALINA_KEA_STANDBY_CONTROL_URL``) every flush goes to both servers: the one that
answers now and the one that may answer next both hold a cache (docs/KEA-HA.md).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx

log = logging.getLogger("backend.kea")


class KeaNotifier:
    def __init__(self, url: str | None, timeout_s: float = 1.0, standby_url: str | None = None) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.urls = [u for u in (url, standby_url) if u]

    @staticmethod
    def command(port: dict[str, str]) -> dict[str, Any]:
        args = {key: value for key, value in port.items() if key in ("sub82_1", "sub82_2", "sub82_9") and value}
        return {"command": "remote-options-cache-flush", "service": ["dhcp4"], "arguments": args}

    def flush(self, port: dict[str, str]) -> str:
        """Flush the entries of one switch port now, on every server; returns ``ok``, ``disabled`` or what went
        wrong (with two servers: each one's failure, prefixed by its URL; a dead one does not stop the other)."""
        if not self.urls:
            return "disabled"
        if len(self.urls) == 1:
            return self._flush_one(self.urls[0], port)
        outcomes = [(url, self._flush_one(url, port)) for url in self.urls]
        failed = [f"{url}: {outcome.removeprefix('failed: ')}" for url, outcome in outcomes if outcome != "ok"]
        return "failed: " + "; ".join(failed) if failed else "ok"

    def _flush_one(self, url: str, port: dict[str, str]) -> str:
        try:
            resp = httpx.post(url, json=self.command(port), timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            log.warning("kea cache flush failed: %s", exc)
            return f"failed: {type(exc).__name__}: {exc}"
        if resp.status_code != 200:
            log.warning("kea cache flush: HTTP %s", resp.status_code)
            return f"failed: HTTP {resp.status_code}"
        try:
            body = resp.json()
            answer = body[0] if isinstance(body, list) else body
            result = int(answer.get("result", 1))
            text = str(answer.get("text", ""))
        except (ValueError, AttributeError, IndexError, TypeError):
            return "failed: unreadable answer from Kea's control API"
        if result != 0:
            log.warning("kea cache flush refused: %s", text)
            return f"failed: result {result}: {text}"
        return "ok"

    def flush_later(self, port: dict[str, str]) -> str:
        """Flush in a background thread (used from the DHCP hot path, where Kea is waiting on us)."""
        if not self.urls:
            return "disabled"
        threading.Thread(target=self.flush, args=(port,), name="kea-flush", daemon=True).start()
        return "queued"
