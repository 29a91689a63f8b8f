import io
import zipfile

from shared.storage.zipstream import stream_zip


def test_streamed_zip_is_valid_and_emitted_in_pieces() -> None:
    big = bytes(range(256)) * 4096  # 1 MiB
    members = [
        ("a.txt", lambda: iter([b"alpha"])),
        ("sub/big.bin", lambda: (big[i : i + 65536] for i in range(0, len(big), 65536))),
        ("empty", lambda: iter([])),
    ]
    pieces = list(stream_zip(members))
    assert len(pieces) > 10  # produced while reading, not in one block
    assert max(len(p) for p in pieces) <= 65536 + 1024
    archive = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    assert archive.testzip() is None
    assert archive.read("a.txt") == b"alpha"
    assert archive.read("sub/big.bin") == big
    assert archive.read("empty") == b""
