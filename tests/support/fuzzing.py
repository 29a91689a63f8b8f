"""Schemathesis over a running API's OpenAPI spec, through its Python API (the engine its
command line runs): every operation, positive and negative cases, with the checks that
the API never answers 5xx and always answers as its spec says. Deterministic (a fixed
seed, derandomized Hypothesis) and bounded (a few examples per operation and phase)."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

import schemathesis
from schemathesis.engine import events, from_schema

#: The checks that must hold for every case: no server error, and the status code,
#: content type, body and headers all as the spec documents them.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
SEED = 13


@dataclass
class FuzzResult:
    """What one run did: how many operations and cases, what failed, how long it took."""

    operations: int = 0
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    answered: set[str] = field(default_factory=set)  # operations that answered a case

    def summary(self) -> str:
        answered = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"{self.operations} operations, {self.cases} test cases, "
            f"{len(self.failures)} failures in {self.seconds:.1f} s (answers {answered})"
        )


def fuzz(
    base_url: str, headers: dict[str, str], *, max_examples: int, coverage: bool = True
) -> FuzzResult:
    """Run schemathesis against the API at `base_url`, sending `headers` on every request.

    `coverage`: also run the coverage phase (every boundary and every kind of invalid
    value of every parameter; most of the cases), not only the examples and fuzzing."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},  # no state carried from run to run (or into git)
            "base-url": base_url,
            "headers": headers,
            "workers": 1,
            "request-timeout": 20,
            "max-stream-events": 2,  # a live-log stream ends only with its job
            "continue-on-failure": True,  # report every failing case, not the first
            "generation": {"mode": "all", "max-examples": max_examples, "deterministic": True},
            "phases": {
                "stateful": {"enabled": False},
                # no unexpected methods: 405s from the router are no news
                "coverage": {"enabled": coverage, "unexpected-methods": []},
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    result = FuzzResult(operations=sum(1 for _ in schema.get_all_operations()))
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            result.cases += len(recorder.cases)
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    result.statuses[interaction.response.status_code] += 1
                    result.answered.add(recorder.label)
            for checks in recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        result.failures.append(
                            f"{recorder.label}: {check.name}: {failure.title}: "
                            f"{failure.message[:400]}\n    {check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            result.failures.append(f"{event.label}: error: {event.value!r}"[:600])
        elif isinstance(event, events.FatalError):
            result.failures.append(f"fatal: {event.exception!r}"[:600])
    result.seconds = time.monotonic() - started
    return result
