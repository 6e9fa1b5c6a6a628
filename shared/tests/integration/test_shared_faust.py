"""A faust consumer on the real broker: CloudEvents in, applied once, garbage dead-lettered."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from kafka import KafkaAdminClient, TopicPartition
from sqlmodel import col, select

from shared.consumer import EventProcessor, RawMessage, attach_processor
from shared.db import OutboxMessage, ProcessedEvent
from shared.events import CloudEvent, new_event
from shared.kafka import broker_reachable, make_faust_app
from shared.outbox import UnitOfWork
from shared.settings import get_platform_settings
from testkit import aproduce_events, eventually, unique_group

pytestmark = pytest.mark.integration


async def test_faust_agent_applies_plain_cloudevents_once(
    shared_db, kafka_bootstrap, fresh_topic
) -> None:
    topic = fresh_topic("shared.faust", partitions=3)
    events = [
        new_event(type="project.submitted", source="/test", subject=f"P-{i % 4}", data={"n": i})
        for i in range(10)
    ]
    sentinel = new_event(
        type="project.submitted", source="/test", subject=events[0].subject, data={"n": -1}
    )
    seen: list[CloudEvent] = []

    async def handler(event: CloudEvent, uow: UnitOfWork) -> None:
        seen.append(event)

    settings = get_platform_settings(kafka_bootstrap_servers=kafka_bootstrap, topic_partitions=3)
    app = make_faust_app(unique_group("shared-faust"), settings)
    processor = EventProcessor(
        name="faust-e2e",
        service="shared-faust-test",
        session_factory=shared_db.sessions,
        handlers={"project.submitted": handler},
    )
    attach_processor(app, processor, topics=[topic], batch_size=50)
    assert await broker_reachable(kafka_bootstrap) is None

    await asyncio.wait_for(app.start(), timeout=30)
    try:
        # a redelivery (same event id), then a message that is not a CloudEvent
        await aproduce_events(kafka_bootstrap, topic, [*events, events[0]])
        await aproduce_events(kafka_bootstrap, topic, [b"\x00garbage"], key="k")
        # Sent after the redelivery with the same key (so the same partition): once the
        # sentinel is applied, the redelivery before it has been dealt with.
        await aproduce_events(kafka_bootstrap, topic, [sentinel])

        async def all_applied() -> bool:
            async with shared_db.sessions() as session:
                letters = (
                    await session.exec(
                        select(OutboxMessage).where(OutboxMessage.topic == f"{topic}.dlq")
                    )
                ).all()
            applied = {e.id for e in seen}
            return applied >= {e.id for e in events} | {sentinel.id} and len(letters) == 1

        await eventually(all_applied, timeout_s=30, what="the agent applies every event")
    finally:
        await asyncio.wait_for(app.stop(), timeout=30)

    same_key = [e.id for e in seen if e.subject == sentinel.subject]
    assert same_key[-1] == sentinel.id  # applied after everything before it on its partition
    seen = [e for e in seen if e.id != sentinel.id]
    assert sorted(e.id for e in seen) == sorted(e.id for e in events)  # once each
    assert {e.id: e for e in seen} == {e.id: e for e in events}  # parsed exactly as sent
    for key in {e.subject for e in events}:  # per-key order is kept
        assert [e.data["n"] for e in seen if e.subject == key] == [
            e.data["n"] for e in events if e.subject == key
        ]
    async with shared_db.sessions() as session:
        processed = set(
            (
                await session.exec(
                    select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == "faust-e2e")
                )
            ).all()
        )
        (letter,) = (
            await session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.topic == f"{topic}.dlq")
                .order_by(col(OutboxMessage.id))
            )
        ).all()
    assert processed == {e.id for e in events} | {sentinel.id}
    body = json.loads(letter.payload)
    assert body["original_topic"] == topic
    assert body["key"] == "k"
    assert body["error"].startswith("not a CloudEvents 1.0 JSON document")


async def test_batches_hold_at_most_batch_size_and_are_committed_after_they_apply(
    shared_db, kafka_bootstrap, fresh_topic
) -> None:
    topic = fresh_topic("shared.batches", partitions=1)
    backlog = [
        new_event(type="project.submitted", source="/test", subject="P-1", data={"n": i})
        for i in range(10)
    ]
    late = new_event(type="project.submitted", source="/test", subject="P-1", data={"n": 10})
    applied: list[int] = []
    batch_sizes: list[int] = []

    async def handler(event: CloudEvent, uow: UnitOfWork) -> None:
        applied.append(event.data["n"])

    group = unique_group("shared-batches")
    settings = get_platform_settings(kafka_bootstrap_servers=kafka_bootstrap, topic_partitions=1)
    app = make_faust_app(group, settings)
    processor = EventProcessor(
        name="faust-batches",
        service="shared-faust-test",
        session_factory=shared_db.sessions,
        handlers={"project.submitted": handler},
    )
    process = processor.process

    async def recording_process(messages: list[RawMessage]) -> None:
        batch_sizes.append(len(messages))
        await process(messages)

    processor.process = recording_process  # type: ignore[method-assign]
    attach_processor(app, processor, topics=[topic], batch_size=4)
    await aproduce_events(kafka_bootstrap, topic, backlog)  # waiting before the agent starts
    await asyncio.wait_for(app.start(), timeout=30)
    try:
        await eventually(lambda: len(applied) == 10, timeout_s=30, what="the backlog applied")
        # A consumer thread left behind by a shutdown gone wrong must not keep the process
        # alive at exit (mode starts it as a non-daemon thread).
        assert app.consumer._thread._thread.daemon  # type: ignore[attr-defined]
        # An event that arrives alone, after the agent went idle, opens a batch of its own.
        await aproduce_events(kafka_bootstrap, topic, [late])
        await eventually(lambda: len(applied) == 11, timeout_s=30, what="the late event applied")

        # kafka-python's admin: it reads the embedded broker's OffsetFetch answer as sent.
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:

            def committed() -> bool:
                offsets = admin.list_group_offsets({group: None}).get(group, {})
                found = offsets.get(TopicPartition(topic, 0))
                return found is not None and found.offset == 11

            await eventually(
                lambda: asyncio.to_thread(committed), timeout_s=30, what="every offset committed"
            )
        finally:
            admin.close()
    finally:
        await asyncio.wait_for(app.stop(), timeout=30)
    assert applied == list(range(11))  # each once, in partition order
    assert max(batch_sizes) <= 4 < sum(batch_sizes[:3])  # the backlog came in full batches
    assert batch_sizes[-1] == 1


async def test_broker_reachable_reports_the_reason(kafka_bootstrap) -> None:
    from testkit import free_port

    assert await broker_reachable(kafka_bootstrap) is None
    reason = await broker_reachable(f"127.0.0.1:{free_port()}", timeout_s=1)
    assert reason is not None
    assert "unreachable" in reason


def test_faust_app_moves_raw_bytes_and_never_declares_topics(kafka_bootstrap) -> None:
    settings = get_platform_settings(kafka_bootstrap_servers=kafka_bootstrap)

    app = make_faust_app(f"shared-conf-{uuid.uuid4().hex[:6]}", settings)

    assert app.conf.value_serializer == "raw"
    assert app.conf.key_serializer == "raw"
    assert app.conf.topic_allow_declare is False
    assert app.conf.consumer_auto_offset_reset == "earliest"
    assert app.conf.producer_acks == -1
    assert str(app.conf.broker[0]) == f"kafka://{kafka_bootstrap}"
