"""Errors of the worker API client, shared by the client and its file transfers."""

from __future__ import annotations


class ApiError(RuntimeError):
    """The worker API refused a call or could not be reached."""

    def __init__(
        self, message: str, status_code: int | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail  # the server's `detail`, when it gave one


class AuthError(ApiError):
    """Logging in failed, the server refuses our token, or the account may not lease jobs."""


class JobGone(ApiError):
    """404 on a job call: the job was cancelled, deleted, given to another worker,
    or our attempt at it is no longer the current one."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} is no longer ours", 404)
        self.job_id = job_id


class FileMissing(ApiError):
    """An input file named by the job does not exist (or is not ours to read)."""
