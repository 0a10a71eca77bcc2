"""What the routes depend on (FastAPI ``Depends``): the service, the settings, the public base URL and the admin
bearer-token checks. ``create_app`` puts the service and the settings on ``app.state``.

The dependencies are ``async``: FastAPI runs a plain ``def`` dependency in the thread pool, a hop the hot path
cannot afford.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.config import Settings
from backend.service import Service


async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def public_base_url(_request: Request, settings: Settings) -> str:
    """Base of the URLs handed out: ``MALINA_PUBLIC_URL`` (``create_app`` refuses to start without it), never the
    request's Host header."""
    assert settings.public_url is not None
    return settings.public_url


async def get_base_url(request: Request, settings: SettingsDep) -> str:
    return public_base_url(request, settings)


BaseUrlDep = Annotated[str, Depends(get_base_url)]

bearer = HTTPBearer(auto_error=False, description="MALINA_ADMIN_READ_TOKEN or MALINA_ADMIN_WRITE_TOKEN")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def check_token(settings: Settings, credentials: HTTPAuthorizationCredentials | None,
                allowed: list[str | None],
                disabled: str = "the admin API is disabled: no admin token is configured") -> None:
    """Pass when the bearer token is one of ``allowed``; 401 otherwise, 403 for the read token on a change."""
    tokens = [token for token in allowed if token]
    if not tokens:
        raise _unauthorized(disabled)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token")
    given = credentials.credentials.encode()
    if any(hmac.compare_digest(given, token.encode()) for token in tokens):
        return
    if settings.read_token and hmac.compare_digest(given, settings.read_token.encode()):
        raise HTTPException(403, "the read token cannot change anything: use the write token")
    raise _unauthorized("invalid bearer token")


async def read_access(credentials: Credentials, settings: SettingsDep) -> None:
    check_token(settings, credentials, [settings.read_token, settings.write_token])


async def write_access(credentials: Credentials, settings: SettingsDep) -> None:
    check_token(settings, credentials, [settings.write_token])


READ = [Depends(read_access)]
WRITE = [Depends(write_access)]
