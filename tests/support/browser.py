"""Debian's Chromium driven by Playwright, for the web page's end-to-end test.

Playwright's own browser download does not work here, so the test launches the
`chromium` that ``scripts/setup-browser`` installs (through ``executable_path``).
When Playwright or Chromium is missing the test is skipped, or fails when
``LABCLOUD_REQUIRE_BROWSER=1`` (CI sets it, so a broken setup can never pass
silently as "skipped").
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRE_ENV = "LABCLOUD_REQUIRE_BROWSER"
#: Overrides where Chromium is (default: `chromium` or `chromium-browser` on PATH).
CHROMIUM_ENV = "LABCLOUD_CHROMIUM"
#: Flags for a headless Chromium in a container, without calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def browser_required() -> bool:
    """True when the environment demands the browser tests (CI)."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes")


def chromium_path() -> str | None:
    """The Chromium binary to drive, or None when there is none."""
    if configured := os.environ.get(CHROMIUM_ENV):
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_or_skip() -> str:
    """The Chromium binary, once Playwright is importable too; else skip (or fail when
    LABCLOUD_REQUIRE_BROWSER=1)."""
    binary = chromium_path()
    if importlib.util.find_spec("playwright") is None:
        problem = "the playwright package is not installed (pip install -e '.[test]')"
    elif binary is None:
        problem = "chromium is not installed (scripts/setup-browser installs it)"
    else:
        return binary
    if browser_required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {problem}", pytrace=False)
    pytest.skip(f"{problem}; set {REQUIRE_ENV}=1 to make this fail")


@contextlib.contextmanager
def launched_chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright, headless (skips or fails as chromium_or_skip)."""
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


@contextlib.contextmanager
def checked_page(browser: Any, **context_options: Any) -> Iterator[Any]:
    """A fresh page on a laptop-sized screen; an uncaught page error or a console error
    fails the test when the page closes."""
    options = {"viewport": {"width": 1280, "height": 800}, "accept_downloads": True}
    context = browser.new_context(**{**options, **context_options})
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
