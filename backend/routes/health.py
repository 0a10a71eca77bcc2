"""``GET /v1/health``: no token; 503 when the database does not answer."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from backend import migrate
from backend.routes.deps import ServiceDep
from backend.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/v1/health", response_model=HealthOut)
def health(service: ServiceDep) -> HealthOut:
    try:
        revision = migrate.current(service.db.engine)
    except Exception as exc:  # the database is down: say so, with 503
        raise HTTPException(503, f"database unavailable: {type(exc).__name__}") from None
    return HealthOut(ok=revision == migrate.head(), database=service.db.backend, schema_revision=revision)
