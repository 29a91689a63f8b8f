"""Guard: schemathesis over both APIs' OpenAPI specs finds no server error and no answer
that breaks the spec (status, content type, body schema, headers).

Every operation of each API, as each kind of caller (a user, a TES user, a worker,
and the internal API key), on SQLite and on PostgreSQL, against both APIs served over
real HTTP with seeded data (a user with files and jobs, a worker holding one of them),
so that requests get past authentication and reach the services. The callers of an API
take turns on one seeded stack, those that change the least first; a caller that is
not the API's own (a user on the worker API, say) is refused at the door, so its run
skips schemathesis's coverage phase (the bulk of the cases) to keep the time bounded.
The counts of each run, and their totals, are printed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.api_stack import Stack, running_stack
from tests.support.fuzzing import FuzzResult, fuzz

#: Each API's callers in the order they take turns: those whose requests are refused or
#: change little first, then those that delete and cancel what the others need.
TURNS = {
    "worker": ("user", "tes", "worker", "key"),
    # the key last: as the operator it may close the others' accounts
    "user": ("worker", "tes", "user", "key"),
}
#: The callers each API is for (the others get 401 or 403 from almost every operation).
OWN_CALLERS = {"worker": {"worker", "key"}, "user": {"user", "tes", "key"}}
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


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def api(request: pytest.FixtureRequest) -> str:
    return request.param


RUNS = [(api, persona) for api, personas in TURNS.items() for persona in personas]


@pytest.fixture(scope="module")
def stack(db_kind: str, api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One seeded stack per database and API, for its callers' turns."""
    with running_stack(db_kind, tmp_path_factory.mktemp(f"fuzz-{api}")) as running:
        yield running


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "api,persona", RUNS, indirect=["api"], ids=[f"{a}-api-as-{p}" for a, p in RUNS]
)
def test_no_server_errors_and_answers_match_the_spec(
    stack: Stack, api: str, persona: str, tally: Tally
) -> None:
    url = stack.user_url if api == "user" else stack.worker_url
    result = fuzz(
        url,
        stack.headers[persona],
        max_examples=MAX_EXAMPLES,
        coverage=persona in OWN_CALLERS[api],
    )
    tally.runs.append((f"{api} API as {persona} on {stack.db_kind}", result))
    assert result.operations >= 15 and len(result.answered) == result.operations, (
        f"operations never answered a case: {result.answered}; {result.summary()}"
    )
    assert not result.failures, "\n".join([result.summary(), *result.failures[:30]])
