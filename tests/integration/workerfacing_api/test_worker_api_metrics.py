"""`GET /metrics` of the worker API: gauges read from the queue database, the claim and
start-latency histograms, HTTP request metrics; and the settings that hide or guard it."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tests.integration.workerfacing_api.conftest import (
    API_KEY,
    MakeAPI,
    WorkerAPI,
    job_payload,
)
from tests.support.metrics import Scrape, parse
from workerfacing_api.db.models import QueuedJob, StatusOutbox, utcnow


def scrape(api: WorkerAPI) -> Scrape:
    response = api.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def submit_at(api: WorkerAPI, job_id: int, created: dt.datetime, **kwargs: object) -> None:
    """Submit a job whose user-side `date_created` is `created`."""
    payload = job_payload(job_id, **kwargs)  # type: ignore[arg-type]
    payload["job"]["meta"]["date_created"] = created.isoformat()
    response = api.client.post("/_jobs", json=payload, headers={"x-api-key": API_KEY})
    assert response.status_code == 201, response.text


def test_an_idle_queue_reads_zero(api: WorkerAPI) -> None:
    m = scrape(api)
    assert m.value("labcloud_database_up") == 1
    assert m.labels("labcloud_queue_depth", "environment") == {"local": 0, "cloud": 0, "any": 0}
    assert m.labels("labcloud_leased_jobs", "status") == {
        "pulled": 0,
        "preprocessing": 0,
        "running": 0,
        "postprocessing": 0,
    }
    assert m.value("labcloud_status_outbox_backlog") == 0
    assert m.value("labcloud_status_outbox_oldest_age_seconds") == 0
    for family in (
        "labcloud_claim_duration_seconds",
        "labcloud_job_start_latency_seconds",
        "labcloud_jobs_claimed",
        "labcloud_http_requests",
        "labcloud_http_request_duration_seconds",
    ):
        assert family in m.families


def test_the_oldest_queued_job_age_by_environment(api: WorkerAPI) -> None:
    assert scrape(api).labels("labcloud_queue_oldest_age_seconds", "environment") == {
        "local": 0,
        "cloud": 0,
        "any": 0,
    }
    api.submit(1, environment="cloud")
    api.submit(2, environment="cloud")
    with api.ctx.sessions.begin() as session:  # job 1 was queued 300 s ago (a requeue resets it)
        session.execute(
            sa.update(QueuedJob)
            .where(QueuedJob.job_id == 1)
            .values(status_changed_at=utcnow() - dt.timedelta(seconds=300))
        )
    ages = scrape(api).labels("labcloud_queue_oldest_age_seconds", "environment")
    assert 300 <= ages["cloud"] < 3600
    assert ages["local"] == 0 and ages["any"] == 0


def test_queue_depth_leases_claims_and_start_latency(api: WorkerAPI) -> None:
    submitted = utcnow() - dt.timedelta(seconds=100)
    submit_at(api, 1, submitted, environment="local")
    api.submit(2, environment="cloud")
    api.submit(3, environment="any")
    api.submit(4, environment="local")
    m = scrape(api)
    assert m.labels("labcloud_queue_depth", "environment") == {"local": 2, "cloud": 1, "any": 1}

    worker = api.headers("ws-1", worker_id="w1")
    assert list(api.pull(worker)) == [1]  # the oldest of those a local worker may take
    assert api.pull(worker, runners="process") == {}  # all jobs here need docker
    m = scrape(api)
    assert m.labels("labcloud_queue_depth", "environment") == {"local": 1, "cloud": 1, "any": 1}
    assert m.value("labcloud_leased_jobs", status="pulled") == 1
    assert m.value("labcloud_claim_duration_seconds_count", outcome="claimed") == 1
    assert m.value("labcloud_claim_duration_seconds_count", outcome="empty") == 1
    assert m.value("labcloud_jobs_claimed_total") == 1

    held = {**worker, "X-Labcloud-Attempt": "1"}
    assert api.put_status(1, "preprocessing", held).status_code == 204
    assert m.get("labcloud_job_start_latency_seconds_count", retry="false") == 0
    assert api.put_status(1, "running", held).status_code == 204
    assert api.put_status(1, "running", held).status_code == 204  # a heartbeat: no new start
    m = scrape(api)
    assert m.value("labcloud_leased_jobs", status="running") == 1
    assert m.value("labcloud_leased_jobs", status="pulled") == 0
    assert m.value("labcloud_job_start_latency_seconds_count", retry="false") == 1
    latency = m.value("labcloud_job_start_latency_seconds_sum", retry="false")
    assert 100 <= latency < 160  # from the user's submission, not from the claim
    assert m.value("labcloud_job_start_latency_seconds_bucket", retry="false", le="60.0") == 0
    assert m.value("labcloud_job_start_latency_seconds_bucket", retry="false", le="120.0") == 1

    # Handed back and run again: a second start, on a later lease.
    assert api.client.post("/jobs/1/release", headers=held).status_code == 204
    other = api.headers("ws-2", worker_id="w2")
    assert list(api.pull(other)) == [1]
    again = {**other, "X-Labcloud-Attempt": "2"}
    assert api.put_status(1, "running", again).status_code == 204
    m = scrape(api)
    assert m.value("labcloud_job_start_latency_seconds_count", retry="false") == 1
    assert m.value("labcloud_job_start_latency_seconds_count", retry="true") == 1
    assert m.value("labcloud_jobs_claimed_total") == 2


def test_a_refused_move_is_not_a_start(api: WorkerAPI) -> None:
    api.submit(1)
    worker = api.headers("ws-1", worker_id="w1")
    api.pull(worker)
    held = {**worker, "X-Labcloud-Attempt": "1"}
    assert api.put_status(1, "finished", held).status_code == 204
    assert api.put_status(1, "running", held).status_code == 404  # after its end: refused
    m = scrape(api)
    assert m.get("labcloud_job_start_latency_seconds_count", retry="false") == 0
    assert m.get("labcloud_job_start_latency_seconds_count", retry="true") == 0


def test_status_outbox_backlog_and_age(api: WorkerAPI) -> None:
    api.submit(1)
    api.submit(2)
    with api.ctx.sessions() as session:
        pending = session.scalar(
            sa.select(sa.func.count())
            .select_from(StatusOutbox)
            .where(StatusOutbox.delivered_at.is_(None))
        )
        session.execute(
            sa.update(StatusOutbox).values(created_at=utcnow() - dt.timedelta(seconds=90))
        )
        session.commit()
    assert pending >= 2  # `queued` of each job, for the user API
    m = scrape(api)
    assert m.value("labcloud_status_outbox_backlog") == pending
    assert 90 <= m.value("labcloud_status_outbox_oldest_age_seconds") < 150
    with api.ctx.sessions() as session:
        session.execute(sa.update(StatusOutbox).values(delivered_at=utcnow()))
        session.commit()
    m = scrape(api)
    assert m.value("labcloud_status_outbox_backlog") == 0
    assert m.value("labcloud_status_outbox_oldest_age_seconds") == 0


def test_http_requests_by_route_template_and_status(api: WorkerAPI) -> None:
    api.submit(7)
    worker = api.headers("ws-1", worker_id="w1")
    api.pull(worker)
    held = {**worker, "X-Labcloud-Attempt": "1"}
    api.put_status(7, "preprocessing", held)
    api.put_status(7, "preprocessing", held)
    assert api.put_status(8, "running", held).status_code == 404
    assert api.client.get("/no/such/path").status_code == 404
    m = scrape(api)
    route = "/jobs/{job_id}/status"
    assert m.value("labcloud_http_requests_total", method="PUT", route=route, status="204") == 2
    assert m.value("labcloud_http_requests_total", method="PUT", route=route, status="404") == 1
    assert m.value("labcloud_http_requests_total", method="POST", route="/_jobs", status="201") == 1
    assert m.value("labcloud_http_requests_total", method="GET", route="/jobs", status="200") == 1
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert m.value("labcloud_http_requests_total", **unmatched) == 1
    labels = {"method": "PUT", "route": route, "status": "204"}
    assert m.value("labcloud_http_request_duration_seconds_count", **labels) == 2
    assert m.value("labcloud_http_request_duration_seconds_sum", **labels) > 0
    # No path of a single job shows up as a label value of its own.
    assert not any("/jobs/7" in dict(key).get("route", "") for _, key in m.samples)


def test_each_app_counts_on_its_own(make_api: MakeAPI) -> None:
    first, second = make_api(), make_api()
    first.submit(1)
    assert (
        scrape(first).value(
            "labcloud_http_requests_total", method="POST", route="/_jobs", status="201"
        )
        == 1
    )
    assert (
        scrape(second).get(
            "labcloud_http_requests_total", method="POST", route="/_jobs", status="201"
        )
        == 0
    )


def test_metrics_can_be_turned_off(make_api: MakeAPI) -> None:
    api = make_api(metrics_enabled=False)
    assert api.client.get("/metrics").status_code == 404
    api.submit(1)  # and everything else still works


def test_metrics_can_require_the_internal_key(make_api: MakeAPI) -> None:
    api = make_api(metrics_require_api_key=True)
    assert api.client.get("/metrics").status_code == 401
    assert (
        api.client.get("/metrics", headers={"x-api-key": "wrong-key-0123456789"}).status_code == 401
    )
    assert api.client.get("/metrics", headers={"x-api-key": API_KEY}).status_code == 200
    bearer = {"Authorization": f"Bearer {API_KEY}"}  # as Prometheus' `authorization` sends it
    assert "labcloud_queue_depth" in parse(api.client.get("/metrics", headers=bearer).text).families
