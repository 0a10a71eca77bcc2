"""``GET /metrics``: Prometheus text exposition (names ``malina_*``), behind the read token like every admin read."""

from __future__ import annotations

from fastapi import APIRouter, Response

from backend.metrics import CONTENT_TYPE
from backend.routes.deps import READ, ServiceDep
from backend.routes.params import json_error

router = APIRouter(tags=["metrics"])


class MetricsResponse(Response):
    media_type = CONTENT_TYPE


@router.get("/metrics", dependencies=READ, response_class=MetricsResponse,
            responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
            openapi_extra={"responses": {"401": json_error("no token, or not an admin token")}})
def metrics(service: ServiceDep) -> Response:
    """This process's counters and histograms, the machines read from the database now and the hook's counters
    read from Kea now (``malina_hook_up`` 0 when Kea does not answer within ``MALINA_KEA_TIMEOUT_S``). A plain
    ``def``: the scrape's database read and Kea call run in the thread pool, off the hot path's event loop."""
    settings = service.settings
    return MetricsResponse(service.metrics.render(service.db, settings.kea_control_url, settings.kea_timeout_s))
