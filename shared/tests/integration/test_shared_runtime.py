"""ServiceRuntime composed for real: consume from Kafka, emit through the outbox, publish."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from shared.events import CloudEvent, new_event
from shared.outbox import UnitOfWork
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings, build_settings
from testkit import free_port, unique_group

pytestmark = pytest.mark.integration


def _produce(bootstrap: str, topic: str, events: list[CloudEvent]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for event in events:
            producer.send(topic, key=(event.subject or "").encode(), value=event.to_json())
        producer.flush(timeout=10)
    finally:
        producer.close()


async def test_runtime_consumes_applies_and_publishes_follow_ups(
    shared_db, kafka_bootstrap, fresh_topic, topic_reader
) -> None:
    source, target = fresh_topic("shared.rt.in", partitions=3), fresh_topic("shared.rt.out")
    settings = build_settings(
        ServiceSettings,
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=shared_db.url,
        consumer_group=unique_group("shared-runtime"),
    )
    runtime = ServiceRuntime(settings)

    async def handler(event: CloudEvent, uow: UnitOfWork) -> None:
        uow.emit(
            event.caused(type="project.filed", source="/approval-svc", data=event.data), target
        )

    runtime.consume("runtime-test", topics=[source], handlers={"project.submitted": handler})
    incoming = [
        new_event(type="project.submitted", source="/test", subject=f"P-{i}", data={"n": i})
        for i in range(3)
    ]
    assert await runtime.readiness() == []

    await runtime.start()
    try:
        await asyncio.to_thread(_produce, kafka_bootstrap, source, incoming)
        records = await topic_reader(target, 3, timeout_s=30)
    finally:
        await runtime.stop()

    follow_ups = [CloudEvent.from_json(r.value) for r in records]
    assert sorted(f.causationid for f in follow_ups) == sorted(e.id for e in incoming)
    by_cause = {f.causationid: f for f in follow_ups}
    for event in incoming:
        follow_up = by_cause[event.id]
        assert follow_up.correlationid == event.correlationid
        assert follow_up.subject == event.subject
        assert follow_up.type == "project.filed"
    assert all(r.key == json.loads(r.value)["subject"].encode() for r in records)


async def test_readiness_names_what_is_unreachable() -> None:
    settings = build_settings(
        ServiceSettings,
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none",
    )
    runtime = ServiceRuntime(settings, consume=False, relay=False)
    started = time.monotonic()
    try:
        problems = await runtime.readiness()
    finally:
        await runtime.stop()

    assert len(problems) == 2
    assert problems[0].startswith("database unreachable")
    assert settings.bootstrap_servers in problems[1]
    assert "unreachable" in problems[1]
    assert time.monotonic() - started < 10


async def test_consumers_come_back_after_faust_crashes(
    shared_db, kafka_bootstrap, fresh_topic, topic_reader
) -> None:
    source, target = fresh_topic("shared.rt.crash.in"), fresh_topic("shared.rt.crash.out")
    settings = build_settings(
        ServiceSettings,
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=shared_db.url,
        consumer_group=unique_group("shared-crash"),
    )
    runtime = ServiceRuntime(settings)

    async def handler(event: CloudEvent, uow: UnitOfWork) -> None:
        uow.emit(event.caused(type="project.filed", source="/t", data=event.data), target)

    runtime.consume("crash-test", topics=[source], handlers={"project.submitted": handler})
    first = new_event(type="project.submitted", source="/t", subject="P-1", data={})
    second = new_event(type="project.submitted", source="/t", subject="P-2", data={})
    await runtime.start()
    try:
        await asyncio.to_thread(_produce, kafka_bootstrap, source, [first])
        await topic_reader(target, 1, timeout_s=30)
        await runtime.faust.crash(RuntimeError("simulated consumer crash"))
        assert runtime.faust.crashed
        await asyncio.to_thread(_produce, kafka_bootstrap, source, [second])
        records = await topic_reader(target, 2, timeout_s=60)
    finally:
        await runtime.stop()
    causes = {CloudEvent.from_json(r.value).causationid for r in records}
    assert second.id in causes
