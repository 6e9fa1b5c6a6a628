"""The fetch wait of a consumer at rest: long once its partitions have stayed empty a while.

Plain Python (no Kafka client imported): the services' aiokafka consumers (`shared.kafka`)
and the departments' kafka-python clients (`services.departments`) both use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class IdleFetchBackoff:
    """Lengthens a consumer's fetch wait once its partitions have stayed empty for a while.

    The short wait a busy pipeline needs (each hop may wait that long on the embedded broker)
    costs a fetch round trip ten times a second per consumer at rest: about 1 % of a core in
    every service and most of the broker's idle CPU. After ``idle_after_s`` with no records
    the wait becomes ``idle_ms``; the first records bring back ``busy_ms``. Only the first
    event after a quiet spell pays the longer wait. ``set_wait`` applies a wait to the client
    (aiokafka: `install_on_aiokafka`; kafka-python: its fetcher's config).
    """

    def __init__(
        self,
        set_wait: Callable[[int], None],
        *,
        busy_ms: int,
        idle_ms: int,
        idle_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._set_wait = set_wait
        self._busy_ms = busy_ms
        self._idle_ms = max(idle_ms, busy_ms)
        self._idle_after = idle_after_s
        self._clock = clock
        self._last_records = clock()
        self.wait_ms = busy_ms
        set_wait(busy_ms)

    def observe(self, *, got_records: bool) -> None:
        """Called after each fetch (or poll): picks the wait of the next fetch request."""
        now = self._clock()
        if got_records:
            self._last_records = now
            wait = self._busy_ms
        elif now - self._last_records >= self._idle_after:
            wait = self._idle_ms
        else:
            return
        if wait != self.wait_ms:
            self.wait_ms = wait
            self._set_wait(wait)
