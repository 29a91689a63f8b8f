"""Errors the services raise; `workerfacing_api.errors` maps each to one HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    """Base: `str(exc)` is a message fit for the client."""


class NotFound(ServiceError):
    """Unknown, or not (any longer) yours: for a worker, the cue to stop the job (404)."""


class Forbidden(ServiceError):
    """The caller may not touch this object (403)."""


class Conflict(ServiceError):
    """The job's state does not allow this (409), e.g. an illegal status move."""


class BadRequest(ServiceError):
    """The request itself is invalid (400), e.g. an unsafe path."""
