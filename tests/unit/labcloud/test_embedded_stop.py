"""What `labcloud up` says on Ctrl-C about the jobs its worker runs."""

from __future__ import annotations

from labcloud.embedded import stop_notice


def test_the_stop_notice_says_what_happens_to_running_jobs() -> None:
    assert stop_notice(0) == "stopping…"
    assert stop_notice(1) == (
        "stopping: handing 1 running job back to the queue (it will be run again)"
    )
    assert stop_notice(3) == (
        "stopping: handing 3 running jobs back to the queue (they will be run again)"
    )
