"""The user-facing API's composition root: `create_app(settings)`."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from shared import db
from shared.app_config import CatalogueFile, InvalidCatalogue
from shared.auth.local import LocalTokens
from shared.settings import SettingsError
from shared.storage import make_storage
from userfacing_api.context import AppContext
from userfacing_api.errors import register_error_handlers
from userfacing_api.routers import accounts, files, internal, jobs, users
from userfacing_api.settings import UserAPISettings, load_settings

DESCRIPTION = """
The user-facing API of **labcloud**: upload data, launch containerised applications
on it, follow the jobs and download their results. It speaks DECODE OpenCloud's user
API, so DECODE's web frontend works against it.

Authenticate with `Authorization: Bearer <ID token>`; with local accounts (`AUTH=1`)
create one with `POST /user` and get a token from `POST /token`.
"""


def build_context(settings: UserAPISettings) -> AppContext:
    """Open the database, storage, catalogue and token verifier the settings name."""
    try:
        catalogue = CatalogueFile(settings.application_config_file)
    except InvalidCatalogue as exc:
        raise SettingsError(str(exc)) from None
    engine = db.make_engine(settings.db_url)
    local_tokens = None
    if settings.auth:
        assert settings.auth_token_secret is not None
        local_tokens = LocalTokens(
            settings.auth_token_secret.get_secret_value(),
            issuer=settings.auth_token_issuer,
            audience=settings.auth_token_audience,
            lifetime_s=settings.auth_token_lifetime,
        )
        verifier = local_tokens
    else:
        raise SettingsError(
            "Cognito authentication (AUTH=0) is not available in this build; set AUTH=1"
        )
    return AppContext(
        settings=settings,
        engine=engine,
        sessions=db.make_sessionmaker(engine),
        storage=make_storage(settings.filesystem, settings.user_data_root_path),
        catalogue=catalogue,
        verifier=verifier,
        local_tokens=local_tokens,
    )


def create_app(settings: UserAPISettings | None = None) -> FastAPI:
    """The user API for `settings` (read from the environment when omitted)."""
    settings = settings or load_settings()
    ctx = build_context(settings)
    app = FastAPI(
        title="labcloud user-facing API",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "Files", "description": "A user's config, data, artifact, output, log."},
            {"name": "Jobs", "description": "Applications and jobs."},
            {"name": "Authentication", "description": "Accounts and tokens."},
            {"name": "Notifications", "description": "Email on job end."},
            {"name": "_Internal", "description": "For the worker API (x-api-key)."},
        ],
    )
    app.state.ctx = ctx
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    register_error_handlers(app)

    @app.get("/", tags=["Authentication"])
    def root() -> str:
        return "Welcome to the labcloud user-facing API (DECODE OpenCloud compatible)"

    app.include_router(users.router)
    if settings.auth:
        app.include_router(accounts.router)
    app.include_router(files.router)
    app.include_router(jobs.router)
    app.include_router(internal.router)
    return app
