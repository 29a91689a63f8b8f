"""job identity: ids never given twice (SQLite AUTOINCREMENT), a submission id per job,
and nothing left of jobs deleted before

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_ops import largest, rebuild_never_reusing_ids, start_ids_above

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OTHER_TABLES = ("job_outbox", "job_status_events", "notifications")
GONE = "job_id NOT IN (SELECT id FROM jobs)"


def upgrade() -> None:
    # Ids of deleted jobs that other tables still name were handed out: none may come back.
    floor = largest(
        "SELECT max(id) FROM jobs",
        *(f"SELECT max(job_id) FROM {table}" for table in (*OTHER_TABLES, "job_logs")),
    )
    rebuild_never_reusing_ids("jobs", [sa.Column("submission_id", sa.String(36), nullable=True)])
    for table in OTHER_TABLES:
        rebuild_never_reusing_ids(table)
    start_ids_above("jobs", floor)
    # What deleted jobs left behind, except a cancel still to deliver (the relay removes
    # it once the worker API has it).
    for table in ("job_status_events", "notifications", "job_logs"):
        op.execute(f"DELETE FROM {table} WHERE {GONE}")
    op.execute(
        f"DELETE FROM job_outbox WHERE {GONE} AND NOT (kind = 'cancel' AND delivered_at IS NULL)"
    )


def downgrade() -> None:
    for table in OTHER_TABLES:
        rebuild_never_reusing_ids(table, never_reuse=False)
    rebuild_never_reusing_ids("jobs", drop=["submission_id"], never_reuse=False)
