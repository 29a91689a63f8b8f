"""The /ui router: the page's files as they are, nothing outside its folder."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from userfacing_api.ui.router import STATIC, router


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


def test_ui_redirects_to_the_page_so_relative_links_work(client: TestClient) -> None:
    response = client.get("/ui", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "ui/"
    page = client.get("/ui")
    assert page.status_code == 200 and page.url.path == "/ui/"
    assert "<title>labcloud</title>" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_modules_and_styles_have_their_types(client: TestClient) -> None:
    assert client.get("/ui/js/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/style.css").headers["content-type"].startswith("text/css")


def test_every_file_the_page_names_is_served(client: TestClient) -> None:
    names = set(
        re.findall(r'(?:src|href)="([\w/.-]+\.(?:js|css))"', (STATIC / "index.html").read_text())
    )
    for module in (STATIC / "js").glob("*.js"):
        names |= {f"js/{m}" for m in re.findall(r'from "\./([\w.-]+\.js)"', module.read_text())}
    assert "js/app.js" in names and "js/jobs.js" in names
    for name in names:
        assert client.get(f"/ui/{name}").status_code == 200, name


@pytest.mark.parametrize(
    "path", ["/ui/missing.js", "/ui/../router.py", "/ui/%2e%2e/router.py", "/ui/js"]
)
def test_nothing_else_is_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404
