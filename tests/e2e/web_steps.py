"""The web page's end-to-end tests: a platform (both APIs on loopback) whose catalogue
is the shipped one, the demo application run from this tree, and the page's usual
steps (log in, launch the demo).

The shipped catalogue runs `python -m labcloud.demo_app`, which imports whatever
labcloud is installed; the tests run this tree's demo instead, so they check the
code under test even when the installed package is another checkout.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import PASSWORD, Platform, platform
from tests.support.processes import REPO

USER = "ada@example.org"
FINISH_TIMEOUT_MS = 90_000
SHIPPED_DEMO_CMD = '"python -m labcloud.demo_app"'


def tree_catalogue(folder: Path) -> Path:
    """The shipped catalogue, its demo application run from this tree's file."""
    text = (REPO / "application_config.yaml").read_text()
    assert SHIPPED_DEMO_CMD in text, "the demo's command changed: update this helper"
    catalogue = folder / "application_config.yaml"
    catalogue.write_text(text.replace(SHIPPED_DEMO_CMD, f'"python {REPO}/labcloud/demo_app.py"'))
    return catalogue


@contextlib.contextmanager
def web_platform(tmp: Path) -> Iterator[Platform]:
    """Both APIs on SQLite, serving the tree's catalogue (start workers as needed)."""
    with platform(
        tmp,
        f"sqlite:///{tmp / 'user.db'}",
        f"sqlite:///{tmp / 'worker.db'}",
        app_config=tree_catalogue(tmp),
        LEASE_TIMEOUT="5",
        SWEEPER_PERIOD="1",
    ) as p:
        yield p


def screenshots_folder(tmp_path: Path) -> Path:
    """$LABCLOUD_UI_SCREENSHOTS when set (scripts/ui-screenshots: docs/screenshots/), else
    the test's own folder."""
    folder = Path(os.environ.get("LABCLOUD_UI_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(page: Any, p: Platform, shots: Path | None = None) -> None:
    from playwright.sync_api import expect

    httpx.post(f"{p.user_url}/user", data={"username": USER, "password": PASSWORD})
    page.goto(f"{p.user_url}/ui")
    expect(page.get_by_role("heading", name="Log in to labcloud")).to_be_visible()
    page.get_by_label("Email or user name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    if shots:
        page.screenshot(path=shots / "login.png")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Logged in as {USER}")).to_be_visible()
    expect(page.get_by_role("heading", name="Files")).to_be_visible()


def open_launch(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="Launch").click()
    expect(page.get_by_role("heading", name="Launch an application")).to_be_visible()
    expect(page.get_by_label("Entrypoint")).not_to_have_value("")


def launch_demo(page: Any, name: str, shots: Path | None = None, **env: str) -> None:
    """Launch the demo from the form with the inputs upload_inputs made."""
    open_launch(page)
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


def job_row(page: Any, name: str) -> Any:
    """The job list's row of the job `name`."""
    button = page.get_by_role("button", name=name, exact=True)
    return page.locator("#jobs-table tbody tr", has=button)
