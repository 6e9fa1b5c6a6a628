"""What the route modules share: the runtime, the rules, cursors, domain errors as problems."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from shared.pagination import CursorCodec
from shared.problems import ProblemError, conflict, not_found
from shared.runtime import ServiceRuntime
from supervision_svc.domain.errors import Conflict, InvalidReport, NotFound, SupervisionError
from supervision_svc.domain.thresholds import Thresholds
from supervision_svc.scheduler import Wakeup


# async although it awaits nothing: FastAPI runs a plain function dependency in a worker
# thread, a thread hop on every request.
async def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def get_rules(request: Request) -> Thresholds:
    rules: Thresholds = request.app.state.rules
    return rules


async def get_wakeup(request: Request) -> Wakeup:
    wakeup: Wakeup = request.app.state.wakeup
    return wakeup


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]
Rules = Annotated[Thresholds, Depends(get_rules)]
Timers = Annotated[Wakeup, Depends(get_wakeup)]


def position(cursor: str | None, cursors: CursorCodec) -> tuple[datetime, str] | None:
    """A (time, id) cursor of a list ordered by both (InvalidCursor: 422 naming `cursor`)."""
    return cursors.decode(cursor, (datetime, str))


def problem(exc: SupervisionError) -> ProblemError:
    """The problem+json answer to a domain error."""
    if isinstance(exc, NotFound):
        return not_found(exc.what)
    if isinstance(exc, InvalidReport):
        errors = [
            {
                "loc": ["path", "code"] if p.field == "project_code" else ["body", p.field],
                "msg": p.msg,
            }
            for p in exc.problems
        ]
        return ProblemError(status=422, title="Validation Error", detail=str(exc), errors=errors)
    if isinstance(exc, Conflict):
        return conflict(str(exc))
    return ProblemError(status=400, title="Bad Request", detail=str(exc))
