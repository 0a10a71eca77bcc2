"""The backend driver: the admin API of the malina backend over HTTP (httpx).

``HttpBackend(url, read_token, write_token)``: machines, import, define (PUT), reinstall, set-local, history,
health, and ``wait_state`` (polling the last install attempt). An unreachable backend or a refused call is a
``BackendError`` (infrastructure) with the backend's explanation; a backend that answers but whose machine never
reaches the wanted state is a ``ProductFailure``. ``machines_for_lab`` builds the import payload
for lab boards (the backend's own lab.yaml import, plus the harness's SSH key).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import httpx

from harness.drivers.base import Backend, BackendError, ProductFailure
from harness.lab.model import Board, Lab


class HttpBackend(Backend):
    def __init__(self, url: str, read_token: str, write_token: str, *, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout_s)
        self.read_token, self.write_token = read_token, write_token

    def _call(self, method: str, path: str, body: Any = None, *, write: bool = False,
              params: dict[str, Any] | None = None) -> Any:
        token = self.write_token if write else self.read_token
        try:
            resp = self.http.request(method, path, json=body, params=params,
                                     headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise BackendError(f"backend {self.url}: {method} {path}: {exc}") from None
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail", resp.text)
            except ValueError:
                detail = resp.text
            raise BackendError(f"backend {self.url}: {method} {path}: HTTP {resp.status_code}: {detail}")
        return resp.json()

    def health(self) -> bool:
        try:
            return self.http.get("/v1/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.health():
            if time.monotonic() > deadline:
                raise BackendError(f"backend {self.url} not healthy within {timeout:.0f} s")
            time.sleep(0.3)

    def machines(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/admin/machines")["machines"])

    def machine(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/admin/machines/{name}"))

    def import_machines(self, machines: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(self._call("POST", "/v1/admin/import", {"machines": machines}, write=True))

    def put_machine(self, machine: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("PUT", f"/v1/admin/machines/{machine['name']}", machine, write=True))

    def reinstall(self, name: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/v1/admin/machines/{name}/reinstall", write=True))

    def set_local(self, name: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/v1/admin/machines/{name}/set-local", write=True))

    def history(self, name: str, limit: int = 200) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/admin/machines/{name}/history", params={"limit": limit}))

    def install_state(self, name: str) -> str | None:
        last = self.machine(name).get("last_attempt")
        return None if not last else str(last["state"])

    def wait_state(self, name: str, states: Iterable[str], timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the machine's last attempt is in one of ``states``; the machine then."""
        want = set(states)
        deadline = time.monotonic() + timeout
        while True:
            m = self.machine(name)
            state = (m.get("last_attempt") or {}).get("state")
            if state in want:
                return m
            if time.monotonic() > deadline:  # the backend answers all along: the product is in the wrong state
                raise ProductFailure(f"{name}: install state {state!r} after {timeout:.0f} s, wanted "
                                     f"{sorted(want)}; last events: {self.history(name, 5)['events']}")
            time.sleep(0.25)

    def close(self) -> None:
        self.http.close()


def machines_for_lab(lab: Lab, boards: list[Board], image: dict[str, Any], ssh_keys: list[str]) -> list[dict[str, Any]]:
    """Admin-API machine definitions for ``boards`` of ``lab`` (mode install), with ``image`` and the keys."""
    from backend.labimport import machines_from_doc

    doc = lab.model_dump(mode="json", exclude_none=True)
    doc["boards"] = [b.model_dump(mode="json", exclude_none=True) for b in boards]
    defaults = {"image": image, "ssh_authorized_keys": list(ssh_keys)}
    return [m.model_dump(mode="json") for m in machines_from_doc(doc, defaults)]
