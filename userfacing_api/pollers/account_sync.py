"""Tell the worker API of every change to an account (registered, closed, disabled,
enabled, re-created), so that it refuses the account's tokens as the user API does.

Each change makes its account due (`sync_due_at`); a round sends each due account's
latest state (`PUT /_accounts/{username}`, internal key) and, once accepted, clears
the mark — unless the account changed again meanwhile (guarded by its revision). The
worker API keeps the highest revision it was sent, so a repeat or a late message
changes nothing; rounds are safe to run in several processes at once. The round is
woken at once by each change, so the worker API normally knows within milliseconds;
while it cannot be reached, the changes wait here (and it serves no one either).
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import quote

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from userfacing_api.db.models import User, utcnow
from userfacing_api.services.account_book import state_of

log = logging.getLogger(__name__)
BATCH = 100
RETRY_REFUSED_S = 30.0  # an answer other than success: try that account again later


def sync_accounts_once(sessions: sessionmaker, client: httpx.Client) -> bool:
    """One round; True when it delivered something (there may be more)."""
    now = utcnow()
    with sessions() as session:
        due = [
            state_of(user)
            for user in session.scalars(
                select(User).where(User.sync_due_at <= now).order_by(User.sync_due_at).limit(BATCH)
            )
        ]
    delivered = False
    for state in due:
        try:
            response = client.put(
                f"/_accounts/{quote(state.username, safe='')}", json=state.model_dump()
            )
        except httpx.HTTPError as exc:
            log.warning("account sync: worker API unreachable (%s); trying again later", exc)
            return delivered
        accepted = response.status_code < 300
        if not accepted:
            log.warning(
                "account sync: the worker API answered %s for account %r: %s",
                response.status_code,
                state.username,
                response.text[:200],
            )
        next_due = None if accepted else utcnow() + dt.timedelta(seconds=RETRY_REFUSED_S)
        with sessions() as session:
            session.execute(
                update(User)
                .where(User.username == state.username, User.revision == state.revision)
                .values(sync_due_at=next_due)
            )
            session.commit()
        delivered |= accepted
    return delivered
