import pytest

from shared.storage.paths import UnsafePath, clean_relpath, is_within


@pytest.mark.parametrize(
    "raw,clean",
    [
        ("", ""),
        ("/", ""),
        ("//", ""),
        ("data", "data"),
        ("data/", "data"),
        ("/data//exp1/./a.tif", "data/exp1/a.tif"),
        ("data/my file (1).tif", "data/my file (1).tif"),
        ("data/..hidden", "data/..hidden"),
        ("data/a..b", "data/a..b"),
    ],
)
def test_clean_paths(raw: str, clean: str) -> None:
    assert clean_relpath(raw) == clean


@pytest.mark.parametrize(
    "raw",
    [
        "..",
        "../etc/passwd",
        "data/../../etc",
        "data/..",
        "data/%2e%2e/x",
        "data/%2E%2e",
        "data/a%2fb",
        "data/%00",
        "data/\x00x",
        "data\\..\\x",
        "C:/Windows",
    ],
)
def test_escapes_are_refused(raw: str) -> None:
    with pytest.raises(UnsafePath):
        clean_relpath(raw)


def test_is_within() -> None:
    assert is_within("a/b", "a")
    assert is_within("a", "a")
    assert not is_within("ab", "a")
    assert is_within("anything", "")


@pytest.mark.parametrize(
    "raw",
    [
        "data/a\nb.tif",
        "data/a\rb",
        "data/tab\there",
        "data/\x1b[31mred",
        "data/del\x7f",
        "data/c1\x85",
        "data/line\u2028sep",
        "data/\udcff",  # what a server makes of %FF in a URL: not text
    ],
)
def test_control_characters_and_lone_surrogates_are_refused(raw: str) -> None:
    with pytest.raises(UnsafePath, match="control character"):
        clean_relpath(raw)


def test_a_name_may_take_255_bytes_of_utf8_not_255_characters() -> None:
    assert clean_relpath("data/" + "é" * 127 + "x") == "data/" + "é" * 127 + "x"  # 255 bytes
    with pytest.raises(UnsafePath, match="256 bytes long in UTF-8; at most 255"):
        clean_relpath("data/" + "é" * 128)  # 128 characters, 256 bytes
    with pytest.raises(UnsafePath, match="at most 255"):
        clean_relpath("a" * 256)


def test_a_path_may_take_4096_bytes_of_utf8() -> None:
    longest = "/".join(["é" * 127] * 16) + "/" + "a" * 16  # 16 × (254 + 1) + 16 bytes
    assert len(longest.encode()) == 4096
    assert clean_relpath(longest) == longest
    with pytest.raises(UnsafePath, match="4097 bytes long in UTF-8; at most 4096"):
        clean_relpath(longest + "a")
