"""Where the queue builds: committed-offset lag of every consumer group, sampled during a run.

A pipeline that cannot keep up shows it as the lag of the stage that falls behind; the stages
after it stay near zero. The log end is the high watermark a fetch returns (Tansu answers
ListOffsets(latest) with the base offset of the partition's last batch, short of the end).
Approximate by design: faust commits offsets every few seconds, so a lag below a few hundred
messages means "keeping up".
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections import defaultdict

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError


class LagSampler(threading.Thread):
    """Samples each group's total lag every `interval_s`; ``peaks`` holds the largest seen."""

    def __init__(
        self, bootstrap: str, interval_s: float = 2.0, metrics: dict[str, str] | None = None
    ) -> None:
        super().__init__(name="lag-sampler", daemon=True)
        self.bootstrap = bootstrap
        # service name -> its /metrics URL: the outbox backlog (events committed, not yet
        # published) is a queue too, ahead of every consumer group.
        self.metrics = metrics or {}
        self.interval_s = interval_s
        self.peaks: dict[str, int] = defaultdict(int)
        self.series: dict[str, list[int]] = defaultdict(list)
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.error: str | None = None  # the last failed sample's, shown in the report
        self._round: dict[str, int] = {}  # the queues sampled so far in this round
        self.latest: dict[str, int] = {}  # the last whole round

    def run(self) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="bench-lag")
        ends = KafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, check_crcs=False,
            fetch_max_wait_ms=10,
        )  # fmt: skip
        try:
            while not self._halt.wait(self.interval_s):
                try:
                    self._sample_outboxes()
                    self._sample(admin, ends)
                    with self._lock:  # a whole round: every queue sampled once
                        self.latest, self._round = self._round, {}
                except (KafkaError, OSError, ValueError, KeyError, TypeError) as exc:
                    self.error = f"{type(exc).__name__}: {exc}"
        finally:
            admin.close()
            ends.close()

    def _sample(self, admin: KafkaAdminClient, ends: KafkaConsumer) -> None:
        for listed in admin.list_groups():
            group = listed["group_id"] if isinstance(listed, dict) else listed[0]
            committed = admin.list_group_offsets({group: None}).get(group, {})
            tps = [TopicPartition(tp.topic, tp.partition) for tp in committed]
            if not tps:
                continue
            latest = self._high_watermarks(ends, tps)
            lag = sum(max(0, latest.get(tp, 0) - committed[tp].offset) for tp in tps)
            self._note(group, lag)

    def _sample_outboxes(self) -> None:
        for name, url in self.metrics.items():
            with urllib.request.urlopen(url, timeout=2) as answer:
                text = answer.read().decode()
            backlog = sum(
                int(float(line.rsplit(" ", 1)[1]))
                for line in text.splitlines()
                if line.startswith("outbox_backlog{")
            )
            self._note(f"outbox of {name}", backlog)

    def _note(self, queue: str, size: int) -> None:
        with self._lock:
            self.peaks[queue] = max(self.peaks[queue], size)
            self.series[queue].append(size)
            self._round[queue] = size

    def _high_watermarks(
        self, ends: KafkaConsumer, tps: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        ends.assign(tps)
        ends.seek_to_end(*tps)
        marks: dict[TopicPartition, int] = {}
        for _ in range(20):  # a fetch of each partition brings its high watermark
            ends.poll(timeout_ms=50, max_records=10_000)
            marks = {tp: hw for tp in tps if (hw := ends.highwater(tp)) is not None}
            if len(marks) == len(tps):
                break
        return marks

    def drained(self, below: int) -> bool:
        """Whether every queue of the latest whole round is under `below` (and there is one).

        Only whole rounds count: a round half taken (outboxes read, consumer groups not yet)
        would call the platform drained while a consumer group is still far behind.
        """
        with self._lock:
            latest = list(self.latest.values())
        return bool(latest) and max(latest) < below

    def wait_drained(self, *, below: int, timeout_s: float) -> float | None:
        """Seconds until every queue was under `below` in a fresh sample (None: timed out)."""
        started = time.monotonic()
        self.reset()
        while time.monotonic() - started < timeout_s:
            if self._halt.wait(self.interval_s):
                return None
            if self.drained(below):
                return time.monotonic() - started
        return None

    def reset(self) -> None:
        with self._lock:
            self.peaks.clear()
            self.series.clear()
            self._round.clear()
            self.latest = {}

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

    def report(self) -> str:
        with self._lock:
            busy = sorted(self.peaks.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{group} {peak}" for group, peak in busy[:10] if peak > 0) or "none"
        return shown + (f" (last sampling error: {self.error})" if self.error else "")
