"""The backend's lease store: board leases in the backend's database, shared by every CI host of a rack.

``BackendLeaseStore`` is a ``harness.leases.LeaseStore`` over the backend's ``/v1/leases`` and ``/v1/boards``
routes (backend/leases.py), with ``backend.client.HttpAdmin`` (read token for lists, write token for changes).
The backend makes each acquisition atomic and runs the TTL on its own clock. What only a host can see, it does
here: before leasing, holders that ran on this host (``host_id()``) and whose process is gone are released by
lease id, so a crashed worker's boards are free at once on its own host (elsewhere after the TTL).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from backend.client import AdminError, HttpAdmin
from harness.leases import Holding, Lease, holder_alive, host_id, refusal, wait_acquire

log = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    """A renewal found the lease gone: its TTL ran out and another holder took the board."""


class BackendLeaseStore:
    def __init__(self, admin: HttpAdmin, lab_name: str, *, run_id: str, ttl: float = 3600.0) -> None:
        self.admin = admin
        self.lab = lab_name
        self.run_id = run_id
        self.ttl = ttl

    @classmethod
    def connect(cls, url: str, read_token: str, write_token: str, lab_name: str, *, run_id: str,
                ttl: float = 3600.0) -> BackendLeaseStore:
        return cls(HttpAdmin(url, write_token, read_token=read_token), lab_name, run_id=run_id, ttl=ttl)

    def _boards(self) -> list[dict[str, Any]]:
        return list(self.admin.request("GET", "/v1/boards", params={"lab": self.lab})["boards"])

    def reclaim_dead(self) -> list[str]:
        """Release the leases whose holder ran on this host and is gone; the boards freed."""
        freed = []
        for board in self._boards():
            lease = board.get("lease")
            if lease and not holder_alive(int(lease["pid"]), str(lease["host"])):
                self.admin.request("DELETE", f"/v1/leases/{lease['id']}")
                log.info("lease of %s: holder %s (pid %s) is gone from this host: released", board["board"],
                         lease["owner"], lease["pid"])
                freed.append(str(board["board"]))
        return freed

    def acquire(self, candidates: Sequence[str], owner: str, *, count: int = 1,
                include_bad: bool = False) -> list[Lease]:
        self.reclaim_dead()
        body = {"lab": self.lab, "boards": list(candidates), "owner": owner[:255], "host": host_id(),
                "pid": os.getpid(), "ttl": self.ttl, "count": count, "run_id": self.run_id,
                "include_bad": include_bad}
        answer = self.admin.request("POST", "/v1/leases/acquire", body)
        if not answer["leases"]:
            raise refusal(candidates, count, list(answer["free"]), dict(answer["busy"]), dict(answer["out"]))
        return [Lease(self, x["board"], owner, id=x["id"], since=float(x["since"])) for x in answer["leases"]]

    def wait_acquire(self, candidates: Sequence[str], owner: str, *, count: int = 1, timeout: float = 600.0,
                     include_bad: bool = False) -> list[Lease]:
        # poll faster than the file store: a crashed holder's board is free the moment its TTL runs out
        return wait_acquire(self, candidates, owner, count=count, timeout=timeout, include_bad=include_bad,
                            interval=min(1.0, max(0.2, self.ttl / 20)))

    def renew(self, lease: Lease) -> None:
        try:
            self.admin.request("POST", f"/v1/leases/{lease.id}/renew")
        except AdminError as exc:
            if exc.status == 404:
                raise LeaseLost(f"the lease of {lease.board} is gone: {exc.detail}") from None
            raise

    def release(self, lease: Lease) -> None:
        self.admin.request("DELETE", f"/v1/leases/{lease.id}")

    def quarantine(self, board: str, reason: str) -> None:
        self.admin.request("POST", f"/v1/boards/{self.lab}/{board}/quarantine",
                           {"reason": reason[:2000] or "quarantined", "run_id": self.run_id})

    def unquarantine(self, board: str) -> None:
        self.admin.request("DELETE", f"/v1/boards/{self.lab}/{board}/quarantine")

    def quarantined(self) -> dict[str, str]:
        return {str(b["board"]): str(b["quarantined"]) for b in self._boards()
                if b.get("quarantined") and b.get("quarantine_run") == self.run_id}

    def set_health(self, board: str, ok: bool, evidence: dict[str, Any]) -> None:
        self.admin.request("PUT", f"/v1/boards/{self.lab}/{board}/health", {"ok": ok, "evidence": evidence})

    def holdings(self) -> list[Holding]:
        out = []
        for b in self._boards():
            lease = b.get("lease") or {}
            out.append(Holding(board=str(b["board"]), owner=lease.get("owner"), host=lease.get("host"),
                               pid=lease.get("pid"), since=lease.get("since"), expires=lease.get("expires"),
                               quarantined=b.get("quarantined"), quarantine_run=b.get("quarantine_run"),
                               health=str(b.get("health", "unknown")), health_at=b.get("health_at"),
                               evidence=b.get("evidence")))
        return out

    def close(self) -> None:
        self.admin.close()

