"""Admin operations for the CLI (and the harness): against a running backend over HTTP, or on the database.

Both return the admin API's JSON (plain dicts), so callers need not care which one they hold.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from backend.errors import ServiceError
from backend.schemas import MachineIn
from backend.service import Service


class AdminError(Exception):
    """The operation was refused or failed; the message is the backend's explanation."""


class Admin(Protocol):
    def machines(self) -> list[dict[str, Any]]: ...
    def get(self, name: str) -> dict[str, Any]: ...
    def add(self, spec: MachineIn, replace: bool = False) -> dict[str, Any]: ...
    def import_(self, specs: list[MachineIn]) -> dict[str, Any]: ...
    def reinstall(self, name: str) -> dict[str, Any]: ...
    def set_local(self, name: str) -> dict[str, Any]: ...
    def history(self, name: str, limit: int = 200) -> dict[str, Any]: ...
    def close(self) -> None: ...


class HttpAdmin:
    """The admin API of a running backend (``base_url`` like http://10.89.0.3:8080)."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s,
                                 headers={"Authorization": f"Bearer {token}"})

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            resp = self.http.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise AdminError(f"cannot reach the backend at {self.http.base_url}: {exc}") from None
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail", resp.text)
            except ValueError:
                detail = resp.text
            raise AdminError(f"HTTP {resp.status_code}: {detail}")
        return resp.json()

    def machines(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/admin/machines")["machines"])

    def get(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/admin/machines/{name}"))

    def add(self, spec: MachineIn, replace: bool = False) -> dict[str, Any]:
        body = spec.model_dump(mode="json")
        if replace:
            return dict(self._call("PUT", f"/v1/admin/machines/{spec.name}", body))
        return dict(self._call("POST", "/v1/admin/machines", body))

    def import_(self, specs: list[MachineIn]) -> dict[str, Any]:
        body = {"machines": [s.model_dump(mode="json") for s in specs]}
        return dict(self._call("POST", "/v1/admin/import", body))

    def reinstall(self, name: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/v1/admin/machines/{name}/reinstall"))

    def set_local(self, name: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/v1/admin/machines/{name}/set-local"))

    def history(self, name: str, limit: int = 200) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/admin/machines/{name}/history", params={"limit": limit}))

    def close(self) -> None:
        self.http.close()


class DbAdmin:
    """The same operations directly on the database (no server needed)."""

    def __init__(self, service: Service) -> None:
        self.svc = service

    def _do(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except ServiceError as exc:
            raise AdminError(f"{exc.status}: {exc.detail}") from None

    def machines(self) -> list[dict[str, Any]]:
        return [m.model_dump(mode="json") for m in self._do(self.svc.list_machines)]

    def get(self, name: str) -> dict[str, Any]:
        return dict(self._do(self.svc.get_machine, name).model_dump(mode="json"))

    def add(self, spec: MachineIn, replace: bool = False) -> dict[str, Any]:
        if replace:
            return dict(self._do(self.svc.put, spec)[0].model_dump(mode="json"))
        return dict(self._do(self.svc.add, spec).model_dump(mode="json"))

    def import_(self, specs: list[MachineIn]) -> dict[str, Any]:
        return dict(self._do(self.svc.import_machines, specs).model_dump(mode="json"))

    def reinstall(self, name: str) -> dict[str, Any]:
        return dict(self._do(self.svc.reinstall, name).model_dump(mode="json"))

    def set_local(self, name: str) -> dict[str, Any]:
        return dict(self._do(self.svc.set_local, name).model_dump(mode="json"))

    def history(self, name: str, limit: int = 200) -> dict[str, Any]:
        return dict(self._do(self.svc.history, name, limit).model_dump(mode="json"))

    def close(self) -> None:
        self.svc.close()
