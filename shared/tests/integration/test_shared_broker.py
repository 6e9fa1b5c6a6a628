"""The embedded broker and topic administration."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from shared.broker import (
    BrokerError,
    EmbeddedBroker,
    describe_partitions,
    ensure_topics,
    free_port,
    port_accepts,
    wait_for_broker,
)

pytestmark = pytest.mark.integration


def test_ensure_topics_creates_only_what_is_missing(kafka_bootstrap: str) -> None:
    a, b = (f"shared.admin.{uuid.uuid4().hex[:8]}" for _ in range(2))

    first = ensure_topics(kafka_bootstrap, [a], partitions=2)
    second = ensure_topics(kafka_bootstrap, [a, b, b], partitions=4)

    assert first == [a]
    assert second == [b]
    assert describe_partitions(kafka_bootstrap, [a, b, "shared.no.such.topic"]) == {
        a: 2,
        b: 4,
        "shared.no.such.topic": 0,
    }


def test_the_session_broker_has_every_platform_topic(kafka_bootstrap: str) -> None:
    counts = describe_partitions(kafka_bootstrap, ["approval.projects", "approval.tasks.MEE.dlq"])

    assert all(n >= 1 for n in counts.values())


def test_waiting_for_a_broker_that_is_not_there_fails_in_time() -> None:
    started = time.monotonic()

    with pytest.raises(BrokerError, match="not ready"):
        wait_for_broker(f"127.0.0.1:{free_port()}", timeout_s=0.5)

    assert time.monotonic() - started < 3


def test_a_port_in_use_is_refused_with_a_clear_message() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_accepts("127.0.0.1", port)

        with pytest.raises(BrokerError, match="already in use"):
            EmbeddedBroker(port=port).start()


def test_embedded_broker_stops_and_frees_its_port() -> None:
    broker = EmbeddedBroker(port=0, die_with_parent=False)
    with broker:
        assert broker.running
        assert port_accepts(broker.host, broker.port)
        port = broker.port

    assert not broker.running
    assert not port_accepts("127.0.0.1", port)
