"""Validation of TES responses against the specification's OpenAPI document
(tests/fixtures/tes/task_execution_service.openapi.yaml, TES 1.1.0)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

FIXTURE = (
    Path(__file__).resolve().parents[1] / "fixtures" / "tes" / "task_execution_service.openapi.yaml"
)


@functools.cache
def document() -> dict[str, Any]:
    return yaml.safe_load(FIXTURE.read_text())


def errors(instance: Any, schema: str, *, minimal: bool = False) -> list[str]:
    """What is wrong with ``instance`` as a ``components/schemas/<schema>``.

    ``minimal``: a task in the MINIMAL view, which the specification defines as
    only `id` and `state`, so tesTask's `required: [executors]` cannot hold there.
    """
    components = copy.deepcopy(document()["components"])
    if minimal:
        components["schemas"]["tesTask"].pop("required", None)
    validator = OAS30Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": components},
        format_checker=oas30_format_checker,
    )
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def assert_valid(instance: Any, schema: str, *, minimal: bool = False) -> None:
    problems = errors(instance, schema, minimal=minimal)
    assert not problems, f"not a valid {schema}: {problems}\n{instance}"


def assert_task_view(task: dict[str, Any], view: str) -> None:
    """A task as GetTask/ListTasks answer it in ``view``, checked against the schema and
    the view's rules."""
    assert_valid(task, "tesTask", minimal=view == "MINIMAL")
    if view == "MINIMAL":
        assert set(task) == {"id", "state"}, task
        return
    if view == "BASIC":
        assert all("content" not in i for i in task.get("inputs", [])), task
        for log in task.get("logs", []):
            assert "system_logs" not in log, task
            for ex in log["logs"]:
                assert "stdout" not in ex and "stderr" not in ex, task
