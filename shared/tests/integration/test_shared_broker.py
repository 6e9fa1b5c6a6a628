"""Topic administration (the embedded broker itself is tested with the local runner)."""

from __future__ import annotations

import uuid

import pytest

from shared.broker import describe_partitions, ensure_topics

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
