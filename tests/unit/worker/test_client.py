"""WorkerClient against a real HTTP server on loopback (the worker-protocol fake)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from shared.jobs.states import JobStatus
from tests.unit.worker.worker_protocol_fake import job_spec, serve
from worker.client import (
    ApiError,
    AuthError,
    FileMissing,
    JobGone,
    WorkerClient,
    file_url_path,
    lease_attempt,
)
from worker.hardware import Capacity

CAPACITY = Capacity(cpu_cores=4, memory_mb=8000)


@pytest.fixture
def fake():
    with serve() as (url, state):
        yield url, state


class FakeTime:
    def __init__(self) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def _client(url: str, clock: FakeTime | None = None, **kwargs) -> WorkerClient:
    clock = clock or FakeTime()
    return WorkerClient(
        url,
        auth_url=url,
        username="worker",
        password="secret-pw",
        clock=clock.clock,
        sleep=clock.sleep,
        **kwargs,
    )


def test_logs_in_again_when_the_token_is_about_to_expire(fake):
    url, state = fake
    clock = FakeTime()
    with _client(url, clock) as client:
        client.fetch_jobs(CAPACITY)
        client.fetch_jobs(CAPACITY)
        assert state.logins == 1
        clock.now += 3600 - 299  # 299 s left: below the 300 s margin
        client.fetch_jobs(CAPACITY)
        assert state.logins == 2
    tokens = [c.token for c in state.calls if c.path == "/jobs"]
    assert tokens[0] == tokens[1] != tokens[2], "the fresh token is used after re-login"


def test_short_lived_tokens_do_not_cause_a_login_per_call(fake):
    url, state = fake
    state.token_lifetime_s = 120  # shorter than the 300 s margin
    with _client(url) as client:
        for _ in range(3):
            client.fetch_jobs(CAPACITY)
    assert state.logins == 1


def test_401_means_log_in_again_once(fake):
    url, state = fake
    with _client(url) as client:
        client.fetch_jobs(CAPACITY)
        state.valid_tokens.clear()  # e.g. revoked by the server
        client.fetch_jobs(CAPACITY)
        assert state.logins == 2


def test_static_token_is_used_as_is_and_401_is_an_auth_error(fake):
    url, state = fake
    with _client(url) as client:
        client.fetch_jobs(CAPACITY)
    token = next(iter(state.valid_tokens))
    with WorkerClient(url, token=token) as client:
        client.fetch_jobs(CAPACITY)
        state.valid_tokens.clear()
        with pytest.raises(AuthError):
            client.fetch_jobs(CAPACITY)
    assert state.logins == 1


def test_wrong_password_is_an_auth_error(fake):
    url, _ = fake
    client = WorkerClient(url, auth_url=url, username="worker", password="nope")
    with client, pytest.raises(AuthError, match="login as 'worker' failed"):
        client.fetch_jobs(CAPACITY)


def test_retries_503_then_succeeds(fake):
    url, state = fake
    state.add_job("q1", job_spec(1, "true"))
    clock = FakeTime()
    with _client(url, clock) as client:
        state.fail_next("GET", "/jobs", 503, 503)
        jobs = client.fetch_jobs(CAPACITY, runners=["process"])
    assert list(jobs) == ["q1"] and jobs["q1"].meta.job_id == 1
    assert clock.sleeps == [1.0, 2.0]  # exponential backoff


def test_gives_up_after_six_tries(fake):
    url, state = fake
    clock = FakeTime()
    with _client(url, clock) as client:
        client.fetch_jobs(CAPACITY)  # log in first
        state.fail_next("PUT", "/jobs/", *[500] * 10)
        with pytest.raises(ApiError) as err:
            client.set_status("q1", JobStatus.running)
    assert err.value.status_code == 500
    assert sum(1 for c in state.calls if c.method == "PUT") == 6
    assert len(clock.sleeps) == 5


def test_connection_errors_are_retried():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    clock = FakeTime()
    client = WorkerClient(f"http://127.0.0.1:{port}", token="t", sleep=clock.sleep)
    with client, pytest.raises(ApiError, match="jobs"):
        client.fetch_jobs(CAPACITY)
    assert len(clock.sleeps) == 5


def test_404_on_a_job_call_is_job_gone(fake, tmp_path):
    url, state = fake
    state.gone.add("q9")
    out = tmp_path / "r.txt"
    out.write_text("x")
    with _client(url) as client:
        with pytest.raises(JobGone) as err:
            client.set_status("q9", JobStatus.running)
        assert err.value.job_id == "q9"
        with pytest.raises(JobGone):
            client.get_status("q9")
        with pytest.raises(JobGone):
            client.upload_output("q9", "output", "output", out)


def test_worker_id_is_constant_per_client(fake, tmp_path):
    url, state = fake
    state.files["local://a/x"] = b"x"
    with _client(url) as a, _client(url) as b:
        a.fetch_jobs(CAPACITY)
        a.set_status("q1", JobStatus.preprocessing)
        a.download_input("local://a/x", tmp_path / "x")
        calls_of_a = len(state.calls)
        b.fetch_jobs(CAPACITY)
    assert calls_of_a >= 4
    assert {c.worker_id for c in state.calls[:calls_of_a] if "/download" not in c.path} == {
        a.worker_id
    }
    assert {c.worker_id for c in state.calls[calls_of_a:]} == {b.worker_id}
    assert a.worker_id != b.worker_id


def test_fetch_jobs_sends_hardware_groups_runners_and_wait(fake):
    url, state = fake
    capacity = Capacity(
        cpu_cores=3,
        memory_mb=1234,
        gpu_model="RTX 3090",
        gpu_archi="ampere",
        gpu_mem_mb=24000,
        gpus=1,
    )
    with _client(url) as client:
        jobs = client.fetch_jobs(
            capacity,
            groups=["lab-a", "lab-b"],
            runners=["process", "docker"],
            older_than=5,
            wait=2,
        )
        assert jobs == {}
    call = next(c for c in state.calls if c.path == "/jobs")
    assert call.params == {
        "memory": ["1234"],
        "cpu_cores": ["3"],
        "gpu_mem": ["24000"],
        "gpus": ["1"],
        "limit": ["1"],
        "older_than": ["5"],
        "gpu_model": ["RTX 3090"],
        "gpu_archi": ["ampere"],
        "groups": ["lab-a", "lab-b"],
        "runners": ["process", "docker"],
        "wait": ["2"],
    }


def test_status_round_trip(fake):
    url, state = fake
    with _client(url) as client:
        client.set_status("q1", JobStatus.preprocessing)
        client.set_status("q1", "error", "exit code 3\nboom")
        assert client.get_status("q1") is JobStatus.error
    assert state.statuses["q1"] == [("preprocessing", None), ("error", "exit code 3\nboom")]


@pytest.mark.parametrize("uri", ["local://alice/data/a.tif", "local://alice/data/odd name?#%.txt"])
def test_download_through_the_file_request(fake, tmp_path, uri):
    url, state = fake
    content = bytes(range(256)) * 12_000  # 3 MB: several chunks
    state.files[uri] = content
    dest = tmp_path / "data" / "a.tif"
    dest.parent.mkdir()
    with _client(url) as client:
        assert client.download_input(uri, dest) == len(content)
    assert dest.read_bytes() == content
    assert sorted(p.name for p in dest.parent.iterdir()) == ["a.tif"]  # no temp file left
    # The transfer went to the URL the server handed out, with the headers it gave.
    assert any(c.path.endswith("/download") and c.token for c in state.calls)


def test_download_of_a_missing_file(fake, tmp_path):
    url, _ = fake
    with _client(url) as client, pytest.raises(FileMissing):
        client.download_input("local://alice/data/none.tif", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_upload_through_the_file_request(fake, tmp_path):
    url, state = fake
    local = tmp_path / "r.bin"
    content = b"\x00result\xff" * 300_000
    local.write_bytes(content)
    with _client(url) as client:
        client.upload_output("q1", "output", "output/sub", local)
    assert state.uploads == {("q1", "output", "output/sub", "r.bin"): content}
    # The `data` fields of the FileHTTPRequest went along (S3 presigned POSTs need them).
    assert state.upload_fields == [{"key": "output/output/sub/"}]


def test_upload_refuses_symlinks(fake, tmp_path):
    url, state = fake
    secret = tmp_path / "secret"
    secret.write_text("host secret")
    link = tmp_path / "r.txt"
    link.symlink_to(secret)
    with _client(url) as client, pytest.raises(OSError):
        client.upload_output("q1", "output", "output", link)
    assert state.uploads == {}


def test_release(fake):
    url, state = fake
    with _client(url) as client:
        assert client.release("q1") is True
        state.supports_release = False
        assert client.release("q2") is False
    assert state.released == ["q1"]


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("local://alice/config/p.yaml", "/files/local://alice/config/p.yaml/url"),
        ("s3://bucket/u/data/x.tif", "/files/s3://bucket/u/data/x.tif/url"),
        ("local://a/b c?#%.txt", "/files/local://a/b%20c%3F%23%25.txt/url"),
        ("local://a/../b", "/files/local://a/%2E%2E/b/url"),
    ],
)
def test_file_url_path_matches_decode_for_plain_uris(uri, path):
    assert file_url_path(uri) == path


def test_needs_credentials():
    with pytest.raises(ValueError):
        WorkerClient("http://127.0.0.1:1", username="x")


def test_relative_file_urls_point_at_the_worker_api(fake, tmp_path):
    # The fake hands out a relative upload URL; it must reach the worker API.
    url, state = fake
    local = tmp_path / "a.txt"
    local.write_text("a")
    with _client(url + "/") as client:
        client.upload_output("q1", "log", "", local)
    assert state.uploads == {("q1", "log", "", "a.txt"): b"a"}


def test_no_partial_file_after_a_failed_download(fake, tmp_path):
    url, state = fake
    state.files["local://a/x"] = b"data"
    clock = FakeTime()
    dest = tmp_path / "x"
    with _client(url, clock) as client:
        client.fetch_jobs(CAPACITY)
        state.fail_next("GET", "/files/local:", *[503] * 20)
        with pytest.raises(ApiError):
            client.download_input("local://a/x", dest)
    assert list(Path(tmp_path).iterdir()) == []


def test_403_on_polling_is_an_auth_error(fake):
    url, state = fake
    with _client(url) as client:
        state.fail_next("GET", "/jobs", 403)
        with pytest.raises(AuthError, match="may not lease jobs"):
            client.fetch_jobs(CAPACITY)


def test_an_unreadable_job_spec_is_reported_and_skipped(fake):
    url, state = fake
    state.add_job("bad", {"app": {"cmd": ["true"]}})  # no handler, no meta
    state.add_job("good", job_spec(2, "true"))
    with _client(url) as client:
        assert client.fetch_jobs(CAPACITY, limit=2, runners=["process", "docker"]).keys() == {
            "good"
        }
    [(status, details)] = state.statuses["bad"]
    assert status == "error" and details.startswith("the worker could not read the job spec")


def test_an_unreadable_job_spec_is_reported_under_its_attempt(fake):
    url, state = fake
    state.add_job("bad", {"app": {"cmd": ["true"]}, "meta": {"job_id": "x"}})
    with _client(url) as client:
        assert client.fetch_jobs(CAPACITY) == {}
    [call] = [c for c in state.calls if c.path == "/jobs/bad/status"]
    assert call.attempt == "1"
    assert state.status_names("bad") == ["error"]


# --- fencing by attempt ----------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "attempt"),
    [({"attempt": 3}, 3), ({"attempt": "4"}, 4), ({}, None), (None, None),
     ({"attempt": True}, None), ({"attempt": "x"}, None)],
)  # fmt: skip
def test_lease_attempt(extra, attempt):
    assert lease_attempt(extra) == attempt


def test_the_spec_carries_the_lease_attempt(fake):
    url, state = fake
    state.add_job("q1", job_spec(1, "true"))
    with _client(url) as client:
        [spec] = client.fetch_jobs(CAPACITY, runners=["process"]).values()
        assert lease_attempt(spec.meta.extra) == 1
        state.send_attempts = False  # an older server
        state.add_job("q2", job_spec(2, "true"))
        [spec] = client.fetch_jobs(CAPACITY, runners=["process"]).values()
        assert lease_attempt(spec.meta.extra) is None


def test_every_call_about_a_job_carries_its_attempt(fake, tmp_path):
    url, state = fake
    state.files["local://a/x"] = b"x"
    state.attempts["q1"] = 3
    out = tmp_path / "r.txt"
    out.write_text("r")
    with _client(url) as client:
        client.fetch_jobs(CAPACITY)
        client.set_status("q1", JobStatus.running, attempt=3)
        assert client.get_status("q1", attempt=3) is JobStatus.running
        client.download_input("local://a/x", tmp_path / "x", attempt=3)
        client.upload_output("q1", "output", "output", out, attempt=3)
        assert client.release("q1", attempt=3) is True
    job_calls = [c for c in state.calls if c.path != "/jobs" and c.path != "/token"]
    assert {c.path.rsplit("/", 1)[1] for c in job_calls} == {
        "status", "url", "download", "upload", "release"
    }  # fmt: skip
    assert {c.attempt for c in job_calls} == {"3"}
    assert {c.attempt for c in state.calls if c.path in ("/jobs", "/token")} == {None}


def test_without_an_attempt_no_header_is_sent(fake, tmp_path):
    url, state = fake
    out = tmp_path / "r.txt"
    out.write_text("r")
    with _client(url) as client:
        client.set_status("q1", JobStatus.running)
        client.upload_output("q1", "output", "output", out)
        client.release("q1")
    assert {c.attempt for c in state.calls} == {None}


def test_a_superseded_attempt_is_job_gone(fake, tmp_path):
    url, state = fake
    state.attempts["q1"] = 1
    out = tmp_path / "r.txt"
    out.write_text("r")
    with _client(url) as client:
        client.set_status("q1", JobStatus.running, attempt=1)
        state.supersede("q1")  # requeued after a lost lease, leased again
        with pytest.raises(JobGone):
            client.set_status("q1", JobStatus.running, attempt=1)
        with pytest.raises(JobGone):
            client.upload_output("q1", "output", "output", out, attempt=1)
        assert client.release("q1", attempt=1) is False
        client.set_status("q1", JobStatus.running, attempt=2)  # the new holder's
    assert state.released == [] and state.uploads == {}


def test_the_attempt_is_not_sent_to_transfer_urls_elsewhere(tmp_path):
    # Two servers, one state: the API hands out transfer URLs on the other one,
    # as it would presigned S3 URLs.
    with serve() as (api, state), serve(state) as (other, _):
        state.transfer_base = other
        state.files["local://a/x"] = b"x"
        out = tmp_path / "r.txt"
        out.write_text("r")
        with _client(api) as client:
            client.download_input("local://a/x", tmp_path / "x", attempt=2)
            client.upload_output("q1", "output", "output", out, attempt=2)
    assert state.uploads == {("q1", "output", "output", "r.txt"): b"r"}
    api_host, other_host = api.removeprefix("http://"), other.removeprefix("http://")
    transfers = [c for c in state.calls if c.host == other_host]
    assert {c.path.rsplit("/", 1)[1] for c in transfers} == {"download", "upload"}
    assert {c.attempt for c in transfers} == {None}
    asks = [c for c in state.calls if c.host == api_host and c.path.endswith("/url")]
    assert len(asks) == 2 and {c.attempt for c in asks} == {"2"}
