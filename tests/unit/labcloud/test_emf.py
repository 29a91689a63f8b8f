"""Prometheus samples as CloudWatch Embedded Metric Format lines (labcloud metrics-emf)."""

from __future__ import annotations

import json

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from labcloud.emf import emf_lines, parse_dimensions


def _text() -> str:
    registry = CollectorRegistry()
    age = Gauge("labcloud_queue_oldest_age_seconds", "age", ["environment"], registry=registry)
    age.labels("cloud").set(420.5)
    age.labels("local").set(0)
    Gauge("labcloud_other", "not asked for", registry=registry).set(7)
    return generate_latest(registry).decode()


def test_each_sample_becomes_one_emf_document_with_its_labels_as_dimensions() -> None:
    lines = list(
        emf_lines(_text(), ["labcloud_queue_oldest_age_seconds"], "labcloud", {"Stack": "lab"}, 5)
    )
    documents = sorted((json.loads(line) for line in lines), key=lambda d: d["environment"])
    assert documents[0] == {
        "_aws": {
            "Timestamp": 5,
            "CloudWatchMetrics": [
                {
                    "Namespace": "labcloud",
                    "Dimensions": [["Stack", "environment"]],
                    "Metrics": [{"Name": "labcloud_queue_oldest_age_seconds", "Unit": "Seconds"}],
                }
            ],
        },
        "Stack": "lab",
        "environment": "cloud",
        "labcloud_queue_oldest_age_seconds": 420.5,
    }
    assert documents[1]["environment"] == "local"
    assert len(documents) == 2  # labcloud_other was not asked for


def test_dimensions_are_name_value_pairs() -> None:
    assert parse_dimensions(["Stack=lab", "Env=a=b"]) == {"Stack": "lab", "Env": "a=b"}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_dimensions(["Stack"])
