"""An in-memory stand-in for the user API's `/files` routes, as an httpx transport.

Enough of the real contract for the SDK's upload and download logic: listings
(with `exact_sizes` / `checksums` unless `details=False`), `/url`, multipart
`/upload`, and a counter of what was uploaded. `fail_after` makes the n-th
upload onwards fail (a connection error), to interrupt an upload.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
from collections import Counter
from urllib.parse import unquote

import httpx

BASE = "http://fake.test"


class FakeUserAPI:
    def __init__(self, details: bool = True) -> None:
        self.files: dict[str, bytes] = {}
        self.details = details
        self.uploads: Counter[str] = Counter()
        self.checksum_requests: list[str] = []
        self.fail_after: int | None = None
        self.transport = httpx.MockTransport(self.handle)

    # --- routes -----------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = unquote(request.url.path)
        assert request.headers.get("authorization") == "Bearer tok", "the SDK sends its token"
        if request.method == "GET" and path.startswith("/files/"):
            return self.list(path[len("/files/") :], request.url.params)
        if request.method == "POST" and path.endswith("/url"):
            folder = path[len("/files/") : -len("/url")]
            upload_url = f"{BASE}/files/{folder}/upload"
            return httpx.Response(
                201, json={"method": "POST", "url": upload_url, "headers": {}, "data": {}}
            )
        if request.method == "POST" and path.endswith("/upload"):
            return self.upload(path[len("/files/") : -len("/upload")], request)
        if request.method == "POST" and path.endswith("/"):
            return httpx.Response(201, json={"path": path[7:], "type": "directory", "size": ""})
        return httpx.Response(404, json={"detail": "Not Found"})

    def list(self, raw: str, params: httpx.QueryParams) -> httpx.Response:
        rel = raw.strip("/")
        details = self.details and (
            params.get("exact_sizes") == "true" or params.get("checksums") == "true"
        )
        checksums = details and params.get("checksums") == "true"
        if rel in self.files:
            if not details:
                return httpx.Response(404, json={"detail": f"'{raw}' is not a directory"})
            if checksums:
                self.checksum_requests.append(rel)
            return httpx.Response(200, json=[self.info(rel, details, checksums)])
        prefix = rel + "/" if rel else ""
        below = [p for p in self.files if p.startswith(prefix)]
        if rel and not below:
            return httpx.Response(404, json={"detail": f"'{raw}' is not a directory"})
        recursive = params.get("recursive") == "true"
        chosen = [p for p in below if recursive or "/" not in p[len(prefix) :]]
        return httpx.Response(200, json=[self.info(p, details, checksums) for p in sorted(chosen)])

    def info(self, rel: str, details: bool, checksums: bool) -> dict[str, object]:
        data = self.files[rel]
        entry: dict[str, object] = {"path": rel, "type": "file", "size": f"{len(data)} Bytes"}
        if details:
            entry["bytes"] = len(data)
        if checksums:
            entry["sha256"] = hashlib.sha256(data).hexdigest()
        return entry

    def upload(self, folder: str, request: httpx.Request) -> httpx.Response:
        if self.fail_after is not None and sum(self.uploads.values()) >= self.fail_after:
            raise httpx.ConnectError("connection reset by the fake", request=request)
        body = request.read()
        header = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
        part = next(iter(message.iter_parts()))
        name = part.get_filename()
        rel = f"{folder.strip('/')}/{name}"
        self.files[rel] = part.get_payload(decode=True)
        self.uploads[rel] += 1
        return httpx.Response(201, json={"path": rel, "type": "file", "size": ""})
