"""Errors say what the server said, and their class says what kind of failure it was."""

from __future__ import annotations

import httpx
import pytest

from labcloud.client.errors import (
    AuthError,
    ConflictError,
    LabcloudError,
    NotFoundError,
    RequestRejected,
    ServerError,
    error_from_response,
)


def answer(status: int, **kwargs: object) -> httpx.Response:
    request = httpx.Request("POST", "http://api.test/jobs")
    return httpx.Response(status, request=request, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, RequestRejected),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (405, RequestRejected),
        (409, ConflictError),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_status_gives_the_kind(status: int, cls: type[LabcloudError]) -> None:
    error = error_from_response(answer(status, json={"detail": "because"}))
    assert type(error) is cls
    assert str(error).endswith(": because") and str(error).startswith(f"POST /jobs: {status}")
    assert error.status_code == status and error.detail == "because"


def test_validation_errors_name_the_field() -> None:
    detail = [
        {"loc": ["body", "application", "version"], "msg": "unknown version 'v9'"},
        {"loc": ["body", "job_name"], "msg": "too long"},
    ]
    error = error_from_response(answer(422, json={"detail": detail}))
    assert isinstance(error, RequestRejected)
    assert "application → version: unknown version 'v9'; job_name: too long" in str(error)


def test_a_body_that_is_not_json_is_quoted() -> None:
    error = error_from_response(answer(502, text="<html>Bad gateway</html>"))
    assert isinstance(error, ServerError) and "Bad gateway" in str(error)
