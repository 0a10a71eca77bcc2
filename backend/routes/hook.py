"""``GET /v1/dhcp/options``: the Kea hook's question, the service's hot path."""

from __future__ import annotations

import json
from time import perf_counter

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from backend.config import Settings
from backend.decision import OptionsQuery
from backend.hookauth import authorized, refusal
from backend.identity import norm_hex, norm_mac, parse_guid
from backend.routes.deps import public_base_url
from backend.routes.hookauth import authenticate_hook
from backend.routes.params import VALIDATION_ERROR, bad_request, json_error, parse
from backend.service import Service

router = APIRouter(tags=["hook"])

# Longest accepted value of each query parameter (characters): 255 bytes of a sub-option in hex, and some room.
OPTIONS_LIMITS = {"sub82_1": 765, "sub82_2": 765, "sub82_9": 765, "mac": 64, "guid": 128}
OPTIONS_PARAMS = [
    {"name": name, "in": "query", "required": False, "description": description,
     "schema": {"type": "string", "maxLength": OPTIONS_LIMITS[name], "default": ""}}
    for name, description in (("sub82_1", "option 82 circuit-id, hex"), ("sub82_2", "option 82 remote-id, hex"),
                              ("sub82_9", "option 82 vendor-specific, hex"), ("mac", "chaddr, hex"),
                              ("guid", "option 97, hex"))
]


def parse_query(request: Request) -> OptionsQuery:
    """The hook's query, checked and normalised; a bad value is a 422 naming the parameter."""
    params = request.query_params
    values: dict[str, str] = {}
    for name, limit in OPTIONS_LIMITS.items():
        value = params.get(name, "")
        if len(value) > limit:
            raise bad_request("query", name, f"{name} is longer than {limit} characters", value[:40])
        values[name] = value
    mac, guid = values["mac"], values["guid"]
    query = OptionsQuery(
        sub82_1=parse("query", "sub82_1", values["sub82_1"], lambda value: norm_hex(value, "sub82_1")),
        sub82_2=parse("query", "sub82_2", values["sub82_2"], lambda value: norm_hex(value, "sub82_2")),
        sub82_9=parse("query", "sub82_9", values["sub82_9"], lambda value: norm_hex(value, "sub82_9")),
        mac=parse("query", "mac", mac, norm_mac) if mac else None,
        guid=parse("query", "guid", guid, parse_guid) if guid else None)
    if not query.sub82_1 and not query.sub82_2:
        raise bad_request("query", "sub82_1", "sub82_1 (circuit-id) or sub82_2 (remote-id) is required", "")
    return query


@router.get("/v1/dhcp/options", response_model=dict[str, str],
            openapi_extra={"parameters": OPTIONS_PARAMS, "responses": {
                "401": json_error("missing or invalid hook credential (Authorization: Bearer <hook secret>)"),
                "422": VALIDATION_ERROR, "503": json_error("database unavailable")}})
async def dhcp_options(request: Request) -> Response:
    """DHCP options for the switch port: ``{"66", "224"}`` to install, ``{"66": "0.0.0.0"}`` otherwise.

    The hot path runs on the event loop: the query is parsed here (FastAPI's parameter machinery costs
    more than the rest of the request), then one indexed read. Only an ask that has to write (a new
    token, a first-seen identity, a flag) goes to the thread pool. For the same reason the service and the settings
    are taken from ``app.state`` here rather than through ``Depends`` (about 20 µs a request). The request is
    counted and timed in ``service.metrics.options`` (plain integers: a fraction of a microsecond).

    It is a GET that changes state (tokens, learnt identities, flags): ``hookauth.authenticate_hook`` runs before
    anything else, so only the trusted hook can cause those writes."""
    started = perf_counter()
    service: Service = request.app.state.service
    secret: bytes | None = request.app.state.hook_secret
    if not authorized(request.headers.get("authorization"), secret):
        service.metrics.options.refused()  # before anything is parsed or read: an untrusted caller changes nothing
        return refusal(secret)
    try:
        await authenticate_hook(request)  # first: a caller it refuses reads and writes nothing
        query = parse_query(request)
        settings: Settings = request.app.state.settings
        base_url = public_base_url(request, settings)
        answer, loop_guard_tripped = service.read_only_answer(query, base_url)
        wrote = answer is None
        if answer is None:
            answer = await run_in_threadpool(service.answer_in_transaction, query, base_url, loop_guard_tripped)
    except Exception:
        service.metrics.options.refused()
        raise
    service.metrics.options.answered("224" in answer, wrote, perf_counter() - started)
    return Response(json.dumps(answer, separators=(",", ":")), media_type="application/json")
