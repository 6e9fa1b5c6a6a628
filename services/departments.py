"""A department system's Kafka client: read its task topic, send decisions back.

What a department system does over Kafka, and nothing else (kafka-python only)::

    with DepartmentClient("127.0.0.1:9092", "MEE") as client:
        for task in client.poll(1000):
            if task.is_assigned:
                client.decide(task, "approved", opinion="ok")
            client.mark_done(task)
        client.commit()          # flush the decisions, then commit what is done

or ``client.run(handler, stop_event)`` which does exactly that loop.

- Consumes ``approval.tasks.<DEPT>`` in its own consumer group (default ``dept-<DEPT>``), from
  the earliest offset for a new group; short timeouts: a first join takes ~2 s, not minutes.
- At least once: offsets are committed by hand, up to the first message not yet handled
  (``mark_done``), after the decisions sent so far are acknowledged (acks=all). After a crash a
  task may be seen again; the platform refuses a second decision (``approval.decisions.dlq``).
- Survives a broker restart: sends are retried (a decision the broker did not take is sent
  again with the same event id, which the platform applies once), reconnects back off to 1 s
  at most, and offsets lost with an in-memory broker mean reading the new topic from its
  start: tasks seen again are decided again and those second decisions are refused.
- Decisions carry the extension ``authtoken``, this department's token (``DecisionTokens``).
- Tolerant reader: unknown CloudEvent fields, other event types than approval.task.assigned /
  approval.task.withdrawn, and documents that are not events are ignored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.errors import KafkaError, KafkaTimeoutError
from pydantic import ValidationError

from services.kafka_clients import (
    CLIENT_METRICS,
    DEFAULT_REBALANCE_TIMEOUT_S,
    consumer_timeouts,
    make_producer,
)
from services.offsets import OffsetTracker
from shared.decision_token import DecisionTokens
from shared.events import (
    CloudEvent,
    DecisionSubmittedData,
    EventType,
    TaskData,
    department_source,
    new_event,
)
from shared.fetch_wait import IdleFetchBackoff
from shared.topics import APPROVAL_DECISIONS, DEPARTMENT_CODES, tasks_topic

log = logging.getLogger(__name__)

ASSIGNED = EventType.TASK_ASSIGNED
WITHDRAWN = EventType.TASK_WITHDRAWN
DECISION_SUBMITTED = EventType.DECISION_SUBMITTED
TASK_EVENT_TYPES = frozenset({ASSIGNED, WITHDRAWN})
DECISIONS = ("approved", "rejected", "supplement_required")
DecisionValue = Literal["approved", "rejected", "supplement_required"]


@dataclass(frozen=True, slots=True)
class DepartmentTask:
    """One task event read from the department's topic (assigned or withdrawn)."""

    event_type: str
    task: TaskData
    event: CloudEvent
    topic: str
    partition: int
    offset: int

    @property
    def task_id(self) -> str:
        return str(self.task.task_id)

    @property
    def project_code(self) -> str:
        return str(self.task.project_code)

    @property
    def is_assigned(self) -> bool:
        return self.event_type == ASSIGNED

    @property
    def is_withdrawn(self) -> bool:
        return self.event_type == WITHDRAWN


@dataclass(frozen=True, slots=True)
class _Sent:
    future: Any
    key: bytes
    value: bytes


class _Rebalance(AsyncConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python ships no types
    """kafka-python runs a rebalance listener on the consumer's IO thread, while the worker waits
    in ``poll``. A blocking commit there would wait for that very thread (kafka-python refuses
    it), so the commit of what is done is awaited instead."""

    def __init__(self, client: DepartmentClient) -> None:
        self._client = client

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        # Keep what is done; what is not is read again by whoever gets the partition.
        await self._client.commit_before_revocation()
        self._client.tracker.forget(revoked)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        pass


class DepartmentClient:
    """The Kafka side of one department's system. Not thread-safe except ``mark_done``."""

    def __init__(
        self,
        bootstrap: str,
        department: str,
        *,
        group_id: str | None = None,
        producer: KafkaProducer | None = None,
        rebalance_timeout_s: float = DEFAULT_REBALANCE_TIMEOUT_S,
        max_poll_records: int = 500,
        client_id: str | None = None,
        tokens: DecisionTokens | None = None,
        fetch_wait_ms: int = 100,
        idle_fetch_wait_ms: int = 1000,
        idle_after_s: float = 10.0,
    ) -> None:
        department = department.strip().upper()
        if department not in DEPARTMENT_CODES:
            raise ValueError(f"unknown department {department!r}")
        self.department = department
        self.topic = tasks_topic(department)
        self.group_id = group_id or f"dept-{department}"
        self.source = department_source(department)
        self.tracker = OffsetTracker()
        self._known: dict[str, DepartmentTask] = {}
        self._pending: list[_Sent] = []
        self._owns_producer = producer is None
        self._producer = producer or make_producer(bootstrap, client_id=f"dept-{department}")
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=self.group_id,
            client_id=client_id or f"dept-{department}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # A restarted broker must get the topic from the runner, with its partition count.
            allow_auto_create_topics=False,
            max_poll_records=max_poll_records,
            fetch_max_wait_ms=fetch_wait_ms,
            **CLIENT_METRICS,
            **consumer_timeouts(rebalance_timeout_s),
        )
        # A department with no tasks for a while fetches once a second, not ten times: most of
        # the eighteen sit idle, and their polls were a quarter of a core and broker CPU.
        fetcher_config = self._consumer._fetcher.config

        def set_wait(ms: int) -> None:
            fetcher_config["fetch_max_wait_ms"] = ms

        self._fetch_backoff = IdleFetchBackoff(
            set_wait, busy_ms=fetch_wait_ms, idle_ms=idle_fetch_wait_ms, idle_after_s=idle_after_s
        )
        self._consumer.subscribe([self.topic], listener=_Rebalance(self))
        self.stats = {"received": 0, "ignored": 0, "decided": 0, "resent": 0}
        self._tokens = tokens or DecisionTokens(department)  # minted from PLATFORM_JWT_SECRET

    # --- reading -----------------------------------------------------------------------

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment())

    @property
    def fetch_wait_ms(self) -> int:
        """The wait of this client's next fetch: short while tasks come, longer once idle."""
        return self._fetch_backoff.wait_ms

    def poll(self, timeout_ms: int = 1000) -> list[DepartmentTask]:
        """Task events read since the last poll; anything else read is marked done at once.

        Call ``mark_done`` for each returned task once it is handled, and ``commit`` after the
        batch (``run`` does both).
        """
        records = self._consumer.poll(timeout_ms=timeout_ms)
        self._fetch_backoff.observe(got_records=bool(records))
        tasks: list[DepartmentTask] = []
        for tp, batch in records.items():
            for record in batch:
                task = self._parse(record.topic, record.partition, record.offset, record.value)
                self.tracker.add(tp, record.offset, done=task is None)
                if task is None:
                    self.stats["ignored"] += 1
                    continue
                self.stats["received"] += 1
                if task.is_assigned:
                    self._known[task.task_id] = task
                else:
                    self._known.pop(task.task_id, None)
                tasks.append(task)
        return tasks

    def _parse(
        self, topic: str, partition: int, offset: int, value: bytes | None
    ) -> DepartmentTask | None:
        where = f"{topic}[{partition}]@{offset}"
        if not value:
            return None
        try:
            event = CloudEvent.from_json(value)
        except (ValidationError, ValueError) as exc:
            log.warning("%s: not a CloudEvent, ignored: %s", where, str(exc)[:200])
            return None
        if event.type not in TASK_EVENT_TYPES:
            log.debug("%s: event type %s ignored", where, event.type)
            return None
        try:
            task = TaskData.model_validate(event.data)
        except ValidationError as exc:
            log.warning("%s: %s with invalid task data, ignored: %s", where, event.type, exc)
            return None
        if task.department != self.department:
            log.warning("%s: task %s of %s ignored", where, task.task_id, task.department)
            return None
        return DepartmentTask(event.type, task, event, topic, partition, offset)

    def mark_done(self, task: DepartmentTask) -> None:
        """The task event is handled: its offset may be committed (thread-safe)."""
        self.tracker.done(TopicPartition(task.topic, task.partition), task.offset)

    # --- deciding ----------------------------------------------------------------------

    def decide(
        self,
        task: DepartmentTask | str,
        decision: DecisionValue | str,
        opinion: str | None = None,
        missing_materials: Sequence[str] = (),
    ) -> CloudEvent:
        """Send ``approval.decision.submitted`` for a task read by this client.

        Asynchronous: the event is acknowledged by ``flush``/``commit``. ``supplement_required``
        must list every missing material (one notice lists everything).
        """
        assigned = task if isinstance(task, DepartmentTask) else self._known.get(task)
        if assigned is None:
            raise KeyError(f"task {task} was not assigned to {self.department} by this client")
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        materials = [m for m in missing_materials if m.strip()]
        if decision == "supplement_required" and not materials:
            raise ValueError("supplement_required needs the list of missing materials")
        data = DecisionSubmittedData(
            task_id=assigned.task_id,
            department=self.department,
            decision=decision,
            opinion=opinion,
            missing_materials=materials if decision == "supplement_required" else [],
        )
        source_event = assigned.event
        event = new_event(
            type=DECISION_SUBMITTED,
            source=self.source,
            subject=assigned.project_code,
            data=data,
            cause=source_event,
        )
        event = self._tokens.sign(event)
        self._send(assigned.project_code.encode(), event.to_json())
        if decision != "supplement_required":
            self._known.pop(assigned.task_id, None)
        self.stats["decided"] += 1
        return event

    def _send(self, key: bytes, value: bytes) -> None:
        future = self._producer.send(APPROVAL_DECISIONS, key=key, value=value)
        self._pending.append(_Sent(future, key, value))

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every decision sent so far is acknowledged.

        A decision the broker did not take (away longer than the producer's delivery timeout)
        is sent again, with the same event id. Raises ``KafkaTimeoutError`` when they are not
        all acknowledged within `timeout_s`; they stay pending for the next flush.
        """
        deadline = time.monotonic() + timeout_s
        while self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KafkaTimeoutError(f"{len(self._pending)} decisions not acknowledged yet")
            self._producer.flush(timeout=remaining)
            pending, self._pending = self._pending, []
            for sent in pending:
                try:
                    sent.future.get(timeout=0)
                except KafkaError as exc:
                    log.warning("%s: decision not taken, sent again: %s", self.department, exc)
                    self.stats["resent"] += 1
                    self._send(sent.key, sent.value)

    def commit(self, *, quiet: bool = False) -> int:
        """Flush the decisions, then commit every partition's done prefix; partitions committed.

        ``quiet``: decisions not acknowledged within a few seconds (the broker is away) or a
        failed offset commit (e.g. during a rebalance) are logged, not raised; the offsets are
        committed with a later batch.
        """
        offsets = self._acknowledged_offsets(quiet=quiet)
        if not offsets:
            return 0
        try:
            self._consumer.commit(offsets)
        except KafkaError as exc:
            if not quiet:
                raise
            return self._commit_failed(offsets, exc)
        self.tracker.committed(offsets)
        return len(offsets)

    async def commit_before_revocation(self) -> int:
        """``commit(quiet=True)`` from the rebalance listener, on kafka-python's IO thread: the
        commit is awaited there. Waiting for the decisions to be acknowledged blocks that
        thread (heartbeats included) for at most the quiet flush's 5 s; the producer has a
        thread of its own."""
        offsets = self._acknowledged_offsets(quiet=True)
        if not offsets:
            return 0
        try:
            await self._consumer.commit_async(offsets)
        except KafkaError as exc:
            return self._commit_failed(offsets, exc)
        self.tracker.committed(offsets)
        return len(offsets)

    def _acknowledged_offsets(self, *, quiet: bool) -> dict[TopicPartition, OffsetAndMetadata]:
        """Flush the decisions; then the done prefix of each assigned partition, taken from the
        tracker (nothing while decisions are unacknowledged: the broker is away)."""
        try:
            self.flush(timeout_s=5.0 if quiet else 30.0)
        except KafkaTimeoutError as exc:
            if not quiet:
                raise
            log.warning("%s: %s (broker away?): offsets committed later", self.department, exc)
            return {}
        assigned = self._consumer.assignment()
        return {tp: m for tp, m in self.tracker.committable().items() if tp in assigned}

    def _commit_failed(
        self, offsets: dict[TopicPartition, OffsetAndMetadata], exc: KafkaError
    ) -> int:
        """A quiet commit failed (e.g. during a rebalance): those positions go with a later one."""
        self.tracker.retry(offsets)
        log.warning("%s: offset commit failed (retried later): %s", self.department, exc)
        return 0

    # --- loop and life cycle ---------------------------------------------------------------

    def run(
        self,
        handler: Callable[[DepartmentTask], None],
        stop_event: threading.Event,
        *,
        poll_timeout_ms: int = 500,
    ) -> None:
        """Poll, hand every task to `handler` (which may call ``decide``), commit; until stopped."""
        while not stop_event.is_set():
            batch = self.poll(poll_timeout_ms)
            for task in batch:
                handler(task)
                self.mark_done(task)
            self.commit(quiet=True)  # no request when nothing new is done

    def close(self, timeout_s: float = 10.0) -> None:
        try:
            self.commit(quiet=True)
        except KafkaError as exc:
            log.error("%s: closing: %s", self.department, exc)
        finally:
            self._consumer.close(autocommit=False)
            if self._owns_producer:
                self._producer.close(timeout=timeout_s)

    def __enter__(self) -> DepartmentClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
