"""The hook's counters, read from Kea at scrape time (``remote-options-stats`` through Kea's control API:
kea-ctrl-agent on Kea 2.x, kea-dhcp4's HTTP control socket on 3.0).

The command answers with the hook's exact counters (the same values it publishes as Kea statistics
``remote-options.<name>``), the cache size and the in-flight limit. A Kea that does not answer, answers with an
error or with something unreadable gives ``None``: ``/metrics`` then says ``malina_hook_up 0`` and still
answers with everything else.
"""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger("backend.keastats")

COMMAND = {"command": "remote-options-stats", "service": ["dhcp4"]}
# The hook's counters (hook/README.md "Statistics"): Kea's name → what /metrics calls it (a counter).
COUNTERS = {
    "backend-calls": "backend_calls",
    "backend-answers": "backend_answers",
    "cache-hits": "cache_hits",
    "failure-policy": "failure_policy",
    "overloaded": "overloaded",
    "breaker-open": "breaker_open",
}
# Values of the moment (gauges).
GAUGES = {"cache-entries": "cache_entries", "backend-in-flight-limit": "backend_in_flight_limit"}


def parse(body: object) -> dict[str, int] | None:
    """The numbers of a ``remote-options-stats`` answer (a list, as kea-ctrl-agent and Kea 3.0's socket answer,
    or a map), or ``None``."""
    answer = body[0] if isinstance(body, list) and body else body
    if not isinstance(answer, dict) or answer.get("result") != 0:
        return None
    arguments = answer.get("arguments")
    if not isinstance(arguments, dict):
        return None
    known = COUNTERS.keys() | GAUGES.keys()
    return {name: value for name, value in arguments.items() if name in known and type(value) is int}


def hook_stats(url: str, timeout_s: float) -> dict[str, int] | None:
    """Ask Kea for the hook's counters; ``None`` when it does not answer in ``timeout_s`` or answers badly."""
    try:
        resp = httpx.post(url, json=COMMAND, timeout=timeout_s)
        resp.raise_for_status()
        return parse(resp.json())
    except (httpx.HTTPError, ValueError) as exc:
        log.info("kea statistics unavailable: %s", exc)
        return None
