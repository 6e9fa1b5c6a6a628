"""The stream reader of one replica: every partition of the streamed topics into the shared
stream history (`handlers.record_stream_batch`).

Delivery work is split across replicas by the consumer group; the live stream is not. Each
replica runs this reader with no consumer group (partitions assigned by hand, all of them),
so every replica learns of every event, whichever replica the group gave its partition to.
It starts where the history says it stood (`stream_positions`; a fresh history starts at the
beginning of each partition) and, after each stored batch, wakes the stream tail.

Positions belong to a topic's id, not its name: a new broker (the embedded one keeps nothing
across a restart) has topics of the same names whose offsets start again from 0, and a stored
position there would skip that many of its events. A partition whose stored id differs is
read from its beginning (the history keeps each event once); while running, the ids are
read again at most every `EPOCH_CHECK_S` before a batch is stored, and a change restarts the
reader (the runtime restarts the job) without storing that batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from notify_svc import handlers
from notify_svc.stream_history import positions
from notify_svc.unit_of_work import NotifyUnitOfWork
from shared.db import SessionFactory
from shared.epoch import EPOCH_CHECK_S
from shared.events import CloudEvent
from shared.fetch_wait import IdleFetchBackoff
from shared.kafka import FETCH_ROUTINE_TIMEOUT_MS, aiokafka_wait_setter, install_on_aiokafka

log = logging.getLogger(__name__)


class TopicIdSource(Protocol):
    """`shared.epoch.TopicIds`, the runtime's (it closes it): each topic's id (None for a
    topic the cluster lacks)."""

    def get(self, topics: Iterable[str]) -> Awaitable[dict[str, str | None]]: ...


class TopicsRecreated(RuntimeError):
    """The topics are no longer those the reader started on (a new broker)."""


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """How the reader fetches: as the service's consumers do (`KAFKA_FETCH_*`, and
    `NOTIFY_CONSUMER_FETCH_MIN_BYTES`: the history is off the path of an approval, so its
    fetches may gather more events each). The defaults are aiokafka's."""

    max_wait_ms: int = 500
    min_bytes: int = 1
    idle_wait_ms: int | None = None
    idle_after_s: float = 10.0


class StreamFeed:
    def __init__(
        self,
        *,
        bootstrap: str,
        topics: Sequence[str],
        streamed_types: Collection[str],
        uow_factory: Callable[[], NotifyUnitOfWork],
        sessions: SessionFactory,
        on_stored: Callable[[], None],
        client_id: str = "notify-stream",
        topic_ids: TopicIdSource,
        batch_size: int = 500,
        fetch: FetchPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bootstrap = bootstrap
        self._topics = tuple(topics)
        self._types = frozenset(streamed_types)
        self._uow = uow_factory
        self._sessions = sessions
        self._on_stored = on_stored
        self._client_id = client_id
        self._batch = batch_size
        self._fetch = fetch or FetchPolicy()
        self._topic_ids = topic_ids
        self._clock = clock
        self._ids: dict[str, str] = {}  # of the topics being read
        self._ids_confirmed_at = float("-inf")
        self.assigned: frozenset[TopicPartition] = frozenset()

    async def run(self) -> None:
        """Background job: read and store until cancelled (restarted by the runtime on error)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=10_000,
            retry_backoff_ms=200,
            fetch_max_wait_ms=self._fetch.max_wait_ms,
            fetch_min_bytes=self._fetch.min_bytes,
            consumer_timeout_ms=FETCH_ROUTINE_TIMEOUT_MS,
        )
        await consumer.start()
        try:
            fetcher = getattr(consumer, "_fetcher", None)
            if fetcher is not None and self._fetch.idle_wait_ms:
                install_on_aiokafka(
                    fetcher,
                    IdleFetchBackoff(
                        aiokafka_wait_setter(fetcher),
                        busy_ms=self._fetch.max_wait_ms,
                        idle_ms=self._fetch.idle_wait_ms,
                        idle_after_s=self._fetch.idle_after_s,
                    ),
                )
            partitions = await self._partitions(consumer)
            self._ids = await self._read_ids()
            self._ids_confirmed_at = self._clock()
            consumer.assign(partitions)
            async with self._sessions() as session:
                stored = await positions(session, self._topics)
            for tp in partitions:
                position = stored.get((tp.topic, tp.partition))
                # No id: stored before ids were recorded, taken as it is.
                if position is not None and position.topic_id in (None, self._ids[tp.topic]):
                    consumer.seek(tp, position.next_offset)
                else:
                    if position is not None:
                        log.warning(
                            "stream history: %s was created anew (a new broker): reading "
                            "partition %d from its beginning",
                            tp.topic,
                            tp.partition,
                        )
                    await consumer.seek_to_beginning(tp)
            self.assigned = frozenset(partitions)
            log.info("stream history reads %d partitions of %s", len(partitions), self._topics)
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=self._batch)
                messages = [
                    handlers.ReadMessage(r.topic, r.partition, r.offset, _event(r.value))
                    for records in batches.values()
                    for r in records
                ]
                if messages:
                    await self.confirm_topics()
                    await self._store(messages)
        finally:
            self.assigned = frozenset()
            await consumer.stop()

    async def confirm_topics(self) -> None:
        """Raises `TopicsRecreated` unless the topics still have the ids read at the start
        (read again at most every `EPOCH_CHECK_S`; while they cannot be read, waits)."""
        if self._clock() - self._ids_confirmed_at < EPOCH_CHECK_S:
            return
        current = await self._read_ids(wait_for_all=False)
        if current != self._ids:
            raise TopicsRecreated(
                f"the topics were created anew (a new broker): {sorted(current)}; the stream "
                "history reads them again from the stored positions of their new ids"
            )
        self._ids_confirmed_at = self._clock()

    async def _read_ids(self, *, wait_for_all: bool = True) -> dict[str, str]:
        """The ids of the topics (waits while the broker is away; with `wait_for_all`, also
        while a topic is missing). A missing topic maps to an empty id."""
        while True:
            try:
                found = await self._topic_ids.get(self._topics)
            except Exception as exc:
                log.info("stream history: topic ids cannot be read yet: %s", exc)
            else:
                if not wait_for_all or all(found.values()):
                    return {topic: found.get(topic) or "" for topic in self._topics}
            await asyncio.sleep(1)

    async def _store(self, messages: list[handlers.ReadMessage]) -> None:
        delay = 0.1
        while True:  # never skip a batch: the database being away is outlasted
            try:
                async with self._uow() as uow:
                    await handlers.record_stream_batch(
                        uow,
                        messages=messages,
                        streamed_types=self._types,
                        stored_at=datetime.now(UTC),
                        topic_ids=self._ids,
                    )
                break
            except Exception as exc:
                log.warning("stream history: batch not stored, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._on_stored()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while True:
            await consumer.topics()  # refreshes the metadata
            found = [
                TopicPartition(topic, p)
                for topic in self._topics
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            if found:
                return found
            await asyncio.sleep(1)  # the topics do not exist yet


def _event(value: bytes | None) -> CloudEvent | None:
    if value is None:
        return None
    try:
        return CloudEvent.from_json(value)
    except (ValidationError, ValueError):
        return None
