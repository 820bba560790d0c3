"""Domain errors: each carries the HTTP status and a message that is safe to show a client."""

from __future__ import annotations


class ApiError(Exception):
    """Base of every error a service raises on purpose; rendered as ``{"detail": message}``."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ApiError):
    status_code = 400


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class PayloadTooLarge(ApiError):
    status_code = 413


class Unprocessable(ApiError):
    status_code = 422


class NotImplementedForServer(ApiError):
    status_code = 501
