"""A restarted in-memory broker gets back what the outbox had published to it (shared.epoch)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from services.broker import EmbeddedBroker, free_port
from shared.broker import ensure_topics
from shared.db import OutboxMessage, utcnow
from shared.epoch import TopicIds, fingerprint, load_recorded_ids
from shared.events import new_event
from shared.kafka import KafkaProducer
from shared.outbox import UnitOfWork
from shared.relay import OutboxRelay
from testkit import TopicReader, eventually

pytestmark = pytest.mark.integration


async def _emit(sessions, topic: str, n: int, start: int = 0) -> list[bytes]:
    events = [
        new_event(type="project.submitted", source="/test", subject=f"P-{i % 3}", data={"n": i})
        for i in range(start, start + n)
    ]
    async with UnitOfWork(sessions) as uow:
        for event in events:
            uow.emit(event, topic)
        await uow.commit()
    return [e.to_json() for e in events]


async def test_topic_ids_change_when_the_broker_restarts() -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    ids = TopicIds(bootstrap)
    seen = []
    try:
        for _ in range(2):
            with EmbeddedBroker(port=port, die_with_parent=False) as _broker:
                await asyncio.to_thread(ensure_topics, bootstrap, ["epoch.a"], 1)
                seen.append(await ids.get(["epoch.a", "epoch.missing"]))
    finally:
        await ids.close()
    assert seen[0]["epoch.missing"] is None  # describing does not create it
    assert seen[0]["epoch.a"]
    assert seen[1]["epoch.a"]
    assert seen[0]["epoch.a"] != seen[1]["epoch.a"]
    assert fingerprint(seen[0]) != fingerprint(seen[1])


async def test_relay_publishes_again_what_a_restarted_broker_lost(shared_db) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    topic = f"shared.epoch.{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap, client_id="epoch-test")
    relay = OutboxRelay(
        session_factory=shared_db.sessions,
        producer=producer,
        service=f"epoch-test-{uuid.uuid4().hex[:6]}",
        poll_interval_s=0.05,
        topic_ids=TopicIds(bootstrap),
        epoch_check_interval_s=0.2,
    )
    broker = EmbeddedBroker(port=port, die_with_parent=False)
    await asyncio.to_thread(broker.start)
    await asyncio.to_thread(ensure_topics, bootstrap, [topic], 2)
    first = await _emit(shared_db.sessions, topic, 6)
    task = asyncio.create_task(relay.run())
    try:

        async def drained() -> bool:
            return await relay.backlog() == 0

        await eventually(drained, timeout_s=20, what="the first events are published")
        recorded = await load_recorded_ids(shared_db.sessions)
        assert set(recorded) == {topic}

        # A new, empty broker on the same port, its topics created again by the runner.
        await asyncio.to_thread(broker.stop)
        await asyncio.to_thread(broker.start)
        await asyncio.to_thread(ensure_topics, bootstrap, [topic], 2)
        second = await _emit(shared_db.sessions, topic, 3, start=6)
        await eventually(
            drained, timeout_s=30, what="the retained and the new events are published"
        )
        with TopicReader(bootstrap, topic) as reader:
            records = await reader.apoll_records_until(lambda read: len(read) >= 9)
        assert relay.last_error is None
    finally:
        relay.stop()
        await asyncio.wait_for(task, timeout=10)
        await relay.close()
        await producer.stop()
        await asyncio.to_thread(broker.stop)

    # Everything, each once, and per key in the order committed (old events before new ones).
    assert sorted(r.value for r in records) == sorted(first + second)
    for key in ("P-0", "P-1", "P-2"):
        assert [r.value for r in records if r.key == key.encode()] == [
            v for v in first + second if json.loads(v)["subject"] == key
        ]
    assert (await load_recorded_ids(shared_db.sessions))[topic] != recorded[topic]


async def test_purge_deletes_sent_rows_older_than_the_retention(shared_db) -> None:
    topic = f"shared.purge.{uuid.uuid4().hex[:8]}"
    await _emit(shared_db.sessions, topic, 4)
    relay = OutboxRelay(
        session_factory=shared_db.sessions,
        producer=None,  # type: ignore[arg-type]  # the purge never publishes
        service="purge-test",
        retention=timedelta(hours=2),
    )
    now = utcnow()
    async with shared_db.sessions() as session:
        ids = list(
            (
                await session.exec(
                    select(OutboxMessage.id)
                    .where(col(OutboxMessage.topic) == topic)
                    .order_by(col(OutboxMessage.id))
                )
            ).all()
        )
        ages = [timedelta(hours=3), timedelta(hours=1), None]  # sent long ago, recently, unsent
        for row_id, age in zip(ids, [*ages, timedelta(hours=2, minutes=1)], strict=True):
            await session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == row_id)
                .values(sent_at=None if age is None else now - age)
            )
        await session.commit()
    await relay._purge()
    async with shared_db.sessions() as session:
        left = list(
            (
                await session.exec(
                    select(OutboxMessage.id)
                    .where(col(OutboxMessage.topic) == topic)
                    .order_by(col(OutboxMessage.id))
                )
            ).all()
        )
    assert left == [ids[1], ids[2]]
