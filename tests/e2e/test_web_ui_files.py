"""The web page's Files view in Debian's Chromium over the real stack: an upload's
speed and time left (the browser's upload throttled, so there is time to see them),
and files looked at in the page: PNG and JPEG inline, an SVG as an image whose
script never runs, a JSON pretty-printed, and a large log cut at the viewer's cap.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Platform
from tests.e2e.web_steps import log_in, screenshots_folder, web_platform
from tests.support.browser import checked_page, launched_chromium

pytestmark = pytest.mark.browser

UPLOAD_BYTES = 6_000_000
THROTTLE_BYTES_PER_S = 2_000_000  # about 3 s for the upload
TEXT_CAP = 1024 * 1024  # the viewer's cap on a text (viewer.js TEXT_CAP)
SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80" onload="window.svgRan=1">
<script>window.svgRan = 1;</script><rect width="120" height="80" fill="#2b8a3e"/></svg>"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Platform]:
    with web_platform(tmp_path) as p:
        yield p


def images_drawn_by_the_browser(page: Any) -> dict[str, bytes]:
    """A PNG and a JPEG of a small drawing, made by Chromium's canvas."""
    encoded = page.evaluate(
        """async () => {
            const canvas = Object.assign(document.createElement("canvas"), {width: 90, height: 60});
            const g = canvas.getContext("2d");
            g.fillStyle = "#1f5fbf"; g.fillRect(0, 0, 90, 60);
            g.fillStyle = "#ffb000"; g.fillRect(20, 15, 50, 30);
            const one = async (type) => {
                const blob = await new Promise((ok) => canvas.toBlob(ok, type));
                const bytes = new Uint8Array(await blob.arrayBuffer());
                return btoa(String.fromCharCode(...bytes));
            };
            return {png: await one("image/png"), jpeg: await one("image/jpeg")};
        }"""
    )
    return {kind: base64.b64decode(data) for kind, data in encoded.items()}


def test_upload_speed_and_files_looked_at(chromium: Any, web: Platform, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    shots = screenshots_folder(tmp_path)
    with checked_page(chromium) as page:
        log_in(page, web)
        page.get_by_role("button", name="data/", exact=True).click()
        expect(page.locator("#crumbs [aria-current]")).to_have_text("data")

        # The figures themselves, from the page's own module (no clock involved).
        figures = page.evaluate(
            """async () => {
                const t = await import(new URL("js/transfer.js", document.baseURI));
                const meter = new t.RateMeter();
                meter.add(0, 0); meter.add(1e6, 1000); meter.add(2e6, 2000);
                return {rate: meter.rate(), text: t.describeProgress(2e6, 6e6, meter.rate()),
                        early: new t.RateMeter().rate(), done: t.describeDone(6e6, 3000)};
            }"""
        )
        assert figures == {
            "rate": 1e6,
            "text": "2.0 MB of 6.0 MB · 1.0 MB/s · about 4 s left",
            "early": None,
            "done": "6.0 MB in 3 s (2.0 MB/s)",
        }

        # A throttled upload shows its speed and time left while it goes, then its total.
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 0,
                "downloadThroughput": -1,
                "uploadThroughput": THROTTLE_BYTES_PER_S,
            },
        )
        page.locator("#pick-files").set_input_files(
            [
                {
                    "name": "big.bin",
                    "mimeType": "application/octet-stream",
                    "buffer": b"\1" * UPLOAD_BYTES,
                }
            ]
        )
        progress = page.locator("#upload-total-text")
        expect(progress).to_have_text(re.compile(r" of 6\.0 MB · [\d.]+ [kM]B/s · about .+ left$"))
        page.screenshot(path=shots / "upload-progress.png")
        expect(progress).to_have_text(
            re.compile(r"^Done: 6\.0 MB in .+ \([\d.]+ [kM]B/s\)$"), timeout=60_000
        )
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )

        # Files to look at.
        images = images_drawn_by_the_browser(page)
        log_text = "".join(f"line {i:07d} of a long log\n" for i in range(120_000))  # 3.24 MB
        page.locator("#pick-files").set_input_files(
            [
                {"name": "drawing.png", "mimeType": "image/png", "buffer": images["png"]},
                {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": images["jpeg"]},
                {"name": "figure.svg", "mimeType": "image/svg+xml", "buffer": SVG},
                {
                    "name": "params.json",
                    "mimeType": "application/json",
                    "buffer": b'{"a":1,"b":[1,2]}',
                },
                {"name": "long.log", "mimeType": "text/plain", "buffer": log_text.encode()},
            ]
        )
        expect(page.get_by_role("status")).to_contain_text("Uploaded 5 files to data/")
        viewer = page.locator("#viewer")
        for name in ("drawing.png", "photo.jpg", "figure.svg"):
            page.get_by_role("button", name=f"View {name}").click()
            image = viewer.get_by_role("img", name=name)
            expect(image).to_have_attribute("src", re.compile("^blob:"))
            page.wait_for_function(
                "() => document.querySelector('#viewer img.viewer-image')?.naturalWidth > 0"
            )
            if name == "figure.svg":
                page.screenshot(path=shots / "viewer-image.png")
            page.get_by_role("button", name="Close").click()
            expect(viewer).to_be_hidden()
        # the SVG was an image only: its script never ran, it never entered the page
        assert page.evaluate("() => window.svgRan") is None
        assert page.locator("#viewer-body svg").count() == 0

        page.get_by_role("button", name="View params.json").click()
        expect(viewer.locator("pre.json")).to_have_text(
            '{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ]\n}'
        )
        page.get_by_role("button", name="Close").click()

        page.get_by_role("button", name="View long.log").click()
        expect(viewer.locator(".viewer-cut")).to_have_text(
            "Showing the first 1.0 MB of 3.2 MB: download the file for the rest."
        )
        shown = viewer.locator("pre.viewer-text").evaluate("pre => pre.textContent.length")
        assert shown == TEXT_CAP  # ASCII: one character a byte
        assert (
            viewer.locator("pre.viewer-text").evaluate("pre => pre.textContent.slice(0, 30)")
            == log_text[:30]
        )
        page.screenshot(path=shots / "viewer-text.png")
        with page.expect_download() as download:
            page.get_by_role("button", name="Download", exact=True).click()
        assert Path(download.value.path()).stat().st_size == len(log_text)
