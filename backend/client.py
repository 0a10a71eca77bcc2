"""Admin operations for the CLI and the harness: against a running backend over HTTP (``HttpAdmin``, the one
client of the admin API), or directly on the database (``DbAdmin``, for the CLI without a server).

Both return the admin API's JSON (plain dicts), so callers need not care which one they hold.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel

from backend.errors import ServiceError
from backend.schemas import MachineIn

if TYPE_CHECKING:  # the HTTP client must not pull in the service (SQLAlchemy): the harness imports it
    from backend.service import Service

T = TypeVar("T")
HEALTH_TIMEOUT_S = 2.0
# A machine as the admin API takes it: the schema's model, or its JSON as is (the server validates it).
MachineBody = MachineIn | Mapping[str, Any]


class AdminError(Exception):
    """The operation was refused or failed; the message is the backend's explanation.

    Over HTTP it also says which call failed (``method``, ``path``) and how: ``status`` is the HTTP status, or
    None when the backend could not be reached (``detail`` is then the transport error)."""

    def __init__(self, message: str, *, method: str = "", path: str = "", status: int | None = None,
                 detail: str = "") -> None:
        super().__init__(message)
        self.method, self.path, self.status, self.detail = method, path, status, detail or message


class Admin(Protocol):
    def machines(self) -> list[dict[str, Any]]: ...
    def get(self, name: str) -> dict[str, Any]: ...
    def add(self, spec: MachineIn, replace: bool = False) -> dict[str, Any]: ...
    def import_(self, specs: list[MachineIn]) -> dict[str, Any]: ...
    def reinstall(self, name: str) -> dict[str, Any]: ...
    def set_local(self, name: str) -> dict[str, Any]: ...
    def set_boot_local_method(self, name: str, method: str | None) -> dict[str, Any]: ...
    def history(self, name: str, limit: int = 200) -> dict[str, Any]: ...
    def close(self) -> None: ...


def _json(body: MachineBody) -> Any:
    return body.model_dump(mode="json") if isinstance(body, BaseModel) else dict(body)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except (ValueError, AttributeError):  # not JSON, or JSON that is not an object
        return response.text


class HttpAdmin:
    """The admin API of a running backend (``base_url`` like http://10.89.0.3:8080).

    ``token`` goes with every call; with ``read_token`` given, reads use that one and only changes use
    ``token`` (the harness holds both, as an operator would). ``ca_file``: an https backend's certificate must
    chain to this CA (a lab's own; default: the system's CAs)."""

    def __init__(self, base_url: str, token: str, *, read_token: str | None = None,
                 timeout_s: float = 10.0, ca_file: str | Path | None = None) -> None:
        self.url = base_url.rstrip("/")
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        self.http = httpx.Client(base_url=self.url, timeout=timeout_s, verify=verify)
        self.write_token = token
        self.read_token = read_token or token

    def request(self, method: str, path: str, body: Any = None, *, params: Mapping[str, Any] | None = None) -> Any:
        """One admin call; its JSON answer (None when it has no body). ``AdminError`` when unreachable or refused
        (status >= 400)."""
        token = self.read_token if method == "GET" else self.write_token
        try:
            response = self.http.request(method, path, json=body, params=params,
                                         headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise AdminError(f"cannot reach the backend at {self.url}: {exc}", method=method, path=path,
                             detail=str(exc)) from None
        if response.status_code >= 400:
            detail = _detail(response)
            raise AdminError(f"HTTP {response.status_code}: {detail}", method=method, path=path,
                             status=response.status_code, detail=detail)
        return response.json() if response.content else None  # 204: no body

    def health(self, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
        """Whether ``/v1/health`` answers 200 (database up, schema current); no token needed."""
        try:
            return self.http.get("/v1/health", timeout=timeout_s).status_code == 200
        except httpx.HTTPError:
            return False

    def machines(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/v1/admin/machines")["machines"])

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/v1/admin/machines/{name}"))

    def add(self, spec: MachineBody, replace: bool = False) -> dict[str, Any]:
        """Create the machine; with ``replace`` create or redefine it (PUT)."""
        body = _json(spec)
        if replace:
            return dict(self.request("PUT", f"/v1/admin/machines/{body['name']}", body))
        return dict(self.request("POST", "/v1/admin/machines", body))

    def import_(self, specs: Sequence[MachineBody]) -> dict[str, Any]:
        return dict(self.request("POST", "/v1/admin/import", {"machines": [_json(spec) for spec in specs]}))

    def reinstall(self, name: str) -> dict[str, Any]:
        return dict(self.request("POST", f"/v1/admin/machines/{name}/reinstall"))

    def set_local(self, name: str) -> dict[str, Any]:
        return dict(self.request("POST", f"/v1/admin/machines/{name}/set-local"))

    def set_boot_local_method(self, name: str, method: str | None) -> dict[str, Any]:
        """The machine's own boot-local method; None: the lab's setting."""
        return dict(self.request("PUT", f"/v1/admin/machines/{name}/boot-local-method", {"method": method}))

    def history(self, name: str, limit: int = 200) -> dict[str, Any]:
        return dict(self.request("GET", f"/v1/admin/machines/{name}/history", params={"limit": limit}))

    def close(self) -> None:
        self.http.close()


class DbAdmin:
    """The same operations directly on the database (no server needed)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def _do(self, operation: Callable[..., T], *args: Any) -> T:
        try:
            return operation(*args)
        except ServiceError as exc:
            raise AdminError(f"{exc.status}: {exc.detail}", status=exc.status, detail=exc.detail) from None

    def machines(self) -> list[dict[str, Any]]:
        return [machine.model_dump(mode="json") for machine in self._do(self.service.list_machines)]

    def get(self, name: str) -> dict[str, Any]:
        return self._do(self.service.get_machine, name).model_dump(mode="json")

    def add(self, spec: MachineIn, replace: bool = False) -> dict[str, Any]:
        if replace:
            return self._do(self.service.put, spec)[0].model_dump(mode="json")
        return self._do(self.service.add, spec).model_dump(mode="json")

    def import_(self, specs: list[MachineIn]) -> dict[str, Any]:
        return self._do(self.service.import_machines, specs).model_dump(mode="json")

    def reinstall(self, name: str) -> dict[str, Any]:
        return self._do(self.service.reinstall, name).model_dump(mode="json")

    def set_local(self, name: str) -> dict[str, Any]:
        return self._do(self.service.set_local, name).model_dump(mode="json")

    def set_boot_local_method(self, name: str, method: str | None) -> dict[str, Any]:
        return self._do(self.service.set_boot_local_method, name, method).model_dump(mode="json")

    def history(self, name: str, limit: int = 200) -> dict[str, Any]:
        return self._do(self.service.history, name, limit).model_dump(mode="json")

    def close(self) -> None:
        self.service.close()
