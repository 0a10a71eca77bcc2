"""The Kea hook's credential: the bearer secret ``GET /v1/dhcp/options`` requires.

The secret lives in a file named by ``MALINA_HOOK_SECRET_FILE`` (the same file the hook's ``auth-secret-file``
names, or a copy): read once at start-up, trailing whitespace dropped, at least 32 printable ASCII characters
without spaces. Without it the endpoint refuses every call: an unauthenticated caller could otherwise mint
install tokens and flag boards. The check runs before the query is even parsed, so an untrusted caller
changes nothing (no token, no first-seen identity, no flag, no loop-guard count).
"""

from __future__ import annotations

import hmac
from pathlib import Path

from starlette.responses import JSONResponse, Response

from backend.config import ConfigError, Settings

MIN_CHARS = 32
MAX_CHARS = 4096
VARIABLE = "MALINA_HOOK_SECRET_FILE"


def read_secret(path: str) -> bytes:
    """The secret of ``path``; a ``ConfigError`` naming the variable (never the secret) when it is unusable."""
    try:
        raw = Path(path).read_bytes()[: MAX_CHARS + 2]
    except OSError as exc:
        raise ConfigError(f"{VARIABLE}: cannot read {path!r}: {exc.strerror or exc}") from None
    secret = raw.rstrip(b" \t\r\n")
    if not secret:
        raise ConfigError(f"{VARIABLE}: {path!r} is empty")
    if len(secret) > MAX_CHARS:
        raise ConfigError(f"{VARIABLE}: the secret in {path!r} is longer than {MAX_CHARS} characters")
    if any(byte <= 0x20 or byte >= 0x7F for byte in secret):
        raise ConfigError(f"{VARIABLE}: the secret in {path!r} must be printable ASCII without spaces (one line)")
    if len(secret) < MIN_CHARS:
        raise ConfigError(f"{VARIABLE}: the secret in {path!r} has {len(secret)} characters, "
                          f"at least {MIN_CHARS} are required")
    return secret


def hook_secret(settings: Settings) -> bytes | None:
    """The configured secret, or None (then the options endpoint refuses everything)."""
    return read_secret(settings.hook_secret_file) if settings.hook_secret_file else None


def authorized(header: str | None, secret: bytes | None) -> bool:
    """Whether an ``Authorization`` header carries the secret (constant-time compare)."""
    if secret is None or not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), secret)


def refusal(secret: bytes | None) -> Response:
    """The 401 answer; it says why without helping a guesser (no length, no hint of the secret)."""
    detail = ("the options endpoint is disabled: no hook secret is configured (MALINA_HOOK_SECRET_FILE)"
              if secret is None else "missing or invalid hook credential")
    return JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
