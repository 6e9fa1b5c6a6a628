"""Broker epochs: noticing that the topics a service uses were created anew (a new, empty broker).

The embedded broker (Tansu, memory storage) loses every topic, record and committed offset
when it restarts, and it reports the same cluster id each time (``tansu_cluster``: tested), so
the cluster id cannot tell a new broker from the old one. Topic ids can: Kafka (2.8+) gives a
topic a random UUID when it is created, so a topic created again (on a restarted in-memory
broker, or deleted and re-created on any cluster) has a new id; Tansu gives each topic a new
UUID at each start (tested). Both halves of a service use that:

- The outbox relay remembers the id of every topic it published to (persisted, so a broker
  restarted while the service was down is noticed too) and compares before each batch and
  every few seconds when idle. A changed id means the topic lost what it held: every sent row
  still retained for it (``OUTBOX_RETENTION_HOURS``) is published again, in its original
  order. Consumers drop the copies they had already applied (processed-event table).
- The consumers: the faust consumer group is named after the :func:`fingerprint` of the ids
  of the topics it reads (``<group>.<fingerprint>``). On a new broker the fingerprint changes,
  the runtime starts faust again in the new group, which has no committed offsets and so reads
  the new topics from their beginning, instead of waiting at the old, now too high, positions
  (faust skips offsets below the last one it read). A restarted service computes the same
  fingerprint, so it resumes where its group left off.

Ids are read by a Metadata request of version 10 on aiokafka's client
(`shared.topic_metadata`; aiokafka's own goes up to version 5, which has no topic ids); the
request never creates a topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Iterable, Mapping

from aiokafka.client import AIOKafkaClient
from sqlalchemy import delete, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import RelayLease, SessionFactory, utcnow
from shared.topic_metadata import TopicIdsRequest
from shared.topic_metadata import topic_ids as topic_ids_of

log = logging.getLogger(__name__)

UNKNOWN_TOPIC = 3  # Kafka error code of a topic that does not exist
EPOCH_CHECK_S = 2.0
"""How often a reader of topics compares their ids with those it started on (the runtime's
consumers, notify's stream-history reader)."""


def fingerprint(ids: Mapping[str, str | None]) -> str:
    """A short stable digest of topic ids (a missing topic counts as ``-``)."""
    text = ";".join(f"{topic}={ids[topic] or '-'}" for topic in sorted(ids))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


class TopicIds:
    """Reads topic ids from the cluster (`shared.topic_metadata`): one client kept, made
    again after an error."""

    def __init__(self, bootstrap_servers: str, *, timeout_s: float = 5.0) -> None:
        self._bootstrap = bootstrap_servers
        self._timeout_s = timeout_s
        self._client: AIOKafkaClient | None = None
        self._lock = asyncio.Lock()

    async def get(self, topics: Iterable[str]) -> dict[str, str | None]:
        """The id of each of `topics` (None for a topic the cluster does not have)."""
        wanted = sorted(set(topics))
        if not wanted:
            return {}
        async with self._lock:
            try:
                return await asyncio.wait_for(self._describe(wanted), self._timeout_s)
            except BaseException:
                await self._close()
                raise

    async def _describe(self, topics: list[str]) -> dict[str, str | None]:
        if self._client is None:
            ms = int(self._timeout_s * 1000)
            client = AIOKafkaClient(
                bootstrap_servers=self._bootstrap,
                client_id="platform-epoch",
                request_timeout_ms=ms,
            )
            self._client = client
            await client.bootstrap()
        node = self._client.get_random_node()
        if node is None:
            raise RuntimeError("the cluster named no broker")
        response = await self._client.send(node, TopicIdsRequest(topics))
        ids: dict[str, str | None] = dict.fromkeys(topics)
        for name, code, topic_id in topic_ids_of(response):
            if code == 0 and topic_id:
                ids[name] = topic_id
            elif code != UNKNOWN_TOPIC:
                raise RuntimeError(f"describing topic {name} failed: error {code}")
        return ids

    async def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    async def close(self) -> None:
        async with self._lock:
            await self._close()


# The ids of the topics the relay published to live in the lease table (no schema change): one
# row per topic, named `topic-id:<digest of the topic>`, owner `<topic id> <topic>`, expires_at
# the time it was recorded (such a row never expires; the relay's lease is the row "outbox-relay").
_TOPIC_ID_ROW = "topic-id:"
_TOPIC_MAX = 128 - 37  # the owner column holds "<36-char id> <topic>"


def _row_name(topic: str) -> str:
    return _TOPIC_ID_ROW + hashlib.sha256(topic.encode()).hexdigest()[:40]


async def load_recorded_ids(session_factory: SessionFactory) -> dict[str, str]:
    """Topic -> the id it had when the relay last published to it."""
    async with session_factory() as session:
        rows = (
            await session.exec(
                select(RelayLease).where(col(RelayLease.name).startswith(_TOPIC_ID_ROW))
            )
        ).all()
        recorded = {}
        for row in rows:
            topic_id, _, topic = row.owner.partition(" ")
            recorded[topic] = topic_id
        await session.rollback()
    return recorded


async def record_ids(session: AsyncSession, ids: Mapping[str, str]) -> None:
    """Upsert one row per topic (delete, insert: portable across SQLite and PostgreSQL).

    A topic name too long for the row is not persisted (it is still compared in memory).
    """
    rows = {_row_name(t): f"{i} {t}" for t, i in ids.items() if len(t) <= _TOPIC_MAX}
    if not rows:
        return
    await session.execute(delete(RelayLease).where(col(RelayLease.name).in_(list(rows))))
    now = utcnow()
    await session.execute(
        insert(RelayLease),
        [{"name": name, "owner": owner, "expires_at": now} for name, owner in rows.items()],
    )
