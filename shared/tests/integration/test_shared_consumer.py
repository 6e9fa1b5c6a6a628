"""Idempotent batched consumption on a real database: duplicates, dead letters, retries."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from shared.consumer import EventProcessor, Handler, RawMessage, RejectEvent
from shared.db import OutboxMessage, ProcessedEvent
from shared.events import CloudEvent, TaskData, new_event
from shared.logs import correlation_id
from shared.outbox import UnitOfWork

pytestmark = pytest.mark.integration

TOPIC = "approval.decisions"
EFFECTS = "effects"


def _event(n: int, event_type: str = "approval.decision.submitted") -> CloudEvent:
    return new_event(
        type=event_type,
        source="urn:dept:MEE",
        subject=f"P-{n}",
        data={"task_id": f"t-{n}", "department": "MEE", "decision": "approved", "n": n},
    )


def _raw(value: CloudEvent | bytes | None, offset: int = 0, topic: str = TOPIC) -> RawMessage:
    if isinstance(value, CloudEvent):
        return RawMessage(topic, 0, offset, (value.subject or "").encode(), value.to_json())
    return RawMessage(topic, 0, offset, b"some-key", value)  # type: ignore[arg-type]


async def _record_effect(event: CloudEvent, uow: UnitOfWork) -> None:
    """A side effect in the same transaction: a follow-up event in the outbox."""
    uow.emit(event.caused(type="effect", source="/test", data={"of": event.id}), EFFECTS)


async def _outbox(sessions, topic: str | None = None) -> list[OutboxMessage]:
    async with sessions() as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if topic is not None:
            query = query.where(OutboxMessage.topic == topic)
        return list((await session.exec(query)).all())


async def _effects(sessions) -> list[str]:
    return [json.loads(r.payload)["data"]["of"] for r in await _outbox(sessions, EFFECTS)]


async def _processed(sessions, consumer: str) -> set[str]:
    async with sessions() as session:
        rows = await session.exec(
            select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == consumer)
        )
        return set(rows.all())


def _processor(shared_db, handlers, **kw) -> EventProcessor:
    return EventProcessor(
        name=kw.pop("name", "decisions"),
        service=kw.pop("service", f"consumer-test-{uuid.uuid4().hex[:6]}"),
        session_factory=shared_db.sessions,
        handlers=handlers,
        max_backoff_s=0.2,
        **kw,
    )


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _process(processor: EventProcessor, messages: Sequence[RawMessage]) -> None:
    # process() retries forever by design: a hang here is a failure, not a wait.
    await asyncio.wait_for(processor.process(messages), timeout=10)


async def test_duplicates_in_a_batch_and_across_batches_apply_once(shared_db) -> None:
    seen: list[str] = []

    async def handler(event: CloudEvent, uow: UnitOfWork) -> None:
        seen.append(event.id)
        await _record_effect(event, uow)

    commits: list[int] = []
    processor = _processor(
        shared_db, {"approval.decision.submitted": handler}, on_commit=lambda: commits.append(1)
    )
    e1, e2 = _event(1), _event(2)
    label = {"service": processor.service, "type": "approval.decision.submitted"}

    await _process(processor, [_raw(e1, 0), _raw(e2, 1), _raw(e1, 2)])
    await _process(processor, [_raw(e2, 3), _raw(e1, 4)])

    assert seen == [e1.id, e2.id]
    assert sorted(await _effects(shared_db.sessions)) == sorted([e1.id, e2.id])
    assert await _processed(shared_db.sessions, "decisions") == {e1.id, e2.id}
    assert _sample("duplicate_events_dropped_total", **label) == 3
    assert _sample("events_consumed_total", **label, outcome="processed") == 2
    assert _sample("events_consumed_total", **label, outcome="duplicate") == 3
    assert commits == [1, 1]
    assert await _outbox(shared_db.sessions, f"{TOPIC}.dlq") == []


async def test_a_batch_wakes_the_relay_only_when_it_emitted_events(shared_db) -> None:
    async def quiet(event: CloudEvent, uow: UnitOfWork) -> None:
        pass  # a projection that changes its own rows and announces nothing

    commits: list[int] = []
    woken: list[int] = []
    handlers = {"approval.decision.submitted": _record_effect, "project.submitted": quiet}
    processor = _processor(
        shared_db,
        handlers,
        on_commit=lambda: commits.append(1),
        on_events=lambda: woken.append(1),
    )

    await _process(processor, [_raw(_event(1), 0)])
    await _process(processor, [_raw(_event(2, "project.submitted"), 1)])

    assert commits == [1, 1]
    assert woken == [1]


async def test_each_consumer_name_has_its_own_dedupe_namespace(shared_db) -> None:
    handlers = {"approval.decision.submitted": _record_effect}
    event = _event(1)

    await _process(_processor(shared_db, handlers, name="first"), [_raw(event)])
    await _process(_processor(shared_db, handlers, name="second"), [_raw(event)])
    await _process(_processor(shared_db, handlers, name="first"), [_raw(event)])

    assert await _effects(shared_db.sessions) == [event.id, event.id]


async def test_a_rejected_event_is_dead_lettered_alone(shared_db) -> None:
    async def handler(event: CloudEvent, uow: UnitOfWork) -> None:
        await _record_effect(event, uow)  # an effect that must be undone for the bad one
        if event.data["n"] == 1:
            raise RejectEvent("task t-1 is not pending")

    processor = _processor(shared_db, {"approval.decision.submitted": handler})
    good_a, bad, good_b = _event(0), _event(1), _event(2)
    dlq_before = _sample("dead_letters_total", service=processor.service, topic=TOPIC)

    await _process(processor, [_raw(good_a, 10), _raw(bad, 11), _raw(good_b, 12)])

    assert sorted(await _effects(shared_db.sessions)) == sorted([good_a.id, good_b.id])
    (letter,) = await _outbox(shared_db.sessions, f"{TOPIC}.dlq")
    body = json.loads(letter.payload)
    assert body["error"] == "task t-1 is not pending"
    assert body["original_topic"] == TOPIC
    assert body["value"] == json.loads(bad.to_json())
    assert body["offset"] == 11
    assert body["key"] == "P-1"
    assert letter.message_key == "P-1"
    assert letter.event_type == "approval.decision.submitted.dead_letter"
    assert _sample("dead_letters_total", service=processor.service, topic=TOPIC) == dlq_before + 1
    # the rejected event counts as handled: a redelivery is a duplicate, not a second letter
    assert await _processed(shared_db.sessions, "decisions") == {good_a.id, bad.id, good_b.id}
    await _process(processor, [_raw(bad, 11)])
    assert len(await _outbox(shared_db.sessions, f"{TOPIC}.dlq")) == 1


async def test_a_contract_breach_in_a_handler_is_dead_lettered_with_the_reason(shared_db) -> None:
    async def handler(event: CloudEvent, uow: UnitOfWork) -> None:
        event.data_as(TaskData)  # decision data is not a task: ValidationError
        await _record_effect(event, uow)

    processor = _processor(shared_db, {"approval.decision.submitted": handler})

    await _process(processor, [_raw(_event(1))])

    (letter,) = await _outbox(shared_db.sessions, f"{TOPIC}.dlq")
    assert json.loads(letter.payload)["error"].startswith("ValidationError")
    assert await _effects(shared_db.sessions) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"definitely not json", "definitely not json"),
        (b'{"hello": "world"}', {"hello": "world"}),
        (b'{"specversion": "0.3", "id": "1", "source": "s", "type": "t"}', None),
    ],
)
async def test_a_message_that_is_not_a_cloudevent_is_dead_lettered(
    shared_db, value: bytes, expected: object
) -> None:
    processor = _processor(shared_db, {"approval.decision.submitted": _record_effect})
    good = _event(5)

    await _process(processor, [_raw(value, 7), _raw(good, 8)])

    (letter,) = await _outbox(shared_db.sessions, f"{TOPIC}.dlq")
    body = json.loads(letter.payload)
    assert body["error"].startswith("not a CloudEvents 1.0 JSON document")
    assert body["original_topic"] == TOPIC
    assert body["value"] == (expected if expected is not None else json.loads(value))
    assert letter.topic == "approval.decisions.dlq"
    assert await _effects(shared_db.sessions) == [good.id]


async def test_a_transient_error_is_retried_until_it_succeeds(shared_db) -> None:
    calls = 0

    async def flaky(event: CloudEvent, uow: UnitOfWork) -> None:
        nonlocal calls
        calls += 1
        await _record_effect(event, uow)
        if calls == 1:
            raise OperationalError("UPDATE tasks", {}, Exception("server closed the connection"))

    processor = _processor(shared_db, {"approval.decision.submitted": flaky})
    event = _event(1)

    await _process(processor, [_raw(event)])

    assert calls == 2
    assert await _effects(shared_db.sessions) == [event.id]
    assert await _outbox(shared_db.sessions, f"{TOPIC}.dlq") == []
    assert await _processed(shared_db.sessions, "decisions") == {event.id}
    assert processor.last_error is None


async def test_events_without_a_handler_are_ignored_but_remembered(shared_db) -> None:
    processor = _processor(shared_db, {"approval.decision.submitted": _record_effect})
    other = _event(1, event_type="something.else")

    await _process(processor, [_raw(other)])

    assert await _outbox(shared_db.sessions) == []
    assert await _processed(shared_db.sessions, "decisions") == {other.id}
    assert (
        _sample(
            "events_consumed_total",
            service=processor.service,
            type="something.else",
            outcome="ignored",
        )
        == 1
    )


async def test_handlers_run_under_the_event_correlation_id(shared_db) -> None:
    seen: list[str | None] = []

    async def handler(event: CloudEvent, uow: UnitOfWork) -> None:
        seen.append(correlation_id.get())

    event = _event(1).caused(type="approval.decision.submitted", source="/x", data={"n": 0})

    await _process(_processor(shared_db, {"approval.decision.submitted": handler}), [_raw(event)])

    assert seen == [event.correlationid]
    assert correlation_id.get() is None


async def test_concurrent_redelivery_to_two_members_applies_once(shared_db) -> None:
    # SQLite has one writer connection: the members queue for it and never overlap there.
    overlap = shared_db.backend != "sqlite"
    inside: set[str] = set()
    both_inside = asyncio.Event()

    def member(name: str) -> Handler:
        async def handle(event: CloudEvent, uow: UnitOfWork) -> None:
            inside.add(name)
            if len(inside) == 2:
                both_inside.set()
            await _record_effect(event, uow)
            if overlap:  # wait in the handler until the other member is in its own
                await asyncio.wait_for(both_inside.wait(), timeout=5)

        return handle

    a = _processor(shared_db, {"approval.decision.submitted": member("a")})
    b = _processor(shared_db, {"approval.decision.submitted": member("b")})
    event = _event(1)

    await asyncio.gather(_process(a, [_raw(event)]), _process(b, [_raw(event)]))

    assert await _effects(shared_db.sessions) == [event.id]
    # Overlapping: both applied it at once and one commit lost. Queued: the second member
    # found the event already processed and never called its handler.
    assert len(inside) == (2 if overlap else 1)


async def test_a_tombstone_is_dead_lettered_instead_of_blocking_the_partition(shared_db) -> None:
    processor = _processor(shared_db, {"approval.decision.submitted": _record_effect})
    good = _event(1)

    await asyncio.wait_for(processor.process([_raw(None, 3), _raw(good, 4)]), timeout=2)

    (letter,) = await _outbox(shared_db.sessions, f"{TOPIC}.dlq")
    assert json.loads(letter.payload)["value"] is None
    assert await _effects(shared_db.sessions) == [good.id]


@pytest.mark.parametrize(
    ("event_id", "event_type", "key"),
    [
        ("x" * 200, "approval.decision.submitted", b"P-1"),  # id longer than processed_events
        (None, "approval.decision.submitted", b"k" * 300),  # key longer than outbox.message_key
    ],
    ids=["long-id", "long-key"],
)
async def test_oversized_foreign_values_do_not_block_the_partition(
    shared_db, request, event_id: str | None, event_type: str, key: bytes
) -> None:

    async def reject(event: CloudEvent, uow: UnitOfWork) -> None:
        raise RejectEvent("not for us")

    processor = _processor(shared_db, {event_type: reject, "approval.decision.submitted": reject})
    event = _event(1, event_type=event_type)
    if event_id is not None:
        event = event.model_copy(update={"id": event_id})
    good = _event(2, event_type="unhandled.type")

    await asyncio.wait_for(
        processor.process([RawMessage(TOPIC, 0, 1, key, event.to_json()), _raw(good, 2)]),
        timeout=2,
    )

    assert await _processed(shared_db.sessions, "decisions") >= {good.id}
