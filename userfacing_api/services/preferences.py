"""Per-user preferences (today: job emails on or off)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from userfacing_api.db.models import UserPreference


def notify_email(session: Session, user_id: str) -> bool:
    pref = session.get(UserPreference, user_id)
    return True if pref is None else pref.notify_email


def set_notify_email(session: Session, user_id: str, value: bool) -> None:
    pref = session.get(UserPreference, user_id)
    if pref is None:
        session.add(UserPreference(user_id=user_id, notify_email=value))
    else:
        pref.notify_email = value
    session.commit()
