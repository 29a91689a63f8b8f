"""Migration steps both APIs' Alembic revisions share (run inside a migration only)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


def is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def rebuild_never_reusing_ids(
    table: str,
    add: Sequence[sa.Column] = (),
    drop: Sequence[str] = (),
    *,
    never_reuse: bool = True,
) -> None:
    """Give `table` the columns `add` and take `drop` away; on SQLite, also rebuild it
    with AUTOINCREMENT (`never_reuse`) or without, so that its ids are (or no longer
    are) never given again.

    The rebuild copies the rows with their ids, which starts AUTOINCREMENT's sequence
    above the largest. Elsewhere ids come from sequences, which never go back anyway.
    Indexes whose columns are sorted (DESC) lose that in the rebuild: drop them before
    and create them again after.
    """
    if not is_sqlite():
        for column in add:
            op.add_column(table, column)
        for name in drop:
            op.drop_column(table, name)
        return
    with op.batch_alter_table(
        table, recreate="always", table_kwargs={"sqlite_autoincrement": never_reuse}
    ) as batch:
        for column in add:
            batch.add_column(column)
        for name in drop:
            batch.drop_column(name)


def start_ids_above(table: str, floor: int | None) -> None:
    """SQLite: the next id of `table` (an AUTOINCREMENT table) is above `floor`, e.g. an id
    other tables still refer to although its row is gone."""
    if not is_sqlite() or not floor:
        return
    bind = op.get_bind()
    params = {"name": table, "floor": floor}
    updated = bind.execute(
        sa.text("UPDATE sqlite_sequence SET seq = max(seq, :floor) WHERE name = :name"), params
    ).rowcount
    if not updated:  # an empty table has no entry yet
        insert = "INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :floor)"
        bind.execute(sa.text(insert), params)


def largest(*queries: str) -> int | None:
    """The largest of the integers the `SELECT max(...)` queries give (None if none)."""
    bind = op.get_bind()
    values = [bind.execute(sa.text(query)).scalar() for query in queries]
    present = [int(v) for v in values if v is not None]
    return max(present) if present else None
