"""The outbox relay: publishes committed outbox rows in id order and marks them sent.

One relay per database holds a lease (`outbox_lease`), so one publisher keeps per-key order.
While the broker is down requests keep succeeding and events wait; the relay retries until they
are acknowledged (at-least-once: consumers drop redeliveries by event id).

Sent rows are kept for a retention window (``OUTBOX_RETENTION_HOURS``; a sweep deletes older
ones) so that a broker that lost its topics (the in-memory embedded broker after a restart)
gets them again: before each batch, and every few seconds when idle, the relay compares the
ids of the topics it published to with the ids it recorded (see :mod:`shared.epoch`); a topic
created anew has its retained rows marked unsent, and they go out again in id order.

On PostgreSQL it reads and marks rows on a connection of its own, without bitmap scans
(`shared.db.make_relay_engine`: otherwise each read grew with the rows sent since the last
vacuum).

Idle, the relay sleeps until the first of: a commit of this process that wrote events (`wake`,
called by the unit of work, so an event goes out within milliseconds), the next idle epoch
check, the renewal of its lease (a third of the lease's time to live: held leases never lapse,
a dead holder's expires), the purge, or `poll_interval_s` (rows another process committed,
which cannot wake it). It renews its lease only when a third of its time to live has passed,
not on every round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from shared.db import OutboxMessage, RelayLease, SessionFactory, rowcount, table_of, utcnow
from shared.epoch import TopicIds, load_recorded_ids, record_ids
from shared.kafka import KafkaProducer, OutgoingMessage
from shared.metrics import EVENTS_PRODUCED, OUTBOX_BACKLOG, OUTBOX_REPUBLISHED
from shared.retry import retry_forever

log = logging.getLogger(__name__)

PURGE_INTERVAL_S = 60.0
_OUTBOX = table_of(OutboxMessage)
_TIMER_SLACK_S = 0.005
# Built once, on the Table: a round's statements. Built per round on the model (the ORM's
# bulk UPDATE path), marking a batch sent cost more CPU than the UPDATE itself; the ids'
# IN list expands at execution.
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(sent_at=bindparam("sent_now"))
)
_COUNT_UNSENT = sa_select(func.count()).select_from(_OUTBOX).where(_OUTBOX.c.sent_at.is_(None))


def unsent_batch(limit: int) -> Select[Any]:
    """The oldest unsent rows, in id order: the columns a batch sends, as plain rows (loading
    an ORM entity per row cost more than publishing it)."""
    return (
        sa_select(_OUTBOX.c.id, _OUTBOX.c.event_type, _OUTBOX.c.topic)
        .add_columns(_OUTBOX.c.message_key, _OUTBOX.c.payload)
        .where(_OUTBOX.c.sent_at.is_(None))
        .order_by(_OUTBOX.c.id)
        .limit(limit)
    )


class OutboxRelay:
    """Publishes committed outbox rows; one relay per database holds the lease at a time."""

    LEASE = "outbox-relay"

    def __init__(
        self,
        *,
        session_factory: SessionFactory,
        producer: KafkaProducer,
        service: str,
        batch_size: int = 500,
        poll_interval_s: float = 2.0,
        lease_ttl_s: float = 10.0,
        retention: timedelta = timedelta(hours=24),
        topic_ids: TopicIds | None = None,
        epoch_check_interval_s: float = 2.0,
    ) -> None:
        self._factory = session_factory
        self._producer = producer
        self._service = service
        self._batch_size = batch_size
        self._unsent = unsent_batch(batch_size)  # built once: the same query every round
        self._poll = poll_interval_s
        self._lease_ttl = timedelta(seconds=lease_ttl_s)
        # Renewed when a third of the time to live has passed: two renewals may fail or come
        # late before the lease lapses, and a batch always starts with two thirds of it left.
        self._lease_renew_s = lease_ttl_s / 3
        self._lease_held_until = float("-inf")  # monotonic; while ahead, the lease is ours
        self._retention = retention
        # None: no epoch checks (a producer without a real cluster behind it, in unit tests).
        self._topic_ids = topic_ids
        self._epoch_check_interval_s = epoch_check_interval_s
        self._recorded: dict[str, str] | None = None  # topic -> id it had when we published
        self._last_epoch_check = float("-inf")
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_purge = float("-inf")  # monotonic
        self.last_error: str | None = None

    def wake(self) -> None:
        self._wake.set()

    def holds_lease(self) -> bool:
        return time.monotonic() < self._lease_held_until

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            # Broker or database away: keep the rows, retry with a capped backoff (which
            # starts again from its first wait after every successful round).
            await retry_forever(
                self._round,
                first_wait_s=0.2,
                max_wait_s=5.0,
                on_failure=self._publish_failed,
                sleep=self._sleep,
                stop_when=lambda: self._stopping,
            )
        await self._flush()

    async def _flush(self) -> None:
        """On a stop, what was committed goes out now rather than at the next start: one try
        while the lease is still ours (a broker or database away keeps the rows for then)."""
        if not self.holds_lease():
            return  # another instance holds the lease and publishes them
        try:
            while await self.publish_pending() >= self._batch_size:
                pass
        except Exception as exc:
            log.info("outbox relay: the last publish before the stop failed: %s", exc)

    async def _round(self) -> None:
        """Hold the lease, publish a batch, purge now and then, wait for more."""
        if self._stopping:
            return
        if not await self._keep_lease():
            await self._sleep(self._lease_ttl.total_seconds() / 2)
            return
        sent = await self.publish_pending()
        self.last_error = None
        now = time.monotonic()
        if now - self._last_purge > PURGE_INTERVAL_S:
            await self._purge()
            self._last_purge = now
        if sent < self._batch_size:
            await self._sleep(self._idle_wait())

    def _idle_wait(self) -> float:
        """Seconds until an idle relay has something to do, unless woken first."""
        now = time.monotonic()
        due = [self._renew_at(), self._last_purge + PURGE_INTERVAL_S]
        if self._topic_ids is not None:
            due.append(self._last_epoch_check + self._epoch_check_interval_s)
        # A timer may fire a little early: the slack keeps it from making a round too soon.
        return max(min(self._poll, min(due) - now + _TIMER_SLACK_S), 0.0)

    def _renew_at(self) -> float:
        """The monotonic instant the lease is renewed (a third into its time to live)."""
        return self._lease_held_until - self._lease_ttl.total_seconds() + self._lease_renew_s

    async def _keep_lease(self) -> bool:
        """True while this relay holds the lease; renews it once a third of its time is up."""
        if time.monotonic() < self._renew_at():
            return True
        return await self._hold_lease()

    async def _publish_failed(self, exc: Exception, wait_s: float) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("outbox relay: publish failed, retrying in %.1fs: %s", wait_s, self.last_error)
        await self._producer.reset()
        with contextlib.suppress(Exception):  # the database may be the one away
            OUTBOX_BACKLOG.labels(self._service).set(await self.backlog())

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def publish_pending(self) -> int:
        """Publish one batch of unsent rows in id order; returns how many were sent."""
        async with self._factory() as session:
            rows = (await session.execute(self._unsent)).all()
            await session.rollback()
        ids = [r.id for r in rows]
        types = [r.event_type for r in rows]
        topics = {r.topic for r in rows}
        messages = [
            OutgoingMessage(
                topic=r.topic,
                key=r.message_key.encode() if r.message_key is not None else None,
                value=r.payload,
            )
            for r in rows
        ]
        # After the read session is closed: SQLite has a single connection.
        due = time.monotonic() - self._last_epoch_check >= self._epoch_check_interval_s
        if (rows or due) and await self.redrive_recreated_topics(topics):
            self._wake.set()  # older rows are unsent again: start over with them
            return 0
        if not rows:
            OUTBOX_BACKLOG.labels(self._service).set(0)
            return 0
        try:
            await self._producer.send_batch(messages)
        except Exception:
            for event_type in types:
                EVENTS_PRODUCED.labels(self._service, event_type, "failed").inc()
            raise
        async with self._factory() as session:
            await session.execute(_MARK_SENT, {"ids": ids, "sent_now": utcnow()})
            # A batch short of full took every row unsent when it was read: what is unsent now
            # was committed since and goes out in the next round. Only a full batch leaves a
            # backlog worth a count (a statement per round, most of them short of full).
            backlog = 0
            if len(ids) >= self._batch_size:
                backlog = int((await session.execute(_COUNT_UNSENT)).scalar_one())
            await session.commit()
        OUTBOX_BACKLOG.labels(self._service).set(backlog)
        for event_type in types:
            EVENTS_PRODUCED.labels(self._service, event_type, "sent").inc()
        return len(ids)

    async def backlog(self) -> int:
        async with self._factory() as session:
            result = (await session.execute(_COUNT_UNSENT)).scalar_one()
            await session.rollback()
        return int(result)

    # --- broker epochs: topics created anew get their retained rows again ------------------

    async def redrive_recreated_topics(self, topics: set[str]) -> bool:
        """Compare the ids of `topics` and of every topic published to with those recorded.

        A changed id: that topic's retained sent rows are marked unsent (True is returned). A
        recorded topic that is missing raises: its broker lost it, and publishing now would
        put new events before the old ones it must get again first.
        """
        if self._topic_ids is None:
            return False
        if self._recorded is None:
            self._recorded = await load_recorded_ids(self._factory)
        ids = await self._topic_ids.get(topics | set(self._recorded))
        self._last_epoch_check = time.monotonic()
        gone = sorted(t for t, i in ids.items() if i is None and t in self._recorded)
        if gone:
            raise RuntimeError(f"topics {', '.join(gone)} are gone (a new broker?): waiting")
        recorded = self._recorded
        changed = {t: i for t, i in ids.items() if i and t in recorded and recorded[t] != i}
        fresh = {t: i for t, i in ids.items() if i and t not in self._recorded}
        if not changed and not fresh:
            return False
        redriven: dict[str, int] = {}
        async with self._factory() as session:
            for topic in changed:
                result = await session.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.topic) == topic)
                    .where(col(OutboxMessage.sent_at).is_not(None))
                    .values(sent_at=None)
                )
                # execute() is typed as returning Result; an UPDATE gives a CursorResult.
                redriven[topic] = int(rowcount(result))
            await record_ids(session, {**changed, **fresh})
            await session.commit()
        self._recorded.update(changed)
        self._recorded.update(fresh)
        for topic, count in redriven.items():
            OUTBOX_REPUBLISHED.labels(self._service, topic).inc(count)
        if changed:
            log.warning(
                "outbox relay: topics created anew (a new broker): publishing again the "
                "retained events of %s",
                ", ".join(f"{t} ({n})" for t, n in sorted(redriven.items())),
            )
        return bool(changed)

    async def close(self) -> None:
        if self._topic_ids is not None:
            await self._topic_ids.close()

    async def _hold_lease(self) -> bool:
        """Take or renew the lease in the database (True: this relay holds it)."""
        self._lease_held_until = float("-inf")
        started = time.monotonic()  # the lease runs from before the request, never longer
        held = await self._request_lease()
        if held:
            self._lease_held_until = started + self._lease_ttl.total_seconds()
        return held

    async def _request_lease(self) -> bool:
        now = utcnow()
        expires = now + self._lease_ttl
        async with self._factory() as session:
            result = await session.execute(
                update(RelayLease)
                .where(col(RelayLease.name) == self.LEASE)
                .where((col(RelayLease.owner) == self._owner) | (col(RelayLease.expires_at) < now))
                .values(owner=self._owner, expires_at=expires)
            )
            # execute() is typed as returning Result; an UPDATE gives a CursorResult (rowcount).
            if rowcount(result):
                await session.commit()
                return True
            exists = await session.get(RelayLease, self.LEASE)
            if exists is not None:
                await session.rollback()
                return False
            session.add(RelayLease(name=self.LEASE, owner=self._owner, expires_at=expires))
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return False
            return True

    async def release(self) -> None:
        self._lease_held_until = float("-inf")
        async with self._factory() as session:
            await session.execute(
                delete(RelayLease)
                .where(col(RelayLease.name) == self.LEASE)
                .where(col(RelayLease.owner) == self._owner)
            )
            await session.commit()

    async def _purge(self) -> None:
        cutoff = utcnow() - self._retention
        async with self._factory() as session:
            await session.execute(delete(OutboxMessage).where(col(OutboxMessage.sent_at) < cutoff))
            await session.commit()
