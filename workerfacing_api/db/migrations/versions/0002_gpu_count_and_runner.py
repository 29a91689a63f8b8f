"""gpu count and runner of a job; per-state time limits; operator requeue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:08:34.751868
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queued_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gpus", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("runner", sa.String(length=32), server_default="docker", nullable=False)
        )
        batch_op.add_column(sa.Column("status_changed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("timeout_s", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("attempt_base", sa.Integer(), server_default="0", nullable=False)
        )
    # Jobs queued before this revision: their last update is the best guess we have.
    op.execute("UPDATE queued_jobs SET status_changed_at = updated_at")
    with op.batch_alter_table("queued_jobs", schema=None) as batch_op:
        batch_op.alter_column("status_changed_at", existing_type=sa.DateTime(), nullable=False)
        batch_op.create_index(
            "ix_queued_jobs_status_changed", ["status", "status_changed_at"], unique=False
        )

    with op.batch_alter_table("status_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("operator_requeue", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("status_outbox", schema=None) as batch_op:
        batch_op.drop_column("operator_requeue")

    with op.batch_alter_table("queued_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_queued_jobs_status_changed")
        batch_op.drop_column("attempt_base")
        batch_op.drop_column("timeout_s")
        batch_op.drop_column("status_changed_at")
        batch_op.drop_column("runner")
        batch_op.drop_column("gpus")
