"""The web page's job list and job details over the real stack, in Debian's Chromium:
search and filters, why a job waits (`waiting_reason`), why it failed (`failure`), a
launch's `warnings`, and the live log's pane before and at the job's first output
(the worker's heartbeat as in `labcloud up`: 5 s, which ships the log).

`waiting_reason`, `failure` and `warnings` come from the API (issue 14 items 3-4): the
page shows them when the API gives them, and these tests check either way, from
what the API answered.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Platform, submit, wait_for
from tests.e2e.web_steps import (
    USER,
    job_row,
    log_in,
    open_launch,
    screenshots_folder,
    web_platform,
)
from tests.support.browser import checked_page, launched_chromium

pytestmark = pytest.mark.browser

EMBEDDED_HEARTBEAT_S = "5"  # labcloud up's worker (labcloud/embedded.py)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Platform]:
    with web_platform(tmp_path) as p:
        yield p


def names_listed(page: Any) -> list[str]:
    return page.locator("#jobs-table tbody tr th button").all_inner_texts()


def expect_listed(page: Any, names: list[str]) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#jobs-table tbody tr th button")).to_have_text(names)


def test_job_list_search_filters_and_why(chromium: Any, web: Platform, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    p = web
    http = p.user_client(USER)
    p.start_worker("worker-1", heartbeat_interval=EMBEDDED_HEARTBEAT_S)
    done = submit(http, "alpha-1")
    failed = submit(http, "beta-fails", env_vars={"DEMO_FAIL": "1"})
    wait_for(http, done["id"], {"finished"})
    failed = wait_for(http, failed["id"], {"error"})
    shots = screenshots_folder(tmp_path)

    with checked_page(chromium) as page:
        log_in(page, p)
        # A job no worker here can run (comet needs a GPU container), from the form.
        open_launch(page)
        page.get_by_label("Application", exact=True).select_option("comet")
        page.get_by_label("Job name").fill("comet-waits")
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith("/jobs")
        ) as answer:
            page.get_by_role("button", name="Launch job").click()
        launched = answer.value.json()
        expect(page.get_by_role("heading", name="Job comet-waits")).to_be_visible()
        warning = page.locator("#warning")
        if launched.get("warnings"):  # the API says why it may not run soon
            for text in launched["warnings"]:
                expect(warning).to_contain_text(text)
        else:
            expect(warning).to_be_hidden()

        # The log pane of a job that has printed nothing yet says so (not a black box),
        # and shows the output as soon as the API has it (the stream's first event).
        slow = submit(http, "gamma-slow", env_vars={"DEMO_SLEEP": "60"})
        page.goto(f"{p.user_url}/ui/#jobs/{slow['id']}")
        state = page.locator("#job-log-state")
        expect(state).to_have_text(re.compile(r"^\(live"))
        shown = page.evaluate(
            "() => [document.querySelector('#job-log').textContent,"
            " document.querySelector('#job-log-state').textContent]"
        )
        if not shown[0]:
            assert shown[1] == "(live, waiting for the job's first output)", shown
        expect(page.locator("#job-log")).to_contain_text("demo analysis starting", timeout=30_000)
        expect(state).to_have_text("(live)")

        # Search by name and filter by status and by application.
        page.get_by_role("link", name="Jobs").click()
        expect_listed(page, ["gamma-slow", "comet-waits", "beta-fails", "alpha-1"])
        page.get_by_label("Search by name").fill("ALP")
        expect_listed(page, ["alpha-1"])
        expect(page.locator("#jobs-count")).to_have_text("1 of 4 jobs match.")
        page.get_by_label("Search by name").fill("")
        page.get_by_label("Filter by status").select_option("error")
        expect_listed(page, ["beta-fails"])
        page.get_by_label("Filter by status").select_option("active")
        expect_listed(page, ["gamma-slow", "comet-waits"])
        page.get_by_label("Filter by application").select_option("comet")
        expect_listed(page, ["comet-waits"])
        page.get_by_label("Search by name").fill("nothing-like-it")
        expect(page.locator("#jobs-none-match")).to_be_visible()
        expect(page.locator("#jobs-table")).to_be_hidden()
        page.get_by_label("Search by name").fill("")
        page.get_by_label("Filter by status").select_option("")
        page.get_by_label("Filter by application").select_option("")
        expect_listed(page, ["gamma-slow", "comet-waits", "beta-fails", "alpha-1"])

        # Why the comet job waits, when the API says.
        queued = http.get(f"/jobs/{launched['id']}").json()
        comet_row = job_row(page, "comet-waits")
        expect(comet_row.locator("span.status")).to_have_text("queued")
        if queued.get("waiting_reason"):
            expect(comet_row.locator(".waiting")).to_have_text(queued["waiting_reason"])
            comet_row.get_by_role("button", name="comet-waits").click()
            expect(page.locator("#job-waiting")).to_have_text(queued["waiting_reason"])
        else:
            expect(comet_row.locator(".waiting")).to_have_count(0)

        # Why beta failed: once, readably, when the API says; its log either way.
        job_row(page, "beta-fails").get_by_role("button", name="beta-fails").click()
        expect(page.get_by_role("heading", name="Job beta-fails")).to_be_visible()
        expect(page.locator("#job-log")).to_contain_text("failing on purpose")
        failure = page.locator("#job-failure")
        if failed.get("failure"):
            expect(failure).to_be_visible()
            expect(failure).to_contain_text(failed["failure"]["message"])
            if failed["failure"].get("exit_code") is not None:
                expect(failure).to_contain_text(f"exit code {failed['failure']['exit_code']}")
            expect(page.locator("#job-facts dt", has_text="Details")).to_have_count(0)
        else:
            expect(failure).to_be_hidden()
        page.screenshot(path=shots / "jobs-failed.png", full_page=True)

        page.get_by_label("Filter by status").select_option("active")
        page.screenshot(path=shots / "jobs-filtered.png")
        httpx.post(f"{p.user_url}/jobs/{slow['id']}/cancel", headers=http.headers)
