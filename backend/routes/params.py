"""Request parsing shared by the routes: path parameters, identity values as 422s in FastAPI's own format, and
the error responses the OpenAPI schema documents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Path
from fastapi.exceptions import RequestValidationError

from backend.identity import IdentityError
from backend.schemas import NAME_PATTERN, ErrorOut

T = TypeVar("T")

TOKEN_PATH = Path(min_length=1, max_length=128, description="the install token from option 224")
NAME_PATH = Path(pattern=NAME_PATTERN, description="machine name")
VALIDATION_ERROR = {"description": "Validation Error", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut} for code in codes}


def json_error(description: str) -> dict[str, Any]:
    """An ``{"detail": ...}`` error response written into ``openapi_extra`` (for routes whose success is not
    JSON)."""
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorOut"}}}}


def bad_request(where: str, name: str, detail: str, value: Any) -> RequestValidationError:
    """A 422 in FastAPI's own validation-error format, so every 422 of the API looks the same."""
    error = {"type": "value_error", "loc": (where, name), "msg": detail, "input": value}
    return RequestValidationError([error])


def parse(where: str, name: str, value: str, parser: Callable[[str], T]) -> T:
    """``parser(value)``, with an ``IdentityError`` turned into a 422 naming the parameter."""
    try:
        return parser(value)
    except IdentityError as exc:
        raise bad_request(where, name, str(exc), value) from None
