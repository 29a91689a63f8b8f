"""The web page at /ui, driven in Debian's Chromium by Playwright over the real stack
(both APIs and a process-runner worker on loopback): log in, upload files (picker,
folder, drag and drop), launch the demo application from the generated form, watch
it finish in the live job list, read its status history and log, download its
output; then the error shown for a refused launch, cancel and delete.

Screenshots of the main screens go to $LABCLOUD_UI_SCREENSHOTS when it is set
(`scripts/ui-screenshots` writes docs/screenshots/), else to the test's tmp folder.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import PASSWORD, Platform
from tests.support.browser import CHROMIUM_ARGS, chromium_or_skip

pytestmark = pytest.mark.browser

USER = "ada@example.org"
FINISH_TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any, sqlite_platform: Platform) -> Iterator[Any]:
    """A fresh browser page on a laptop-sized screen; uncaught page errors fail the test."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    try:
        yield page
    finally:
        context.close()
    assert not problems, problems


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("LABCLOUD_UI_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(page: Any, p: Platform, shots: Path) -> None:
    from playwright.sync_api import expect

    httpx.post(f"{p.user_url}/user", data={"username": USER, "password": PASSWORD})
    page.goto(f"{p.user_url}/ui")
    expect(page.get_by_role("heading", name="Log in to labcloud")).to_be_visible()
    page.get_by_label("Email or user name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.screenshot(path=shots / "login.png")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Logged in as {USER}")).to_be_visible()
    expect(page.get_by_role("heading", name="Files")).to_be_visible()


def upload_inputs(page: Any, tmp_path: Path, shots: Path) -> None:
    from playwright.sync_api import expect

    files = page.locator("#files-table")
    page.get_by_role("button", name="data/", exact=True).click()
    expect(page.locator("#crumbs [aria-current]")).to_have_text("data")
    # a file with the picker
    page.locator("#pick-files").set_input_files(
        [{"name": "counts.csv", "mimeType": "text/csv", "buffer": b"a,b\n1,2\n3,4\n"}]
    )
    expect(files.get_by_text("counts.csv")).to_be_visible()
    # a file dropped on the page
    page.locator("#drop-zone").evaluate(
        """zone => {
            const data = new DataTransfer();
            data.items.add(new File(["7\\n"], "dropped.txt", {type: "text/plain"}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
        }"""
    )
    expect(files.get_by_text("dropped.txt")).to_be_visible()
    # a dropped folder is walked through its entries (a real drag cannot be scripted:
    # Chromium gives scripted drops no entries, so these are stand-ins)
    walked = page.evaluate(
        """async () => {
            const files = await import(new URL("js/files.js", document.baseURI));
            const file = (name) => ({isFile: true, name, file: (ok) => ok(new File(["1"], name))});
            const dir = (name, children) => ({isFile: false, name, createReader: () => {
                let left = [...children];  // handed out at most 100 at a time, like Chromium
                return {readEntries: (ok) => ok(left.splice(0, 100))};
            }});
            const many = Array.from({length: 150}, (_, i) => file(`f${i}.txt`));
            const tree = dir("run", [file("a.csv"), dir("empty", []), dir("sub", many)]);
            const {found, emptyDirs} = await files.collect([tree, file("top.txt")]);
            return {count: found.length, dirs: [...new Set(found.map((f) => f.dir))].sort(),
                    top: found.filter((f) => f.dir === "").map((f) => f.file.name), emptyDirs};
        }"""
    )
    assert walked == {
        "count": 152,
        "dirs": ["", "run", "run/sub"],
        "top": ["top.txt"],
        "emptyDirs": ["run/empty"],
    }
    # a folder with the folder picker, its layout kept
    folder = tmp_path / "exp1"
    (folder / "more").mkdir(parents=True)
    (folder / "frames.csv").write_text("5,6\n")
    (folder / "more" / "notes.txt").write_text("value 10\n")
    page.locator("#pick-folder").set_input_files(folder)
    expect(files.get_by_role("button", name="exp1/", exact=True)).to_be_visible()
    expect(page.locator("#upload-list")).to_contain_text("exp1/more/notes.txt")
    expect(page.get_by_role("status")).to_contain_text("Uploaded 2 files to data/")
    page.screenshot(path=shots / "files.png")
    # the config, in config/demo/
    page.get_by_role("button", name="All files").click()
    page.get_by_role("button", name="config/", exact=True).click()
    page.get_by_label("New folder").fill("demo")
    page.get_by_role("button", name="Create folder").click()
    page.get_by_role("button", name="demo/", exact=True).click()
    page.locator("#pick-files").set_input_files(
        [{"name": "params.yaml", "mimeType": "text/yaml", "buffer": b"greeting: hello ui\n"}]
    )
    expect(files.get_by_text("params.yaml")).to_be_visible()


def launch_demo(page: Any, name: str, shots: Path | None = None, **env: str) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="Launch").click()
    expect(page.get_by_role("heading", name="Launch an application")).to_be_visible()
    page.get_by_label("Application", exact=True).select_option("demo")
    page.get_by_label("Version").select_option("v1")
    page.get_by_label("Entrypoint").select_option("run")
    page.get_by_label("Job name").fill(name)
    page.get_by_label("Config", exact=True).select_option("demo/params.yaml")
    page.get_by_role("checkbox", name="exp1/", exact=True).check()
    page.get_by_role("checkbox", name="counts.csv", exact=True).check()
    for var, value in env.items():
        page.get_by_label(var).fill(value)
    if shots:
        page.screenshot(path=shots / "launch.png", full_page=True)
    page.get_by_role("button", name="Launch job").click()


def test_log_in_upload_launch_follow_and_download(
    page: Any, sqlite_platform: Platform, tmp_path: Path, shots: Path
) -> None:
    from playwright.sync_api import expect

    p = sqlite_platform
    p.start_worker("worker-1")
    log_in(page, p, shots)
    upload_inputs(page, tmp_path, shots)

    launch_demo(page, "web-demo", shots, DEMO_GREETING="hello from the browser", DEMO_SLEEP="2")
    expect(page).to_have_url(re.compile(r"#jobs/\d+$"))
    expect(page.get_by_role("heading", name="Job web-demo")).to_be_visible()
    row = page.locator("#jobs-table tbody tr", has_text="web-demo")
    expect(row.locator(".status")).to_have_text("finished", timeout=FINISH_TIMEOUT_MS)
    history = page.locator("#job-history")
    for status in ("queued", "running", "finished"):
        expect(history).to_contain_text(status)
    log = page.locator("#job-log")
    expect(log).to_contain_text("hello from the browser! demo analysis starting")
    expect(log).to_contain_text("done: 3 file(s)")
    download_button = page.get_by_role("button", name="Download output/summary.json (output)")
    expect(download_button).to_be_visible()

    with page.expect_download() as download:
        download_button.click()
    assert download.value.suggested_filename == "summary.json"
    summary = json.loads(Path(download.value.path()).read_text())
    assert summary["greeting"] == "hello from the browser"
    assert summary["config"] == {"greeting": "hello ui"}
    assert summary["files"] == 3  # exp1/frames.csv, exp1/more/notes.txt and counts.csv
    assert summary["total_sum"] == 1 + 2 + 3 + 4 + 5 + 6 + 10

    with page.expect_download() as archive:
        page.get_by_role("button", name="Download all output (zip)").click()
    assert archive.value.suggested_filename == "web-demo.zip"
    names = zipfile.ZipFile(io.BytesIO(Path(archive.value.path()).read_bytes())).namelist()
    assert sorted(names) == [
        "output/histogram.svg",
        "output/metrics.csv",
        "output/per_file.json",
        "output/report.txt",
        "output/summary.json",
    ]

    # A refused launch shows the server's reason.
    launch_demo(page, "web-demo")
    expect(page.get_by_role("alert")).to_contain_text("a job named 'web-demo' already exists")
    page.get_by_role("button", name="Dismiss").click()

    # Cancel a running job, then delete it.
    launch_demo(page, "slow-demo", DEMO_SLEEP="60")
    expect(page.get_by_role("heading", name="Job slow-demo")).to_be_visible()
    slow = page.locator("#jobs-table tbody tr", has_text="slow-demo")
    expect(slow.locator(".status")).to_have_text("running", timeout=FINISH_TIMEOUT_MS)
    expect(log).to_contain_text("working… 1/60")
    page.get_by_role("button", name="Cancel job").click()
    expect(slow.locator(".status")).to_have_text("canceled", timeout=FINISH_TIMEOUT_MS)

    # The finished job again, opened from the list: what the jobs screenshot shows.
    row.get_by_role("button", name="web-demo").click()
    expect(page.get_by_role("heading", name="Job web-demo")).to_be_visible()
    expect(log).to_contain_text("done: 3 file(s)")
    expect(download_button).to_be_visible()
    page.screenshot(path=shots / "jobs.png", full_page=True)

    slow.get_by_role("button", name="slow-demo").click()
    expect(page.get_by_role("heading", name="Job slow-demo")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete job").click()
    expect(slow).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("Deleted job slow-demo")

    # A server without status history and live logs (404): those panes give way.
    def not_found(route: Any) -> None:
        route.fulfill(status=404, json={"detail": "Not Found"})

    page.route(re.compile(r".*/jobs/\d+/(statuses|logs/stream)$"), not_found)
    row.get_by_role("button", name="web-demo").click()
    expect(page.get_by_role("heading", name="Job web-demo")).to_be_visible()
    expect(log).to_contain_text("done: 3 file(s)")  # from GET /jobs/{id}/logs instead
    expect(page.locator("#job-history-pane")).to_be_hidden()
    page.route(re.compile(r".*/jobs/\d+/logs$"), not_found)
    page.get_by_role("link", name="Jobs").click()
    row.get_by_role("button", name="web-demo").click()
    expect(page.locator("#job-log-pane")).to_be_hidden()
    expect(download_button).to_be_visible()
