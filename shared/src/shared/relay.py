"""The outbox relay: publishes committed outbox rows in id order and marks them sent.

One relay per database holds a lease (`outbox_lease`), so one publisher keeps per-key order.
While the broker is down requests keep succeeding and events wait; the relay retries until they
are acknowledged (at-least-once: consumers drop redeliveries by event id).

Sent rows are kept for a retention window (``OUTBOX_RETENTION_HOURS``; a sweep deletes older
ones) so that a broker that lost its topics (the in-memory embedded broker after a restart)
gets them again: before each batch, and every few seconds when idle, the relay compares the
ids of the topics it published to with the ids it recorded (see :mod:`shared.epoch`); a topic
created anew has its retained rows marked unsent, and they go out again in id order.

Idle, the relay sleeps until the first of: a commit of this process (`wake`, so an event goes
out within milliseconds), the next idle epoch check, the renewal of its lease (a third of the
lease's time to live: held leases never lapse, a dead holder's expires), the purge, or
`poll_interval_s` (rows another process committed, which cannot wake it). It renews its lease
only when a third of its time to live has passed, not on every round.
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

from sqlalchemy import delete, func, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from shared.db import OutboxMessage, RelayLease, SessionFactory, rowcount, table_of, utcnow
from shared.epoch import TopicIds, load_recorded_ids, record_ids
from shared.kafka import KafkaProducer, OutgoingMessage
from shared.metrics import EVENTS_PRODUCED, OUTBOX_BACKLOG, OUTBOX_REPUBLISHED
from shared.retry import retry_forever

log = logging.getLogger(__name__)

PURGE_INTERVAL_S = 60.0
BACKLOG_COUNT_INTERVAL_S = 1.0
BACKLOG_OF_MARKS = 4  # batches sent ahead of their marks, at most
MARK_CHUNK = 1000  # ids per IN list of a mark
OUTBOX = table_of(OutboxMessage)
_TIMER_SLACK_S = 0.005


class OutboxRelay:
    """Publishes committed outbox rows; one relay per database holds the lease at a time."""

    LEASE = "outbox-relay"

    def __init__(
        self,
        *,
        session_factory: SessionFactory,
        producer: KafkaProducer,
        read_session_factory: SessionFactory | None = None,
        service: str,
        batch_size: int = 500,
        poll_interval_s: float = 2.0,
        lease_ttl_s: float = 10.0,
        retention: timedelta = timedelta(hours=24),
        topic_ids: TopicIds | None = None,
        epoch_check_interval_s: float = 2.0,
    ) -> None:
        self._factory = session_factory
        self._read_factory = read_session_factory or session_factory
        self._last_count = float("-inf")  # monotonic: when the backlog was last counted
        # Pipelined marking (the run loop): ids acknowledged by the broker whose rows are not
        # yet marked sent; one task marks them, in one UPDATE for however many batches
        # queued up while it waited for the database.
        self._unmarked: list[int] = []
        self._marking: set[int] = set()
        self._marker: asyncio.Task[None] | None = None
        self._producer = producer
        self._service = service
        self._batch_size = batch_size
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

    async def _round(self) -> None:
        """Hold the lease, publish a batch, purge now and then, wait for more."""
        if self._stopping:
            return
        if not await self._keep_lease():
            await self._sleep(self._lease_ttl.total_seconds() / 2)
            return
        sent = await self.publish_pending(wait_for_marks=False)
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

    async def publish_pending(self, *, wait_for_marks: bool = True) -> int:
        """Publish one batch of unsent rows in id order; returns how many were sent.

        With ``wait_for_marks`` the rows are marked sent before it returns. Without (the
        run loop) a background task marks them while the next batch is read and sent: the
        writer connection is the busiest resource of a SQLite service, and a relay waiting
        for it between batches fell thousands of events behind under load. Rows sent but not
        yet marked are skipped by the reads in between, so nothing goes out twice (unless the
        process dies before the mark: then at least once, as always)."""
        if len(self._unmarked) + len(self._marking) >= BACKLOG_OF_MARKS * self._batch_size:
            await self._flush_marks()  # the database is slow: do not run further ahead of it
        skip = self._in_flight()
        # Read on a reader's connection (SQLite: beside the one writer, which the use cases
        # keep busy) and as plain rows: only the mark below needs the writer.
        async with self._read_factory() as session:
            rows = (
                await session.execute(
                    core_select(
                        OUTBOX.c.id,
                        OUTBOX.c.topic,
                        OUTBOX.c.message_key,
                        OUTBOX.c.payload,
                        OUTBOX.c.event_type,
                    )
                    .where(OUTBOX.c.sent_at.is_(None))
                    .order_by(OUTBOX.c.id)
                    .limit(self._batch_size + len(skip))
                )
            ).all()
            await session.rollback()
        rows = [r for r in rows if r.id not in skip][: self._batch_size]
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
        self._unmarked.extend(ids)
        if wait_for_marks:
            await self._flush_marks()
        elif self._marker is None or self._marker.done():
            self._marker = asyncio.create_task(self._mark_in_background(), name="outbox-marks")
        # A short batch was everything unsent when it was read; a full one may leave more,
        # counted (on a reader) at most once a second rather than on every round.
        now = time.monotonic()
        if len(ids) < self._batch_size:
            OUTBOX_BACKLOG.labels(self._service).set(0)
        elif now - self._last_count >= BACKLOG_COUNT_INTERVAL_S:
            self._last_count = now
            OUTBOX_BACKLOG.labels(self._service).set(
                max(0, await self.backlog() - len(self._in_flight()))
            )
        for event_type in types:
            EVENTS_PRODUCED.labels(self._service, event_type, "sent").inc()
        return len(ids)

    def _in_flight(self) -> set[int]:
        return self._marking.union(self._unmarked)

    async def _mark_sent(self) -> None:
        """Mark what is unmarked, in one statement per chunk of ids (one transaction)."""
        while self._unmarked:
            self._marking.update(self._unmarked)
            self._unmarked.clear()
            ids = sorted(self._marking)
            try:
                async with self._factory() as session:
                    at = utcnow()
                    for start in range(0, len(ids), MARK_CHUNK):
                        await session.execute(
                            update(OutboxMessage)
                            .where(col(OutboxMessage.id).in_(ids[start : start + MARK_CHUNK]))
                            .values(sent_at=at)
                        )
                    await session.commit()
            except BaseException:
                # Not marked: try again with the next ones (the rows are still unsent).
                self._unmarked[:0] = ids
                raise
            finally:
                self._marking.clear()

    async def _mark_in_background(self) -> None:
        await retry_forever(
            self._mark_sent,
            first_wait_s=0.2,
            max_wait_s=5.0,
            on_failure=self._mark_failed,
            stop_when=lambda: self._stopping and not self._unmarked,
        )

    def _mark_failed(self, exc: Exception, wait_s: float) -> None:
        log.warning("outbox relay: marking sent rows failed, retrying in %.1fs: %s", wait_s, exc)

    async def _flush_marks(self) -> None:
        """Until every sent row is marked (a background mark in progress included)."""
        marker = self._marker
        if marker is not None and not marker.done():
            await asyncio.shield(marker)
        await self._mark_sent()

    async def backlog(self) -> int:
        async with self._read_factory() as session:
            result = (
                await session.exec(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(col(OutboxMessage.sent_at).is_(None))
                )
            ).one()
            await session.rollback()
        return _scalar(result)

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
        if changed:
            # Rows sent to the lost topics may still be waiting for their mark: marked after
            # the redrive, they would never go out again.
            await self._flush_marks()
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
        marker, self._marker = self._marker, None
        if marker is not None and not marker.done():
            marker.cancel()  # what it did not mark goes out again: at least once
            with contextlib.suppress(BaseException):
                await marker
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
        with contextlib.suppress(Exception):  # unmarked rows are sent again: at least once
            await asyncio.wait_for(self._flush_marks(), timeout=2)
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


def _scalar(value: object) -> int:
    if isinstance(value, tuple | list):
        value = value[0]
    return int(str(value))
