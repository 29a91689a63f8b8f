"""The worker API's copy of accounts' standing, as the user API tells it after each
change (`PUT /_accounts/{username}`), and what the token check reads from it."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from shared.auth.accounts import AccountState
from shared.auth.tokens import Principal
from shared.db import upsert
from workerfacing_api.db.models import Account, utcnow


def load(session: Session, username: str) -> AccountState | None:
    row = session.get(Account, username)
    return AccountState.model_validate(row) if row is not None else None


def load_for(sessions: sessionmaker, principal: Principal) -> AccountState | None:
    """What the token check compares `principal` with (None: its account never changed)."""
    with sessions() as session:
        return load(session, principal.username)


def apply(session: Session, state: AccountState) -> AccountState:
    """Keep `state` unless a later revision is already kept (messages may come twice or
    late); the state now kept. In the caller's write transaction."""
    fields = {**state.model_dump(exclude={"username"}), "updated_at": utcnow()}
    insert = upsert(session, Account).values(username=state.username, **fields)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["username"],
            set_={name: insert.excluded[name] for name in fields},
            where=Account.revision < insert.excluded.revision,
        )
    )
    kept = load(session, state.username)
    assert kept is not None
    return kept
