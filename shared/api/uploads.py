"""Receive one uploaded file: a multipart body streamed straight into storage.

Starlette's form parser spools a file part to a temporary file (a thread hop per
socket read) before the route runs, and storage then copied that spool: every
byte was written twice. Here the body is parsed as it arrives, with
python-multipart's streaming parser, and the bytes of the part `file` go to a
storage `Writer` in pieces of `PIECE` bytes, one thread hop each, the next piece
being received while the last is written. The bytes are not copied on the way
(the pieces are views of the received chunks), memory stays at about two pieces
whatever the file's size, the file appears only once the whole body has arrived
intact, and a failed or interrupted upload leaves nothing behind.

Other parts are read past and dropped: DECODE's frontend posts the fields of a
presigned POST (`key`, policy...) along with `file`, to the local `/upload` URL too.

Limits (labcloud): the file may have at most `max_bytes` (MAX_UPLOAD_BYTES), and the
whole body that plus `FORM_ALLOWANCE` for the other fields and the framing. A body
announced bigger (Content-Length) is refused before a byte of it is read; otherwise
the upload stops as soon as the file passes the limit. A `budget` (the caller's
storage quota) is told of every byte of the file as it arrives, and may refuse it.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import anyio
from anyio.abc import TaskGroup
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from shared.api.body_limit import announced_length
from shared.api.errors import BadRequest, Conflict, InvalidField
from shared.api.limits import TooLarge, size_text
from shared.storage.base import Writer, abort_quietly

FIELD = "file"
PIECE = 4 << 20  # bytes handed to storage per thread hop
FEED = 1 << 20  # the most fed to the parser at once: bounds memory if a chunk is huge
# The most bytes kept of one part header (name + value). python-multipart bounds
# header lines itself only in recent versions; this holds whatever the version.
MAX_HEADER = 16 << 10
# What a body may carry besides the file: the other form fields (DECODE's frontend
# sends a presigned POST's policy and signature) and the multipart framing.
FORM_ALLOWANCE = 64 << 10
UPLOAD_SETTING = "MAX_UPLOAD_BYTES"

K = TypeVar("K")

#: The request body of an upload route, for the OpenAPI schema (the route reads
#: the body itself, so FastAPI cannot describe it).
OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


class UploadBudget(Protocol):
    """Told of the file's bytes as they arrive; raises (e.g. OverQuota) to refuse them."""

    def take(self, size: int) -> None: ...


def file_too_large(max_bytes: int) -> TooLarge:
    return TooLarge(f"the file is too large: at most {size_text(max_bytes)}", UPLOAD_SETTING)


def check_announced_size(request: Request, max_bytes: int) -> None:
    """TooLarge, before a byte of the body is read, if its Content-Length is too big for
    a file of `max_bytes` and the form around it."""
    length = announced_length(request.scope)
    if length is not None and length > max_bytes + FORM_ALLOWANCE:
        raise file_too_large(max_bytes)


def announced_file_bytes(request: Request) -> int | None:
    """The fewest bytes the file of this upload can have, from the body's Content-Length
    less what the form's other fields and framing may take; None without one."""
    length = announced_length(request.scope)
    return None if length is None else max(0, length - FORM_ALLOWANCE)


def _missing(message: str) -> InvalidField:
    # where FastAPI's own validation put it when the route took an UploadFile
    return InvalidField(("body", FIELD), message)


class _FileParts:
    """Callbacks for the parser: find the part `file` and gather its bytes."""

    def __init__(self, charset: str, max_bytes: int | None = None) -> None:
        self.charset = charset
        self.max_bytes = max_bytes
        self.filename: str | None = None  # once the headers of `file` are in
        self.pieces: list[bytes | memoryview] = []  # bytes of `file` not yet handed on
        self.pending = 0  # their size
        self.size = 0  # bytes of `file` received
        self.ended = False  # the closing boundary was seen
        self._in_file = False
        self._header = bytearray()
        self._value = bytearray()
        self._disposition = b""

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def take(self) -> list[bytes | memoryview]:
        pieces, self.pieces, self.pending = self.pieces, [], 0
        return pieces

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode(self.charset)
        except UnicodeDecodeError:
            return raw.decode("latin-1")

    def _part_begin(self) -> None:
        self._disposition = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._keep_header_bytes(end - start)
        self._header += memoryview(data)[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._keep_header_bytes(end - start)
        self._value += memoryview(data)[start:end]

    def _keep_header_bytes(self, size: int) -> None:
        """Refuse a header over `MAX_HEADER` before keeping more of it."""
        if len(self._header) + len(self._value) + size > MAX_HEADER:
            raise BadRequest(f"a part header of the multipart body is over {MAX_HEADER} bytes")

    def _header_end(self) -> None:
        if self._header.lower() == b"content-disposition":
            self._disposition = bytes(self._value)
        self._header.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise BadRequest('The Content-Disposition header field "name" must be provided.')
        if self._decode(options[b"name"]) != FIELD:
            return  # another form field: dropped
        if b"filename" not in options:
            raise _missing(f"'{FIELD}' must be a file (a part with a filename), not a text field")
        if self.filename is not None:
            raise BadRequest(f"one file per upload: the body has more than one '{FIELD}' part")
        self.filename = self._decode(options[b"filename"])
        self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file and end > start:
            self.size += end - start
            if self.max_bytes is not None and self.size > self.max_bytes:
                raise file_too_large(self.max_bytes)
            # bytes cannot change: keep a view of the received chunk instead of a copy
            piece = memoryview(data)[start:end] if isinstance(data, bytes) else data[start:end]
            self.pieces.append(piece)
            self.pending += end - start

    def _part_end(self) -> None:
        self._in_file = False

    def _end(self) -> None:
        self.ended = True


def _multipart_params(content_type: str | None) -> tuple[bytes, str]:
    """The boundary and charset of a multipart/form-data body."""
    media, params = parse_options_header(content_type)
    if media != b"multipart/form-data":
        raise _missing(f"Field required: send the file as multipart/form-data field '{FIELD}'")
    if b"boundary" not in params:
        raise BadRequest("Missing boundary in multipart.")
    try:
        charset = codecs.lookup(params.get(b"charset", b"utf-8").decode("latin-1")).name
    except LookupError:
        charset = "latin-1"
    return params[b"boundary"], charset


async def receive_file(
    request: Request,
    open_writer: Callable[[str], tuple[K, Writer]],
    *,
    max_bytes: int | None = None,
    budget: UploadBudget | None = None,
) -> tuple[K, int]:
    """Stream the part `file` of the request's multipart body into storage.

    `open_writer(filename)` runs in a worker thread as soon as the part's headers
    are in: it validates the name and returns (what the caller wants back, e.g.
    the key; the storage `Writer`); its errors (BadRequest...) pass through. The
    write is committed only after the closing boundary, so a body cut short or
    refused later leaves nothing behind. Returns (that value, bytes stored).

    422 for a body that is not multipart or has no `file` part (as FastAPI answered
    for an `UploadFile`); 400 for a malformed, truncated or interrupted body; 413 for
    a file over `max_bytes` (see the module's docstring); what `budget` raises.
    """
    if max_bytes is not None:
        check_announced_size(request, max_bytes)
    boundary, charset = _multipart_params(request.headers.get("content-type"))
    receiver = _Receiver(open_writer, _FileParts(charset, max_bytes), budget)
    try:
        async with anyio.create_task_group() as background:
            failure = await receiver.run(request, boundary, background)
        if failure is not None:
            raise failure
        return receiver.result()
    finally:
        # only now: the task group has waited for a write still running
        with anyio.CancelScope(shield=True):  # also when the request is cancelled
            await receiver.abort_unless_committed()


class _Receiver(Generic[K]):
    """Parses the body on the event loop and writes the file in a worker thread, one
    piece at a time: while a piece is written, the next one is received."""

    def __init__(
        self,
        open_writer: Callable[[str], tuple[K, Writer]],
        parts: _FileParts,
        budget: UploadBudget | None = None,
    ) -> None:
        self._open_writer = open_writer
        self._parts = parts
        self._budget = budget
        self._charged = 0  # bytes of the file the budget was told of
        self._opened: tuple[K, Writer] | None = None
        self._size: int | None = None  # once committed
        self._idle = anyio.Event()
        self._idle.set()
        self._error: Exception | None = None

    async def run(
        self, request: Request, boundary: bytes, background: TaskGroup
    ) -> Exception | None:
        """Receive and store the file; an error is returned, not raised, so that the
        task group does not wrap it (cancellation still propagates)."""
        try:
            await self._receive(request, boundary, background)
        except MultipartParseError as exc:
            return BadRequest(f"invalid multipart body: {exc}")
        except ClientDisconnect:
            return BadRequest("the client went away before the upload was complete")
        except Exception as exc:
            return exc
        return None

    async def _receive(self, request: Request, boundary: bytes, background: TaskGroup) -> None:
        parts = self._parts
        parser = MultipartParser(boundary, parts.callbacks())
        most = None if parts.max_bytes is None else parts.max_bytes + FORM_ALLOWANCE
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if most is not None and received > most:
                # a file over the limit is refused by the parser's callback; this is a
                # body made big by other parts
                raise TooLarge(
                    f"the upload's body is too large: at most {size_text(most)}, the file "
                    f"included",
                    UPLOAD_SETTING,
                )
            for start in range(0, len(chunk), FEED):
                parser.write(chunk[start : start + FEED] if len(chunk) > FEED else chunk)
                if self._opened is None and parts.filename is not None:
                    await anyio.to_thread.run_sync(self._open, parts.filename)
                if self._opened is not None:
                    self._charge()
                if self._opened is not None and parts.pending >= PIECE:
                    await self._settled()
                    self._idle = anyio.Event()
                    background.start_soon(self._write, self._opened[1], parts.take())
        await self._settled()
        if self._opened is None:
            if not parts.ended:
                raise BadRequest("the multipart body is incomplete: no closing boundary")
            raise _missing(f"Field required: the body has no part '{FIELD}'")
        if not parts.ended:
            raise BadRequest("the multipart body is incomplete: the upload was cut short")
        await anyio.to_thread.run_sync(self._finish, self._opened[1], parts.take())

    def _charge(self) -> None:
        """Tell the budget of the file's bytes received since last time. Only once the
        writer is open: `open_writer` may tell the budget what the upload replaces."""
        if self._budget is not None and self._parts.size > self._charged:
            self._budget.take(self._parts.size - self._charged)
            self._charged = self._parts.size

    # These two run in a worker thread and keep their result themselves: were the
    # request cancelled meanwhile, the result would not reach the event loop, and a
    # writer opened but forgotten would never be aborted.

    def _open(self, filename: str) -> None:
        self._opened = self._open_writer(filename)

    def _finish(self, writer: Writer, rest: list[bytes | memoryview]) -> None:
        """Write the last pieces and commit: one thread hop for both."""
        writer.write(*rest)
        try:
            self._size = writer.commit()
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            # checked when the upload began; something took the path while it was sent
            raise Conflict(
                "the upload's path was taken while the file was sent: "
                "a file is now in the way of its folder, or a folder is at its place"
            ) from None

    async def _write(self, writer: Writer, pieces: list[bytes | memoryview]) -> None:
        try:
            await anyio.to_thread.run_sync(writer.write, *pieces)
        except Exception as exc:
            self._error = exc
        finally:
            self._idle.set()

    async def _settled(self) -> None:
        """Wait for the piece being written; raise what went wrong with it."""
        await self._idle.wait()
        if self._error is not None:
            raise self._error

    def result(self) -> tuple[K, int]:
        assert self._opened is not None and self._size is not None
        return self._opened[0], self._size

    async def abort_unless_committed(self) -> None:
        if self._opened is not None and self._size is None:
            # quietly: an error of the abort would replace the one that stopped the upload
            await anyio.to_thread.run_sync(abort_quietly, self._opened[1])
