"""Alembic environment of the approval service."""

from approval_svc import models
from shared.migrations import run_env

run_env(models.metadata)
