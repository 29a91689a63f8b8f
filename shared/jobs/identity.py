"""Job identity across the two APIs.

The user API's job id names a job on the wire, and neither API ever gives an id twice.
But a database can be reset or restored from a backup while the other API keeps its
own: the same id may then name two different jobs. So each submission also gets a
UUID of its own (its submission id), stored by both APIs and carried by every
message about the job; a message whose submission id is not the job's is about
another job. Rows and messages from before submission ids existed have none: they
are matched on the job id alone, as before.
"""

from __future__ import annotations

import uuid

#: The length of a submission id as stored (canonical text of a UUID).
SUBMISSION_ID_LENGTH = 36


def new_submission_id() -> str:
    """A fresh submission id."""
    return str(uuid.uuid4())


def same_submission(known: str | uuid.UUID | None, given: str | uuid.UUID | None) -> bool:
    """Whether `given` may name the submission `known`: the same UUID, or either unknown."""
    return known is None or given is None or str(known) == str(given)


def collision_reason(job_id: int, known: str | uuid.UUID | None, given: str | uuid.UUID) -> str:
    """What to tell the user and the operator when job id `job_id` arrives with submission
    `given` while the worker API knows it from submission `known`."""
    return (
        f"job id collision: the worker API already has a job {job_id} from an earlier "
        f"submission ({known or 'without a submission id'}), so this submission ({given}) "
        "was refused; the user API's database was probably reset or restored from a backup "
        "while the worker API's was not (an operator must move the user API's job id "
        "sequence past the worker API's highest job id)"
    )
