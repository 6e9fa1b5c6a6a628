"""Read topics from their beginning and publish events, from a test (kafka-python, blocking).

A test's service usually shares the test's event loop: use the ``a``-prefixed coroutines, which
run the blocking client in a thread so the service keeps running meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from pydantic import ValidationError

from shared.events import CloudEvent

KeyChoice = str | None | Callable[[CloudEvent], str | None]


def by_subject(event: CloudEvent) -> str | None:
    """The platform's partitioning key: the event's subject (the project code)."""
    return event.subject


def decode(value: bytes | None) -> CloudEvent | None:
    """The CloudEvent in a record's value, or None when it is not one (e.g. a poison pill)."""
    if value is None:
        return None
    try:
        return CloudEvent.from_json(value)
    except (ValidationError, ValueError):
        return None


class TopicReader:
    """Reads `topics` from the beginning, keeping every record seen; use it as a context.

    Tansu answers ListOffsets(latest) with the base offset of the last batch, so end offsets
    are not trusted: a reader polls until the caller's condition holds or time runs out. Each
    call continues from where the previous one stopped and judges all records read so far.
    """

    def __init__(self, bootstrap: str, *topics: str) -> None:
        if not topics:
            raise ValueError("name at least one topic")
        self.bootstrap = bootstrap
        self.topics = topics
        self.records: list[Any] = []  # kafka-python ConsumerRecords, in the order read
        self._consumer: KafkaConsumer | None = None

    def _assigned(self, deadline: float) -> KafkaConsumer:
        if self._consumer is not None:
            return self._consumer
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False
        )
        partitions: list[TopicPartition] = []
        for topic in self.topics:
            numbers = consumer.partitions_for_topic(topic)
            while not numbers and time.monotonic() < deadline:
                time.sleep(0.1)
                numbers = consumer.partitions_for_topic(topic)
            if not numbers:
                consumer.close()
                raise AssertionError(f"topic {topic} has no partitions on {self.bootstrap}")
            partitions += [TopicPartition(topic, p) for p in sorted(numbers)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        self._consumer = consumer
        return consumer

    def poll_records_until(
        self, predicate: Callable[[list[Any]], bool], *, timeout_s: float = 30.0
    ) -> list[Any]:
        """Raw records (all read so far) once `predicate(records)` holds; AssertionError if not."""
        deadline = time.monotonic() + timeout_s
        consumer = self._assigned(deadline)
        while not predicate(self.records):
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"not within {timeout_s}s on {', '.join(self.topics)}: "
                    f"{len(self.records)} records read, condition not met"
                )
            batch = consumer.poll(timeout_ms=200)
            for tp in sorted(batch, key=lambda t: (t.topic, t.partition)):
                self.records.extend(batch[tp])
        return list(self.records)

    def events(self) -> list[CloudEvent]:
        """The CloudEvents among the records read so far (other values are skipped)."""
        return [e for e in (decode(r.value) for r in self.records) if e is not None]

    def read_until(
        self, predicate: Callable[[list[CloudEvent]], bool], *, timeout_s: float = 30.0
    ) -> list[CloudEvent]:
        """All events read so far, once `predicate(events)` holds; AssertionError if not."""
        self.poll_records_until(lambda _: predicate(self.events()), timeout_s=timeout_s)
        return self.events()

    def collect(
        self, match: Callable[[CloudEvent], bool], count: int, *, timeout_s: float = 30.0
    ) -> list[CloudEvent]:
        """The events that `match`, once at least `count` of them have been read."""

        def matching() -> list[CloudEvent]:
            return [e for e in self.events() if match(e)]

        self.poll_records_until(lambda _: len(matching()) >= count, timeout_s=timeout_s)
        return matching()

    async def aread_until(
        self, predicate: Callable[[list[CloudEvent]], bool], *, timeout_s: float = 30.0
    ) -> list[CloudEvent]:
        return await asyncio.to_thread(lambda: self.read_until(predicate, timeout_s=timeout_s))

    async def acollect(
        self, match: Callable[[CloudEvent], bool], count: int, *, timeout_s: float = 30.0
    ) -> list[CloudEvent]:
        return await asyncio.to_thread(lambda: self.collect(match, count, timeout_s=timeout_s))

    async def apoll_records_until(
        self, predicate: Callable[[list[Any]], bool], *, timeout_s: float = 30.0
    ) -> list[Any]:
        return await asyncio.to_thread(
            lambda: self.poll_records_until(predicate, timeout_s=timeout_s)
        )

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _key(choice: KeyChoice, event: CloudEvent | bytes) -> bytes | None:
    if not callable(choice):
        return choice.encode() if choice is not None else None
    key = choice(event) if isinstance(event, CloudEvent) else None  # raw bytes: no subject
    return key.encode() if key is not None else None


def produce_events(
    bootstrap: str,
    topic: str,
    events: Iterable[CloudEvent | bytes],
    *,
    key: KeyChoice = by_subject,
) -> None:
    """Publish `events` in order and wait for the broker to acknowledge every one.

    `key`: a function of the event (default: its subject), one fixed key, or None for no key.
    Raw bytes are sent as they are (to test what consumers make of a malformed message).
    """
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for event in events:
            value = event.to_json() if isinstance(event, CloudEvent) else event
            producer.send(topic, key=_key(key, event), value=value).get(timeout=30)
    finally:
        producer.close(timeout=5)


async def aproduce_events(
    bootstrap: str,
    topic: str,
    events: Iterable[CloudEvent | bytes],
    *,
    key: KeyChoice = by_subject,
) -> None:
    """:func:`produce_events` in a thread (keeps a service on this event loop running)."""
    batch = list(events)
    await asyncio.to_thread(lambda: produce_events(bootstrap, topic, batch, key=key))
