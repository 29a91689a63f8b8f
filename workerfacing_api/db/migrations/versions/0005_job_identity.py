"""job identity: ids never given twice (SQLite AUTOINCREMENT), and the submission id of
each queued job and of each status event

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_ops import is_sqlite, rebuild_never_reusing_ids

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The claim's indexes sort by priority DESC, which a SQLite rebuild would lose: there they
# are dropped first and made again afterwards, as revision 0004 made them.
SORTED_INDEXES = ("ix_queued_jobs_ready", "ix_queued_jobs_ready_group")
NO_GROUP = sa.text('"group" IS NULL')
A_GROUP = sa.text('"group" IS NOT NULL')


def _submission_id() -> sa.Column:
    return sa.Column("submission_id", sa.String(36), nullable=True)


def _rebuild(never_reuse: bool) -> None:
    sqlite = is_sqlite()
    if sqlite:
        for name in SORTED_INDEXES:
            op.drop_index(name, "queued_jobs")
    if never_reuse:
        rebuild_never_reusing_ids("queued_jobs", [_submission_id()])
        rebuild_never_reusing_ids("attempts")
        rebuild_never_reusing_ids("status_outbox", [_submission_id()])
    else:
        rebuild_never_reusing_ids("status_outbox", drop=["submission_id"], never_reuse=False)
        rebuild_never_reusing_ids("attempts", never_reuse=False)
        rebuild_never_reusing_ids("queued_jobs", drop=["submission_id"], never_reuse=False)
    if sqlite:
        _create_sorted_indexes()


def _create_sorted_indexes() -> None:
    op.create_index(
        "ix_queued_jobs_ready",
        "queued_jobs",
        ["status", sa.text("priority DESC"), "created_at", "id"],
        postgresql_where=NO_GROUP,
        sqlite_where=NO_GROUP,
    )
    op.create_index(
        "ix_queued_jobs_ready_group",
        "queued_jobs",
        ["status", "group", sa.text("priority DESC"), "created_at", "id"],
        postgresql_where=A_GROUP,
        sqlite_where=A_GROUP,
    )


def upgrade() -> None:
    _rebuild(never_reuse=True)


def downgrade() -> None:
    _rebuild(never_reuse=False)
