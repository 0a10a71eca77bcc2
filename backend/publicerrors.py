"""What callers see of an error, and what the log sees of a request.

Callers of the agent and hook routes are not authenticated, so no internal text reaches them: an error that
carries private details (the database's own message, a traceback) answers with a generic ``detail`` and a request
id (also in the ``X-Request-Id`` header); the details go to the log under the same id, where an operator finds
them. The install token is a credential: the access log shows ``/v1/install/<redacted>/...`` instead.
"""

from __future__ import annotations

import logging
import re
import secrets

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from backend.errors import ServiceError

log = logging.getLogger("backend")
TOKEN_IN_PATH = re.compile(r"(/v1/install/)[A-Za-z0-9_-]+")  # the token alphabet (tokens.TOKEN_RE)
REDACTED = r"\1<redacted>"


def request_id() -> str:
    return secrets.token_hex(8)


async def service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    if exc.private is None:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
    rid = request_id()
    log.error("request %s: %s: %s", rid, exc.detail, exc.private)
    return JSONResponse({"detail": f"{exc.detail} (request {rid})", "request_id": rid}, status_code=exc.status,
                        headers={"X-Request-Id": rid})


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything unexpected: 500 with a request id; the traceback is logged (path with the token redacted)."""
    rid = request_id()
    log.error("request %s: %s %s failed", rid, request.method, redact(request.url.path), exc_info=exc)
    return JSONResponse({"detail": f"internal error (request {rid})", "request_id": rid}, status_code=500,
                        headers={"X-Request-Id": rid})


def redact(text: str) -> str:
    """``text`` with every install token replaced by ``<redacted>``."""
    return TOKEN_IN_PATH.sub(REDACTED, text)


class RedactTokens(logging.Filter):
    """A log filter: install tokens out of a record's message and arguments (uvicorn's access log passes the
    request path as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "/v1/install/" in record.msg:
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) and "/v1/install/" in arg else arg
                                for arg in record.args)
        return True


def redact_logs(*names: str) -> None:
    """Put the filter on these loggers (once each)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
            logger.addFilter(RedactTokens())


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(Exception, internal_error)
    redact_logs("uvicorn.access", "uvicorn.error", "backend")
