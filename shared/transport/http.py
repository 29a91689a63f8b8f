"""DECODE's transport: the user API POSTs job specs to the worker API's `/_jobs`."""

from __future__ import annotations

import httpx

from shared.auth.api_key import HEADER
from shared.transport.base import TransportError, TransportMessage


class HttpTransport:
    def __init__(self, base_url: str, api_key: str, timeout_s: float = 10.0) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout_s, headers={HEADER: api_key}
        )

    def send(self, message: TransportMessage) -> None:
        try:
            if message.kind == "submit":
                response = self._client.post("/_jobs", json=message.payload)
            else:
                submission = message.payload.get("submission_id")
                params = {"submission_id": submission} if submission else None
                response = self._client.post(f"/_jobs/{message.job_id}/cancel", params=params)
        except httpx.HTTPError as exc:
            raise TransportError(f"worker API unreachable: {exc}") from exc
        if response.status_code >= 300:
            raise TransportError(
                f"worker API answered {response.status_code}: {response.text[:200]}"
            )

    def close(self) -> None:
        self._client.close()
