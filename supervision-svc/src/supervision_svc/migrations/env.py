"""Alembic environment of the supervision service."""

from shared.migrations import run_env
from supervision_svc import models

run_env(models.metadata)
