"""Where the queue builds: committed-offset lag of every consumer group, sampled during a run.

A pipeline that cannot keep up shows it as the lag of the stage that falls behind; the stages
after it stay near zero. Approximate by design: Tansu answers ListOffsets(latest) with the base
offset of the partition's last batch (short of the log end by up to one batch), and faust
commits offsets every few seconds, so a lag below a few hundred messages means "keeping up".
"""

from __future__ import annotations

import contextlib
import threading
from collections import defaultdict

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError


class LagSampler(threading.Thread):
    """Samples each group's total lag every `interval_s`; ``peaks`` holds the largest seen."""

    def __init__(self, bootstrap: str, interval_s: float = 2.0) -> None:
        super().__init__(name="lag-sampler", daemon=True)
        self.bootstrap = bootstrap
        self.interval_s = interval_s
        self.peaks: dict[str, int] = defaultdict(int)
        self.series: dict[str, list[int]] = defaultdict(list)
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="bench-lag")
        ends = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        try:
            while not self._halt.wait(self.interval_s):
                with contextlib.suppress(KafkaError, ValueError, KeyError):
                    self._sample(admin, ends)
        finally:
            admin.close()
            ends.close()

    def _sample(self, admin: KafkaAdminClient, ends: KafkaConsumer) -> None:
        groups = [g[0] for g in admin.list_consumer_groups()]
        for group in groups:
            committed = admin.list_consumer_group_offsets(group)
            tps = [TopicPartition(tp.topic, tp.partition) for tp in committed]
            if not tps:
                continue
            latest = ends.end_offsets(tps)
            lag = sum(max(0, latest[tp] - committed[tp].offset) for tp in tps)
            with self._lock:
                self.peaks[group] = max(self.peaks[group], lag)
                self.series[group].append(lag)

    def reset(self) -> None:
        with self._lock:
            self.peaks.clear()
            self.series.clear()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

    def report(self) -> str:
        with self._lock:
            busy = sorted(self.peaks.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{group} {peak}" for group, peak in busy[:8] if peak > 0) or "none"
