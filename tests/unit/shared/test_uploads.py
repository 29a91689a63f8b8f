"""`receive_file`: a multipart body streamed into a storage writer, driven with a fake
ASGI receive (the body in chunks, as a server hands it over) and a recording writer."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
import pytest
from python_multipart.multipart import MultipartParser
from starlette.requests import Request

from shared.api import uploads
from shared.api.errors import BadRequest, Conflict, InvalidField
from shared.api.uploads import FEED, MAX_HEADER, PIECE, receive_file
from shared.storage.base import Buffer
from shared.storage.local import LocalStorage

BOUNDARY = "labcloud-test-boundary"
MIB = 1 << 20


def part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
    return head + data + b"\r\n"


END = f"--{BOUNDARY}--\r\n".encode()


def chunked(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def request(
    chunks: Iterable[bytes],
    content_type: str = f"multipart/form-data; boundary={BOUNDARY}",
    disconnect: bool = False,
) -> Request:
    """A request whose body arrives in `chunks`; with `disconnect`, the client goes
    away after the last chunk instead of finishing the body."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    if disconnect:
        messages.append({"type": "http.disconnect"})
    else:
        messages.append({"type": "http.request", "body": b"", "more_body": False})

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "query_string": b"",
        "headers": [(b"content-type", content_type.encode())],
    }
    return Request(scope, receive)  # type: ignore[arg-type]


class RecordingWriter:
    """A Writer that keeps everything in memory and notes each call."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[int] = []  # bytes per write call (one thread hop each)
        self.data = bytearray()
        self.committed = False
        self.aborted = False
        self.fail_after = fail_after

    def write(self, *pieces: Buffer) -> None:
        if self.fail_after is not None and len(self.data) >= self.fail_after:
            raise OSError("disk full")
        self.calls.append(sum(memoryview(p).nbytes for p in pieces))
        for piece in pieces:
            self.data += piece

    def commit(self) -> int:
        self.committed = True
        return len(self.data)

    def abort(self) -> None:
        self.aborted = True


def receive(req: Request, writer: RecordingWriter, names: list[str] | None = None) -> int:
    def open_writer(filename: str) -> tuple[str, RecordingWriter]:
        if names is not None:
            names.append(filename)
        return filename, writer

    async def main() -> int:
        _, size = await receive_file(req, open_writer)
        return size

    return anyio.run(main)


def test_the_file_is_written_in_big_pieces_and_committed() -> None:
    data = os.urandom(3 * PIECE + 12345)
    body = part("file", data, "big.bin") + END
    writer, names = RecordingWriter(), []
    assert receive(request(chunked(body, 64 * 1024)), writer, names) == len(data)
    assert names == ["big.bin"]
    assert hashlib.sha256(writer.data).digest() == hashlib.sha256(data).digest()
    assert writer.committed and not writer.aborted
    # one hop per piece, not per chunk: every call but the last carries >= PIECE
    assert len(writer.calls) <= len(data) // PIECE + 1
    assert all(size >= PIECE for size in writer.calls[:-1])


def test_one_huge_chunk_is_fed_in_slices() -> None:
    data = os.urandom(2 * PIECE + 3)
    writer = RecordingWriter()
    assert receive(request([part("file", data, "a.bin") + END]), writer) == len(data)
    assert bytes(writer.data) == data
    assert max(writer.calls) <= PIECE + FEED


def test_other_fields_are_read_past_before_and_after_the_file() -> None:
    body = (
        part("key", b"data/${filename}")
        + part("policy", os.urandom(3000))
        + part("file", b"payload", "f.txt")
        + part("x-amz-signature", b"abc")
        + END
    )
    writer = RecordingWriter()
    assert receive(request(chunked(body, 7)), writer) == 7
    assert bytes(writer.data) == b"payload" and writer.committed


def test_an_empty_file_is_stored() -> None:
    writer = RecordingWriter()
    assert receive(request([part("file", b"", "empty.txt") + END]), writer) == 0
    assert writer.committed


@pytest.mark.parametrize(
    ("body", "content_type", "error", "message"),
    [
        (part("other", b"v") + END, None, InvalidField, "no part 'file'"),
        (b'{"a": 1}', "application/json", InvalidField, "multipart/form-data"),
        (b"file=x", "application/x-www-form-urlencoded", InvalidField, "multipart/form-data"),
        (part("file", b"text") + END, None, InvalidField, "must be a file"),
        (b"garbage", "multipart/form-data", BadRequest, "boundary"),
        (part("other", b"v"), None, BadRequest, "incomplete"),
        (b"--nonsense\r\n", None, BadRequest, "invalid multipart body"),
        pytest.param(
            part("file", b"x", "a" * 100_000) + END,
            None,
            BadRequest,
            "header",  # python-multipart's own bound, or ours where it has none
            id="huge-header",
        ),
    ],
)
def test_bodies_without_a_usable_file_part_are_refused(
    body: bytes, content_type: str | None, error: type[Exception], message: str
) -> None:
    kwargs = {"content_type": content_type} if content_type else {}
    writer = RecordingWriter()
    with pytest.raises(error, match=message):
        receive(request([body], **kwargs), writer)
    assert not writer.committed and not writer.data


def test_a_body_cut_short_is_aborted_not_committed() -> None:
    data = os.urandom(2 * PIECE)
    writer = RecordingWriter()
    with pytest.raises(BadRequest, match="incomplete"):
        receive(request(chunked(part("file", data, "a.bin"), MIB)), writer)
    assert writer.data  # pieces were written on the way...
    assert writer.aborted and not writer.committed  # ...and dropped


def test_a_client_going_away_aborts_the_write() -> None:
    body = part("file", os.urandom(2 * PIECE), "a.bin")
    writer = RecordingWriter()
    with pytest.raises(BadRequest, match="went away"):
        receive(request(chunked(body, MIB)[:-1], disconnect=True), writer)
    assert writer.aborted and not writer.committed


def test_a_second_file_part_is_refused_and_the_first_dropped() -> None:
    body = part("file", b"1", "a.txt") + part("file", b"2", "b.txt") + END
    writer = RecordingWriter()
    with pytest.raises(BadRequest, match="one file per upload"):
        receive(request(chunked(body, 16)), writer)
    assert writer.aborted and not writer.committed


def test_a_failing_write_aborts_and_its_error_passes_through() -> None:
    writer = RecordingWriter(fail_after=PIECE)
    body = part("file", os.urandom(4 * PIECE), "a.bin") + END
    with pytest.raises(OSError, match="disk full"):
        receive(request(chunked(body, MIB)), writer)
    assert writer.aborted and not writer.committed


def test_an_error_from_open_writer_passes_through() -> None:
    def refuse(filename: str) -> tuple[str, RecordingWriter]:
        raise BadRequest(f"no '{filename}' here")

    async def main() -> None:
        await receive_file(request([part("file", b"x", "bad.txt") + END]), refuse)

    with pytest.raises(BadRequest, match="no 'bad.txt' here"):
        anyio.run(main)


def test_into_local_storage_an_aborted_upload_leaves_no_file_and_no_temp_file(
    tmp_path: Path,
) -> None:
    storage = LocalStorage(tmp_path)
    body = part("file", os.urandom(3 * PIECE), "a.bin")  # no closing boundary

    async def main() -> None:
        await receive_file(
            request(chunked(body, MIB)), lambda name: (name, storage.writer(f"u/{name}"))
        )

    with pytest.raises(BadRequest):
        anyio.run(main)
    assert storage.stat("u/a.bin") is None
    assert list((tmp_path / ".labcloud-tmp").iterdir()) == []


def test_a_cancelled_request_aborts_once_the_running_write_is_over() -> None:
    events: list[str] = []

    class SlowWriter(RecordingWriter):
        def write(self, *pieces: Buffer) -> None:
            time.sleep(0.2)
            super().write(*pieces)
            events.append("write")

        def abort(self) -> None:
            super().abort()
            events.append("abort")

    writer = SlowWriter()
    body = part("file", os.urandom(3 * PIECE), "a.bin") + END

    async def main() -> None:
        with anyio.move_on_after(0.05):
            await receive_file(request(chunked(body, MIB)), lambda name: (name, writer))

    anyio.run(main)
    assert events and events[-1] == "abort"  # never while a write still runs
    assert writer.aborted and not writer.committed


def test_a_part_header_is_bounded_whatever_the_parsers_own_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # as a python-multipart without per-header limits (those before 0.0.18) parses
    unbounded = functools.partial(MultipartParser, max_header_size=1 << 30)
    monkeypatch.setattr(uploads, "MultipartParser", unbounded)
    fixed = len('Content-Dispositionform-data; name="file"; filename=""')
    fits = RecordingWriter()
    body = part("file", b"x", "a" * (MAX_HEADER - fixed)) + END
    assert receive(request(chunked(body, 1000)), fits) == 1 and fits.committed
    over = RecordingWriter()
    body = part("file", b"x", "a" * (MAX_HEADER - fixed + 1)) + END
    with pytest.raises(
        BadRequest, match=f"a part header of the multipart body is over {MAX_HEADER}"
    ):
        receive(request(chunked(body, 1000)), over)
    with pytest.raises(BadRequest, match="is over"):  # in one chunk too: refused before kept
        receive(request([part("file", b"x", "a" * (8 << 20)) + END]), over)
    assert not over.committed and not over.data


@pytest.mark.parametrize(
    ("key", "in_the_way"),
    [
        ("u/d/a.bin", "file u/d"),  # the folder became a file: FileExistsError
        ("u/d/e/a.bin", "file u/d"),  # a level above it did: NotADirectoryError
        ("u/d/a.bin", "dir u/d/a.bin"),  # a folder took the file's place: IsADirectoryError
    ],
)
def test_a_path_taken_while_the_file_is_sent_is_a_conflict_and_leaves_nothing(
    tmp_path: Path, key: str, in_the_way: str
) -> None:
    storage = LocalStorage(tmp_path)
    kind, where = in_the_way.split()

    def open_writer(name: str) -> tuple[str, object]:
        writer = storage.writer(key)  # checked and opened: then the race
        (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            (tmp_path / where).mkdir()
        else:
            (tmp_path / where).write_bytes(b"appeared meanwhile")
        return name, writer

    async def main() -> None:
        body = part("file", os.urandom(PIECE + 1), "a.bin") + END
        await receive_file(request(chunked(body, MIB)), open_writer)  # type: ignore[arg-type]

    with pytest.raises(Conflict, match="taken while the file was sent"):
        anyio.run(main)
    entry = storage.stat(key)
    assert entry is None or entry.is_dir
    assert list((tmp_path / ".labcloud-tmp").iterdir()) == []


def test_an_error_of_the_abort_is_logged_and_the_failure_passes_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class StuckWriter(RecordingWriter):
        def abort(self) -> None:
            raise ConnectionError("abort failed too")

    writer = StuckWriter(fail_after=PIECE)
    body = part("file", os.urandom(4 * PIECE), "a.bin") + END
    with caplog.at_level(logging.WARNING), pytest.raises(OSError, match="disk full"):
        receive(request(chunked(body, MIB)), writer)
    (record,) = [r for r in caplog.records if "could not abort" in r.getMessage()]
    assert record.levelno == logging.WARNING and "ConnectionError" in record.getMessage()
