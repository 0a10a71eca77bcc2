"""The backend driver: the admin API of the malina backend, through the backend's own client
(``backend.client.HttpAdmin``, the one HTTP client of that API, which the CLI uses too).

``HttpBackend(url, read_token, write_token, ca_file=None)``: machines, import, define (PUT), reinstall, set-local,
history, health, and ``wait_state`` (polling the last install attempt). An unreachable backend or a refused call is a
``BackendError`` (infrastructure) with the backend's explanation; a backend that answers but whose machine never
reaches the wanted state is a ``ProductFailure``. ``machines_for_lab`` builds the import payload
for lab boards (the backend's own lab.yaml import, plus the harness's SSH key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from backend.client import AdminError, HttpAdmin
from harness.drivers.base import Backend, BackendError, ProductFailure
from harness.lab.model import Board, Lab
from harness.wait import wait_until

log = logging.getLogger(__name__)

T = TypeVar("T")


class HttpBackend(Backend):
    def __init__(self, url: str, read_token: str, write_token: str, *, timeout_s: float = 10.0,
                 ca_file: str | Path | None = None) -> None:
        """``ca_file``: an https backend's certificate must chain to it (an https lab's run CA)."""
        self.admin = HttpAdmin(url, write_token, read_token=read_token, timeout_s=timeout_s, ca_file=ca_file)
        self.url = self.admin.url
        self.read_token, self.write_token = read_token, write_token

    def _call(self, operation: Callable[[], T]) -> T:
        """One admin call; a refused or failed one is a ``BackendError`` naming the backend and the call."""
        try:
            answer = operation()
        except AdminError as exc:
            how = f"HTTP {exc.status}: {exc.detail}" if exc.status is not None else exc.detail
            log.info("backend %s: %s %s refused: %s", self.url, exc.method, exc.path, how)
            raise BackendError(f"backend {self.url}: {exc.method} {exc.path}: {how}") from None
        return answer

    def health(self) -> bool:
        return self.admin.health()

    def wait_healthy(self, timeout: float = 60.0) -> None:
        wait_until(f"backend {self.url}: healthy", lambda: self.health() or None, timeout=timeout, interval=0.3,
                   error=BackendError)

    def machines(self) -> list[dict[str, Any]]:
        return self._call(self.admin.machines)

    def machine(self, name: str) -> dict[str, Any]:
        return self._call(lambda: self.admin.get(name))

    def import_machines(self, machines: list[dict[str, Any]]) -> dict[str, Any]:
        return self._call(lambda: self.admin.import_(machines))

    def put_machine(self, machine: dict[str, Any]) -> dict[str, Any]:
        return self._call(lambda: self.admin.add(machine, replace=True))

    def reinstall(self, name: str) -> dict[str, Any]:
        return self._call(lambda: self.admin.reinstall(name))

    def set_local(self, name: str) -> dict[str, Any]:
        return self._call(lambda: self.admin.set_local(name))

    def history(self, name: str, limit: int = 200) -> dict[str, Any]:
        return self._call(lambda: self.admin.history(name, limit))

    def set_boot_local_method(self, name: str, method: str | None) -> dict[str, Any]:
        """The machine's own boot-local method (issue 19); None: the lab's."""
        return self._call(lambda: self.admin.set_boot_local_method(name, method))

    def install_state(self, name: str) -> str | None:
        last = self.machine(name).get("last_attempt")
        return None if not last else str(last["state"])

    def wait_state(self, name: str, states: Iterable[str], timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the machine's last attempt is in one of ``states``; the machine then. The backend answers
        all along, so running out of time means the product is in the wrong state (a ``ProductFailure``)."""
        want = set(states)
        seen: list[object] = [None]

        def reached() -> dict[str, Any] | None:
            machine = self.machine(name)
            seen[0] = (machine.get("last_attempt") or {}).get("state")
            return machine if seen[0] in want else None

        return wait_until(f"{name}: install state in {sorted(want)}", reached, timeout=timeout, interval=0.25,
                          describe=lambda: f"{seen[0]!r}; last events: {self.history(name, 5)['events']}",
                          error=ProductFailure)

    def close(self) -> None:
        self.admin.close()


def machines_for_lab(lab: Lab, boards: list[Board], image: dict[str, Any], ssh_keys: list[str]) -> list[dict[str, Any]]:
    """Admin-API machine definitions for ``boards`` of ``lab`` (mode install), with ``image`` and the keys."""
    from backend.labimport import machines_from_doc

    doc = lab.model_dump(mode="json", exclude_none=True)
    doc["boards"] = [board.model_dump(mode="json", exclude_none=True) for board in boards]
    defaults = {"image": image, "ssh_authorized_keys": list(ssh_keys)}
    return [machine.model_dump(mode="json") for machine in machines_from_doc(doc, defaults)]
