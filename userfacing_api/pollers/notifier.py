"""Send the emails that status updates recorded as due: off the request path, with
retries, and at most one per job.

A row is claimed by moving it from `due` to `sending` in a guarded UPDATE, so two
API processes never send the same email; a claim carries a deadline after which
a crashed sender's row is taken up again.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import or_, select, update
from sqlalchemy.orm import sessionmaker

from shared.email.base import EmailError, EmailSender, RetryLater
from shared.log_context import job_fields
from userfacing_api.db.models import Notification, utcnow

log = logging.getLogger(__name__)
BATCH = 20
MAX_ATTEMPTS = 12
CLAIM_S = 120  # a sender that crashed mid-send: its email is taken up again after this
MAX_BACKOFF_S = 300


def notify_once(sessions: sessionmaker, sender: EmailSender, claim_s: float = CLAIM_S) -> bool:
    """One round; True when an email was handled (there may be more)."""
    now = utcnow()
    with sessions() as session:
        ids = list(
            session.scalars(
                select(Notification.id)
                .where(
                    or_(Notification.state == "due", Notification.state == "sending"),
                    Notification.next_attempt_at <= now,
                )
                .order_by(Notification.id)
                .limit(BATCH)
            )
        )
    handled = 0
    for notification_id in ids:
        with sessions() as session:
            claimed = session.execute(
                update(Notification)
                .where(
                    Notification.id == notification_id,
                    or_(Notification.state == "due", Notification.state == "sending"),
                    Notification.next_attempt_at <= now,
                )
                .values(
                    state="sending",
                    attempts=Notification.attempts + 1,
                    next_attempt_at=utcnow() + dt.timedelta(seconds=claim_s),
                )
            )
            session.commit()
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue
            mail = session.get(Notification, notification_id)
            assert mail is not None
        values: dict[str, object]
        try:
            sender.send(mail.recipient, mail.subject, mail.body)
            values = {"state": "sent", "sent_at": utcnow(), "last_error": None}
        except RetryLater as exc:
            final = mail.attempts >= MAX_ATTEMPTS
            values = {
                "state": "failed" if final else "due",
                "last_error": str(exc),
                "next_attempt_at": utcnow()
                + dt.timedelta(seconds=exc.after_s or min(MAX_BACKOFF_S, 2.0**mail.attempts)),
            }
            log.warning(
                "email for job %s deferred (%s)%s",
                mail.job_id,
                exc,
                "; giving up" if final else "",
                extra=job_fields(mail.job_id),
            )
        except EmailError as exc:
            values = {"state": "failed", "last_error": str(exc)}
            log.error(
                "email for job %s failed: %s", mail.job_id, exc, extra=job_fields(mail.job_id)
            )
        except Exception as exc:
            # A sender's own fault: retrying would fail the same way, forever.
            values = {"state": "failed", "last_error": f"{type(exc).__name__}: {exc}"}
            log.exception("email for job %s failed", mail.job_id, extra=job_fields(mail.job_id))
        with sessions() as session:
            session.execute(
                update(Notification).where(Notification.id == notification_id).values(**values)
            )
            session.commit()
        handled += 1
    return handled > 0
