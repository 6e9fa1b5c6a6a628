"""The stream reader of one replica: every partition of the streamed topics into the shared
stream history (`handlers.record_stream_batch`).

Delivery work is split across replicas by the consumer group; the live stream is not. Each
replica runs this reader with no consumer group (partitions assigned by hand, all of them),
so every replica learns of every event, whichever replica the group gave its partition to.
It starts where the history says it stood (`stream_positions`; a fresh history starts at the
beginning of each partition) and, after each stored batch, wakes the stream tail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from notify_svc import handlers
from notify_svc.stream_history import positions
from notify_svc.unit_of_work import NotifyUnitOfWork
from shared.db import SessionFactory
from shared.events import CloudEvent
from shared.fetch_wait import IdleFetchBackoff
from shared.kafka import aiokafka_wait_setter, install_on_aiokafka

log = logging.getLogger(__name__)


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
        batch_size: int = 500,
        fetch: FetchPolicy | None = None,
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
            consumer.assign(partitions)
            async with self._sessions() as session:
                stored = await positions(session, self._topics)
            for tp in partitions:
                if (tp.topic, tp.partition) in stored:
                    consumer.seek(tp, stored[(tp.topic, tp.partition)])
                else:
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
                    await self._store(messages)
        finally:
            self.assigned = frozenset()
            await consumer.stop()

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
