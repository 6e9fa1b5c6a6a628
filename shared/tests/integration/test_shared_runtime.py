"""ServiceRuntime composed for real: consume from Kafka, emit through the outbox, publish."""

from __future__ import annotations

import json
import time

import pytest

from shared.events import CloudEvent, new_event
from shared.outbox import UnitOfWork
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings, build_settings
from testkit import TopicReader, aproduce_events, free_port, unique_group

pytestmark = pytest.mark.integration


async def test_runtime_consumes_applies_and_publishes_follow_ups(
    shared_db, kafka_bootstrap, fresh_topic
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
        await aproduce_events(kafka_bootstrap, source, incoming)
        with TopicReader(kafka_bootstrap, target) as reader:
            records = await reader.apoll_records_until(lambda read: len(read) >= 3)
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
    shared_db, kafka_bootstrap, fresh_topic
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
        with TopicReader(kafka_bootstrap, target) as reader:
            await aproduce_events(kafka_bootstrap, source, [first])
            await reader.acollect(lambda e: e.causationid == first.id, 1)
            await runtime.faust.crash(RuntimeError("simulated consumer crash"))
            assert runtime.faust.crashed
            await aproduce_events(kafka_bootstrap, source, [second])
            follow_ups = await reader.acollect(
                lambda e: e.causationid == second.id, 1, timeout_s=60
            )
    finally:
        await runtime.stop()
    assert [f.subject for f in follow_ups] == [second.subject]
