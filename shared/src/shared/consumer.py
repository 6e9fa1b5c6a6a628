"""Idempotent, batched event consumption on top of faust.

Each batch is applied in one database transaction: the effects, the ids of the events (so a
redelivery changes nothing) and any dead letters commit together. A message that cannot be
processed goes to `<topic>.dlq` with the error; a transient failure (database or broker away)
retries the whole batch until it succeeds, so nothing is acknowledged before it is applied.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from pydantic import ValidationError
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from shared.batching import take_batches
from shared.db import ProcessedEvent, SessionFactory, table_of, utcnow
from shared.events import CloudEvent
from shared.logs import correlation_id
from shared.metrics import DEAD_LETTERS, DUPLICATES_DROPPED, EVENT_PROCESSING, EVENTS_CONSUMED
from shared.outbox import UnitOfWork
from shared.retry import retry_forever
from shared.topics import dlq_topic

log = logging.getLogger(__name__)

_PROCESSED = table_of(ProcessedEvent)
# Built once, on the Table: which of a batch's event ids this consumer already applied. A
# statement built per batch (on the model, through the ORM's select) cost more CPU than
# running it; a prebuilt one also keeps its cache key, and its IN list expands at execution.
_ALREADY_PROCESSED = (
    select(_PROCESSED.c.event_id)
    .where(_PROCESSED.c.consumer == bindparam("consumer"))
    .where(_PROCESSED.c.event_id.in_(bindparam("ids", expanding=True)))
)
_RECORD_PROCESSED = insert(_PROCESSED)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
    OSError,
)


class RejectEvent(Exception):
    """A handler's verdict that this event can never be applied: it goes to the DLQ.

    `on_dead_letter` runs once the event is dead-lettered (a handler may run twice for one
    delivery: once in the batch, again alone after the batch failed), e.g. to count refusals.
    """

    def __init__(self, reason: str, *, on_dead_letter: Callable[[], None] | None = None) -> None:
        super().__init__(reason)
        self.on_dead_letter = on_dead_letter


Handler = Callable[[CloudEvent, UnitOfWork], Awaitable[None]]
# Called once per batch, before its events are applied together: e.g. to read every row the
# batch will change with one query instead of one per event (see `UnitOfWork.shared`).
Prepare = Callable[[Sequence[CloudEvent], UnitOfWork], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT_ERRORS)


def dead_letter_payload(message: RawMessage, error: str, *, service: str, consumer: str) -> bytes:
    """The failing message (parsed when it is JSON) plus the error, readable by any client."""
    value: Any = None  # a tombstone (null value) stays null
    if message.value is not None:
        try:
            value = json.loads(message.value)
        except ValueError:
            value = message.value.decode("utf-8", errors="replace")
    return json.dumps(
        {
            "error": error,
            "service": service,
            "consumer": consumer,
            "original_topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key": message.key.decode("utf-8", errors="replace") if message.key else None,
            "value": value,
            "failed_at": utcnow().isoformat(),
        }
    ).encode()


class EventProcessor:
    """Applies batches of raw messages through per-type handlers, exactly once in effect."""

    def __init__(
        self,
        *,
        name: str,
        service: str,
        session_factory: SessionFactory,
        handlers: Mapping[str, Handler],
        on_commit: Callable[[], None] | None = None,
        on_events: Callable[[], None] | None = None,
        prepare: Prepare | None = None,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.name = name
        self.service = service
        self._factory = session_factory
        self._handlers = dict(handlers)
        self._on_commit = on_commit
        self._on_events = on_events
        self._prepare = prepare
        self._max_backoff = max_backoff_s
        self.last_error: str | None = None

    async def process(self, messages: Sequence[RawMessage]) -> None:
        """Apply a batch; retries transient failures forever (until cancelled)."""
        # Never give up on a batch: raising would let faust acknowledge it unapplied.
        # Handler errors were already isolated into dead letters; what is left is the
        # database or the broker being away, which retrying outlasts.
        await retry_forever(
            lambda: self._process_once(messages),
            first_wait_s=0.1,
            max_wait_s=self._max_backoff,
            on_failure=self._batch_failed,
        )
        self.last_error = None

    def _batch_failed(self, exc: Exception, wait_s: float) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "%s: batch failed, retrying in %.1fs: %s",
            self.name,
            wait_s,
            exc,
            exc_info=None if _is_transient(exc) else exc,
        )

    async def _process_once(self, messages: Sequence[RawMessage]) -> None:
        started = time.perf_counter()
        parsed: list[tuple[RawMessage, CloudEvent]] = []
        invalid: list[tuple[RawMessage, str]] = []
        for message in messages:
            try:
                if message.value is None:
                    raise ValueError("the message has no value (a tombstone)")
                parsed.append((message, CloudEvent.from_json(message.value)))
            except (ValidationError, ValueError) as exc:
                invalid.append((message, f"not a CloudEvents 1.0 JSON document: {exc}"))

        outcomes: Counter[tuple[str, str]] = Counter()
        uow = UnitOfWork(self._factory, on_commit=self._on_commit, on_events=self._on_events)
        async with uow:
            fresh = await self._drop_duplicates(uow, parsed, outcomes)
            try:
                # All together: the handlers may share what they read (one transaction).
                uow.share()
                if self._prepare is not None and fresh:
                    await self._prepare([event for _, event in fresh], uow)
                await self._apply(uow, fresh, outcomes, isolate=False)
                self._dead_letters(uow, invalid, outcomes)
                await uow.commit()
            except Exception as exc:
                if _is_transient(exc):
                    raise
                # One bad event must not block its batch: redo it event by event, each in a
                # savepoint and from what the database holds (`rollback` ends the sharing).
                await uow.rollback()
                outcomes.clear()
                fresh = await self._drop_duplicates(uow, parsed, outcomes)
                await self._apply(uow, fresh, outcomes, isolate=True)
                self._dead_letters(uow, invalid, outcomes)
                await uow.commit()
        self._record(outcomes, time.perf_counter() - started)

    async def _drop_duplicates(
        self,
        uow: UnitOfWork,
        parsed: list[tuple[RawMessage, CloudEvent]],
        outcomes: Counter[tuple[str, str]],
    ) -> list[tuple[RawMessage, CloudEvent]]:
        ids = list({event.id for _, event in parsed})
        seen: set[str] = set()
        if ids:
            rows = await uow.session.execute(
                _ALREADY_PROCESSED, {"consumer": self.name, "ids": ids}
            )
            seen = set(rows.scalars().all())
        fresh = []
        for message, event in parsed:
            if event.id in seen:
                outcomes[(event.type, "duplicate")] += 1
                continue
            seen.add(event.id)
            fresh.append((message, event))
        return fresh

    async def _apply(
        self,
        uow: UnitOfWork,
        events: list[tuple[RawMessage, CloudEvent]],
        outcomes: Counter[tuple[str, str]],
        *,
        isolate: bool,
    ) -> None:
        now = utcnow()
        processed: list[dict[str, Any]] = []
        for message, event in events:
            handler = self._handlers.get(event.type)
            token = correlation_id.set(event.correlationid or event.id)
            try:
                if handler is None:
                    outcomes[(event.type, "ignored")] += 1
                elif not isolate:
                    await handler(event, uow)
                    outcomes[(event.type, "processed")] += 1
                else:
                    mark = uow.mark()
                    try:
                        async with uow.session.begin_nested():
                            await handler(event, uow)
                        outcomes[(event.type, "processed")] += 1
                    except Exception as exc:
                        uow.forget_since(mark)  # its events went with its savepoint
                        if _is_transient(exc):
                            raise
                        reason = (
                            str(exc)
                            if isinstance(exc, RejectEvent)
                            else f"{type(exc).__name__}: {exc}"
                        )
                        log.warning(
                            "%s: dead-lettering %s %s: %s", self.name, event.type, event.id, reason
                        )
                        self._dead_letters(
                            uow, [(message, reason)], outcomes, event_type=event.type
                        )
                        if isinstance(exc, RejectEvent) and exc.on_dead_letter is not None:
                            exc.on_dead_letter()
            finally:
                correlation_id.reset(token)
            processed.append({"consumer": self.name, "event_id": event.id, "processed_at": now})
        if processed:
            # One executemany for the whole batch, on the Table: an ORM object per event, or
            # the ORM's bulk path for an entity, costs far more.
            await uow.session.execute(_RECORD_PROCESSED, processed)

    def _dead_letters(
        self,
        uow: UnitOfWork,
        failures: list[tuple[RawMessage, str]],
        outcomes: Counter[tuple[str, str]],
        *,
        event_type: str = "invalid",
    ) -> None:
        for message, reason in failures:
            uow.emit_raw(
                topic=dlq_topic(message.topic),
                # The outbox key column is bounded; the full key is in the payload anyway.
                key=message.key.decode("utf-8", errors="replace")[:255] if message.key else None,
                payload=dead_letter_payload(
                    message, reason, service=self.service, consumer=self.name
                ),
                event_type=f"{event_type}.dead_letter",
            )
            outcomes[(event_type, "dead_lettered")] += 1
            DEAD_LETTERS.labels(self.service, message.topic).inc()

    def _record(self, outcomes: Counter[tuple[str, str]], elapsed: float) -> None:
        total = sum(outcomes.values()) or 1
        per_event = elapsed / total
        for (event_type, outcome), n in outcomes.items():
            EVENTS_CONSUMED.labels(self.service, event_type, outcome).inc(n)
            if outcome == "duplicate":
                DUPLICATES_DROPPED.labels(self.service, event_type).inc(n)
            for _ in range(min(n, 50)):  # bounded: a histogram sample per event is enough
                EVENT_PROCESSING.labels(self.service, event_type).observe(per_event)


def attach_processor(
    app: faust.App,
    processor: EventProcessor,
    *,
    topics: Sequence[str],
    batch_size: int = 500,
    within_s: float = 0.05,
    gate: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Run `processor` as a faust agent over `topics` in batches. With a `gate`, each batch
    waits for it before it is applied (the runtime's: the topics are still those the consumer
    group started on, see `ServiceRuntime`)."""
    channel = app.topic(
        *topics, value_type=bytes, key_type=bytes, value_serializer="raw", key_serializer="raw"
    )

    async def agent(stream: faust.StreamT[bytes]) -> None:
        # take_batches acks a batch only after the loop body returns, and process() returns
        # only once the batch is committed: nothing is acknowledged before it is applied.
        batches = take_batches(stream, batch_size, within_s)
        # Registered as faust registers its own take generators: closed when the stream stops.
        stream._active_agens.add(batches)  # type: ignore[attr-defined]
        async for events in batches:
            if gate is not None:
                await gate()
            await processor.process(
                [
                    RawMessage(
                        topic=e.message.topic,
                        partition=e.message.partition,
                        offset=e.message.offset,
                        key=e.message.key,
                        value=e.message.value,
                    )
                    for e in events
                ]
            )

    app.agent(channel, name=f"{processor.service}.{processor.name}")(agent)
