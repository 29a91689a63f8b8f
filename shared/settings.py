"""Helpers the services' settings classes share. Nothing is read at import time."""

from __future__ import annotations

from urllib.parse import quote

from pydantic import ValidationError


class SettingsError(SystemExit):
    """A setting is missing or unsafe: start-up stops with a message naming it."""

    def __init__(self, message: str) -> None:
        super().__init__(f"labcloud: configuration error: {message}")
        self.message = message


def explain(exc: ValidationError) -> SettingsError:
    """Turn pydantic's error into one message naming each bad setting by its env name."""
    problems = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]).upper() or "settings"
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {msg}" if name != "settings" else msg)
    return SettingsError("; ".join(problems))


def database_url(url: str, secret: str | None) -> str:
    """DECODE's convention: `DATABASE_SECRET` fills a `{}` in `DATABASE_URL`.

    Also picks the psycopg 3 driver for plain `postgresql://` URLs.
    """
    if "{}" in url:
        if not secret:
            raise ValueError("DATABASE_URL has a {} placeholder but DATABASE_SECRET is not set")
        url = url.replace("{}", quote(secret, safe=""))
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def reject_aws_secret_arn(name: str, value: str | None) -> None:
    """Secrets Manager ARNs are resolved by the AWS integration; refuse them until it is set up."""
    if value and value.startswith("arn:aws:secretsmanager:"):
        raise ValueError(
            f"{name} is a Secrets Manager ARN; install and configure the AWS integration to use it"
        )
