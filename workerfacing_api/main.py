"""The worker-facing API's composition root: `create_app(settings)`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI

from shared import db
from shared.api.body_limit import install_limits
from shared.api.errors import register_error_handlers
from shared.api.json_body import StrictJSONMiddleware
from shared.api_docs import install_docs
from shared.auth import make_verifier
from shared.auth.accounts import AccountGate
from shared.log_context import JobContextMiddleware
from shared.settings import SettingsError
from shared.storage import JOB_OUTPUT_TAGS, storage_from_settings
from shared.transport.kombu import KombuConsumer
from shared.wakeup import Wakeup
from workerfacing_api.context import AppContext, watch_commits
from workerfacing_api.metrics import WorkerAPIMetrics
from workerfacing_api.pollers import relay, sweeper
from workerfacing_api.pollers.cloud import CloudPollers
from workerfacing_api.routers import access, files, health, internal, jobs
from workerfacing_api.routers import accounts as accounts_router
from workerfacing_api.services import accounts, inbox
from workerfacing_api.settings import WorkerAPISettings, load_settings

log = logging.getLogger(__name__)

DESCRIPTION = """
The worker-facing API of **labcloud**: workers lease jobs that match their hardware,
report status (which is also the heartbeat that keeps the lease), download the inputs
of the jobs they hold and upload their outputs. It speaks DECODE OpenCloud's worker
API, so DECODE's JobFetcher works against it.

Authenticate with `Authorization: Bearer <ID token>` of an account in the `workers`
group (tokens come from the user API's `POST /token` with local accounts).
"""


def build_context(settings: WorkerAPISettings) -> AppContext:
    """Open the database, storage and token verifier the settings name."""
    verifier = make_verifier(settings)
    try:
        storage = storage_from_settings(settings, s3_tags=JOB_OUTPUT_TAGS)  # jobs' results
    except ValueError as exc:
        raise SettingsError(f"FILESYSTEM: {exc}") from None
    engine = db.make_engine(settings.db_url)
    sessions = db.make_sessionmaker(engine)
    relay_wakeup, work_wakeup = Wakeup(), Wakeup()
    watch_commits(sessions, relay_wakeup, work_wakeup)
    metrics = WorkerAPIMetrics()
    return AppContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        storage=storage,
        verifier=verifier,
        handle_message=metrics.counting_conflicts(
            functools.partial(inbox.handle_message, sessions)
        ),
        relay_wakeup=relay_wakeup,
        work_wakeup=work_wakeup,
        metrics=metrics,
        account_gate=AccountGate(
            functools.partial(accounts.load_for, sessions), settings.account_cache_seconds
        ),
    )


async def _forever(
    name: str, one_round: Callable[[], object], pause: Callable[[], Awaitable[object]]
) -> None:
    """Run `one_round` in a thread, then `pause`, until cancelled; a failing round is
    logged and the loop goes on."""
    while True:
        try:
            await asyncio.to_thread(one_round)
        except Exception:
            log.exception("%s: round failed", name)
        await pause()


def _background_tasks(ctx: AppContext) -> tuple[list[asyncio.Task[None]], Callable[[], None]]:
    s = ctx.settings
    client = relay.make_client(s.userfacing_api_url, s.api_key)
    tasks = [
        asyncio.create_task(
            _forever(
                "lease sweeper",
                functools.partial(
                    sweeper.run_once,
                    ctx.sessions,
                    max_retries=s.max_retries,
                    limits=sweeper.time_limits(s),
                ),
                functools.partial(asyncio.sleep, s.sweeper_period),
            )
        ),
        asyncio.create_task(
            _forever(
                "status relay",
                functools.partial(relay.run_once, ctx.sessions, client),
                functools.partial(ctx.relay_wakeup.wait, s.status_relay_period),
            )
        ),
    ]
    close = [client.close]
    if s.broker_transport:  # job specs arrive through a broker: consume them
        consumer = KombuConsumer(
            s.job_transport,
            s.job_transport_queue,
            ctx.handle_message,
            transport_options=s.job_transport_options or None,
        )
        tasks.append(
            asyncio.create_task(
                _forever(
                    "job inbox",
                    functools.partial(consumer.run_once, 1.0),
                    functools.partial(asyncio.sleep, 0.2),  # run_once itself waits for messages
                )
            )
        )
        close.append(consumer.close)
    return tasks, lambda: [fn() for fn in close]


def create_app(
    settings: WorkerAPISettings | None = None, *, run_background: bool = True
) -> FastAPI:
    """The worker API for `settings` (read from the environment when omitted).

    With `run_background`, the lease sweeper and the status relay run as asyncio
    tasks while the app is up (its lifespan); without, call their `run_once`
    yourself (tests, or Celery beat in a scaled deployment).
    """
    settings = settings or load_settings()
    ctx = build_context(settings)
    pollers = CloudPollers(settings) if run_background and settings.cloud_pollers else None

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        ctx.relay_wakeup.bind(loop)
        ctx.work_wakeup.bind(loop)
        tasks, close = _background_tasks(ctx) if run_background else ([], lambda: None)
        if pollers is not None:
            pollers.start()
        try:
            yield
        finally:
            if pollers is not None:
                await asyncio.to_thread(pollers.stop)  # hand their jobs back first
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            close()

    app = FastAPI(
        docs_url=None,  # /docs and /redoc: install_docs, offline
        redoc_url=None,
        title="labcloud worker-facing API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "Jobs", "description": "Lease jobs, report status and heartbeat."},
            {"name": "Files", "description": "Inputs and outputs of the jobs you hold."},
            {"name": "Access", "description": "How to log in."},
            {"name": "_Internal", "description": "For the user API (x-api-key)."},
        ],
    )
    app.state.ctx = ctx
    app.add_middleware(StrictJSONMiddleware)
    register_error_handlers(app)
    install_limits(app, settings.max_request_bytes)  # MAX_REQUEST_BYTES, and 413/429/507
    ctx.metrics.install(app, ctx.sessions, settings)  # GET /metrics
    app.add_middleware(JobContextMiddleware)  # log lines about /jobs/{id}/… name the job
    app.include_router(health.router)  # GET /healthz, /readyz
    app.include_router(access.router)
    app.include_router(jobs.router)
    app.include_router(files.router)
    app.include_router(internal.router)
    app.include_router(accounts_router.router)
    install_docs(app)  # /docs, /redoc with their assets served here
    return app
