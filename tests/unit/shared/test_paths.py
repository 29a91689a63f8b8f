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
