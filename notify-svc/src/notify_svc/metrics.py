"""Metrics of the notify service (the platform's common ones are in `shared.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERY_ATTEMPTS = Counter(
    "notify_delivery_attempts_total",
    "Attempts to send a webhook or e-mail delivery, by channel and outcome (ok, failed).",
    ["channel", "outcome"],
)
DELIVERIES = Counter(
    "notify_deliveries_total",
    "Deliveries that reached a final outcome, by channel and outcome (delivered, failed).",
    ["channel", "outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "notify_delivery_attempt_seconds",
    "Time one attempt to send a webhook or e-mail took, by channel.",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PENDING_RETRIES = Gauge(
    "notify_pending_retries",
    "Deliveries waiting for another attempt after a failed one (whole database).",
)
EMAILS = Counter(
    "notify_emails_total",
    "E-mails handed to the mail server (sent) or refused by it / unreachable (failed).",
    ["outcome"],
)
STREAM_LISTENERS = Gauge(
    "notify_stream_listeners",
    "Clients connected to the Server-Sent-Events stream of this process.",
)
STREAM_RESUMES = Counter(
    "notify_stream_resumes_total",
    "Stream connections that resumed with Last-Event-ID (missed events replayed first).",
)
STORED_ROWS = Gauge(
    "notify_stored_rows",
    "Rows kept for retention, by kind (delivery_bodies, stream_events); set by the sweep.",
    ["kind"],
)
