"""Use cases that change supervision's state, one module per concern.

* `projection`: approval-svc's projects and tasks, as its events tell them;
* `alerts`: raise, escalate and resolve an alert, with its event on `supervision.alerts`;
* `construction`: the construction rules of one project, applied now;
* `reports`: an enterprise files a construction report;
* `credit`: records left by red alerts, corrections, the status they add up to;
* `sweeps`: rules that fire because time passes, run by `scheduler`.

Handlers are given a unit of work (`unit_of_work.SupervisionUnitOfWork`) and plain values (the
time is `now`, read by the caller; the thresholds are `rules`), never a session, a request or
a clock, and raise nothing but domain errors.
"""

from supervision_svc.handlers.alerts import (
    AlertSubject,
    alert_data,
    raise_alert,
    resolve_alert,
    resolve_task_alerts,
    set_alert_level,
)
from supervision_svc.handlers.construction import check_project
from supervision_svc.handlers.credit import correct_record, refresh_status
from supervision_svc.handlers.projection import project_changed, task_changed
from supervision_svc.handlers.reports import FileReport, file_report
from supervision_svc.handlers.sweeps import (
    SWEEP_CHUNK,
    SweepResult,
    run_due_rules,
    sweep_approval_overdue,
    sweep_construction,
    sweep_credit,
)

__all__ = [
    "SWEEP_CHUNK",
    "AlertSubject",
    "FileReport",
    "SweepResult",
    "alert_data",
    "check_project",
    "correct_record",
    "file_report",
    "project_changed",
    "raise_alert",
    "refresh_status",
    "resolve_alert",
    "resolve_task_alerts",
    "run_due_rules",
    "set_alert_level",
    "sweep_approval_overdue",
    "sweep_construction",
    "sweep_credit",
    "task_changed",
]
