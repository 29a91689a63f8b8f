"""The user-facing API's composition root: `create_app(settings)`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.orm import sessionmaker

from shared import db
from shared.api.body_limit import install_limits
from shared.api.errors import register_error_handlers
from shared.api.json_body import StrictJSONMiddleware
from shared.api_docs import install_docs
from shared.app_config import InvalidCatalogue, open_catalogue
from shared.auth import make_local_tokens, make_verifier
from shared.background import BackgroundTasks, Periodic
from shared.email import make_email_sender
from shared.log_context import JobContextMiddleware
from shared.settings import SettingsError
from shared.storage import storage_from_settings
from shared.transport import make_transport
from shared.transport.base import JobTransport
from shared.transport.http import HttpTransport
from shared.wakeup import Wakeup
from userfacing_api.context import AppContext
from userfacing_api.pollers.account_sync import sync_accounts_once
from userfacing_api.pollers.notifier import notify_once
from userfacing_api.pollers.outbox_relay import relay_once
from userfacing_api.pollers.reconciler import make_client, reconcile_once
from userfacing_api.routers import (
    accounts,
    admin_quotas,
    admin_users,
    files,
    health,
    internal,
    jobs,
    logs,
    users,
)
from userfacing_api.routers import tes as tes_router
from userfacing_api.services.account_admin import AccountAdmin, token_gate
from userfacing_api.services.accounts import AccountStore, LocalAccounts
from userfacing_api.services.cognito_accounts import CognitoAccounts
from userfacing_api.services.signin import SignIns
from userfacing_api.services.signin_throttle import SignInThrottle
from userfacing_api.services.storage_usage import StorageUsage
from userfacing_api.settings import UserAPISettings, load_settings
from userfacing_api.ui.router import router as ui_router

DESCRIPTION = """
The user-facing API of **labcloud**: upload data, launch containerised applications
on it, follow the jobs and download their results. It speaks DECODE OpenCloud's user
API, so DECODE's web frontend works against it.

Authenticate with `Authorization: Bearer <ID token>`; with local accounts (`AUTH=1`)
create one with `POST /user` and get a token from `POST /token`.
"""


def build_context(settings: UserAPISettings, transport: JobTransport | None = None) -> AppContext:
    """Open the database, storage, catalogue, token verifier, transport and email sender."""
    try:
        catalogue = open_catalogue(
            settings.application_config_file,
            region=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url,
        )
    except InvalidCatalogue as exc:
        raise SettingsError(str(exc)) from None
    engine = db.make_engine(settings.db_url)
    local = settings.auth and not settings.cognito_configured
    local_tokens = make_local_tokens(settings, settings.auth_token_lifetime) if local else None
    verifier = local_tokens or make_verifier(settings)
    sessions = db.make_sessionmaker(engine)
    storage = storage_from_settings(settings)
    accounts: AccountStore | None = None
    if local_tokens is not None:
        accounts = LocalAccounts(sessions, local_tokens, settings.password_min_length)
    elif settings.auth:
        accounts = cognito_accounts(settings, sessions)
    storage = storage_from_settings(settings)
    outbox_wakeup, account_sync_wakeup = Wakeup(), Wakeup()
    gate = token_gate(
        sessions,
        settings.account_cache_seconds,
        local=local_tokens is not None,
        on_write=account_sync_wakeup.notify,
    )
    return AppContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        storage=storage,
        catalogue=catalogue,
        verifier=verifier,
        local_tokens=local_tokens,
        accounts=accounts,
        transport=transport or _make_transport(settings),
        email_sender=make_email_sender(
            settings.email_sender_service,
            address=settings.email_sender_address,
            api_key=settings.email_sender_api_key,
            secret_key=settings.email_sender_secret_key.get_secret_value()
            if settings.email_sender_secret_key
            else None,
            api_url=settings.email_sender_api_url,
            smtp_host=settings.smtp_host,
            smtp_port=settings.smtp_port,
            smtp_starttls=settings.smtp_starttls,
        ),
        outbox_wakeup=outbox_wakeup,
        notify_wakeup=Wakeup(),
        account_gate=gate,
        account_admin=AccountAdmin(
            sessions,
            storage,
            accounts,
            authoritative=local_tokens is not None,
            gate=gate,
            account_changed=account_sync_wakeup.notify,
            jobs_changed=outbox_wakeup.notify,
        ),
        account_sync_wakeup=account_sync_wakeup,
        signins=signins(settings, sessions, accounts),
        usage=StorageUsage(storage, settings.storage_usage_max_age),
    )


def signins(
    settings: UserAPISettings, sessions: sessionmaker, accounts: AccountStore | None
) -> SignIns | None:
    """Password sign-ins, when there are password accounts (AUTH=1)."""
    if accounts is None:
        return None
    throttle = SignInThrottle(
        sessions, settings.signin_max_failures, settings.signin_failure_window
    )
    return SignIns(accounts, throttle, settings.password_hash_workers, settings.signin_max_pending)


def cognito_accounts(settings: UserAPISettings, sessions: sessionmaker) -> CognitoAccounts:
    import boto3

    client = boto3.client(
        "cognito-idp",
        region_name=settings.cognito_region,
        endpoint_url=settings.cognito_endpoint_url,
    )
    secret = settings.cognito_secret.get_secret_value() if settings.cognito_secret else None
    assert settings.cognito_user_pool_id and settings.cognito_client_id
    return CognitoAccounts(
        client,
        settings.cognito_user_pool_id,
        settings.cognito_client_id,
        secret,
        sessions=sessions,
    )


def _make_transport(settings: UserAPISettings) -> JobTransport:
    if settings.job_transport == "memory":
        raise SettingsError(
            "JOB_TRANSPORT=memory needs both APIs in one process (labcloud up); use http"
        )
    if settings.job_transport == "http":
        return HttpTransport(settings.workerfacing_api_url, settings.api_key)
    # A broker: accepted means durably queued; the worker API acks only after its
    # commit, and the reconciler re-sends a job the worker API never got.
    return make_transport(
        settings.job_transport,
        queue=settings.job_transport_queue,
        transport_options=settings.job_transport_options or None,
    )


def background_tasks(ctx: AppContext) -> BackgroundTasks:
    """The user API's background loops: outbox relay and email sender."""
    loops = [
        Periodic(
            "outbox-relay",
            partial(relay_once, ctx.sessions, ctx.transport),
            ctx.settings.outbox_relay_period,
            ctx.outbox_wakeup,
        ),
    ]
    reconcile_client = make_client(ctx.settings.workerfacing_api_url, ctx.settings.api_key)
    loops.append(
        Periodic(
            "reconciler",
            partial(reconcile_once, ctx.sessions, reconcile_client, ctx.settings.reconcile_after),
            ctx.settings.reconcile_period,
        )
    )
    loops.append(  # the same client: both rounds call the worker API's internal endpoints
        Periodic(
            "account-sync",
            partial(sync_accounts_once, ctx.sessions, reconcile_client),
            ctx.settings.outbox_relay_period,
            ctx.account_sync_wakeup,
        )
    )
    if ctx.email_sender is not None:
        loops.append(
            Periodic(
                "notifier",
                partial(
                    notify_once, ctx.sessions, ctx.email_sender, ctx.settings.email_claim_seconds
                ),
                5.0,
                ctx.notify_wakeup,
            )
        )
    return BackgroundTasks(loops, closers=[reconcile_client.close])


def create_app(
    settings: UserAPISettings | None = None,
    *,
    transport: JobTransport | None = None,
    run_background: bool = True,
) -> FastAPI:
    """The user API for `settings` (read from the environment when omitted).

    `transport` overrides the one the settings name (the embedded platform passes
    its in-process transport); `run_background=False` leaves the relays off (tests).
    """
    settings = settings or load_settings()
    ctx = build_context(settings, transport)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = background_tasks(ctx) if run_background else None
        if tasks:
            tasks.start()
        try:
            yield
        finally:
            if tasks:
                await tasks.stop()
            ctx.transport.close()
            if ctx.signins is not None:
                ctx.signins.close()

    app = FastAPI(
        docs_url=None,  # /docs and /redoc: install_docs, offline
        redoc_url=None,
        lifespan=lifespan,
        title="labcloud user-facing API",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "Files", "description": "A user's config, data, artifact, output, log."},
            {"name": "Jobs", "description": "Applications and jobs."},
            {"name": "Authentication", "description": "Accounts and tokens."},
            {"name": "Administration", "description": "labcloud: accounts (admin group)."},
            {"name": "Notifications", "description": "Email on job end."},
            {"name": "GA4GH TES", "description": "Task Execution Service 1.1 (TES_GROUP)."},
            {"name": "_Internal", "description": "For the worker API (x-api-key)."},
            {"name": "Administration", "description": "Storage quotas (the admin group)."},
        ],
    )
    app.state.ctx = ctx
    app.add_middleware(StrictJSONMiddleware)  # inside the limit: it reads bounded bodies
    install_limits(app, settings.max_request_bytes)  # before CORS: refusals carry its headers
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    register_error_handlers(app)
    ctx.email_sender = ctx.metrics.count_emails(ctx.email_sender)
    ctx.metrics.install(app, ctx.sessions, settings)  # GET /metrics
    app.add_middleware(JobContextMiddleware)  # log lines about /jobs/{id}/… name the job

    @app.get("/", tags=["Authentication"])
    def root() -> str:
        return "Welcome to the labcloud user-facing API (DECODE OpenCloud compatible)"

    app.include_router(health.router)  # GET /healthz, /readyz
    app.include_router(users.router)
    app.include_router(admin_users.router)
    if settings.auth:
        app.include_router(accounts.router)
    app.include_router(files.router)
    app.include_router(jobs.router)
    app.include_router(logs.router)
    app.include_router(internal.router)
    app.include_router(admin_quotas.router)  # /admin/quotas
    app.include_router(tes_router.router)  # GA4GH TES at /ga4gh/tes/v1
    app.include_router(ui_router)  # the web page at /ui
    install_docs(app)  # /docs, /redoc with their assets served here
    return app
