"""``/v1/install/<token>[/netplan|/progress|/result|/booted]``: the installer agent and the installed OS."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse

from backend.identity import norm_mac, norm_serial
from backend.routes.deps import BaseUrlDep, ServiceDep
from backend.routes.params import TOKEN_PATH, error_responses, json_error, parse
from backend.schemas import AttemptStateOut, ProgressIn, ResultIn, ScenarioOut

router = APIRouter(tags=["agent"])
AGENT_ERRORS = error_responses(400, 403, 404, 409, 410, 413, 429, 503)
Token = Annotated[str, TOKEN_PATH]


class YamlResponse(PlainTextResponse):
    media_type = "text/yaml"


@router.get("/v1/install/{token}", response_model=ScenarioOut, responses=AGENT_ERRORS)
def install_scenario(
    token: Token, service: ServiceDep, base_url: BaseUrlDep,
    serial: Annotated[str | None, Query(max_length=32, description="the board's serial")] = None,
    mac: Annotated[str | None, Query(max_length=64, description="the board's MAC")] = None,
) -> ScenarioOut:
    """The install scenario; ``serial``/``mac`` (what the installer sees) are cross-checked."""
    board_serial = parse("query", "serial", serial, norm_serial) if serial else None
    board_mac = parse("query", "mac", mac, norm_mac) if mac else None
    return service.scenario(token, base_url, board_serial, board_mac)


@router.get("/v1/install/{token}/netplan", response_class=YamlResponse,
            responses={200: {"content": {"text/yaml": {"schema": {"type": "string"}}}}},
            openapi_extra={"responses": {
                str(code): json_error(description)
                for code, description in ((404, "unknown token"), (409, "identity conflict"),
                                          (410, "token no longer valid"), (503, "database unavailable"))}})
def install_netplan(token: Token, service: ServiceDep) -> Response:
    """The netplan file for ``/etc/netplan/90-malina.yaml``."""
    return YamlResponse(service.netplan(token))


@router.post("/v1/install/{token}/progress", response_model=AttemptStateOut, responses=AGENT_ERRORS)
def install_progress(token: Token, body: ProgressIn, service: ServiceDep) -> AttemptStateOut:
    return service.progress(token, body)


@router.post("/v1/install/{token}/result", response_model=AttemptStateOut, responses=AGENT_ERRORS)
def install_result(token: Token, body: ResultIn, service: ServiceDep) -> AttemptStateOut:
    """Success with the expected sha256 = verified: configured, and the machine boots local."""
    return service.result(token, body)


@router.post("/v1/install/{token}/booted", response_model=AttemptStateOut, responses=AGENT_ERRORS)
def install_booted(token: Token, service: ServiceDep) -> AttemptStateOut:
    """Called once by the installed OS on its first boot."""
    return service.booted(token)
