"""Settings of the service, read from the environment (see backend/README.md for the variables)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

DEFAULT_DB_URL = "sqlite:////var/lib/malina/malina.db"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    db_url: str = DEFAULT_DB_URL
    public_url: str | None = None  # base of the URLs handed out; None = the request's own base URL
    tftp_server: str | None = None  # option 66 for machines in install
    read_token: str | None = None
    write_token: str | None = None
    kea_control_url: str | None = None
    kea_timeout_s: float = 1.0
    max_attempts: int = 3
    token_ttl_s: float = 3600.0
    loop_guard_count: int = 5  # more asks than this ...
    loop_guard_window_s: float = 600.0  # ... within this window flag a machine in local

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _url(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL like http://10.89.0.3:8080, got {raw!r}")
    return raw.rstrip("/")


def _token(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if not raw:
        return None
    if len(raw) < 8:
        raise ConfigError(f"{name} must be at least 8 characters")
    return raw


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    e = os.environ if env is None else env
    s = Settings(
        db_url=e.get("MALINA_DB_URL") or DEFAULT_DB_URL,
        public_url=_url(e, "MALINA_PUBLIC_URL"),
        tftp_server=e.get("MALINA_TFTP_SERVER") or None,
        read_token=_token(e, "MALINA_ADMIN_READ_TOKEN"),
        write_token=_token(e, "MALINA_ADMIN_WRITE_TOKEN"),
        kea_control_url=_url(e, "MALINA_KEA_CONTROL_URL"),
        kea_timeout_s=_float(e, "MALINA_KEA_TIMEOUT_S", 1.0, 0.05, 30.0),
        max_attempts=_int(e, "MALINA_MAX_ATTEMPTS", 3, 1, 100),
        token_ttl_s=_float(e, "MALINA_TOKEN_TTL_S", 3600.0, 10.0, 7 * 86400.0),
        loop_guard_count=_int(e, "MALINA_LOOP_GUARD_COUNT", 5, 1, 100_000),
        loop_guard_window_s=_float(e, "MALINA_LOOP_GUARD_WINDOW_S", 600.0, 1.0, 86400.0),
    )
    if s.read_token and s.write_token and s.read_token == s.write_token:
        raise ConfigError("MALINA_ADMIN_READ_TOKEN and MALINA_ADMIN_WRITE_TOKEN must differ")
    return s
