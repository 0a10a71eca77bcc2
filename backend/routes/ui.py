"""``/ui``: the operators' web page. Static files only (``backend/ui/``: HTML, one script, one style sheet); the
page carries no data and reads everything from the admin API with the token the operator types in, so these
routes need none. A strict Content-Security-Policy: the page loads its own script and style and talks only to
this backend."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

UI = Path(__file__).resolve().parents[1] / "ui"
FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
         "app.css": "text/css; charset=utf-8"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["ui"])


def _file(name: str) -> FileResponse:
    return FileResponse(UI / name, media_type=FILES[name], headers=HEADERS)


@router.get("/ui", include_in_schema=False)
def page() -> FileResponse:
    return _file("index.html")


@router.get("/ui/app.js", include_in_schema=False)
def script() -> FileResponse:
    return _file("app.js")


@router.get("/ui/app.css", include_in_schema=False)
def style() -> FileResponse:
    return _file("app.css")
