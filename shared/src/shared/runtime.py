"""The moving parts every service composes: database, outbox relay, faust consumers, clock.

A service's `create_app(settings, ...)` builds one `ServiceRuntime`, registers its event
handlers on it and hands `runtime.lifespan` to FastAPI. Nothing here starts at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import faust

from shared.clock import Clock, clock_from_settings
from shared.consumer import EventProcessor, Handler, Prepare, attach_processor
from shared.db import (
    SessionFactory,
    make_engine,
    make_read_engine,
    make_relay_engine,
    make_session_factory,
    ping,
)
from shared.epoch import EPOCH_CHECK_S, TopicIds, fingerprint
from shared.kafka import KafkaProducer, broker_reachable, make_faust_app
from shared.lag import LAG, LAG_SAMPLE_INTERVAL_S, faust_offsets
from shared.metrics import SERVICE_READY
from shared.outbox import UnitOfWork
from shared.relay import OutboxRelay
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

BackgroundJob = Callable[[], Awaitable[None]]
READINESS_GAUGE_INTERVAL_S = 10.0
RELAY_FLUSH_S = 3.0
"""How long a stop lets the outbox relay publish what was committed before it."""


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        clock: Clock | None = None,
        consume: bool = True,
        relay: bool = True,
    ) -> None:
        self.settings = settings
        self.service = settings.service_name
        self.clock: Clock = clock or clock_from_settings(settings)
        self.engine = make_engine(settings.resolved_database_url)
        self.sessions: SessionFactory = make_session_factory(self.engine)
        # Queries that only read use their own connections (SQLite: beside the one writer).
        self.read_engine = make_read_engine(settings.resolved_database_url, self.engine)
        self.read_sessions: SessionFactory = make_session_factory(self.read_engine)
        self.producer = KafkaProducer(settings.bootstrap_servers, client_id=f"{self.service}-svc")
        # One topic-id client per process (it holds a broker connection): the relay's epoch
        # checks, the consumers' (below) and any other reader of topics the service composes
        # (notify's stream history) share it; `stop` closes it.
        self.topic_ids = TopicIds(settings.bootstrap_servers)
        # The relay's own connection on PostgreSQL (see `make_relay_engine`).
        self.relay_engine = make_relay_engine(settings.resolved_database_url, self.engine)
        self.relay = OutboxRelay(
            session_factory=make_session_factory(self.relay_engine),
            producer=self.producer,
            service=self.service,
            batch_size=settings.outbox_batch_size,
            poll_interval_s=settings.outbox_poll_interval_s,
            retention=timedelta(hours=settings.outbox_retention_hours),
            topic_ids=self.topic_ids,
        )
        # The consumer group carries the epoch of the topics it reads (see shared/epoch.py):
        # set when faust starts, once the topics' ids are known.
        self._epoch: str | None = None
        # Open while the consumed topics are known to be those of `_epoch`; the consumers wait
        # for it before applying a batch (see `_run_faust`).
        self._epoch_confirmed = asyncio.Event()
        self.faust: faust.App = make_faust_app(
            settings.group_id, settings, fetch_min_bytes=settings.consumer_fetch_min_bytes
        )
        self.processors: list[EventProcessor] = []
        self._attachments: list[tuple[EventProcessor, tuple[str, ...]]] = []
        self._consume = consume
        self._relay_enabled = relay
        self._jobs: list[tuple[str, BackgroundJob]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._relay_task: asyncio.Task[None] | None = None
        self._faust_started = False
        self._faust_starting: asyncio.Future[None] | None = None
        self._ping: asyncio.Future[None] | None = None
        self._broker_check: tuple[float, str | None] = (0.0, None)
        self._commit_listeners: list[Callable[[], None]] = []

    # --- composition -----------------------------------------------------------------

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, on_commit=self._committed, on_events=self.relay.wake)

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every commit of this process (units of work from `uow()`
        and consumer batches): for a job that sleeps until the state it reads changes (the
        outbox relay is woken only by the commits that wrote events). It runs in the
        committing task: it must only wake something."""
        self._commit_listeners.append(listener)

    def _committed(self) -> None:
        for listener in self._commit_listeners:
            try:
                listener()
            except Exception:  # a wake-up must never fail work that is committed
                log.exception("commit listener failed")

    def consume(
        self,
        name: str,
        *,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        prepare: Prepare | None = None,
    ) -> EventProcessor:
        """Register an idempotent consumer (its own dedupe namespace `name`)."""
        processor = EventProcessor(
            name=name,
            service=self.service,
            session_factory=self.sessions,
            handlers=handlers,
            on_commit=self._committed,
            on_events=self.relay.wake,
            prepare=prepare,
        )
        self._attach(self.faust, processor, topics)
        self.processors.append(processor)
        self._attachments.append((processor, tuple(topics)))
        return processor

    def background(self, name: str, job: BackgroundJob) -> None:
        """A periodic sweep or worker; it runs for the life of the app and is restarted on error."""
        self._jobs.append((name, job))

    # --- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        if self._relay_enabled:
            self._relay_task = self._spawn("outbox-relay", self.relay.run)
        if self._consume and self.processors:
            self._spawn("faust", self._run_faust)
            self._spawn("consumer-lag", self._sample_lag)
        for name, job in self._jobs:
            self._spawn(name, job)
        self._spawn("readiness-gauge", self._watch_readiness)

    async def stop(self) -> None:
        """Stop everything within about 20 s, whatever state the consumers are in."""
        # Checked by the jobs between their awaits: a cancel alone can be lost (Python 3.11's
        # `asyncio.wait_for` drops one that lands as its inner call completes), and a faust
        # job that missed it went on to start consumers after this stop had returned; their
        # thread and tasks then outlived the app (seen in CI: a test's event loop could not
        # close, and a finished test run could not exit).
        self._stopping = True
        self.relay.stop()
        if self._relay_task is not None:
            # The relay ends its round and publishes what is committed (up to 3 s): a client
            # that saw its request succeed then sees the event on the topic.
            await asyncio.wait({self._relay_task}, timeout=RELAY_FLUSH_S)
        # The jobs first, so that nothing can start faust once it is stopped below.
        await self._end_jobs(within_s=5.0)
        if self._ping is not None and not self._ping.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._ping), timeout=3)
        if self._faust_started:
            # Never stop faust in the middle of its start (a group join can take seconds): a
            # start that completes after the stop leaves its consumer thread running, and that
            # non-daemon thread keeps the process alive. Let the start finish, then stop.
            if self._faust_starting is not None and not self._faust_starting.done():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(self._faust_starting), timeout=30)
            try:
                await asyncio.wait_for(self.faust.stop(), timeout=10)
            except Exception:
                log.warning("faust did not stop cleanly", exc_info=True)
        if self._relay_enabled:
            # Hand the lease back so a restarted process publishes at once.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.relay.release(), timeout=2)
        await self.producer.stop()
        with contextlib.suppress(Exception):  # the relay's too: it is the same client
            await asyncio.wait_for(self.topic_ids.close(), timeout=2)
        for engine in (self.read_engine, self.relay_engine):
            if engine is not self.engine:
                await engine.dispose()
        await self.engine.dispose()

    async def _end_jobs(self, *, within_s: float) -> None:
        """Cancel the background jobs until they end: again and again, since a library call
        may swallow one cancel. Bounded: a job stuck in a library call must not hang the
        whole shutdown."""
        pending = {task for task in self._tasks if not task.done()}
        deadline = time.monotonic() + within_s
        while pending and time.monotonic() < deadline:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(
                pending, timeout=min(0.5, max(deadline - time.monotonic(), 0.0))
            )
        for task in pending:
            log.warning("background job %s did not stop within %.0f s", task.get_name(), within_s)
        self._tasks.clear()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def _spawn(self, name: str, job: BackgroundJob) -> asyncio.Task[None]:
        async def supervised() -> None:
            while not self._stopping:
                try:
                    await job()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if self._stopping:
                        return
                    log.exception("background job %s failed; restarting in 1s", name)
                    await asyncio.sleep(1)

        task = asyncio.create_task(supervised(), name=f"{self.service}:{name}")
        self._tasks.append(task)
        return task

    async def _run_faust(self) -> None:
        # The broker may be away at start: wait for it instead of failing the whole service.
        while await broker_reachable(self.settings.bootstrap_servers) is not None:  # noqa: ASYNC110
            await asyncio.sleep(1)
        epoch = await self._consumed_epoch(wait_s=10.0)
        if self.faust.started or epoch != self._epoch:
            if self.faust.started:
                # A crashed or failed earlier start, or a new broker: mode cannot start a
                # service twice (and its restart() trips on faust's children), so build a fresh
                # app with the same agents.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.faust.stop(), timeout=15)
            self._epoch = epoch
            self.faust = self._fresh_faust()
        if self._stopping:  # a stop's cancel lost on the way here: start nothing
            return
        self._epoch_confirmed.set()
        # Flag before awaiting: a stop during a slow first group join must still stop faust,
        # or its half-started services outlive the app.
        self._faust_started = True
        # Shielded: cancelling this job must not interrupt faust half-way through its start.
        self._faust_starting = asyncio.ensure_future(self.faust.start())
        await asyncio.shield(self._faust_starting)
        checked = time.monotonic()
        while not self.faust.crashed:
            await asyncio.sleep(1)
            if self._stopping:
                return
            if time.monotonic() - checked >= EPOCH_CHECK_S:
                checked = time.monotonic()
                current = await self._current_epoch()
                if current is None:
                    # The broker is away, or back without all its topics: it may be a new one.
                    # A consumer that reconnects to a new broker fetches its new topics from
                    # the old group's positions, the middle of what the relays publish again,
                    # and would apply later events of a project before earlier ones (seen:
                    # notify delivering `approval.task.assigned` before `project.submitted`).
                    # Batches wait until the topics are known to be the same again.
                    self._epoch_confirmed.clear()
                elif current != self._epoch:
                    self._epoch_confirmed.clear()  # nothing more applied in the old group
                    # Raising hands it back to the supervisor, which starts faust again in the
                    # group of the new epoch.
                    raise RuntimeError("the consumed topics were created anew (a new broker)")
                else:
                    self._epoch_confirmed.set()
        # Raising hands it back to the supervisor, which restarts the consumers.
        raise RuntimeError(f"faust crashed: {getattr(self.faust, '_crash_reason', None)!r}")

    def _consumed_topics(self) -> set[str]:
        return {topic for _, topics in self._attachments for topic in topics}

    async def _consumed_epoch(self, *, wait_s: float) -> str:
        """The fingerprint of the consumed topics' ids; waits up to `wait_s` for missing ones
        (the runner creates them right after the broker starts)."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                ids = await self.topic_ids.get(self._consumed_topics())
            except Exception as exc:
                log.warning("reading topic ids failed: %s", exc)
                ids = {}
            if (ids and all(ids.values())) or time.monotonic() >= deadline:
                return fingerprint(ids)
            await asyncio.sleep(0.5)

    async def _current_epoch(self) -> str | None:
        """The fingerprint of the consumed topics' ids; None while it cannot be told."""
        try:
            ids = await self.topic_ids.get(self._consumed_topics())
        except Exception:  # broker away
            return None
        if not all(ids.values()):  # a new broker whose topics are not all there yet
            return None
        return fingerprint(ids)

    async def _watch_readiness(self) -> None:
        """`service_ready` for Prometheus, which (unlike Kubernetes) does not call /readyz."""
        while True:
            SERVICE_READY.labels(self.service).set(0 if await self.readiness() else 1)
            await asyncio.sleep(READINESS_GAUGE_INTERVAL_S)

    async def _sample_lag(self) -> None:
        """Consumer lag per partition, exported on /metrics (see `shared.lag`)."""
        handle = LAG.register(self.service, self.settings.group_id, faust_offsets(self._app))
        try:
            while True:
                LAG.sample()
                await asyncio.sleep(LAG_SAMPLE_INTERVAL_S)
        finally:
            LAG.unregister(handle)

    def _app(self) -> faust.App:
        return self.faust

    def _fresh_faust(self) -> faust.App:
        group = (
            self.settings.group_id
            if self._epoch is None
            else f"{self.settings.group_id}.{self._epoch}"
        )
        app = make_faust_app(
            group, self.settings, fetch_min_bytes=self.settings.consumer_fetch_min_bytes
        )
        for processor, topics in self._attachments:
            self._attach(app, processor, topics)
        return app

    def _attach(self, app: faust.App, processor: EventProcessor, topics: Sequence[str]) -> None:
        attach_processor(
            app,
            processor,
            topics=topics,
            batch_size=self.settings.consumer_batch_size,
            within_s=self.settings.consumer_batch_window_ms / 1000,
            gate=self._epoch_confirmed.wait,
        )

    # --- health ------------------------------------------------------------------------

    async def readiness(self) -> list[str]:
        problems: list[str] = []
        try:
            # Shielded, and let finish by `stop` before the engines close: a ping cancelled
            # while its connection was being opened left SQLite's connection thread to answer
            # an event loop that had gone (seen in tests: "Event loop is closed"). One at a
            # time: while the database hangs, later checks wait on the same ping.
            if self._ping is None or self._ping.done():
                self._ping = asyncio.ensure_future(ping(self.engine))
                self._ping.add_done_callback(_retrieve_outcome)
            await asyncio.wait_for(asyncio.shield(self._ping), timeout=3)
        except Exception as exc:
            problems.append(f"database unreachable: {type(exc).__name__}: {exc}")
        now = time.monotonic()
        checked_at, reason = self._broker_check
        if now - checked_at > 2.0:  # readiness probes are frequent; the broker check is not free
            reason = await broker_reachable(self.settings.bootstrap_servers)
            self._broker_check = (now, reason)
        if reason:
            problems.append(reason)
        return problems


def _retrieve_outcome(future: asyncio.Future[None]) -> None:
    # A ping nobody awaits any more (its check timed out) must not be logged as an
    # exception never retrieved: the check that timed out has reported it.
    if not future.cancelled():
        future.exception()
