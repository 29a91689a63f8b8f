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
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Platform
from tests.e2e.web_steps import (
    FINISH_TIMEOUT_MS,
    job_row,
    launch_demo,
    log_in,
    open_launch,
    screenshots_folder,
    web_platform,
)
from tests.support.browser import checked_page, launched_chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Platform]:
    with web_platform(tmp_path) as p:
        yield p


@pytest.fixture
def page(chromium: Any, web: Platform) -> Iterator[Any]:
    """A fresh browser page; uncaught page errors fail the test."""
    with checked_page(chromium) as page:
        yield page


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return screenshots_folder(tmp_path)


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


def test_log_in_upload_launch_follow_and_download(
    page: Any, web: Platform, tmp_path: Path, shots: Path
) -> None:
    from playwright.sync_api import expect

    p = web
    p.start_worker("worker-1")
    log_in(page, p, shots)
    upload_inputs(page, tmp_path, shots)
    check_launch_form_defaults_and_descriptions(page)

    launch_demo(page, "web-demo", shots, DEMO_GREETING="hello from the browser", DEMO_SLEEP="2")
    expect(page).to_have_url(re.compile(r"#jobs/\d+$"))
    expect(page.get_by_role("heading", name="Job web-demo")).to_be_visible()
    row = job_row(page, "web-demo")
    expect(row.locator(".status")).to_have_text("finished", timeout=FINISH_TIMEOUT_MS)
    # start to end, e.g. "2.3 s"; and the same in the job's facts
    expect(row.locator("td.duration")).to_have_text(re.compile(r"^\d+(\.\d)? s$"))
    expect(page.locator("#job-duration")).to_have_text(row.locator("td.duration").inner_text())
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

    check_results_in_the_page(page, shots)

    # The next launch starts from a fresh form: not the last job's variables and name.
    open_launch(page)
    expect(page.get_by_label("DEMO_GREETING")).to_have_value("")
    expect(page.get_by_label("DEMO_SLEEP")).to_have_value("")
    expect(page.get_by_role("checkbox", name="counts.csv", exact=True)).not_to_be_checked()
    expect(page.get_by_label("Job name")).not_to_have_value("web-demo")

    # A refused launch shows the server's reason until dismissed, or until the next
    # action: a stale "not launched" never stays beside the next success.
    alert = page.get_by_role("alert")
    launch_demo(page, "web-demo")
    expect(alert).to_contain_text("a job named 'web-demo' already exists")
    page.get_by_role("button", name="Dismiss").click()
    expect(alert).to_be_hidden()
    launch_demo(page, "web-demo")
    expect(alert).to_contain_text("The job was not launched")

    # Cancel a running job, then delete it.
    launch_demo(page, "slow-demo", DEMO_SLEEP="60")
    expect(page.get_by_role("heading", name="Job slow-demo")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Job slow-demo launched")
    expect(alert).to_be_hidden()
    slow = job_row(page, "slow-demo")
    expect(slow.locator(".status")).to_have_text("running", timeout=FINISH_TIMEOUT_MS)
    expect(log).to_contain_text("working… 1/60")
    # a running job's duration counts up in the list
    counting = slow.locator("td.duration")
    expect(counting).to_have_text(re.compile(r"^\d+(\.\d)? s$"))
    expect(counting).not_to_have_text(counting.inner_text())
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


def check_launch_form_defaults_and_descriptions(page: Any) -> None:
    """The form opens on an entrypoint that can run here (the demo's process one, not a
    GPU container), with the catalogue's descriptions of it and of its variables."""
    from playwright.sync_api import expect

    open_launch(page)
    expect(page.get_by_label("Application", exact=True)).to_have_value("demo")
    expect(page.get_by_label("Version")).to_have_value("v1")
    expect(page.get_by_label("Entrypoint")).to_have_value("run")
    about = page.locator("#launch-about")
    expect(about).to_contain_text("A small analysis that needs nothing but Python")
    expect(about).to_contain_text("metrics.csv (plotted in the page)")
    sleep = page.get_by_label("DEMO_SLEEP")
    expect(sleep).to_have_accessible_description(re.compile("Seconds to work before finishing"))
    expect(sleep).to_have_attribute("placeholder", "0")
    page.get_by_label("Application", exact=True).select_option("decode")
    expect(about).to_contain_text("DECODE: deep-learning localisation")
    expect(about).to_contain_text("DECODE's development image.")  # latest: first by name
    expect(page.locator("#launch-env-fields")).to_contain_text("takes no environment variables")


def check_results_in_the_page(page: Any, shots: Path) -> None:
    """The finished demo's results: its metrics plotted, and its files shown in the
    viewer (JSON pretty-printed, CSV as a table, the SVG as an image, text)."""
    from playwright.sync_api import expect

    metrics = page.locator("#job-metrics")
    expect(metrics.locator("svg.plot polyline")).to_have_count(2)
    assert metrics.locator("svg.plot polyline").evaluate_all(
        "lines => lines.map(l => l.dataset.series)"
    ) == ["value", "running_mean"]
    expect(metrics.get_by_role("img")).to_have_attribute(
        "aria-label", "Metrics: value, running_mean against index"
    )

    viewer = page.locator("#viewer")
    page.get_by_role("button", name="View output/summary.json (output)").click()
    expect(viewer.get_by_role("heading", name="summary.json")).to_be_visible()
    expect(viewer.locator("pre.json")).to_contain_text('\n  "files": 3,\n')
    page.get_by_role("button", name="Close").click()
    expect(viewer).to_be_hidden()

    page.get_by_role("button", name="View output/metrics.csv (output)").click()
    table = viewer.locator("table.data-table")
    expect(table.locator("thead th")).to_have_text(["index", "value", "running_mean"])
    expect(table.locator("tbody tr")).to_have_count(7)  # the seven numbers of the inputs
    expect(table.locator("tbody tr").first.locator("td")).to_have_text(["1", "1", "1"])
    expect(viewer.locator("svg.plot polyline")).to_have_count(2)
    page.screenshot(path=shots / "viewer-csv.png")
    page.keyboard.press("Escape")  # a dialog closes with Escape too
    expect(viewer).to_be_hidden()

    page.get_by_role("button", name="View output/histogram.svg (output)").click()
    image = viewer.get_by_role("img", name="histogram.svg")
    expect(image).to_have_attribute("src", re.compile("^blob:"))
    page.wait_for_function(
        "() => document.querySelector('#viewer img.viewer-image')?.naturalWidth > 0"
    )
    # an SVG file is an image, never put into the page
    assert viewer.locator("#viewer-body svg").count() == 0
    page.get_by_role("button", name="Close").click()

    page.get_by_role("button", name="View log/demo.log (log)").click()
    expect(viewer.locator("pre.viewer-text")).to_contain_text("done: 3 file(s)")
    page.get_by_role("button", name="Close").click()
    page.screenshot(path=shots / "jobs.png", full_page=True)
