"""kafka-python settings of the department systems' clients: short timeouts, acks=all."""

from __future__ import annotations

from kafka import KafkaProducer

DEFAULT_REBALANCE_TIMEOUT_S = 4.0


def consumer_timeouts(rebalance_timeout_s: float = DEFAULT_REBALANCE_TIMEOUT_S) -> dict[str, int]:
    """Short kafka-python timeouts: the rebalance timeout is max_poll_interval, a first join waits
    about half of it (the default 300 s would stall start-up); poll more often than this."""
    rebalance_ms = int(rebalance_timeout_s * 1000)
    return {
        "max_poll_interval_ms": rebalance_ms,
        "session_timeout_ms": max(int(rebalance_ms * 1.5), 6000),
        "heartbeat_interval_ms": 1000,
        "request_timeout_ms": max(rebalance_ms * 3, 30_000),
    }


def make_producer(bootstrap: str, *, client_id: str = "departments") -> KafkaProducer:
    """A producer for decisions: acks=all, small linger so a poll batch goes out as one request."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        linger_ms=5,
        batch_size=256 * 1024,
        max_in_flight_requests_per_connection=5,
    )
