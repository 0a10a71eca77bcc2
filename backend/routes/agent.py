"""``/v1/install/<token>[/netplan|/progress|/result|/booted]``: the installer agent and the installed OS.

Every call carries the board's own identity (``?serial=..&mac=..``, read by the agent from the board) and comes
from the switch port's subnet: the service refuses anything else with 403 (``backend.binding``). Every call that
changes state is a POST; the scenario too (it moves the attempt to ``netbooting``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse

from backend.binding import Caller
from backend.identity import norm_mac, norm_serial
from backend.routes.deps import BaseUrlDep, ServiceDep
from backend.routes.params import TOKEN_PATH, error_responses, json_error, parse
from backend.schemas import AttemptStateOut, ProgressIn, ResultIn, ScenarioOut

router = APIRouter(tags=["agent"])
AGENT_ERRORS = error_responses(400, 403, 404, 409, 410, 413, 429, 503)
Token = Annotated[str, TOKEN_PATH]


async def get_caller(
    request: Request,
    serial: Annotated[str | None, Query(max_length=32, description="the board's serial, as the agent reads it")] = None,
    mac: Annotated[str | None, Query(max_length=64, description="the board's MAC, as the agent reads it")] = None,
) -> Caller:
    """Who calls: the request's source address and the identity the agent reports."""
    return Caller(address=request.client.host if request.client else None,
                  serial=parse("query", "serial", serial, norm_serial) if serial else None,
                  mac=parse("query", "mac", mac, norm_mac) if mac else None)


CallerDep = Annotated[Caller, Depends(get_caller)]


class YamlResponse(PlainTextResponse):
    media_type = "text/yaml"


@router.post("/v1/install/{token}", response_model=ScenarioOut, responses=AGENT_ERRORS)
def install_scenario(token: Token, service: ServiceDep, base_url: BaseUrlDep, caller: CallerDep) -> ScenarioOut:
    """The install scenario (the attempt moves to ``netbooting``); the board's MAC/serial, where the machine
    has none yet, are recorded."""
    return service.scenario(token, base_url, caller)


@router.get("/v1/install/{token}/netplan", response_class=YamlResponse,
            responses={200: {"content": {"text/yaml": {"schema": {"type": "string"}}}}},
            openapi_extra={"responses": {
                str(code): json_error(description)
                for code, description in ((403, "not this token's board or network"), (404, "unknown token"),
                                          (410, "token no longer valid"), (413, "body too large"),
                                          (429, "too many requests from this port"),
                                          (503, "database unavailable"))}})
def install_netplan(token: Token, service: ServiceDep, caller: CallerDep) -> Response:
    """The netplan file for ``/etc/netplan/90-malina.yaml`` (reads only)."""
    return YamlResponse(service.netplan(token, caller))


@router.post("/v1/install/{token}/progress", response_model=AttemptStateOut, responses=AGENT_ERRORS)
def install_progress(token: Token, body: ProgressIn, service: ServiceDep, caller: CallerDep) -> AttemptStateOut:
    return service.progress(token, body, caller)


@router.post("/v1/install/{token}/result", response_model=AttemptStateOut, responses=AGENT_ERRORS)
def install_result(token: Token, body: ResultIn, service: ServiceDep, caller: CallerDep) -> AttemptStateOut:
    """Success with the expected sha256 = verified: configured, and the machine boots local."""
    return service.result(token, body, caller)


@router.post("/v1/install/{token}/booted", response_model=AttemptStateOut, responses=AGENT_ERRORS)
def install_booted(token: Token, service: ServiceDep, caller: CallerDep) -> AttemptStateOut:
    """Called once by the installed OS on its first boot (the booted URL carries the board's identity)."""
    return service.booted(token, caller)
