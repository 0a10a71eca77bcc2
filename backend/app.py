"""The HTTP API (FastAPI). ``create_app(settings)`` builds it; ``/openapi.json`` is its schema.

- ``/v1/dhcp/options`` for the Kea hook (the hot path),
- ``/v1/install/<token>[/netplan|/progress|/result|/booted]`` for the installer agent and the installed OS,
- ``/v1/admin/...`` for operators: bearer token, the read token for GETs, the write token for changes,
- ``/v1/health``.
"""

import hmac
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from backend import __version__, migrate
from backend.config import Settings
from backend.db import Database
from backend.errors import ServiceError
from backend.identity import IdentityError, norm_hex, norm_mac, norm_serial, parse_guid
from backend.schemas import (
    NAME_PATTERN,
    ActionOut,
    AttemptStateOut,
    ErrorOut,
    HealthOut,
    HistoryOut,
    ImportIn,
    ImportOut,
    MachineIn,
    MachineList,
    MachineOut,
    ProgressIn,
    ResultIn,
    ScenarioOut,
)
from backend.service import OptionsQuery, Service
from backend.states import IllegalTransition

OPTIONS_LIMITS = {"sub82_1": 765, "sub82_2": 765, "sub82_9": 765, "mac": 64, "guid": 128}
OPTIONS_PARAMS = [
    {"name": name, "in": "query", "required": False, "description": desc,
     "schema": {"type": "string", "maxLength": OPTIONS_LIMITS[name], "default": ""}}
    for name, desc in (("sub82_1", "option 82 circuit-id, hex"), ("sub82_2", "option 82 remote-id, hex"),
                       ("sub82_9", "option 82 vendor-specific, hex"), ("mac", "chaddr, hex"),
                       ("guid", "option 97, hex"))
]
VALIDATION_ERROR = {"description": "Validation Error", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}


class YamlResponse(PlainTextResponse):
    media_type = "text/yaml"


TOKEN_PATH = Path(min_length=1, max_length=128, description="the install token from option 224")
NAME_PATH = Path(pattern=NAME_PATTERN, description="machine name")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut} for code in codes}


def _bad(where: str, name: str, detail: str, value: Any) -> RequestValidationError:
    """A 422 in FastAPI's own validation-error format, so every 422 of the API looks the same."""
    error = {"type": "value_error", "loc": (where, name), "msg": detail, "input": value}
    return RequestValidationError([error])


T = TypeVar("T")


def _parse(where: str, name: str, value: str, fn: Callable[[str], T]) -> T:
    try:
        return fn(value)
    except IdentityError as exc:
        raise _bad(where, name, str(exc), value) from None


def create_app(settings: Settings, service: Service | None = None) -> FastAPI:
    """The app. Without ``service`` one is made on ``settings.db_url`` (its schema must be migrated)."""
    owned = service is None
    svc = service if service is not None else Service(Database(settings.db_url), settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            svc.close()

    app = FastAPI(title="malina provisioning backend", version=__version__, lifespan=lifespan,
                  description="Options for the Kea hook, install scenarios for the agent, admin API.")
    app.state.service = svc
    bearer = HTTPBearer(auto_error=False, description="MALINA_ADMIN_READ_TOKEN or MALINA_ADMIN_WRITE_TOKEN")

    @app.exception_handler(ServiceError)
    async def _service_error(_req: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(IllegalTransition)
    async def _illegal(_req: Request, exc: IllegalTransition) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    def base_url(request: Request) -> str:
        return settings.public_url or str(request.base_url).rstrip("/")

    def _check(cred: HTTPAuthorizationCredentials | None, allowed: list[str | None]) -> None:
        tokens = [t for t in allowed if t]
        if not tokens:
            raise HTTPException(401, "the admin API is disabled: no admin token is configured",
                                headers={"WWW-Authenticate": "Bearer"})
        if cred is None or cred.scheme.lower() != "bearer":
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        given = cred.credentials.encode()
        if any(hmac.compare_digest(given, t.encode()) for t in tokens):
            return
        if settings.read_token and hmac.compare_digest(given, settings.read_token.encode()):
            raise HTTPException(403, "the read token cannot change anything: use the write token")
        raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})

    def read_auth(cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        _check(cred, [settings.read_token, settings.write_token])

    def write_auth(cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        _check(cred, [settings.write_token])

    # -- the hook --------------------------------------------------------------------------------------------
    @app.get("/v1/dhcp/options", tags=["hook"], response_model=dict[str, str],
             openapi_extra={"parameters": OPTIONS_PARAMS, "responses": {
                 "422": VALIDATION_ERROR,
                 "503": {"description": "database unavailable", "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/ErrorOut"}}}}}})
    async def dhcp_options(request: Request) -> Response:
        """DHCP options for the switch port: ``{"66", "224"}`` to install, ``{"66": "0.0.0.0"}`` otherwise.

        The hot path runs on the event loop: the query is parsed here (FastAPI's parameter machinery costs
        more than the rest of the request), then one indexed read. Only an ask that has to write (a new
        token, a first-seen identity, a flag) goes to the thread pool."""
        params = request.query_params
        values: dict[str, str] = {}
        for name, limit in OPTIONS_LIMITS.items():
            value = params.get(name, "")
            if len(value) > limit:
                raise _bad("query", name, f"{name} is longer than {limit} characters", value[:40])
            values[name] = value
        mac, guid = values["mac"], values["guid"]
        q = OptionsQuery(
            sub82_1=_parse("query", "sub82_1", values["sub82_1"], lambda v: norm_hex(v, "sub82_1")),
            sub82_2=_parse("query", "sub82_2", values["sub82_2"], lambda v: norm_hex(v, "sub82_2")),
            sub82_9=_parse("query", "sub82_9", values["sub82_9"], lambda v: norm_hex(v, "sub82_9")),
            mac=_parse("query", "mac", mac, norm_mac) if mac else None,
            guid=_parse("query", "guid", guid, parse_guid) if guid else None)
        if not q.sub82_1 and not q.sub82_2:
            raise _bad("query", "sub82_1", "sub82_1 (circuit-id) or sub82_2 (remote-id) is required", "")
        base = base_url(request)
        answer, tripped = svc.options_fast(q, base)
        if answer is None:
            answer = await run_in_threadpool(svc.options_write, q, base, tripped)
        return Response(json.dumps(answer, separators=(",", ":")), media_type="application/json")

    # -- the installer agent and the installed OS ------------------------------------------------------------
    agent_errors = _errors(400, 404, 409, 410, 503)

    @app.get("/v1/install/{token}", tags=["agent"], response_model=ScenarioOut, responses=agent_errors)
    def install_scenario(
        request: Request, token: Annotated[str, TOKEN_PATH],
        serial: Annotated[str | None, Query(max_length=32, description="the board's serial")] = None,
        mac: Annotated[str | None, Query(max_length=64, description="the board's MAC")] = None,
    ) -> ScenarioOut:
        """The install scenario; ``serial``/``mac`` (what the installer sees) are cross-checked."""
        s = _parse("query", "serial", serial, norm_serial) if serial else None
        m = _parse("query", "mac", mac, norm_mac) if mac else None
        return svc.scenario(token, base_url(request), s, m)

    json_errors = {str(code): {"description": desc, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
        for code, desc in ((404, "unknown token"), (409, "identity conflict"), (410, "token no longer valid"),
                           (503, "database unavailable"))}

    @app.get("/v1/install/{token}/netplan", tags=["agent"], response_class=YamlResponse,
             responses={200: {"content": {"text/yaml": {"schema": {"type": "string"}}}}},
             openapi_extra={"responses": json_errors})
    def install_netplan(token: Annotated[str, TOKEN_PATH]) -> Response:
        """The netplan file for ``/etc/netplan/90-malina.yaml``."""
        return YamlResponse(svc.netplan(token))

    @app.post("/v1/install/{token}/progress", tags=["agent"], response_model=AttemptStateOut,
              responses=agent_errors)
    def install_progress(token: Annotated[str, TOKEN_PATH], body: ProgressIn) -> AttemptStateOut:
        return svc.progress(token, body)

    @app.post("/v1/install/{token}/result", tags=["agent"], response_model=AttemptStateOut,
              responses=agent_errors)
    def install_result(token: Annotated[str, TOKEN_PATH], body: ResultIn) -> AttemptStateOut:
        """Success with the expected sha256 = verified: configured, and the machine boots local."""
        return svc.result(token, body)

    @app.post("/v1/install/{token}/booted", tags=["agent"], response_model=AttemptStateOut,
              responses=agent_errors)
    def install_booted(token: Annotated[str, TOKEN_PATH]) -> AttemptStateOut:
        """Called once by the installed OS on its first boot."""
        return svc.booted(token)

    # -- admin -----------------------------------------------------------------------------------------------
    read = [Depends(read_auth)]
    write = [Depends(write_auth)]
    admin_errors = _errors(400, 401, 403, 404, 409, 503)

    @app.get("/v1/admin/machines", tags=["admin"], dependencies=read, response_model=MachineList,
             responses=admin_errors)
    def list_machines() -> MachineList:
        return MachineList(machines=svc.list_machines())

    @app.post("/v1/admin/machines", tags=["admin"], dependencies=write, response_model=MachineOut,
              status_code=201, responses=admin_errors)
    def add_machine(body: MachineIn) -> MachineOut:
        return svc.add(body)

    @app.post("/v1/admin/import", tags=["admin"], dependencies=write, response_model=ImportOut,
              responses=admin_errors)
    def import_machines(body: ImportIn) -> ImportOut:
        """Create or redefine many machines in one transaction (all or nothing)."""
        return svc.import_machines(body.machines)

    @app.get("/v1/admin/machines/{name}", tags=["admin"], dependencies=read, response_model=MachineOut,
             responses=admin_errors)
    def get_machine(name: Annotated[str, NAME_PATH]) -> MachineOut:
        return svc.get_machine(name)

    @app.put("/v1/admin/machines/{name}", tags=["admin"], dependencies=write, response_model=MachineOut,
             responses={**admin_errors, 201: {"model": MachineOut}})
    def put_machine(name: Annotated[str, NAME_PATH], body: MachineIn, response: Response) -> MachineOut:
        """Create or redefine; a changed definition cancels a running install and clears the flag."""
        if body.name != name:
            raise _bad("body", "name", f"the body names {body.name!r} but the path names {name!r}", body.name)
        out, created = svc.put(body)
        response.status_code = 201 if created else 200
        return out

    @app.post("/v1/admin/machines/{name}/reinstall", tags=["admin"], dependencies=write,
              response_model=ActionOut, responses=admin_errors)
    def reinstall(name: Annotated[str, NAME_PATH]) -> ActionOut:
        return svc.reinstall(name)

    @app.post("/v1/admin/machines/{name}/set-local", tags=["admin"], dependencies=write,
              response_model=ActionOut, responses=admin_errors)
    def set_local(name: Annotated[str, NAME_PATH]) -> ActionOut:
        return svc.set_local(name)

    @app.get("/v1/admin/machines/{name}/history", tags=["admin"], dependencies=read,
             response_model=HistoryOut, responses=admin_errors)
    def history(name: Annotated[str, NAME_PATH],
                limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> HistoryOut:
        return svc.history(name, limit)

    @app.get("/v1/health", tags=["health"], response_model=HealthOut)
    def health() -> HealthOut:
        try:
            rev = migrate.current(svc.db.engine)
        except Exception as exc:  # the database is down: say so, with 503
            raise HTTPException(503, f"database unavailable: {type(exc).__name__}") from None
        return HealthOut(ok=rev == migrate.head(), database=svc.db.backend, schema_revision=rev)

    return app
