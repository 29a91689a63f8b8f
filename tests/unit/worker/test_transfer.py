"""The pure parts of the file transfers: reading a FileHTTPRequest, where its URL points."""

from __future__ import annotations

import httpx
import pytest

from worker.transfer import FileRequest, is_below

API = httpx.URL("http://api.example:8001/worker/")


@pytest.mark.parametrize(
    ("url", "below"),
    [
        ("http://api.example:8001/worker/jobs/1/files/upload?type=output", True),
        ("http://API.example:8001/worker/files/x/download", True),
        ("http://api.example:8001/other/jobs/1", False),
        ("http://api.example:9000/worker/bucket/key", False),
        ("https://api.example:8001/worker/jobs/1", False),
        ("https://bucket.s3.amazonaws.com/worker/key?X-Amz-Signature=x", False),
    ],
)
def test_is_below(url, below):
    assert is_below(url, API) is below


def test_relative_urls_are_on_the_api():
    request = FileRequest.parse({"url": "/worker/jobs/1/files/upload"}, "POST", API)
    assert request.url == "http://api.example:8001/worker/jobs/1/files/upload"
    assert request.method == "POST" and is_below(request.url, API)


def test_with_header_replaces_whatever_the_case():
    request = FileRequest("GET", "http://x/", headers={"x-labcloud-attempt": "1", "A": "b"})
    assert request.with_header("X-Labcloud-Attempt", "2").headers == {
        "A": "b",
        "X-Labcloud-Attempt": "2",
    }
    assert request.headers["x-labcloud-attempt"] == "1"  # the original is unchanged


def test_s3_presigned_post_fields_are_read_as_data():
    payload = {"url": "https://b.s3.amazonaws.com/", "fields": {"key": "k", "policy": "p"}}
    request = FileRequest.parse(payload, "POST", API)
    assert request.data == {"key": "k", "policy": "p"} and request.method == "POST"
