"""Metrics of the notify service (the platform's common ones are in `shared.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DELIVERY_ATTEMPTS = Counter(
    "notify_delivery_attempts_total",
    "Attempts to send a webhook or e-mail delivery, by channel and outcome (ok, failed).",
    ["channel", "outcome"],
)
STREAM_LISTENERS = Gauge(
    "notify_stream_listeners",
    "Clients connected to the Server-Sent-Events stream of this process.",
)
