"""Errors of the service layer; the HTTP layer turns each into its status code with ``{"detail": ...}``."""

from __future__ import annotations


class ServiceError(Exception):
    """``detail`` goes to the caller; ``private`` (e.g. the database's own error text) only to the log, under the
    request id the caller is given (``backend.publicerrors``)."""

    status = 400

    def __init__(self, detail: str, private: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.private = private


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Gone(ServiceError):
    status = 410


class Invalid(ServiceError):
    status = 422


class Unavailable(ServiceError):
    status = 503
