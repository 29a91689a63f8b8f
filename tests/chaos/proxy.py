"""An HTTP proxy that delays requests and delivers some of them twice: the faulty
network between the two APIs (job transport one way, status relay the other)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# The Host header is passed on: URLs the upstream builds from it (the worker API's
# upload and download URLs) then point back through the proxy.
HOP_HEADERS = {"content-length", "connection", "transfer-encoding"}


@dataclass
class FaultyLink:
    upstream: str
    duplicate_p: float = 0.2
    max_delay_s: float = 0.3
    seed: int = 0
    duplicated: int = 0
    forwarded: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def app(self) -> Starlette:
        client = httpx.AsyncClient(base_url=self.upstream, timeout=30)

        async def forward(request: Request) -> Response:
            body = await request.body()
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
            await asyncio.sleep(self.rng.uniform(0, self.max_delay_s))
            times = 2 if self.rng.random() < self.duplicate_p else 1
            answer: Response | None = None
            for _ in range(times):
                try:
                    upstream = await client.request(
                        request.method,
                        request.url.path,
                        params=request.query_params,
                        headers=headers,
                        content=body,
                    )
                except httpx.HTTPError:
                    return answer or Response(status_code=502)
                self.forwarded += 1
                if answer is None:
                    answer = Response(
                        upstream.content,
                        status_code=upstream.status_code,
                        media_type=upstream.headers.get("content-type"),
                    )
            self.duplicated += times - 1
            assert answer is not None
            return answer

        methods = ["GET", "POST", "PUT", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])
