"""Everything the worker API's requests and background loops share, built once by
`create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from shared.auth.accounts import AccountGate
from shared.auth.tokens import TokenVerifier
from shared.storage.base import Storage
from shared.transport.base import MessageHandler
from shared.wakeup import Wakeup
from workerfacing_api.metrics import WorkerAPIMetrics
from workerfacing_api.services.outbox import QUEUED_WORK, WROTE_EVENTS
from workerfacing_api.settings import WorkerAPISettings


@dataclass
class AppContext:
    settings: WorkerAPISettings
    engine: Engine
    sessions: sessionmaker
    storage: Storage
    verifier: TokenVerifier
    # The job transport's consumer: `transport.attach(ctx.handle_message)`. Returns once
    # the message is committed to the queue database; raises to refuse it.
    handle_message: MessageHandler
    # Set after a commit that wrote status-outbox rows: the relay delivers at once.
    relay_wakeup: Wakeup
    # Set after a commit that made a job claimable: long-polling workers look again.
    work_wakeup: Wakeup
    # Refuses tokens of accounts the user API closed, disabled or re-created.
    account_gate: AccountGate
    # Its Prometheus registry and the metrics requests and loops feed (GET /metrics).
    metrics: WorkerAPIMetrics = field(default_factory=WorkerAPIMetrics)


def watch_commits(sessions: sessionmaker, relay_wakeup: Wakeup, work_wakeup: Wakeup) -> None:
    """Wake the relay / long polls after each commit of `sessions` that gives them work.

    Only after the commit: woken earlier, they would look before the rows exist.
    """

    @event.listens_for(sessions, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.info.pop(WROTE_EVENTS, False):
            relay_wakeup.notify()
        if session.info.pop(QUEUED_WORK, False):
            work_wakeup.notify()

    @event.listens_for(sessions, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(WROTE_EVENTS, None)
        session.info.pop(QUEUED_WORK, None)
