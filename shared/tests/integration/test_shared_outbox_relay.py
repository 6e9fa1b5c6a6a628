"""The outbox relay on a real database and the real broker: order, outage, lease."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import REGISTRY

from services.broker import EmbeddedBroker, free_port
from shared.broker import ensure_topics
from shared.events import CloudEvent
from shared.kafka import KafkaProducer, broker_reachable
from shared.relay import OutboxRelay
from testkit import TopicReader, eventually

from shared_outbox_support import RecordingProducer, _emit, _events, _rows, _service

pytestmark = pytest.mark.integration


async def test_committed_events_are_published_in_id_order(
    shared_db, kafka_bootstrap, fresh_topic
) -> None:
    topic = fresh_topic()
    service = _service()
    events = _events(7)
    woken: list[int] = []
    producer = KafkaProducer(kafka_bootstrap, client_id="outbox-test")
    relay = OutboxRelay(
        session_factory=shared_db.sessions, producer=producer, service=service, batch_size=3
    )
    try:
        await _emit(shared_db.sessions, events[:4], topic, on_commit=lambda: woken.append(1))
        await _emit(shared_db.sessions, events[4:], topic, on_commit=lambda: woken.append(2))
        assert woken == [1, 2]
        assert await relay.backlog() == 7

        batches = [await relay.publish_pending() for _ in range(4)]

        assert batches == [3, 3, 1, 0]
        assert await relay.backlog() == 0
        with TopicReader(kafka_bootstrap, topic) as reader:
            records = await reader.apoll_records_until(lambda read: len(read) >= 7)
    finally:
        await producer.stop()

    assert [r.value for r in records] == [e.to_json() for e in events]  # exact bytes, in order
    assert [r.key for r in records] == [e.subject.encode() for e in events]
    assert [CloudEvent.from_json(r.value) for r in records] == events
    rows = await _rows(shared_db.sessions)
    assert [r.event_id for r in rows] == [e.id for e in events]
    assert all(r.sent_at is not None and r.sent_at.tzinfo is not None for r in rows)
    assert REGISTRY.get_sample_value("outbox_backlog", {"service": service}) == 0
    sent = REGISTRY.get_sample_value(
        "events_produced_total",
        {"service": service, "type": "project.submitted", "outcome": "sent"},
    )
    assert sent == 7


async def test_relay_survives_a_broker_outage_and_publishes_when_it_returns(shared_db) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    topic = f"shared.outage.{uuid.uuid4().hex[:8]}"
    events = _events(5)
    producer = KafkaProducer(bootstrap, client_id="outage-test")
    service = _service()
    relay = OutboxRelay(
        session_factory=shared_db.sessions,
        producer=producer,
        service=service,
        poll_interval_s=0.05,
    )

    def failed_sends() -> float:
        labels = {"service": service, "type": "project.submitted", "outcome": "failed"}
        return REGISTRY.get_sample_value("events_produced_total", labels) or 0.0

    await _emit(shared_db.sessions, events, topic)
    task = asyncio.create_task(relay.run())
    broker = EmbeddedBroker(port=port, die_with_parent=False)
    try:
        await eventually(
            lambda: relay.last_error is not None,
            timeout_s=10,
            what="the relay notices the broker is away",
        )
        # A second failed attempt at the whole batch: the relay kept running after the first.
        await eventually(
            lambda: failed_sends() >= 2 * len(events),
            timeout_s=10,
            what="the relay tries again while the broker is away",
        )
        assert not task.done(), "the relay must keep running while the broker is away"
        assert await relay.backlog() == 5
        assert all(r.sent_at is None for r in await _rows(shared_db.sessions))
        assert await broker_reachable(bootstrap, timeout_s=1) is not None

        await asyncio.to_thread(broker.start)
        await asyncio.to_thread(ensure_topics, bootstrap, [topic], 1)

        async def drained() -> bool:
            return await relay.backlog() == 0

        await eventually(
            drained, timeout_s=20, what="the backlog is published once the broker is back"
        )
        with TopicReader(bootstrap, topic) as reader:
            records = await reader.apoll_records_until(lambda read: len(read) >= len(events))
        assert relay.last_error is None
        assert not task.done()
    finally:
        relay.stop()
        await asyncio.wait_for(task, timeout=10)
        await producer.stop()
        await asyncio.to_thread(broker.stop)

    # The relay may race the topic creation and the broker auto-create it with several
    # partitions: what must hold is every event, exactly as committed, in order per key.
    assert sorted(r.value for r in records) == sorted(e.to_json() for e in events)
    for key in {e.subject for e in events}:
        assert [r.value for r in records if r.key == key.encode()] == [
            e.to_json() for e in events if e.subject == key
        ]
    assert all(r.sent_at is not None for r in await _rows(shared_db.sessions))


async def test_only_the_lease_holder_publishes_and_another_takes_over_after_expiry(
    shared_db, monkeypatch: pytest.MonkeyPatch
) -> None:
    producers = [RecordingProducer(), RecordingProducer()]
    relays = [
        OutboxRelay(
            session_factory=shared_db.sessions,
            producer=p,  # type: ignore[arg-type]
            service=_service(),
            poll_interval_s=0.05,
            lease_ttl_s=1.0,
        )
        for p in producers
    ]
    refusals = [0, 0]  # lease requests refused, per relay

    def counted(index: int, hold: Callable[[], Awaitable[bool]]) -> Callable[[], Awaitable[bool]]:
        async def attempt() -> bool:
            held = await hold()
            refusals[index] += not held
            return held

        return attempt

    for index, relay in enumerate(relays):
        monkeypatch.setattr(relay, "_hold_lease", counted(index, relay._hold_lease))
    tasks = [asyncio.create_task(r.run()) for r in relays]
    first_batch, second_batch = _events(6), _events(4)
    try:
        for event in first_batch:  # several commits while both relays compete
            await _emit(shared_db.sessions, [event], "t")
            await asyncio.sleep(0.05)  # pacing only: spreads the commits over several polls

        async def drained() -> bool:
            return await relays[0].backlog() == 0

        await eventually(drained, timeout_s=10, what="the first batch is published")
        holder = 0 if producers[0].sent else 1
        other = 1 - holder
        asked = refusals[other]
        await eventually(
            lambda: refusals[other] > asked,
            timeout_s=10,
            what="the idle relay asks for the lease again and is refused",
        )
        assert [m.value for m in producers[holder].sent] == [e.to_json() for e in first_batch]
        assert producers[other].sent == []

        tasks[holder].cancel()  # the holder dies without releasing its lease
        with pytest.raises(asyncio.CancelledError):
            await tasks[holder]
        await _emit(shared_db.sessions, second_batch, "t")
        started = time.monotonic()
        await eventually(drained, timeout_s=10, what="the other relay takes over")
        took = time.monotonic() - started
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=10)

    assert took > 0.3, "the other relay must wait for the lease to expire"
    assert [m.value for m in producers[other].sent] == [e.to_json() for e in second_batch]
    assert len(producers[holder].sent) == len(first_batch)


async def test_lease_is_exclusive_renewable_and_released(shared_db) -> None:
    def relay() -> OutboxRelay:
        return OutboxRelay(
            session_factory=shared_db.sessions,
            producer=RecordingProducer(),  # type: ignore[arg-type]
            service=_service(),
            lease_ttl_s=0.6,
        )

    a, b = relay(), relay()

    assert await a._hold_lease()
    assert not await b._hold_lease()
    renewing = time.monotonic()
    assert await a._hold_lease()  # renewal by the holder
    await eventually(b._hold_lease, timeout_s=5, interval_s=0.05, what="the lease expires")
    # Taken over only once the renewed lease expired, not earlier.
    assert time.monotonic() - renewing >= 0.55
    assert not await a._hold_lease()
    await b.release()
    assert await a._hold_lease()  # released: free at once


async def test_an_idle_relay_sleeps_yet_publishes_a_commit_at_once(
    shared_db, monkeypatch: pytest.MonkeyPatch
) -> None:
    producer = RecordingProducer()
    relay = OutboxRelay(
        session_factory=shared_db.sessions,
        producer=producer,  # type: ignore[arg-type]
        service=_service(),
    )
    rounds = [0, 0]  # outbox reads, lease requests

    publish, hold = relay.publish_pending, relay._hold_lease

    async def counted_publish() -> int:
        rounds[0] += 1
        return await publish()

    async def counted_hold() -> bool:
        rounds[1] += 1
        return await hold()

    monkeypatch.setattr(relay, "publish_pending", counted_publish)
    monkeypatch.setattr(relay, "_hold_lease", counted_hold)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: rounds[0] >= 1, timeout_s=10, what="the first round")
        await asyncio.sleep(1.0)
        # Idle for a second: no polling round, no lease renewal (poll 2 s, renewal at ttl/3).
        assert rounds == [1, 1]
        event = _events(1)[0]
        committed = time.monotonic()
        await _emit(shared_db.sessions, [event], "t", on_commit=relay.wake)
        await eventually(lambda: producer.sent, timeout_s=5, interval_s=0.005, what="published")
        assert time.monotonic() - committed < 0.5, "a commit must wake the relay at once"
        assert [m.value for m in producer.sent] == [event.to_json()]
    finally:
        relay.stop()
        await asyncio.wait_for(task, timeout=10)


def _recording_relay(shared_db, producer: RecordingProducer, **options: float) -> OutboxRelay:
    return OutboxRelay(
        session_factory=shared_db.sessions,
        producer=producer,  # type: ignore[arg-type]
        service=_service(),
        **options,
    )


async def test_an_idle_holder_renews_its_lease_before_it_lapses(shared_db) -> None:
    holder = _recording_relay(shared_db, RecordingProducer(), lease_ttl_s=0.6)
    other = _recording_relay(shared_db, RecordingProducer(), lease_ttl_s=0.6)
    task = asyncio.create_task(holder.run())
    try:
        await eventually(holder._hold_lease, timeout_s=10, what="the holder takes the lease")
        # Idle for several times the lease's time to live: it is renewed, never up for grabs.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            assert not await other._hold_lease(), "an idle holder let its lease lapse"
            await asyncio.sleep(0.1)
    finally:
        holder.stop()
        await asyncio.wait_for(task, timeout=10)
    # A holder that stops renewing (dead): the lease lapses and the other takes it.
    await eventually(other._hold_lease, timeout_s=5, interval_s=0.05, what="the lease lapses")


async def test_a_stopping_relay_publishes_what_was_committed_only_while_it_holds_the_lease(
    shared_db,
) -> None:
    holder_sent, other_sent = RecordingProducer(), RecordingProducer()
    # A poll of a minute: only the stop can make these rows go out within the test.
    holder = _recording_relay(shared_db, holder_sent, poll_interval_s=60.0)
    other = _recording_relay(shared_db, other_sent, poll_interval_s=60.0)
    holder_task = asyncio.create_task(holder.run())
    await eventually(lambda: holder.holds_lease(), timeout_s=10, what="the holder's lease")
    other_task = asyncio.create_task(other.run())
    events = _events(3)
    # Committed without waking either relay (no on_commit): they sleep through their poll.
    await _emit(shared_db.sessions, events, "t")

    other.stop()  # not the lease holder: leaves the rows to the holder
    await asyncio.wait_for(other_task, timeout=10)
    assert other_sent.sent == []
    holder.stop()
    await asyncio.wait_for(holder_task, timeout=10)

    assert [m.value for m in holder_sent.sent] == [e.to_json() for e in events]
    assert all(row.sent_at is not None for row in await _rows(shared_db.sessions))


async def test_only_a_full_batch_counts_what_is_left_for_the_backlog(shared_db) -> None:
    producer = RecordingProducer()
    service = _service()
    relay = OutboxRelay(
        session_factory=shared_db.sessions,
        producer=producer,  # type: ignore[arg-type]
        service=service,
        batch_size=2,
    )
    await _emit(shared_db.sessions, _events(5), "t")

    def backlog() -> float | None:
        return REGISTRY.get_sample_value("outbox_backlog", {"service": service})

    assert await relay.publish_pending() == 2
    assert backlog() == 3  # a full batch: what is left is counted
    assert await relay.publish_pending() == 2
    assert backlog() == 1
    await _emit(shared_db.sessions, _events(1), "t")  # committed before the next read
    assert await relay.publish_pending() == 2
    assert backlog() == 0  # full again, and nothing left: the count says so
    assert await relay.publish_pending() == 0
    assert backlog() == 0
    assert len(producer.sent) == 6
    assert all(r.sent_at is not None for r in await _rows(shared_db.sessions))
