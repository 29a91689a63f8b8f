"""Logging set-up for every labcloud process."""

from __future__ import annotations

import logging

from shared import log_context

# These libraries log whole request and response bodies at DEBUG, secrets included
# (Secrets Manager answers, presigned policies): never below INFO, whatever is asked.
_CHATTY = ("botocore", "boto3", "s3transfer", "urllib3")


def configure_logging(level: str, fmt: str = "text") -> None:
    """Log to stderr at `level`, as text lines or (`fmt="json"`) one JSON object per line;
    either way every record about a job carries `job_id` and `attempt`
    (see `shared.log_context`)."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        log_context.install(handler, fmt)
    quiet_secret_leaks()


def quiet_secret_leaks() -> None:
    for name in _CHATTY:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), logging.INFO))
