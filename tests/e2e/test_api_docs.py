"""`/docs` and `/redoc` of both APIs in Debian's Chromium with every request that does
not go to the API itself refused: the pages must load their scripts and styles from
labcloud (a lab's machines are often offline) and show the API's operations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Platform
from tests.support.browser import checked_page, launched_chromium

pytestmark = pytest.mark.browser

REDOC_BADGE = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launched_chromium() as browser:
        yield browser


def refuse_all_but(page: Any, origin: str, refused: list[str]) -> None:
    """Every request of the page that does not go to `origin` fails as offline."""

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(origin + "/"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    page.context.route("**/*", only_the_server)


def test_docs_pages_work_offline(chromium: Any, sqlite_platform: Platform, tmp_path: Path) -> None:
    """Both APIs in one test: one platform to start."""
    p = sqlite_platform
    for api, origin, operation in (
        ("user", p.user_url, "/jobs/applications"),
        ("worker", p.worker_url, "/jobs/{job_id}/status"),
    ):
        check_docs(chromium, api, origin, operation, tmp_path)
    base = f"{p.user_url}/docs-assets"
    script = httpx.get(f"{base}/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    missing = httpx.get(f"{base}/LICENSE")  # a file of the package, not of the pages
    assert missing.status_code == 404 and "no docs asset" in missing.json()["detail"]


def check_docs(chromium: Any, api: str, origin: str, operation: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    refused: list[str] = []
    with checked_page(chromium) as page:
        refuse_all_but(page, origin, refused)
        page.goto(origin + "/docs")
        # Swagger UI: one block per operation, named by its path
        expect(page.locator(".opblock-summary-path", has_text=operation).first).to_be_visible()
        page.screenshot(path=tmp_path / f"docs-{api}.png")
    with checked_page(chromium) as page:
        refuse_all_but(page, origin, refused)
        page.goto(origin + "/redoc")
        # ReDoc: each operation's section shows its method and path
        expect(page.get_by_text(operation, exact=True).first).to_be_visible()
        page.screenshot(path=tmp_path / f"redoc-{api}.png")
    # ReDoc's "API docs by Redocly" badge is an image from its CDN that hides itself
    # when it cannot load; nothing else may be asked of another host.
    others = [url for url in refused if url != REDOC_BADGE]
    assert others == [], f"the docs pages tried to leave the server: {others}"
