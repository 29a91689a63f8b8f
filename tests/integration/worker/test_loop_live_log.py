"""Live logs from the worker loop: chunks of a running job's output reach the server
(the worker-protocol fake) with the heartbeats, fenced by the attempt, without gaps
or repeats; a server without the call changes nothing else."""

from __future__ import annotations

from tests.integration.worker.test_loop import _settings, fake, running, wait_for
from tests.unit.worker.worker_protocol_fake import job_spec
from worker.client import WorkerClient
from worker.loop import Worker

__all__ = ["fake"]  # the fixture, shared with test_loop

# Prints a line, then waits: about 3 s in all, so several heartbeats see it running.
CHATTY = 'for i in $(seq 1 12); do echo "line $i of the run"; sleep 0.25; done; echo done >&2'
EXPECTED = "".join(f"line {i} of the run\n" for i in range(1, 13)) + "done\n"


def test_the_output_reaches_the_server_while_the_job_runs(fake, tmp_path):
    url, state = fake
    state.attempts["q90"] = 1  # this lease is attempt 2
    state.add_job("q90", job_spec(90, CHATTY))
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        # Seen while the job still runs: live, not only at the end.
        wait_for(lambda: "line 2 of the run" in state.logs["q90"], timeout=10)
        assert state.final("q90") is None
        wait_for(lambda: state.final("q90"))
    assert state.final("q90") == ("finished", None)
    # The whole output, once, in order: chunks follow each other without gaps or repeats.
    assert state.logs["q90"] == EXPECTED
    chunks = [(offset, text) for job, offset, text in state.log_chunks if job == "q90"]
    assert len(chunks) >= 2
    position = 0
    for offset, text in chunks:
        assert offset == position and text
        position += len(text)
    # Fenced like every job call, and sent before the job moved on to its uploads.
    log_calls = [c for c in state.calls if c.path == "/jobs/q90/log"]
    assert {c.attempt for c in log_calls} == {"2"}
    first_upload = next(i for i, c in enumerate(state.calls) if c.path.endswith("/files/url"))
    last_log = max(i for i, c in enumerate(state.calls) if c.path == "/jobs/q90/log")
    assert last_log < first_upload
    # The full log still goes up at the end.
    assert state.uploads[("q90", "log", "log", "job.log")].decode() == EXPECTED


def test_a_failed_chunk_is_sent_again_from_the_same_place(fake, tmp_path):
    url, state = fake
    state.fail_next("POST", "/jobs/q91/log", 500, 500, 500, 500, 500, 500, 500)
    state.add_job("q91", job_spec(91, CHATTY))
    settings = _settings(url, tmp_path)
    worker = Worker(settings, client=WorkerClient.from_settings(settings, backoff_s=0.01))
    with running(worker):
        wait_for(lambda: state.final("q91"))
    assert state.final("q91") == ("finished", None)
    assert state.logs["q91"] == EXPECTED
    assert state.log_chunks[0][1] == 0  # the first chunk the server took starts at 0


def test_a_server_without_live_logs_runs_the_job_as_before(fake, tmp_path):
    url, state = fake
    state.supports_logs = False
    state.add_job("q92", job_spec(92, CHATTY))
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        wait_for(lambda: state.final("q92"))
    assert state.final("q92") == ("finished", None)
    # Asked once, then no more: the job is not dropped as "gone".
    assert len([c for c in state.calls if c.path == "/jobs/q92/log"]) == 1
    assert state.uploads[("q92", "log", "log", "job.log")].decode() == EXPECTED


def test_a_job_that_prints_nothing_sends_no_log(fake, tmp_path):
    url, state = fake
    state.add_job("q93", job_spec(93, "sleep 0.6"))
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        wait_for(lambda: state.final("q93"))
    assert not [c for c in state.calls if c.path == "/jobs/q93/log"]


def test_the_first_lines_go_out_before_the_next_keep_alive(fake, tmp_path):
    # With the heartbeat 30 s apart, the live log must not wait for it: the job's first
    # line reaches the server while the job has sent no keep-alive after `running` yet.
    url, state = fake
    state.add_job("q94", job_spec(94, 'echo "first line"; sleep 4'))
    worker = Worker(_settings(url, tmp_path, heartbeat_interval=30))
    with running(worker):
        wait_for(lambda: "first line" in state.logs["q94"], timeout=10)
        # no keep-alive has gone out yet
        assert state.status_names("q94") == ["preprocessing", "running"]
        wait_for(lambda: state.final("q94"), timeout=30)
    assert state.final("q94") == ("finished", None)
    assert state.logs["q94"] == "first line\n"
