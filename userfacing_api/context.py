"""Everything the user API's requests share, built once by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from shared.app_config import ReloadingCatalogue
from shared.auth.accounts import AccountGate
from shared.auth.local import LocalTokens
from shared.auth.tokens import TokenVerifier
from shared.email.base import EmailSender
from shared.storage.base import Storage
from shared.transport.base import JobTransport
from shared.wakeup import Wakeup
from userfacing_api.metrics import UserAPIMetrics
from userfacing_api.services.account_admin import AccountAdmin
from userfacing_api.services.accounts import AccountStore
from userfacing_api.services.signin import SignIns
from userfacing_api.services.storage_usage import StorageUsage
from userfacing_api.services.stream_slots import StreamSlots
from userfacing_api.settings import UserAPISettings


@dataclass
class AppContext:
    settings: UserAPISettings
    engine: Engine
    sessions: sessionmaker
    storage: Storage
    catalogue: ReloadingCatalogue
    verifier: TokenVerifier
    local_tokens: LocalTokens | None  # set when AUTH=1 without Cognito
    accounts: AccountStore | None  # set when AUTH=1: where /user and /token go
    transport: JobTransport
    email_sender: EmailSender | None  # None: email off
    outbox_wakeup: Wakeup  # notified after a commit that added outbox messages
    notify_wakeup: Wakeup  # notified after a commit that made an email due
    account_gate: AccountGate  # refuses tokens of closed, disabled, re-created accounts
    account_admin: AccountAdmin  # closes, disables, enables accounts
    account_sync_wakeup: Wakeup  # notified after an account changed: tell the worker API
    signins: SignIns | None  # set when AUTH=1: throttled sign-ins, bounded password work
    usage: StorageUsage  # each user's bytes in storage, measured and cached (quotas)
    # Its Prometheus registry and the metrics requests and loops feed (GET /metrics).
    metrics: UserAPIMetrics = field(default_factory=UserAPIMetrics)
    # The live-log streams each user has open in this process (MAX_LOG_STREAMS_PER_USER).
    log_streams: StreamSlots = field(default_factory=StreamSlots)
