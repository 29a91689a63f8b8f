"""accounts: standing, token subject and validity, sync to the worker API; sign-in throttle

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("password_hash", existing_type=sa.String(length=255), nullable=True)
        batch_op.add_column(sa.Column("subject", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("standing", sa.String(length=16), server_default="active", nullable=False)
        )
        batch_op.add_column(
            sa.Column("tokens_valid_after", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("sync_due_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_users_sync_due_at"), ["sync_due_at"], unique=False)
    # Tokens issued before this revision carry the account's name as their `sub`.
    op.execute("UPDATE users SET subject = username")

    op.create_table(
        "signin_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("signin_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signin_failures_updated_at"), ["updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("signin_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signin_failures_updated_at"))
    op.drop_table("signin_failures")
    op.execute("DELETE FROM users WHERE password_hash IS NULL")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_sync_due_at"))
        batch_op.drop_column("sync_due_at")
        batch_op.drop_column("revision")
        batch_op.drop_column("tokens_valid_after")
        batch_op.drop_column("standing")
        batch_op.drop_column("subject")
        batch_op.alter_column("password_hash", existing_type=sa.String(length=255), nullable=False)
