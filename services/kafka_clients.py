"""kafka-python settings of the department systems' clients: short timeouts, acks=all."""

from __future__ import annotations

from kafka import KafkaProducer

DEFAULT_REBALANCE_TIMEOUT_S = 4.0
RECONNECT_BACKOFF_MAX_MS = 1000  # kafka-python's default (30 s) would idle after a broker restart
# kafka-python keeps sensors (rates, latencies) for every request, read by nothing here: about
# a tenth of the department clients' CPU went to recording them.
CLIENT_METRICS: dict[str, bool] = {"metrics_enabled": False}


def consumer_timeouts(rebalance_timeout_s: float = DEFAULT_REBALANCE_TIMEOUT_S) -> dict[str, int]:
    """Short kafka-python timeouts: the rebalance timeout is max_poll_interval, a first join waits
    about half of it (the default 300 s would stall start-up); poll more often than this."""
    rebalance_ms = int(rebalance_timeout_s * 1000)
    return {
        "max_poll_interval_ms": rebalance_ms,
        "session_timeout_ms": max(int(rebalance_ms * 1.5), 6000),
        "heartbeat_interval_ms": 1000,
        "request_timeout_ms": max(rebalance_ms * 3, 30_000),
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
    }


def make_producer(bootstrap: str, *, client_id: str = "departments") -> KafkaProducer:
    """A producer for decisions: acks=all, small linger so a poll batch goes out as one request.

    Not idempotent: a restarted in-memory broker does not know the producer id an idempotent
    producer was given and refuses its next batch (the platform drops duplicate decisions by
    their event id instead); one request in flight keeps the order of decisions on a retry.
    """
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        linger_ms=5,
        batch_size=256 * 1024,
        enable_idempotence=False,
        max_in_flight_requests_per_connection=1,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        **CLIENT_METRICS,
    )
