"""The HTTP API (FastAPI). ``create_app(settings)`` wires it; ``/openapi.json`` is its schema.

The routes live in ``backend.routes``, one router per client: ``hook`` (``/v1/dhcp/options``, the hot path),
``agent`` (``/v1/install/<token>...``), ``admin`` (``/v1/admin/...``, bearer tokens) and ``health``. They reach
the service and the settings through ``backend.routes.deps`` (``app.state``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from backend import __version__, publicerrors
from backend.agentlimits import AgentLimits, limits_of
from backend.config import PUBLIC_URL_MISSING, ConfigError, Settings
from backend.db import Database
from backend.hookauth import hook_secret
from backend.leases import BoardLeases
from backend.routes import ROUTERS
from backend.service import Service
from backend.states import IllegalTransition


async def _illegal_transition(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


def _closing(service: Service) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    return lifespan


def create_app(settings: Settings, service: Service | None = None) -> FastAPI:
    """The app. Without ``service`` one is made on ``settings.db_url`` (its schema must be migrated) and closed
    with the app; a given ``service`` stays the caller's."""
    if not settings.public_url:
        raise ConfigError(PUBLIC_URL_MISSING)
    owned = service is None
    service = service if service is not None else Service(Database(settings.db_url), settings)
    app = FastAPI(title="malina provisioning backend", version=__version__,
                  lifespan=_closing(service) if owned else None,
                  description="Options for the Kea hook, install scenarios for the agent, admin API.")
    app.state.service = service
    app.state.settings = settings
    app.state.hook_secret = hook_secret(settings)  # read once; a bad file is a ConfigError at start-up
    app.state.leases = BoardLeases(service.db, clock=service.clock)  # /v1/leases, /v1/boards
    publicerrors.install(app)  # generic errors with a request id; tokens out of the logs
    app.add_middleware(AgentLimits, **limits_of(settings))  # /v1/install/...: 413 and 429
    app.add_exception_handler(IllegalTransition, _illegal_transition)
    # The routes go onto the app's own router as they are (tags, responses and dependencies are already on each
    # route): FastAPI matches an included router as a nested branch per request, which costs the hot path about
    # 20 µs, a fifth of its time in the app.
    for router in ROUTERS:
        app.router.routes.extend(router.routes)
    return app
