"""What the strict JSON check refuses before FastAPI's lenient `json.loads` sees it."""

from __future__ import annotations

import pytest

from shared.api.errors import validation_errors
from shared.api.json_body import NotJSON, check_json


@pytest.mark.parametrize(
    "body,why",
    [
        (b'{"older_than": NaN}', "NaN"),
        (b'{"ram_gb": Infinity}', "Infinity"),
        (b'[-Infinity]', "-Infinity"),
        (b'{"job_name": "\\ud800"}', "lone surrogate"),
        (b'{"\\udc80": 1}', "lone surrogate"),
        (b'{"a": ["ok", {"b": "x\\udfffy"}]}', "lone surrogate"),
    ],
)
def test_not_json_is_refused(body: bytes, why: str) -> None:
    with pytest.raises(NotJSON, match=why):
        check_json(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"job_name": "NaN and Infinity are fine as text"}',
        b'{"emoji": "\\ud83d\\ude00"}',  # a surrogate pair is one character
        b'{"path": "C:\\\\ud800"}',  # an escaped backslash, then text
        b"not json at all",  # the route answers that itself
        b"\x89PNG\r\n\x1a\n\x00\xff",
        b"",
    ],
)
def test_json_and_non_json_pass(body: bytes) -> None:
    check_json(body)


def test_validation_errors_are_safe_to_send_whatever_the_input() -> None:
    errors = [
        {"loc": ("body",), "msg": "bad", "type": "model_attributes_type", "input": b"\x89\xff"},
        {"loc": ("query", "older_than"), "msg": "finite", "type": "x", "input": float("nan")},
        {"loc": ("body", 0), "msg": "m", "type": "t", "ctx": {"error": ValueError("why")}},
    ]
    safe = validation_errors(errors)
    assert safe[0]["input"] == "\ufffd\ufffd" and safe[0]["loc"] == ["body"]
    assert safe[1]["input"] == "nan"
    assert safe[2]["ctx"] == {"error": "why"} and safe[2]["loc"] == ["body", 0]
