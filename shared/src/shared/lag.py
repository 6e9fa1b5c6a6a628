"""Consumer lag, exported by the services themselves: per group, topic and partition, in
messages and in seconds (`consumer_lag_messages`, `consumer_lag_seconds`).

Where the numbers come from, and why:

- **high-water mark**: the one the consumer's own fetch responses carry (aiokafka's
  `highwater(tp)`), never a ListOffsets(latest) request: the embedded broker (Tansu) answers
  that with the base offset of the last batch, not the offset after the last message, so a lag
  computed from it is wrong by up to a batch. A partition not fetched yet has no high-water mark
  and no lag sample.
- **consumed position**: the group's committed offset as this consumer knows it (the next offset
  to process; faust commits only what was applied). A group that never committed counts from 0.
- **seconds**: kafka-lag-exporter's method. Each time the high-water mark of a partition is seen
  to grow, the time is recorded; the lag in seconds is how long ago the high-water mark first
  passed the committed offset, i.e. how long the oldest unprocessed message has been waiting
  (to the sampling interval; a message that was already there when the process started counts
  from the first sample, so right after a start the figure is a lower bound).

Samples are taken every `LAG_SAMPLE_INTERVAL_S` by the service runtime and at every scrape.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

LAG_SAMPLE_INTERVAL_S = 1.0
MAX_SAMPLES_PER_PARTITION = 600


class PartitionOffsets(NamedTuple):
    topic: str
    partition: int
    committed: int | None  # next offset to process; None: the group never committed
    highwater: int | None  # offset after the last message; None: not fetched yet


class PartitionLag(NamedTuple):
    topic: str
    partition: int
    messages: int
    seconds: float


@dataclass
class _History:
    """High-water marks of one partition as they grew, with the time each was first seen."""

    marks: deque[int] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES_PER_PARTITION))
    times: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES_PER_PARTITION))

    def observe(self, highwater: int, now: float) -> None:
        if not self.marks or highwater > self.marks[-1]:
            self.marks.append(highwater)
            self.times.append(now)
        elif highwater < self.marks[-1]:  # the topic was recreated: start again
            self.marks.clear()
            self.times.clear()
            self.marks.append(highwater)
            self.times.append(now)

    def waiting_since(self, committed: int) -> float | None:
        """When the message at `committed` was first seen to exist (None: not yet)."""
        index = bisect.bisect_right(list(self.marks), committed)
        if index >= len(self.marks):
            return None
        return self.times[index]


class LagTracker:
    """Lag of one consumer group from the offsets it reports (no I/O: fed by a source)."""

    def __init__(self) -> None:
        self._histories: dict[tuple[str, int], _History] = {}

    def observe(self, offsets: Iterable[PartitionOffsets], now: float) -> list[PartitionLag]:
        lags: list[PartitionLag] = []
        seen: set[tuple[str, int]] = set()
        for row in offsets:
            if row.highwater is None:
                continue
            key = (row.topic, row.partition)
            seen.add(key)
            history = self._histories.setdefault(key, _History())
            history.observe(row.highwater, now)
            committed = max(row.committed or 0, 0)
            messages = max(row.highwater - committed, 0)
            since = history.waiting_since(committed) if messages else None
            seconds = max(now - since, 0.0) if since is not None else 0.0
            lags.append(PartitionLag(row.topic, row.partition, messages, seconds))
        for key in set(self._histories) - seen:  # partitions that moved to another instance
            del self._histories[key]
        return sorted(lags)


OffsetsSource = Callable[[], Iterable[PartitionOffsets]]


@dataclass
class _Source:
    service: str
    group: str
    offsets: OffsetsSource
    tracker: LagTracker = field(default_factory=LagTracker)
    last: list[PartitionLag] = field(default_factory=list)


class LagCollector(Collector):
    """The process's lag metrics: one source per consumer group of each app in the process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._sources: dict[int, _Source] = {}

    def register(self, service: str, group: str, offsets: OffsetsSource) -> int:
        with self._lock:
            handle = id(offsets)
            self._sources[handle] = _Source(service, group, offsets)
            return handle

    def unregister(self, handle: int) -> None:
        with self._lock:
            self._sources.pop(handle, None)

    def sample(self) -> None:
        """Read every source's offsets now (cheap: in-memory state of the consumers)."""
        now = self._clock()
        with self._lock:
            sources = list(self._sources.values())
        for source in sources:
            try:
                rows = list(source.offsets())
            except Exception:  # a consumer in the middle of a rebalance or a restart
                log.debug("lag source %s failed", source.group, exc_info=True)
                continue
            with self._lock:
                source.last = source.tracker.observe(rows, now)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self.sample()
        labels = ["service", "group", "topic", "partition"]
        messages = GaugeMetricFamily(
            "consumer_lag_messages",
            "Messages in a partition not yet processed by the consumer group (high-water mark "
            "from fetch responses minus committed offset).",
            labels=labels,
        )
        seconds = GaugeMetricFamily(
            "consumer_lag_seconds",
            "How long the oldest message not yet processed by the group has been waiting.",
            labels=labels,
        )
        with self._lock:
            sources = list(self._sources.values())
        for source in sources:
            for lag in source.last:
                values = [source.service, source.group, lag.topic, str(lag.partition)]
                messages.add_metric(values, lag.messages)
                seconds.add_metric(values, lag.seconds)
        yield messages
        yield seconds

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # the families are dynamic; describing nothing skips a collect at register


def faust_offsets(get_app: Callable[[], Any]) -> OffsetsSource:
    """Offsets of the faust app `get_app()` returns (it may be replaced after a crash).

    Reads the consumer's in-memory state only: its assignment, the high-water marks of its
    fetch responses (aiokafka) and faust's committed offsets (it has no public accessor).
    """

    def offsets() -> list[PartitionOffsets]:
        app = get_app()
        if not getattr(app, "started", False) or app.consumer is None:
            return []
        consumer = app.consumer
        committed: dict[Any, int | None] = dict(getattr(consumer, "_committed_offset", {}))
        rows = []
        for tp in sorted(consumer.assignment()):
            highwater = consumer.highwater(tp)
            rows.append(PartitionOffsets(tp.topic, tp.partition, committed.get(tp), highwater))
        return rows

    return offsets


LAG = LagCollector()
REGISTRY.register(LAG)
