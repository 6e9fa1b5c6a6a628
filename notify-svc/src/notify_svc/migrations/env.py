"""Alembic environment of the notify service."""

from notify_svc import models
from shared.migrations import run_env

run_env(models.metadata)
