"""live logs: the latest output of each attempt, and log events in the status outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempt_logs",
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("tail", sa.Text(), nullable=False),
        sa.Column("end_offset", sa.BigInteger(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("attempt_id"),
    )
    with op.batch_alter_table("status_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="status", nullable=False)
        )
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=True))
        # Every log chunk finds its attempt's log event by these: no scan of the outbox.
        batch_op.create_index("ix_status_outbox_log_event", ["job_id", "kind", "attempt"])


def downgrade() -> None:
    # Pending log events mean nothing to the older relay, which would send them as statuses.
    op.execute("DELETE FROM status_outbox WHERE kind = 'log'")
    with op.batch_alter_table("status_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_status_outbox_log_event")
        batch_op.drop_column("attempt")
        batch_op.drop_column("kind")
    op.drop_table("attempt_logs")
