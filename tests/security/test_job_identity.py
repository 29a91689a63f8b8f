"""Job identity: ids are never given twice, and a submission carries an identity of its own
(a UUID) that both APIs store, so that a job id known from an earlier life of a database
can never be mistaken for another job's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api_pair import UserSide, WorkerSide, user_side, worker_side

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def worker(kind: str, tmp_path: Path, root: Path) -> Iterator[WorkerSide]:
    with worker_side(kind, tmp_path, root) as side:
        yield side


@pytest.fixture
def user(kind: str, tmp_path: Path, root: Path, worker: WorkerSide) -> Iterator[UserSide]:
    with user_side(kind, tmp_path, root, worker) as side:
        yield side


def test_a_deleted_jobs_id_is_never_given_again(user: UserSide) -> None:
    alice = user.login()
    first = user.submit("first")
    second = user.submit("second")
    assert user.client.delete(f"/jobs/{second}", headers=alice).status_code == 204
    third = user.submit("third")
    assert third > second > first
    # and the new job shows nothing of the deleted one
    statuses = user.client.get(f"/jobs/{third}/statuses", headers=alice).json()
    assert [s["status"] for s in statuses] == ["queued"]
