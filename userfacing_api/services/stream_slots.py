"""How many live streams (Server-Sent Events) each user has open, up to a limit.

Counted per API process, in memory: with several user-API processes behind one address,
a user may hold up to MAX_LOG_STREAMS_PER_USER in each. A stream's slot is held from
before its first event until the stream has ended, whether the job ended or the client
went away.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from shared.api.limits import TooMany

SETTING = "MAX_LOG_STREAMS_PER_USER"


class StreamSlots:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def open_count(self, user_id: str) -> int:
        with self._lock:
            return self._open.get(user_id, 0)

    @contextlib.contextmanager
    def held(self, user_id: str, limit: int) -> Iterator[None]:
        """A slot of `user_id`'s for the block; TooMany if they hold `limit` already."""
        with self._lock:
            count = self._open.get(user_id, 0)
            if count >= limit:
                raise TooMany(
                    f"you have {count} live log streams open; at most {limit}: "
                    "close one first",
                    SETTING,
                )
            self._open[user_id] = count + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._open[user_id] - 1
                if left:
                    self._open[user_id] = left
                else:
                    del self._open[user_id]
