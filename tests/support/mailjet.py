"""A Mailjet-shaped email service that can be made to fail for a while."""

from __future__ import annotations

import threading
import time

from fastapi import FastAPI, Request, Response


class FlakyMailjet:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.subjects: list[str] = []
        self.failing_until = 0.0
        self.refused = 0
        self.app = FastAPI()

        @self.app.post("/v3.1/send")
        async def send(request: Request) -> Response:
            body = await request.json()
            with self.lock:
                if time.monotonic() < self.failing_until:
                    self.refused += 1
                    return Response(status_code=503)
                self.subjects += [m["Subject"] for m in body["Messages"]]
            return Response('{"Messages": [{"Status": "success"}]}', media_type="application/json")

    def fail_for(self, seconds: float) -> None:
        with self.lock:
            self.failing_until = time.monotonic() + seconds
