"""Prometheus gauges as CloudWatch metrics: `labcloud metrics-emf`.

CloudWatch cannot scrape Prometheus. This bridge reads an API's `/metrics` every
interval and prints the chosen samples as CloudWatch Embedded Metric Format (EMF) lines
on stdout. Run as a sidecar whose log driver is awslogs, those lines become metrics
with no agent and no AWS permission (CloudWatch Logs extracts them); alarms such as
"the oldest queued job has waited an hour" then work on them. Each sample is one line,
its Prometheus labels (plus fixed `--dimension`s) the metric's dimensions.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

import httpx
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)


def emf_lines(
    text: str,
    metrics: Iterable[str],
    namespace: str,
    dimensions: dict[str, str],
    timestamp_ms: int,
) -> Iterator[str]:
    """One EMF JSON line per sample of `metrics` (family names) in Prometheus `text`."""
    wanted = set(metrics)
    for family in text_string_to_metric_families(text):
        if family.name not in wanted:
            continue
        for sample in family.samples:
            labels = {**dimensions, **sample.labels}
            unit = "Seconds" if sample.name.endswith("_seconds") else "Count"
            document: dict[str, Any] = {
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": namespace,
                            "Dimensions": [sorted(labels)],
                            "Metrics": [{"Name": sample.name, "Unit": unit}],
                        }
                    ],
                },
                **labels,
                sample.name: sample.value,
            }
            yield json.dumps(document, separators=(",", ":"))


def scrape(url: str, api_key: str | None, timeout_s: float = 10.0) -> str:
    headers = {"x-api-key": api_key} if api_key else {}
    response = httpx.get(url, headers=headers, timeout=timeout_s)
    response.raise_for_status()
    return response.text


def run(
    url: str,
    metrics: list[str],
    namespace: str,
    dimensions: dict[str, str],
    *,
    api_key: str | None = None,
    interval_s: float = 60.0,
    once: bool = False,
    out: TextIO = sys.stdout,
    stop: threading.Event | None = None,
) -> int:
    """Scrape and print until stopped (or once); returns how many rounds printed lines."""
    stop = stop or threading.Event()
    printed = 0
    while True:
        try:
            text = scrape(url, api_key)
        except httpx.HTTPError as exc:
            log.warning("metrics-emf: cannot read %s: %s", url, type(exc).__name__)
        else:
            lines = list(emf_lines(text, metrics, namespace, dimensions, int(time.time() * 1000)))
            for line in lines:
                out.write(line + "\n")
            out.flush()
            printed += bool(lines)
        if once or stop.wait(interval_s):
            return printed


def parse_dimensions(values: Iterable[str]) -> dict[str, str]:
    """`NAME=VALUE` pairs; ValueError names a malformed one."""
    pairs = {}
    for value in values:
        name, sep, dim = value.partition("=")
        if not sep or not name:
            raise ValueError(f"a dimension is NAME=VALUE, not {value!r}")
        pairs[name] = dim
    return pairs
