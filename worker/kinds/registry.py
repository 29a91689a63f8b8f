"""The one place that says which kind of run a leased spec is.

The kinds are asked in order and the first that accepts the spec runs it; the
DECODE job accepts every spec, so it comes last. A new kind (an interactive
session) is one module and one entry here, before the job.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.jobs.specs import JobSpecs
from worker.kinds.base import RunKind
from worker.kinds.job import DecodeJob
from worker.kinds.tes import TesTask

#: Every kind this worker runs, in the order they are asked.
KINDS: tuple[RunKind, ...] = (TesTask(), DecodeJob())


def kind_for(spec: JobSpecs, kinds: Sequence[RunKind] = KINDS) -> RunKind:
    """The kind that runs ``spec``: the first of ``kinds`` that accepts it.

    Raises ``LookupError`` naming the kinds when none does (not with :data:`KINDS`,
    whose last kind accepts every spec).
    """
    for kind in kinds:
        if kind.accepts(spec):
            return kind
    names = ", ".join(k.name for k in kinds) or "none"
    raise LookupError(f"no kind of run takes job {spec.meta.job_id} (kinds: {names})")
