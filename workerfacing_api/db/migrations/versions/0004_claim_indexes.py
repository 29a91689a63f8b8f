"""claim indexes: queued jobs in claim order (with and without a group), and the requeued
ones; the claim reads them in passes instead of sorting every matching job

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NO_GROUP = sa.text('"group" IS NULL')
A_GROUP = sa.text('"group" IS NOT NULL')


def upgrade() -> None:
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
    op.create_index("ix_queued_jobs_retried", "queued_jobs", ["status", "attempt"])
    op.drop_index("ix_queued_jobs_claim", "queued_jobs")  # sorted every matching job


def downgrade() -> None:
    op.create_index(
        "ix_queued_jobs_claim",
        "queued_jobs",
        ["status", "environment", sa.text("priority DESC"), "created_at"],
    )
    op.drop_index("ix_queued_jobs_retried", "queued_jobs")
    op.drop_index("ix_queued_jobs_ready_group", "queued_jobs")
    op.drop_index("ix_queued_jobs_ready", "queued_jobs")
