"""Errors of the service layer; the HTTP layer turns each into its status code with ``{"detail": ...}``."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


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
