"""The board's power API over HTTP: a small Starlette app served by uvicorn inside the controller's event loop.

    GET  /power         200 {"board", "state": "on"|"off", "boots", "since", "pid"}
    POST /power/on      200 the same, after the power-on
    POST /power/off     200 the same, after the hard cut
    POST /power/cycle   202 the same plus "action": "cycle"; the cycle starts a moment after the answer
    anything else       404 {"error", "resources"}; a known path with the wrong method 405 {"error": "use …"}

``harness.drivers.power.SimPower`` and the board's ``reboot`` / ``poweroff`` shims are the clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

METHODS = {"/power": "GET", "/power/on": "POST", "/power/off": "POST", "/power/cycle": "POST"}
RESOURCES = ["GET /power", "POST /power/on|off|cycle"]
# the caller of a cycle may be a process of the board itself (the `reboot` shim), which the cycle kills:
# it gets its answer first
CYCLE_DELAY_S = 0.05


class Switchable(Protocol):
    """What the API drives: the controller's ``Board``."""

    async def power_on(self) -> None: ...

    async def power_off(self) -> None: ...

    async def power_cycle(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


def power_app(board: Switchable) -> Starlette:
    async def state(_: Request) -> JSONResponse:
        return JSONResponse(board.status())

    async def on(_: Request) -> JSONResponse:
        await board.power_on()
        return JSONResponse(board.status())

    async def off(_: Request) -> JSONResponse:
        await board.power_off()
        return JSONResponse(board.status())

    async def cycle_later() -> None:
        await asyncio.sleep(CYCLE_DELAY_S)
        await board.power_cycle()

    async def cycle(_: Request) -> JSONResponse:
        return JSONResponse({**board.status(), "action": "cycle"}, status_code=202,
                            background=BackgroundTask(cycle_later))

    async def not_found(request: Request, _: Exception) -> Response:
        return JSONResponse({"error": f"no such resource {request.url.path}", "resources": RESOURCES},
                            status_code=404)

    async def wrong_method(request: Request, _: Exception) -> Response:
        method = METHODS[request.url.path]
        return JSONResponse({"error": f"use {method}"}, status_code=405, headers={"Allow": method})

    endpoints = {"/power": state, "/power/on": on, "/power/off": off, "/power/cycle": cycle}
    app = Starlette(
        routes=[Route(path, endpoint, methods=[METHODS[path]]) for path, endpoint in endpoints.items()],
        exception_handlers={404: not_found, 405: wrong_method},
    )
    # a path with a trailing slash is a 404 that lists the resources, not a redirect a `curl -f` takes as done
    app.router.redirect_slashes = False
    return app


class ApiServer(uvicorn.Server):
    """uvicorn without its own SIGTERM/SIGINT handling: the controller owns those signals, because it cuts
    the board's power before it exits (uvicorn's handlers would re-raise the signal and end the process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def api_server(board: Switchable, port: int, host: str = "0.0.0.0") -> tuple[ApiServer, socket.socket]:
    """The server and its listening socket, bound now (a taken port fails here, with the port in the error)."""
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        raise OSError(exc.errno, f"power API: cannot listen on {host}:{port}: {exc.strerror}") from None
    config = uvicorn.Config(power_app(board), lifespan="off", http="h11", log_level="warning", access_log=False)
    return ApiServer(config), sock
