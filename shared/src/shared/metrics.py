"""Prometheus metrics every service exports (names follow Prometheus naming rules).

Defined once per process at import (the prometheus-client way); the `service` label tells the
services apart once scraped together.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests handled, by route template and status code.",
    ["service", "method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to handle an HTTP request.",
    ["service", "method", "route"],
    buckets=_LATENCY_BUCKETS,
)
EVENTS_CONSUMED = Counter(
    "events_consumed_total",
    "Events taken from Kafka, by type and outcome (processed, duplicate, dead_lettered, ignored).",
    ["service", "type", "outcome"],
)
EVENTS_PRODUCED = Counter(
    "events_produced_total",
    "Events published to Kafka by the outbox relay, by type and outcome (sent, failed).",
    ["service", "type", "outcome"],
)
EVENT_PROCESSING = Histogram(
    "event_processing_duration_seconds",
    "Time to process one consumed batch, per event type (the batch time split evenly).",
    ["service", "type"],
    buckets=_LATENCY_BUCKETS,
)
OUTBOX_BACKLOG = Gauge(
    "outbox_backlog",
    "Events committed to the outbox and not yet published.",
    ["service"],
)
OUTBOX_REPUBLISHED = Counter(
    "outbox_republished_total",
    "Sent outbox events published again because their topic was created anew (a new broker).",
    ["service", "topic"],
)
DEAD_LETTERS = Counter(
    "dead_letters_total",
    "Messages sent to a dead-letter topic, by the topic they came from.",
    ["service", "topic"],
)
DUPLICATES_DROPPED = Counter(
    "duplicate_events_dropped_total",
    "Redelivered events recognised by their id and not applied again.",
    ["service", "type"],
)
SERVICE_READY = Gauge(
    "service_ready",
    "1 when the service's database and broker are reachable (what /readyz answers), else 0.",
    ["service"],
)
