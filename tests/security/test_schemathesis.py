"""Guard: schemathesis over both APIs' OpenAPI specs finds no server error and no answer
that breaks the spec (status, content type, body schema, headers).

Every operation of each API, as each kind of caller (a user, a TES user, a worker,
and the internal API key), on SQLite and on PostgreSQL, against both APIs served over
real HTTP with seeded data (a user with files and jobs, a worker holding one of them),
so that requests get past authentication and reach the services. Each run starts from
a fresh seed, so that what one run deletes cannot starve the next. The counts of each
run, and their totals, are printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api_stack import running_stack
from tests.support.fuzzing import FuzzResult, fuzz

PERSONAS = ("user", "tes", "worker", "key")
MAX_EXAMPLES = 5  # per operation and phase: bounds the time, the coverage phase adds more


class Tally:
    def __init__(self) -> None:
        self.runs: list[tuple[str, FuzzResult]] = []

    def line(self) -> str:
        total = FuzzResult(
            operations=sum(r.operations for _, r in self.runs),
            cases=sum(r.cases for _, r in self.runs),
            failures=[f for _, r in self.runs for f in r.failures],
            seconds=sum(r.seconds for _, r in self.runs),
        )
        for _, run in self.runs:
            total.statuses.update(run.statuses)
        return f"schemathesis, {len(self.runs)} runs: {total.summary()}"


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    tally = Tally()
    yield tally
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not tally.runs:
        return
    with capture.global_and_fixture_disabled():  # printed even without -s
        reporter.write_line("")
        for name, run in tally.runs:
            reporter.write_line(f"schemathesis {name}: {run.summary()}")
        reporter.write_line(tally.line())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.timeout(600)
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("api", ["user", "worker"])
def test_no_server_errors_and_answers_match_the_spec(
    db_kind: str, api: str, persona: str, tmp_path: Path, tally: Tally
) -> None:
    with running_stack(db_kind, tmp_path) as stack:
        url = stack.user_url if api == "user" else stack.worker_url
        result = fuzz(url, stack.headers[persona], max_examples=MAX_EXAMPLES)
    tally.runs.append((f"{api} API as {persona} on {db_kind}", result))
    assert result.operations >= 15 and result.cases > 10 * result.operations, result.summary()
    assert not result.failures, "\n".join([result.summary(), *result.failures[:30]])
