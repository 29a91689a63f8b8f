"""The body of both APIs' Alembic `env.py`: online migrations only."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData, pool
from sqlalchemy import create_engine as sa_create_engine


def run_migrations(target_metadata: MetaData) -> None:
    """Upgrade the database named by the Alembic config, under its own version table."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    version_table = config.attributes.get("version_table", "alembic_version")
    connectable = sa_create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
