"""Live logs: the new part of a running job's output, sent with its heartbeats.

The job thread hands the run's output so far (the runner's bounded log) to
:meth:`LiveLog.update`, which tells the heartbeat thread when something is new (so a
job's first lines show at once, not at the next keep-alive); that thread calls
:meth:`LiveLog.ship` (at most about once a second, and with every keep-alive), which
sends what the server has not got yet (``POST /jobs/{id}/log``, fenced by the
attempt) and, once the server took it, moves on. A chunk that failed is sent
again; the server ignores what it already has (offsets). Live logs are best
effort: an error only delays them, and an older server without the call turns
them off for the job. The whole log still goes up as ``log/job.log`` at the end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from worker.client import ApiError, JobGone, WorkerClient

log = logging.getLogger(__name__)

#: The most characters one chunk carries; when more was written since the last
#: chunk, the older part is skipped (the server keeps only this much anyway).
MAX_CHUNK_CHARS = 64 * 1024
#: Characters of sent output remembered to find the place again once the runner's
#: bounded log has dropped its beginning.
ANCHOR_CHARS = 1024


@dataclass(frozen=True)
class Chunk:
    offset: int  # where `text` starts, in characters of the run's output
    text: str


class LogCursor:
    """How much of a run's output the server has, given the runner's log so far.

    The log only grows at its end, so the new part starts where the last one
    ended. Once the runner's bound makes the log drop its beginning, the place
    is found again by the end of what was sent (repetitive output may then skip
    some lines, never repeat them).
    """

    def __init__(self, max_chunk: int = MAX_CHUNK_CHARS) -> None:
        self.offset = 0  # characters of output the server has (or that were skipped)
        self._max_chunk = max_chunk
        self._seen = 0  # length of the log when the last chunk was taken from it
        self._anchor = ""  # its last characters
        self._next: tuple[int, int, str] | None = None

    def pending(self, output: str) -> Chunk | None:
        """The chunk to send next for ``output`` (the whole log so far); None if nothing
        is new. Call :meth:`acknowledge` once the server has it."""
        new = self._new_text(output)
        self._next = None
        if not new:
            return None
        skipped = max(0, len(new) - self._max_chunk)
        chunk = Chunk(self.offset + skipped, new[skipped:])
        self._next = (chunk.offset + len(chunk.text), len(output), output[-ANCHOR_CHARS:])
        return chunk

    def acknowledge(self) -> None:
        """The last pending chunk was delivered: the next one starts after it."""
        if self._next is not None:
            self.offset, self._seen, self._anchor = self._next
            self._next = None

    def _new_text(self, output: str) -> str:
        seen, anchor = self._seen, self._anchor
        if len(output) >= seen and output[seen - len(anchor) : seen] == anchor:
            return output[seen:]  # it grew at the end, as logs do
        at = output.rfind(anchor)  # the runner dropped the beginning: find our place
        return output[at + len(anchor) :] if at >= 0 else output


class LiveLog:
    """The live log of one job run: the latest output, and what the server has of it."""

    def __init__(self, client: WorkerClient, job_id: str, attempt: int | None) -> None:
        self._client, self._job_id, self._attempt = client, job_id, attempt
        self._cursor = LogCursor()
        self._output: str | None = None
        self._enabled = True
        self._lock = threading.Lock()  # one chunk in flight; the cursor moves under it
        self.on_news: Callable[[], object] | None = None  # the heartbeat thread's wake-up

    def update(self, output: str) -> None:
        """The run's output so far (from the job thread, whenever it read the log)."""
        news = self._enabled and output != (self._output or "")
        self._output = output
        if news and self.on_news is not None:
            self.on_news()

    def ship(self) -> None:
        """Send what the server does not have yet, if anything; raises :class:`JobGone`
        when the job is no longer ours. Other failures are logged: the next call tries
        again."""
        with self._lock:
            output = self._output
            if not self._enabled or output is None:
                return
            chunk = self._cursor.pending(output)
            if chunk is None:
                return
            try:
                taken = self._client.send_log(
                    self._job_id, chunk.offset, chunk.text, attempt=self._attempt
                )
            except JobGone:
                raise
            except ApiError as exc:
                log.warning("job %s: live log not sent yet: %s", self._job_id, exc)
                return
            if not taken:
                log.info("job %s: the server takes no live logs", self._job_id)
                self._enabled = False
                return
            self._cursor.acknowledge()
