"""Errors the services raise; routers map each to one HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    """Base: `str(exc)` is a message fit for the client."""


class NotFound(ServiceError):
    pass


class Conflict(ServiceError):
    pass


class BadRequest(ServiceError):
    pass


class NotAllowed(ServiceError):
    """The operation is not allowed on this object (HTTP 405, as DECODE answers)."""


class InvalidField(ServiceError):
    """A request field is invalid; `loc` points at it the way FastAPI's 422 does."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
