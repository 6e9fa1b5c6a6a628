"""The embedded broker kept running: its topics created, and created again after a restart."""

from __future__ import annotations

import time

from services.broker import EmbeddedBroker
from services.output import Output
from services.supervisor import RestartPolicy
from shared.broker import BrokerError, ensure_topics
from shared.settings import PlatformSettings
from shared.topics import all_topics


def create_topics(platform: PlatformSettings, out: Output, *, timeout_s: float = 30.0) -> None:
    started = time.monotonic()
    topics = all_topics()
    created = ensure_topics(
        platform.bootstrap_servers,
        topics,
        platform.topic_partitions,
        platform.topic_replication,
        timeout_s,
    )
    out.info(
        f"topics: {len(created)} created, {len(topics) - len(created)} already present "
        f"({platform.topic_partitions} partitions each) in {time.monotonic() - started:.2f}s"
    )


class BrokerKeeper:
    """Restarts the embedded broker when it exits, with the children's backoff policy, and
    creates the topics again on the new (empty) broker. The services notice the new broker by
    its topic ids and re-drive what it lost (see shared/epoch.py)."""

    def __init__(
        self, broker: EmbeddedBroker, platform: PlatformSettings, out: Output, policy: RestartPolicy
    ) -> None:
        self.broker = broker
        self.platform = platform
        self.out = out
        self.policy = policy
        self.restarts = 0
        self._started_at = time.monotonic()
        self._quick_crashes = 0
        self._restart_at: float | None = None

    def check(self) -> None:
        if self._restart_at is None:
            if self.broker.running:
                return
            code = self.broker.stop()  # reaps it and its output
            now = time.monotonic()
            uptime = now - self._started_at
            self._schedule(now, uptime, f"the broker exited with code {code} after {uptime:.1f}s")
            return
        if time.monotonic() < self._restart_at:
            return
        self._restart_at = None
        self._started_at = time.monotonic()
        try:
            self.broker.start()
            create_topics(self.platform, self.out)
        except BrokerError as exc:
            self.broker.stop()
            self._schedule(time.monotonic(), 0.0, f"the broker did not come back: {exc}")
            return
        self.restarts += 1
        self.out.info(
            f"restarted the broker on {self.broker.bootstrap} (restart {self.restarts}): it is "
            "empty; the services re-publish what it held"
        )

    def _schedule(self, now: float, uptime: float, why: str) -> None:
        quick = uptime < self.policy.reset_after_s
        self._quick_crashes = self._quick_crashes + 1 if quick else 1
        delay = self.policy.delay(self._quick_crashes)
        self._restart_at = now + delay
        self.out.error(f"{why}: restarting it in {delay:.1f}s")
