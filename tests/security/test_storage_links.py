"""Links placed by hand in a user's folder reach nothing outside it, through the real
user API and worker API (FastAPI TestClient, both APIs on one storage root, SQLite
and PostgreSQL).

Each link kind (to another user's file or folder, out of the storage root,
dangling, loops) is tried with every operation: as the last component of the path
and in an intermediate one. Every try is a 403 that says a link leads out, and
neither bob's folder nor the folder outside the root changes.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.two_apis import TwoApis, two_apis

ALICE, BOB = "alice@example.org", "bob@example.org"
BOB_SECRET, OUTSIDE_SECRET = b"bob's secret", b"outside the storage root"
LINKS_IN = "data/set"  # where alice's links lie, next to her own file mine.txt


@dataclass
class Apis:
    both: TwoApis
    root: Path
    alice: dict[str, str]
    bob: dict[str, str]
    worker_auth: dict[str, str]

    @property
    def user(self) -> TestClient:
        return self.both.user

    @property
    def worker(self) -> TestClient:
        return self.both.worker

    def place_links(self) -> None:
        """A fresh storage: alice's and bob's files, a folder outside the root, links."""
        for child in self.root.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        outside = self.root.parent / "outside"
        shutil.rmtree(outside, ignore_errors=True)
        (outside / "dir").mkdir(parents=True)
        (outside / "secret.txt").write_bytes(OUTSIDE_SECRET)
        (outside / "dir/x.txt").write_bytes(OUTSIDE_SECRET)
        for user in (ALICE, BOB):
            assert self.user.get("/files/", headers=self.auth(user)).status_code == 200
        bob = self.root / BOB
        (bob / "data/sub").mkdir(parents=True)
        (bob / "data/secret.txt").write_bytes(BOB_SECRET)
        (bob / "data/sub/deep.txt").write_bytes(BOB_SECRET)
        (bob / "output/bobs-run").mkdir(parents=True)
        (bob / "output/bobs-run/result.txt").write_bytes(BOB_SECRET)
        links = self.root / ALICE / LINKS_IN
        links.mkdir(parents=True)
        (links / "mine.txt").write_bytes(b"alice's own")
        for name, target in LINK_TARGETS.items():
            os.symlink(target(self.root), links / name)

    def auth(self, user: str) -> dict[str, str]:
        return self.alice if user == ALICE else self.bob

    def snapshot(self) -> dict[str, bytes | None]:
        """What bob has and what lies outside the root, to compare after each try."""
        found: dict[str, bytes | None] = {}
        for top in (self.root / BOB, self.root.parent / "outside"):
            for path in sorted(top.rglob("*")):
                key = path.relative_to(self.root.parent).as_posix()
                found[key] = path.read_bytes() if path.is_file() else None
        return found


LINK_TARGETS: dict[str, Callable[[Path], str | Path]] = {
    "to_bob_file": lambda root: root / BOB / "data/secret.txt",
    "to_bob_dir": lambda root: f"../../../{BOB}/data",  # relative, from alice/data/set
    "to_outside_file": lambda root: root.parent / "outside/secret.txt",
    "to_outside_dir": lambda root: root.parent / "outside/dir",
    "dangling": lambda root: root.parent / "nothing-here",
    "loop_a": lambda root: "loop_b",
    "loop_b": lambda root: "loop_a",
    "self_loop": lambda root: "self_loop",
    "own_link": lambda root: "mine.txt",  # stays in alice's folder: allowed
}
REFUSED = [name for name in LINK_TARGETS if name != "own_link"]
FOLDER_LINKS = ["to_bob_dir", "to_outside_dir", "loop_a"]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def apis(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Apis]:
    tmp = tmp_path_factory.mktemp("links")
    with two_apis(request.param, tmp, user_data_root_path=str(tmp / "files")) as both:
        yield Apis(
            both,
            tmp / "files",
            both.login(ALICE),
            both.login(BOB),
            both.login("ws-1", ("workers",)),
        )


@pytest.fixture
def links(apis: Apis) -> Iterator[Apis]:
    apis.place_links()
    before = apis.snapshot()
    yield apis
    assert apis.snapshot() == before, "bob's files or the files outside the root changed"


def refused(response: httpx.Response) -> None:
    assert response.status_code == 403, (
        response.request.method,
        response.request.url,
        response.text,
    )
    detail = response.json()["detail"]
    assert "link" in detail and ("outside" in detail or "loop" in detail), detail
    assert BOB_SECRET not in response.content and OUTSIDE_SECRET not in response.content


def upload(client: TestClient, url: str, name: str, headers: dict[str, str]) -> httpx.Response:
    return client.post(url, headers=headers, files={"file": (name, io.BytesIO(b"planted"))})


def job_body(name: str, data_ids: list[str]) -> dict[str, Any]:
    return {
        "job_name": name,
        "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
        "attributes": {"files_down": {"data_ids": data_ids}, "env_vars": {}},
    }


# -- the user API --------------------------------------------------------------------

USER_CALLS: dict[str, Callable[[TestClient, str, dict[str, str]], httpx.Response]] = {
    "list": lambda c, p, h: c.get(f"/files/{p}", headers=h),
    "list-recursive": lambda c, p, h: c.get(f"/files/{p}", params={"recursive": True}, headers=h),
    "stat": lambda c, p, h: c.get(f"/files/{p}", params={"exact_sizes": True}, headers=h),
    "checksum": lambda c, p, h: c.get(f"/files/{p}", params={"checksums": True}, headers=h),
    "download": lambda c, p, h: c.get(f"/files/{p}/download", headers=h),
    "download-url": lambda c, p, h: c.get(f"/files/{p}/url", headers=h),
    "upload-into": lambda c, p, h: upload(c, f"/files/{p}/upload", "new.txt", h),
    "upload-url": lambda c, p, h: c.post(f"/files/{p}/url", headers=h),
    "upload-onto": lambda c, p, h: upload(
        c, f"/files/{p.rpartition('/')[0]}/upload", p.rpartition("/")[2], h
    ),
    "mkdir": lambda c, p, h: c.post(f"/files/{p}/new/", headers=h),
    "rename-it": lambda c, p, h: c.put(f"/files/{p}", json={"path": "data/renamed"}, headers=h),
    "rename-into-it": lambda c, p, h: c.put(
        f"/files/{LINKS_IN}/mine.txt", json={"path": f"{p}/mine.txt"}, headers=h
    ),
    "delete-below-it": lambda c, p, h: c.delete(f"/files/{p}/secret.txt", headers=h),
    "job-input": lambda c, p, h: c.post(
        "/jobs", json=job_body(f"j-{uuid.uuid4().hex[:8]}", [p.removeprefix("data/")]), headers=h
    ),
}


@pytest.mark.parametrize("call", USER_CALLS)
@pytest.mark.parametrize("link", REFUSED)
def test_the_user_api_refuses_every_operation_on_a_link_that_leads_out(
    links: Apis, link: str, call: str
) -> None:
    refused(USER_CALLS[call](links.user, f"{LINKS_IN}/{link}", links.alice))


THROUGH = {
    name: call
    for name, call in USER_CALLS.items()
    if name not in ("rename-into-it", "delete-below-it")
} | {"delete": lambda c, p, h: c.delete(f"/files/{p}", headers=h)}


@pytest.mark.parametrize("call", THROUGH)
@pytest.mark.parametrize(
    "path", ["to_bob_dir/secret.txt", "to_bob_dir/sub/deep.txt", "to_outside_dir/x.txt", "loop_a/x"]
)
def test_the_user_api_refuses_a_link_in_an_intermediate_component(
    links: Apis, path: str, call: str
) -> None:
    refused(THROUGH[call](links.user, f"{LINKS_IN}/{path}", links.alice))


def test_listings_show_nothing_behind_a_link_that_leads_out(links: Apis) -> None:
    own = [
        {"path": "data/set/mine.txt", "type": "file", "size": "11 Bytes"},
        {"path": "data/set/own_link", "type": "file", "size": "11 Bytes"},
    ]
    assert links.user.get(f"/files/{LINKS_IN}/", headers=links.alice).json() == own
    exact = links.user.get(f"/files/{LINKS_IN}/", params={"exact_sizes": True}, headers=links.alice)
    assert [(f["path"], f["bytes"]) for f in exact.json()] == [
        ("data/set/mine.txt", 11),
        ("data/set/own_link", 11),
    ]
    everything = links.user.get("/files/", params={"recursive": True}, headers=links.alice).json()
    assert [f["path"] for f in everything if f["path"].startswith("data/")] == [
        "data/",
        "data/set/",
        "data/set/mine.txt",
        "data/set/own_link",
    ]


def test_a_folder_download_skips_links_and_is_never_cut_short(links: Apis) -> None:
    response = links.user.get(f"/files/{LINKS_IN}/download", headers=links.alice)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["mine.txt", "own_link"]
    assert archive.read("own_link") == b"alice's own"
    whole = links.user.get("/files/data/download", headers=links.alice)
    assert whole.status_code == 200
    assert sorted(zipfile.ZipFile(io.BytesIO(whole.content)).namelist()) == [
        "set/mine.txt",
        "set/own_link",
    ]


def test_a_folder_input_never_expands_through_a_link(links: Apis) -> None:
    _, payload = links.both.submit(links.alice, job_body("folder-in", ["set"]))
    assert payload["job"]["handler"]["files_down"] == {
        "data/mine.txt": f"local://{ALICE}/data/set/mine.txt",
        "data/own_link": f"local://{ALICE}/data/set/own_link",
    }


@pytest.mark.parametrize("link", REFUSED + ["own_link"])
def test_deleting_a_link_removes_the_link_never_its_target(links: Apis, link: str) -> None:
    response = links.user.delete(f"/files/{LINKS_IN}/{link}", headers=links.alice)
    assert response.status_code == 204, response.text
    assert not os.path.lexists(links.root / ALICE / LINKS_IN / link)
    assert (links.root / ALICE / LINKS_IN / "mine.txt").read_bytes() == b"alice's own"


# -- the worker API --------------------------------------------------------------------


def submit(links: Apis, data_ids: list[str]) -> tuple[int, str, dict[str, Any]]:
    """Submit alice's job through the user API: (job id, job name, its message)."""
    name = f"run-{uuid.uuid4().hex[:8]}"
    job_id, payload = links.both.submit(links.alice, job_body(name, data_ids))
    return job_id, name, payload


def hold(links: Apis, job_id: int, payload: dict[str, Any]) -> None:
    links.both.hold(links.worker_auth, job_id, payload)


def submit_and_hold(links: Apis, data_ids: list[str]) -> tuple[int, str]:
    job_id, name, payload = submit(links, data_ids)
    hold(links, job_id, payload)
    return job_id, name


def replace_with_link(path: Path, link: str, root: Path) -> None:
    """Put a link of kind `link` where `path` is (a file or a folder), as a user could
    once the job was submitted."""
    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    if link in ("loop_a", "loop_b"):
        twin = path.with_name(path.name + ".twin")
        os.symlink(twin.name, path)
        os.symlink(path.name, twin)
    elif link == "self_loop":
        os.symlink(path.name, path)
    elif link == "to_bob_dir":
        os.symlink(root / BOB / "data", path)
    else:
        os.symlink(LINK_TARGETS[link](root), path)


@pytest.mark.parametrize("link", REFUSED)
@pytest.mark.parametrize("action", ["url", "download"])
def test_the_worker_api_refuses_an_input_that_became_a_link(
    links: Apis, link: str, action: str
) -> None:
    submit_and_hold(links, ["set/mine.txt"])
    replace_with_link(links.root / ALICE / LINKS_IN / "mine.txt", link, links.root)
    uri = quote(f"local://{ALICE}/{LINKS_IN}/mine.txt", safe="")
    refused(links.worker.get(f"/files/{uri}/{action}", headers=links.worker_auth))


@pytest.mark.parametrize("link", FOLDER_LINKS)
def test_the_worker_api_refuses_an_input_below_a_folder_that_became_a_link(
    links: Apis, link: str
) -> None:
    submit_and_hold(links, ["set/"])
    replace_with_link(links.root / ALICE / LINKS_IN, link, links.root)
    uri = quote(f"local://{ALICE}/{LINKS_IN}/mine.txt", safe="")
    refused(links.worker.get(f"/files/{uri}/download", headers=links.worker_auth))


def test_the_worker_api_refuses_an_input_in_another_users_folder(links: Apis) -> None:
    # a message the user API never builds: the worker API holds the line by itself
    job_id, _, payload = submit(links, ["set/mine.txt"])
    bobs = f"local://{BOB}/data/secret.txt"
    payload["job"]["handler"]["files_down"] = {"data/mine.txt": bobs}
    hold(links, job_id, payload)
    for action in ("url", "download"):
        response = links.worker.get(
            f"/files/{quote(bobs, safe='')}/{action}", headers=links.worker_auth
        )
        assert response.status_code == 403, response.text
        assert BOB_SECRET not in response.content
        assert f"outside '{ALICE}'" in response.json()["detail"]


UPLOAD_CALLS: dict[str, Callable[[TestClient, int, str, dict[str, str]], httpx.Response]] = {
    "upload": lambda c, j, base, h: c.post(
        f"/jobs/{j}/files/upload",
        params={"type": "output", "base_path": base},
        files={"file": ("result.txt", io.BytesIO(b"planted"))},
        headers=h,
    ),
    "upload-url": lambda c, j, base, h: c.post(
        f"/jobs/{j}/files/url", params={"type": "output", "base_path": base}, headers=h
    ),
}


@pytest.mark.parametrize("call", UPLOAD_CALLS)
@pytest.mark.parametrize("link", [*FOLDER_LINKS, "to_bob_file", "dangling", "self_loop"])
@pytest.mark.parametrize("where", ["job-folder", "below-it", "output-itself"])
def test_the_worker_api_refuses_an_upload_through_a_link(
    links: Apis, link: str, where: str, call: str
) -> None:
    job_id, name = submit_and_hold(links, [])
    alice = links.root / ALICE
    (alice / "output" / name / "sub").mkdir(parents=True)
    base = ""
    if where == "job-folder":
        replace_with_link(alice / "output" / name, link, links.root)
    elif where == "below-it":
        replace_with_link(alice / "output" / name / "sub", link, links.root)
        base = "sub"
    else:
        replace_with_link(alice / "output", link, links.root)
    refused(UPLOAD_CALLS[call](links.worker, job_id, base, links.worker_auth))


def test_the_worker_api_still_serves_a_job_without_links(links: Apis) -> None:
    """The control: the same calls succeed when nothing is linked."""
    job_id, name = submit_and_hold(links, ["set/mine.txt"])
    uri = quote(f"local://{ALICE}/{LINKS_IN}/mine.txt", safe="")
    assert links.worker.get(f"/files/{uri}/download", headers=links.worker_auth).content == (
        b"alice's own"
    )
    reply = UPLOAD_CALLS["upload"](links.worker, job_id, "sub", links.worker_auth)
    assert reply.status_code == 201, reply.text
    assert (links.root / ALICE / "output" / name / "sub/result.txt").read_bytes() == b"planted"


@pytest.mark.parametrize("link", REFUSED)
@pytest.mark.parametrize("where", ["job-folder", "output-itself"])
def test_deleting_a_job_never_deletes_through_a_link(links: Apis, link: str, where: str) -> None:
    job_id, name, _ = submit(links, [])
    alice = links.root / ALICE
    (alice / "log" / name).mkdir(parents=True)
    (alice / "log" / name / "job.log").write_text("the job's own")
    if where == "job-folder":
        (alice / "output" / name).mkdir(parents=True)
        replace_with_link(alice / "output" / name, link, links.root)
    else:
        replace_with_link(alice / "output", link, links.root)
    assert links.user.delete(f"/jobs/{job_id}", headers=links.alice).status_code == 204
    assert links.user.get(f"/jobs/{job_id}", headers=links.alice).status_code == 404
    assert not (alice / "log" / name).exists()  # what the job wrote is gone
    if where == "job-folder":
        assert not os.path.lexists(alice / "output" / name)  # the link, not its target


@pytest.mark.parametrize("link", REFUSED)
def test_a_predefined_folder_that_is_a_link_does_not_break_the_root_listing(
    links: Apis, link: str
) -> None:
    replace_with_link(links.root / ALICE / "data", link, links.root)
    listing = links.user.get("/files/", params={"recursive": True}, headers=links.alice)
    assert listing.status_code == 200, listing.text
    assert [f["path"] for f in listing.json()] == ["artifact/", "config/", "log/", "output/"]
    refused(upload(links.user, "/files/data/upload", "x.txt", links.alice))
