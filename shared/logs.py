"""Logging set-up for every labcloud process."""

from __future__ import annotations

import logging

# These libraries log whole request and response bodies at DEBUG, secrets included
# (Secrets Manager answers, presigned policies): never below INFO, whatever is asked.
_CHATTY = ("botocore", "boto3", "s3transfer", "urllib3")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    quiet_secret_leaks()


def quiet_secret_leaks() -> None:
    for name in _CHATTY:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), logging.INFO))
