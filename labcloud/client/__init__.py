"""The labcloud SDK: log in, move files, run jobs and fetch their results from Python.

It speaks only the user API's public HTTP interface (with httpx), so it can be
used on any machine; boto3 is needed only to log in straight to Cognito.

    from labcloud.client import Client

    with Client("http://127.0.0.1:8000") as lc:
        lc.login("ada@example.org", "analysis-42")
        lc.files.upload("exp1", "data")                  # → data/exp1/…
        job = lc.jobs.submit("demo", "v1", "run", data=["exp1/"], env={"DEMO_GREETING": "hi"})
        job = lc.jobs.wait(job, callback=lambda j: print(j.status))
        lc.jobs.download(job, "results")                 # → results/<job name>/output/…

Errors are :class:`LabcloudError` subclasses whose message says what the server said.
"""

from labcloud.client.client import Client
from labcloud.client.config import CredentialStore, Session
from labcloud.client.errors import (
    AuthError,
    ConflictError,
    ConnectionFailed,
    LabcloudError,
    NotFoundError,
    RequestRejected,
    ServerError,
)
from labcloud.client.models import (
    TERMINAL_STATUSES,
    Entrypoint,
    FileEntry,
    Job,
    JobLog,
    LogEvent,
    StatusChange,
    TransferEvent,
    UploadReport,
)

__all__ = [
    "TERMINAL_STATUSES",
    "AuthError",
    "Client",
    "ConflictError",
    "ConnectionFailed",
    "CredentialStore",
    "Entrypoint",
    "FileEntry",
    "Job",
    "JobLog",
    "LabcloudError",
    "LogEvent",
    "NotFoundError",
    "RequestRejected",
    "ServerError",
    "Session",
    "StatusChange",
    "TransferEvent",
    "UploadReport",
]
