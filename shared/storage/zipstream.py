"""A zip archive produced chunk by chunk while it is being sent.

`zipfile` can write to a stream that cannot seek (it then uses data descriptors),
so each member is copied in chunks and whatever the archive has emitted so far
is handed on at once: memory stays at about one chunk whatever the size.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Iterator


class _Sink:
    """A write-only file object that collects bytes until they are taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def stream_zip(
    members: Iterable[tuple[str, Callable[[], Iterable[bytes]]]],
) -> Iterator[bytes]:
    """Yield a zip of `members`: (name in archive, function giving the content's chunks).

    Members are stored, not deflated: scientific data is large and often already
    compressed, and deflate would make the download CPU-bound.
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:  # type: ignore[arg-type]
        for name, chunks in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with archive.open(info, mode="w", force_zip64=True) as member:
                for chunk in chunks():
                    member.write(chunk)
                    if data := sink.take():
                        yield data
            if data := sink.take():
                yield data
    if data := sink.take():
        yield data
