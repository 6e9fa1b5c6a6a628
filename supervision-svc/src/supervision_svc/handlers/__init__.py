"""Use cases that change supervision's state, one module per concern.

* `projection`: approval-svc's projects and tasks, as its events tell them;
* `alerts`: raise and resolve an alert, with its event on `supervision.alerts`;
* `sweeps`: rules that fire because time passes (`approval_overdue`), run by `scheduler`.

Handlers are given a unit of work (`unit_of_work.SupervisionUnitOfWork`) and plain values (the
time is `now`, read by the caller), never a session, a request or a clock, and raise nothing
but domain errors.
"""

from supervision_svc.handlers.alerts import (
    SOURCE,
    alert_data,
    raise_alert,
    resolve_alert,
    resolve_task_alerts,
)
from supervision_svc.handlers.projection import project_changed, task_changed
from supervision_svc.handlers.sweeps import SWEEP_CHUNK, SweepResult, sweep_approval_overdue

__all__ = [
    "SOURCE",
    "SWEEP_CHUNK",
    "SweepResult",
    "alert_data",
    "project_changed",
    "raise_alert",
    "resolve_alert",
    "resolve_task_alerts",
    "sweep_approval_overdue",
    "task_changed",
]
