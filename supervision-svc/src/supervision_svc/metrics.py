"""Prometheus metrics of the supervision service (the platform-wide ones are in shared.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ALERTS_RAISED = Counter(
    "supervision_alerts_raised_total", "Alerts raised, by kind and level.", ["kind", "level"]
)
ALERTS_RESOLVED = Counter(
    "supervision_alerts_resolved_total", "Alerts resolved, by kind and level.", ["kind", "level"]
)
SWEEPS_COMPLETED = Counter(
    "supervision_sweeps_completed_total",
    "Sweeps that ran to the end without error, by sweep.",
    ["sweep"],
)
SWEEP_LAST_SUCCESS = Gauge(
    "supervision_sweep_last_success_timestamp_seconds",
    "Unix time (real) at which a sweep last finished without error.",
    ["sweep"],
)
OVERDUE_ALERTS_RAISED = Counter(
    "supervision_overdue_alerts_raised_total",
    "Overdue alerts raised on approval tasks, by department and level.",
    ["department", "level"],
)
