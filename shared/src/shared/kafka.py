"""Kafka plumbing for services: the producer the outbox relay uses and the faust app factory.

Timeouts are short on purpose: the embedded broker makes a consumer group's first join wait
about half the rebalance timeout, and faust/aiokafka defaults (minutes) would stall start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT
from mode import ServiceT
from mode.threads import ServiceThread, WorkerThread

from shared.fetch_wait import IdleFetchBackoff
from shared.settings import PlatformSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class KafkaProducer:
    """An aiokafka producer with acks=all that publishes batches and waits for every ack."""

    def __init__(self, bootstrap_servers: str, *, client_id: str) -> None:
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                acks="all",
                linger_ms=2,
                max_batch_size=512 * 1024,
                request_timeout_ms=10_000,
                retry_backoff_ms=200,
            )
            try:
                await producer.start()
            except Exception:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def send_batch(self, messages: Sequence[OutgoingMessage]) -> None:
        """Send in order and wait for all acks; raises if any message was not acknowledged."""
        producer = await self._ensure()
        futures = [
            await producer.send(m.topic, m.value, key=m.key, headers=list(m.headers) or None)
            for m in messages
        ]
        await asyncio.gather(*futures)

    async def reset(self) -> None:
        """Drop the connection after a failure so the next batch starts clean."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=5)
            except Exception:  # the broker is down anyway; nothing more to flush
                log.debug("producer stop failed", exc_info=True)

    async def stop(self) -> None:
        await self.reset()


async def broker_reachable(bootstrap_servers: str, timeout_s: float = 3.0) -> str | None:
    """None when the cluster answers a metadata request, else the reason it does not."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout=timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout=timeout_s)
        return None
    except Exception as exc:
        return f"broker {bootstrap_servers} unreachable: {type(exc).__name__}: {exc}".strip()
    finally:
        try:
            await asyncio.wait_for(admin.close(), timeout=timeout_s)
        except Exception:
            log.debug("admin close failed", exc_info=True)


def install_on_aiokafka(fetcher: Any, backoff: IdleFetchBackoff) -> None:
    """Has an aiokafka fetcher report each fetch answer to `backoff` (aiokafka reads
    ``_fetch_max_wait_ms`` anew for every fetch request it builds)."""
    handle = fetcher._proc_fetch_request

    async def observed(*args: Any, **kwargs: Any) -> bool:
        got_records = bool(await handle(*args, **kwargs))
        backoff.observe(got_records=got_records)
        return got_records

    fetcher._proc_fetch_request = observed


def aiokafka_wait_setter(fetcher: Any) -> Callable[[int], None]:
    def set_wait(ms: int) -> None:
        fetcher._fetch_max_wait_ms = ms

    return set_wait


class _DaemonWorkerThread(WorkerThread):
    """mode's thread of a threaded service, as a daemon: the runtime stops faust (and this
    thread) on every orderly shutdown, but a consumer thread left behind by one that went
    wrong must not keep its process from exiting (mode makes it a non-daemon thread; an
    in-process test run was seen waiting for one at exit, forever)."""

    def __init__(self, service: ServiceThread, **kwargs: Any) -> None:
        super().__init__(service, **kwargs)
        self.daemon = True


# aiokafka's fetch routine also wakes every `consumer_timeout_ms` (200 by default) to look for
# work that nothing announced. Everything it acts on wakes it anyway (a fetch answered, buffered
# data consumed, the assignment lost, a paused partition resumed), so at rest those rounds
# were only cost: five a second per consumer.
FETCH_ROUTINE_TIMEOUT_MS = 1000


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust's aiokafka consumer thread, with the fetch wait the platform asks for.

    faust builds its consumer with ``fetch_max_wait_ms=1500`` written into the code. A broker
    that answers a waiting fetch late, not when data arrives (the embedded one), then holds
    every hop of a project's path up to 1.5 s when the partitions were empty at the fetch.
    At rest the wait grows to the idle setting (`IdleFetchBackoff`). Its thread is a daemon
    (`_DaemonWorkerThread`).
    """

    Worker = _DaemonWorkerThread

    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher, which comes after this.
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 1500)
        consumer._fetch_min_bytes = getattr(self.app, "fetch_min_bytes", 1)
        consumer._consumer_timeout = FETCH_ROUTINE_TIMEOUT_MS / 1000
        return consumer

    async def on_start(self) -> None:
        await super().on_start()
        fetcher = getattr(self._consumer, "_fetcher", None)
        idle_ms = getattr(self.app, "fetch_idle_wait_ms", None)
        if fetcher is not None and idle_ms:
            backoff = IdleFetchBackoff(
                aiokafka_wait_setter(fetcher),
                busy_ms=getattr(self.app, "fetch_max_wait_ms", 1500),
                idle_ms=idle_ms,
                idle_after_s=getattr(self.app, "fetch_idle_after_s", 10.0),
            )
            install_on_aiokafka(fetcher, backoff)


class _Consumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer, handing each fetched message on with one task, not five.

    faust's drain loop (`Consumer._drain_messages`, faust-streaming 0.15) hands every message
    to its stream through ``wait_first(callback(message), suspend_flow.wait())``: four tasks
    (the callback, the flow, the consumer's stop and crash events) and an ``asyncio.wait``
    per message, then three cancellations. That was the largest single cost of consuming,
    about 60 µs a message, against a few µs for the hand-over itself. Here the callback runs
    in one task, and what ``wait_first`` was for is kept: when the flow is suspended (a
    rebalance) while a hand-over waits for room in the stream's buffer, `stop_flow` cancels
    it and the loop goes on; stopping the consumer cancels the loop itself.
    """

    _delivering: asyncio.Task[Any] | None = None

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def stop_flow(self) -> None:
        super().stop_flow()
        delivering = self._delivering
        if delivering is not None and not delivering.done():
            delivering.cancel()

    async def _deliver(self, message: Any) -> None:
        task = asyncio.ensure_future(self.callback(message))
        self._delivering = task
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the loop itself is being stopped
            # Only the hand-over was cancelled (the flow stopped): as after wait_first.
        finally:
            self._delivering = None

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover
        # faust's loop as written in faust-streaming 0.15.3 (pinned in the lock), with
        # `_deliver` for its per-message wait_first; the rest is unchanged.
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        yield_every = 100
        num_since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                # faust sleeps here: getmany may otherwise loop without yielding.
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await asyncio.sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            await self._deliver(message)
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev("DROPPED MESSAGE ROFF %r", offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class PlatformFaustApp(faust.App):
    """A faust app on the aiokafka transport whose consumer fetch wait is a setting."""

    fetch_max_wait_ms: int = 1500
    fetch_min_bytes: int = 1
    fetch_idle_wait_ms: int | None = None
    fetch_idle_after_s: float = 10.0

    def _new_transport(self) -> TransportT:
        return _Transport(self.conf.broker_consumer, self)

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        # faust adds its Monitor as a sensor here, which times and counts every message in
        # and out of every stream for faust's own web views (disabled: `web_enabled` False).
        # The platform's metrics are its own (`shared.metrics`, `shared.lag`); the Monitor
        # stays reachable as `app.monitor` for the few places faust calls it directly.
        self.monitor.beacon.reattach(self.beacon)
        self.monitor.loop = self.loop
        if self.producer_only:
            return self.boot_strategy.producer_only()
        if self.client_only:
            return self.boot_strategy.client_only()
        return self.boot_strategy.server()


def make_faust_app(
    app_id: str, settings: PlatformSettings, *, fetch_min_bytes: int = 1, **overrides: Any
) -> faust.App:
    """A faust app that only consumes (publishing goes through the outbox).

    Values are raw bytes: we parse CloudEvents ourselves, so no faust metadata is on the wire.
    Topics are created by the platform's admin step, never declared by faust.
    """
    rebalance = settings.kafka_rebalance_timeout_s
    datadir = settings.data_dir / "faust" / app_id
    datadir.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.bootstrap_servers}",
        # faust always makes a data directory, even with the memory store: keep it out of
        # the working directory.
        "datadir": str(datadir),
        "value_serializer": "raw",
        "key_serializer": "raw",
        "store": "memory://",
        "web_enabled": False,
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "topic_partitions": settings.topic_partitions,
        "broker_rebalance_timeout": rebalance,
        "broker_session_timeout": max(rebalance * 1.5, 6.0),
        "broker_heartbeat_interval": 1.0,
        "broker_request_timeout": max(rebalance * 3, 30.0),
        "broker_commit_every": 500,
        "broker_commit_interval": 1.0,
        "consumer_auto_offset_reset": "earliest",
        "stream_wait_empty": False,
        "producer_acks": -1,
    }
    options.update(overrides)
    app = PlatformFaustApp(app_id, **options)
    app.fetch_max_wait_ms = settings.kafka_fetch_max_wait_ms
    app.fetch_min_bytes = fetch_min_bytes
    app.fetch_idle_wait_ms = settings.kafka_fetch_idle_wait_ms
    app.fetch_idle_after_s = settings.kafka_fetch_idle_after_s
    return app
