"""``/v1/leases`` and ``/v1/boards``: board leases shared by the harnesses of every CI host (``backend.leases``).
Bearer token: the read token for GETs, the write token for changes (a harness holds both)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from backend.leases import (
    AcquireIn,
    AcquireOut,
    BoardLeases,
    BoardList,
    BoardOut,
    HealthIn,
    LeaseList,
    LeaseOut,
    QuarantineIn,
)
from backend.routes.deps import READ, WRITE
from backend.routes.params import error_responses
from backend.schemas import NAME_PATTERN

router = APIRouter(tags=["leases"], responses=error_responses(400, 401, 403, 503))
Lab = Annotated[str, Path(pattern=NAME_PATTERN, description="the lab's name (lab.yaml lab.name)")]
Board = Annotated[str, Path(pattern=NAME_PATTERN, description="board name")]
LeaseId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$", description="lease id")]
LabFilter = Annotated[str | None, Query(pattern=NAME_PATTERN, description="only this lab's boards")]


def leases(request: Request) -> BoardLeases:
    """The lease operations ``create_app`` put on ``app.state``."""
    store: BoardLeases = request.app.state.leases
    return store


@router.post("/v1/leases/acquire", dependencies=WRITE, response_model=AcquireOut)
def acquire(body: AcquireIn, request: Request) -> AcquireOut:
    """Lease ``count`` of the candidate boards, all or none (``leases`` empty: none free; ``busy``/``out`` say
    why). Atomic: no board is ever held twice."""
    return leases(request).acquire(body)


@router.post("/v1/leases/{lease_id}/renew", dependencies=WRITE, response_model=LeaseOut,
             responses=error_responses(404))
def renew(lease_id: LeaseId, request: Request) -> LeaseOut:
    return leases(request).renew(lease_id)


@router.delete("/v1/leases/{lease_id}", dependencies=WRITE, status_code=204, response_class=Response)
def release(lease_id: LeaseId, request: Request) -> Response:
    leases(request).release(lease_id)
    return Response(status_code=204)


@router.get("/v1/leases", dependencies=READ, response_model=LeaseList)
def list_leases(request: Request, lab: LabFilter = None) -> LeaseList:
    return leases(request).leases(lab)


@router.get("/v1/boards", dependencies=READ, response_model=BoardList)
def list_boards(request: Request, lab: LabFilter = None) -> BoardList:
    """Every board a harness ever leased: its lease (if held), quarantine and health."""
    return leases(request).boards(lab)


@router.post("/v1/boards/{lab}/{board}/quarantine", dependencies=WRITE, response_model=BoardOut)
def quarantine(lab: Lab, board: Board, body: QuarantineIn, request: Request) -> BoardOut:
    return leases(request).quarantine(lab, board, body)


@router.delete("/v1/boards/{lab}/{board}/quarantine", dependencies=WRITE, response_model=BoardOut)
def unquarantine(lab: Lab, board: Board, request: Request) -> BoardOut:
    return leases(request).unquarantine(lab, board)


@router.put("/v1/boards/{lab}/{board}/health", dependencies=WRITE, response_model=BoardOut)
def set_health(lab: Lab, board: Board, body: HealthIn, request: Request) -> BoardOut:
    """A health check's outcome: a bad board is leased to nothing but a health check until one passes."""
    return leases(request).set_health(lab, board, body)
