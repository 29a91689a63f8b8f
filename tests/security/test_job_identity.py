"""Job identity: ids are never given twice, and a submission carries an identity of its own
(a UUID) that both APIs store, so that a job id known from an earlier life of a database
can never be mistaken for another job's: a colliding submission is refused loudly and
ends the new job in `error` saying why, and no report about the earlier job can write
into the new one. Deleting a job leaves nothing of it behind.

Both APIs run in the test process (tests/support/api_pair.py) on SQLite and PostgreSQL;
the broker case uses RabbitMQ on 127.0.0.1:5672."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu
import pytest
import sqlalchemy as sa

from shared.transport.kombu import DEAD_REASON_HEADER, KombuTransport
from tests.integration.workerfacing_api.conftest import job_payload
from tests.support.api_pair import KEY, UserSide, WorkerSide, user_side, worker_side
from userfacing_api.db.models import Job, JobLog, Notification, OutboxMessage, StatusEvent
from userfacing_api.pollers import reconciler
from userfacing_api.pollers.notifier import notify_once
from workerfacing_api.db.models import Attempt, QueuedJob, StatusOutbox

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
BIG = {"memory": 1_000_000, "cpu_cores": 256, "runners": ["process", "docker"]}
COLLISION = "job id collision"


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


def submission(user: UserSide, job_id: int) -> str:
    """The submission id the user API gave job `job_id`."""
    with user.ctx.sessions() as session:
        value = session.get(Job, job_id).submission_id
    assert value is not None
    return str(value)


def queued(worker: WorkerSide, job_id: int) -> QueuedJob:
    with worker.ctx.sessions() as session:
        job = session.scalars(sa.select(QueuedJob).where(QueuedJob.job_id == job_id)).one()
        session.expunge(job)
        return job


def pull(worker: WorkerSide, headers: dict[str, str]) -> list[int]:
    response = worker.client.get("/jobs", params=BIG, headers=headers)
    assert response.status_code == 200, response.text
    return [int(job_id) for job_id in response.json()]


def statuses(user: UserSide, job_id: int) -> list[str]:
    response = user.client.get(f"/jobs/{job_id}/statuses", headers=user.login())
    assert response.status_code == 200, response.text
    return [change["status"] for change in response.json()]


def conflicts(worker: WorkerSide) -> float:
    value = worker.ctx.metrics.registry.get_sample_value("labcloud_submission_conflicts_total")
    return float(value or 0)


def test_a_deleted_jobs_id_is_never_given_again(user: UserSide) -> None:
    alice = user.login()
    first = user.submit("first")
    second = user.submit("second")
    assert user.client.delete(f"/jobs/{second}", headers=alice).status_code == 204
    third = user.submit("third")
    assert third > second > first
    assert statuses(user, third) == ["queued"]  # nothing of the deleted job shows


def test_the_worker_apis_ids_are_never_given_again(user: UserSide, worker: WorkerSide) -> None:
    """Queue ids, attempt ids and outbox ids, even after their latest rows were removed."""
    first = user.submit("first")
    user.relay()
    assert pull(worker, worker.headers("w")) == [first]

    def newest() -> tuple[int, int, int]:
        with worker.ctx.sessions() as session:
            return tuple(  # type: ignore[return-value]
                session.scalar(sa.select(sa.func.max(model.id)))
                for model in (QueuedJob, Attempt, StatusOutbox)
            )

    before = newest()
    with worker.ctx.engine.begin() as conn:  # an operator's clean-up of ended jobs
        conn.execute(sa.delete(Attempt))
        conn.execute(sa.delete(QueuedJob))
        conn.execute(sa.delete(StatusOutbox))
    user.submit("second")
    user.relay()
    assert len(pull(worker, worker.headers("w"))) == 1
    after = newest()
    assert all(new > old for new, old in zip(after, before, strict=True)), (before, after)


def test_each_submission_has_an_identity_that_both_apis_keep(
    user: UserSide, worker: WorkerSide
) -> None:
    jobs = [user.submit("a"), user.submit("b")]
    ids = [submission(user, job_id) for job_id in jobs]
    assert len(set(ids)) == 2 and all(uuid.UUID(i).version == 4 for i in ids)
    with user.ctx.sessions() as session:
        payloads = [m.payload for m in session.scalars(sa.select(OutboxMessage))]
    assert [p["submission_id"] for p in payloads] == ids  # carried in the submit message
    user.relay()
    assert [queued(worker, job_id).submission_id for job_id in jobs] == ids
    described = worker.client.get(f"/_jobs/{jobs[0]}", headers=KEY).json()
    assert described["submission_id"] == ids[0]
    # A redelivery (same job id, same submission) is a harmless duplicate.
    again = worker.client.post("/_jobs", json=payloads[0], headers=KEY)
    assert again.status_code == 201, again.text
    with worker.ctx.sessions() as session:
        events = session.scalars(sa.select(StatusOutbox.submission_id)).all()
    assert sorted(events) == sorted(ids)  # one `queued` each, with its submission
    # The reports come back with it, and the user API takes them.
    headers = worker.headers("w")
    assert pull(worker, headers) == [jobs[0]]
    report = worker.relay(user.relay_client)
    assert (report.delivered, report.gone, report.failed) == (3, 0, 0)
    assert statuses(user, jobs[0]) == ["queued", "pulled"]


@pytest.fixture
def earlier_job(user: UserSide, worker: WorkerSide) -> int:
    """A job of the user API's first life, known to the worker API and running there."""
    job_id = user.submit("before-the-reset")
    user.relay()
    assert pull(worker, worker.headers("w")) == [job_id]
    assert (
        worker.client.put(
            f"/jobs/{job_id}/status", params={"status": "running"}, headers=worker.headers("w")
        ).status_code
        == 204
    )
    return job_id


def test_a_colliding_submission_over_http_is_refused_loudly_and_ends_in_error(
    kind: str,
    tmp_path: Path,
    root: Path,
    user: UserSide,
    worker: WorkerSide,
    earlier_job: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = submission(user, earlier_job)
    # The user API's database is reset (the worker API's is not): ids start again.
    with user_side(kind, tmp_path, root, worker, http=True) as reset:
        job_id = reset.submit("after-the-reset")
        assert job_id == earlier_job
        new = submission(reset, job_id)
        with caplog.at_level(logging.ERROR, logger="workerfacing_api.services.inbox"):
            assert reset.relay() is False  # POST /_jobs refused it: kept, for now
        [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert COLLISION in logged.getMessage() and old in logged.getMessage()
        with reset.ctx.sessions() as session:
            payload = session.scalars(sa.select(OutboxMessage.payload)).one()
        answer = worker.client.post("/_jobs", json=payload, headers=KEY)
        assert answer.status_code == 409
        assert old in answer.json()["detail"] and new in answer.json()["detail"]
        assert conflicts(worker) == 2
        # The worker API's job is untouched, and still the earlier one.
        kept = queued(worker, job_id)
        assert (kept.submission_id, kept.status) == (old, "running")
        # The refusal reaches the new job as its error, once, with the reason.
        report = worker.relay(reset.relay_client)
        job = reset.job(job_id)
        assert job["status"] == "error"
        assert COLLISION in job["runtime_details"] and old in job["runtime_details"]
        assert statuses(reset, job_id) == ["queued", "error"]
        # The earlier job's own reports were refused as for an unknown job; so it was
        # stopped at the worker API, and nothing of it reached the new job.
        assert (report.delivered, report.gone) == (1, 3)  # queued, pulled, running
        assert queued(worker, job_id).status == "canceled"
        assert reset.relay() is False  # nothing left to deliver: the submit is done
        with reset.ctx.sessions() as session:
            assert session.scalars(sa.select(OutboxMessage.delivered_at)).one() is not None


def test_reports_about_another_submission_are_refused(user: UserSide) -> None:
    job_id = user.submit("j")
    mine, other = submission(user, job_id), str(uuid.uuid4())
    put = user.relay_client.put

    def status(body: dict[str, Any]) -> int:
        return put("/_job_status", json={"job_id": job_id, **body}).status_code

    assert status({"status": "pulled", "submission_id": other}) == 404
    assert status({"status": "pulled", "submission_id": mine}) == 204
    assert status({"status": "preprocessing"}) == 204  # an older worker API: by id alone
    batch = put(
        "/_job_statuses",
        json={
            "events": [
                {"job_id": job_id, "status": "running", "submission_id": other},
                {"job_id": job_id, "status": "running", "submission_id": mine},
            ]
        },
    )
    assert [r["outcome"] for r in batch.json()["results"]] == ["gone", "applied"]
    log = {"job_id": job_id, "attempt": 1, "log": "stale output", "end": 12}
    assert put("/_job_log", json={**log, "submission_id": other}).status_code == 404
    assert user.client.get(f"/jobs/{job_id}/logs", headers=user.login()).json()["log"] == ""
    assert put("/_job_log", json={**log, "submission_id": mine}).status_code == 204
    assert statuses(user, job_id) == ["queued", "pulled", "preprocessing", "running"]


def test_the_reconciler_ends_a_colliding_job_in_error(
    kind: str, tmp_path: Path, root: Path, worker: WorkerSide, earlier_job: int
) -> None:
    with user_side(kind, tmp_path, root, worker) as reset:
        job_id = reset.submit("after-the-reset")
        reset.relay()  # refused
        with worker.ctx.engine.begin() as conn:  # as if the relay had lost the error
            conn.execute(sa.delete(StatusOutbox))
        client = type(worker.client)(worker.app, headers=KEY)
        assert reconciler.reconcile_once(reset.ctx.sessions, client, stale_after_s=-1)
        job = reset.job(job_id)
        assert job["status"] == "error" and COLLISION in job["runtime_details"]
        assert queued(worker, job_id).status == "running"  # the earlier job was not adopted


def test_a_cancel_is_for_its_own_submission_only(worker: WorkerSide) -> None:
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    post = worker.client.post
    # Cancelled before it arrived: the tombstone keeps its submission.
    assert post("/_jobs/7/cancel", params={"submission_id": mine}, headers=KEY).status_code == 204
    spec = worker.client.get("/_jobs/7", headers=KEY).json()
    assert (spec["status"], spec["submission_id"]) == ("canceled", mine)
    # A cancel of another submission of a job id leaves the job alone.
    assert post("/_jobs", json=job_payload(8), headers=KEY).status_code == 201
    known = queued(worker, 8).submission_id
    assert post("/_jobs/8/cancel", params={"submission_id": other}, headers=KEY).status_code == 204
    assert queued(worker, 8).status == "queued"
    assert post("/_jobs/8/cancel", params={"submission_id": known}, headers=KEY).status_code == 204
    assert queued(worker, 8).status == "canceled"


class Outbox:
    """Emails the notifier would send."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append(subject)


def test_deleting_a_job_leaves_nothing_of_it_and_its_cancel_still_arrives(
    user: UserSide, worker: WorkerSide
) -> None:
    alice, holder = user.login(), worker.headers("w")
    ended, running = user.submit("ended"), user.submit("running")
    user.relay()
    assert sorted(pull(worker, holder) + pull(worker, holder)) == [ended, running]
    for job_id, status in ((ended, "finished"), (running, "running")):
        put = worker.client.put(f"/jobs/{job_id}/status", params={"status": status}, headers=holder)
        assert put.status_code == 204
    chunk = worker.client.post(
        f"/jobs/{running}/log", json={"offset": 0, "text": "hi"}, headers=holder
    )
    assert chunk.status_code == 204
    worker.relay(user.relay_client)
    with user.ctx.sessions() as session:  # what there was: events, an email due, a log
        assert session.scalar(sa.select(sa.func.count()).select_from(StatusEvent)) > 4
        assert session.scalars(sa.select(Notification.job_id)).all() == [ended]
        assert session.scalars(sa.select(JobLog.job_id)).all() == [running]
    for job_id in (ended, running):
        assert user.client.delete(f"/jobs/{job_id}", headers=alice).status_code == 204
    with user.ctx.sessions() as session:
        for model in (StatusEvent, Notification, JobLog, Job):
            assert session.scalars(sa.select(model)).all() == [], model.__name__
        left = session.execute(sa.select(OutboxMessage.job_id, OutboxMessage.kind)).all()
    assert left == [(running, "cancel")]  # only the cancel the worker API must still get
    mail = Outbox()
    notify_once(user.ctx.sessions, mail)
    assert mail.sent == []  # the email of the deleted job is never sent
    assert user.relay() is True
    assert queued(worker, running).status == "canceled"  # the cancel arrived
    with user.ctx.sessions() as session:
        assert session.scalars(sa.select(OutboxMessage)).all() == []  # then it went too
    # The worker API's last reports about them are answered "gone" and change nothing.
    report = worker.relay(user.relay_client)
    assert report.failed == 0
    with user.ctx.sessions() as session:
        assert session.scalars(sa.select(StatusEvent)).all() == []


# --- through a real broker ------------------------------------------------------------

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture
def rabbitmq() -> Iterator[tuple[str, str]]:
    """A fresh job queue and dead-letter queue on RabbitMQ; deleted afterwards."""
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex(("127.0.0.1", 5672)) != 0:
            if os.environ.get("CI"):
                pytest.fail("RabbitMQ is not running on 127.0.0.1:5672")
            pytest.skip("RabbitMQ is not running on 127.0.0.1:5672")
    name = f"labcloud-test-{uuid.uuid4().hex[:12]}"
    queues = (name, f"{name}-dead")
    yield queues
    with kombu.Connection(AMQP_URL) as connection:
        for queue in queues:
            connection.default_channel.queue_delete(queue)


def test_a_colliding_submission_through_a_broker_is_dead_lettered_and_ends_in_error(
    kind: str,
    tmp_path: Path,
    root: Path,
    worker: WorkerSide,
    earlier_job: int,
    rabbitmq: tuple[str, str],
) -> None:
    queue, dead_queue = rabbitmq
    transport = KombuTransport(AMQP_URL, queue, dead_letter_queue=dead_queue, max_receives=5)
    consumer = transport.consumer(worker.ctx.handle_message)
    try:
        with user_side(kind, tmp_path, root, worker, transport=transport) as reset:
            job_id = reset.submit("after-the-reset")
            assert reset.relay() is True  # the broker has it
            assert consumer.run_once(timeout_s=5) == 1  # settled: dead-lettered, not retried
            with kombu.Connection(AMQP_URL) as connection:
                channel = connection.default_channel
                assert channel.queue_declare(queue, passive=True).message_count == 0
                bound = kombu.Queue(dead_queue, routing_key=dead_queue, durable=True)(channel)
                dead = bound.get(no_ack=True)
            assert dead is not None
            reason = dead.headers[DEAD_REASON_HEADER]
            assert reason.startswith("refused: ") and COLLISION in reason
            assert submission(reset, job_id) in reason
            assert conflicts(worker) == 1
            worker.relay(reset.relay_client)
            job = reset.job(job_id)
            assert job["status"] == "error" and COLLISION in job["runtime_details"]
    finally:
        consumer.close()
        transport.close()
