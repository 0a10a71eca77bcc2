"""Who may ask ``GET /v1/dhcp/options``: the one check the route makes before it reads or writes anything.

The options route is a GET because the hook's URL form is fixed (a GET with a query), yet it changes state: it
issues install tokens, records first-seen MACs and option-97 serials, flags machines (identity conflicts, a board
on an unknown port, the loop guard) and ends expired attempts. All of that happens only after
``authenticate_hook`` returned, so a caller it refuses changes nothing. The hook's bearer secret (issue 13.1)
is checked here: raise ``HTTPException(401)`` for a caller without it. Until that secret is configured the
check lets every caller through, as before.

A plain coroutine, not a FastAPI ``Depends``: the hot path cannot pay for the dependency machinery (about 20 µs).
"""

from __future__ import annotations

from fastapi import Request


async def authenticate_hook(request: Request) -> None:
    """Return when ``request`` comes from the trusted hook; raise (401) otherwise. Nothing is read or written
    for the request before this returns."""
    del request  # the hook's credential is checked here once it exists (issue 13.1)
