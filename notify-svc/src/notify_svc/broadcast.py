"""The hub behind the Server-Sent-Events stream (`notify_svc.sse`): in-process fan-out of the
stream history's new events to the connected listeners, each filtered by what its caller may
see.

`StreamTail` follows the shared history (`stream_history`) in `seq` order and publishes each
new row to the hub; it is woken after this replica's stream reader stores a batch. Since every
replica's reader reads every partition, and the history is shared, every replica's hub sees
every event, in the same order, under the same `seq`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from dataclasses import dataclass

from notify_svc.domain import Viewer, may_see
from notify_svc.metrics import STREAM_LISTENERS
from notify_svc.stream_history import StoredEvent, events_after, last_seq
from shared.db import SessionFactory

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)  # identity: listeners live in a set
class Listener:
    viewer: Viewer
    event_types: frozenset[str]
    queue: asyncio.Queue[StoredEvent | None]
    lagged: bool = False

    def wants(self, event: StoredEvent) -> bool:
        if self.event_types and event.event_type not in self.event_types:
            return False
        return may_see(self.viewer, event.audience)


class Broadcaster:
    """Each listener has a bounded queue; one that falls behind is cut off, never waited for."""

    def __init__(self, *, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._listeners: set[Listener] = set()
        self._closed = False

    @property
    def active(self) -> bool:
        return bool(self._listeners)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    def subscribe(self, viewer: Viewer, event_types: Collection[str] = ()) -> Listener:
        listener = Listener(viewer, frozenset(event_types), asyncio.Queue(self._queue_size))
        if self._closed:
            listener.queue.put_nowait(None)
        else:
            self._listeners.add(listener)
            STREAM_LISTENERS.inc()
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        self._forget(listener)

    def _forget(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.discard(listener)
            STREAM_LISTENERS.dec()

    def publish(self, event: StoredEvent) -> None:
        for listener in list(self._listeners):
            if not listener.wants(event):
                continue
            try:
                listener.queue.put_nowait(event)
            except asyncio.QueueFull:
                listener.lagged = True
                self._forget(listener)
                self._end(listener)
                log.warning("stream listener fell behind by %d events; cut off", self._queue_size)

    def close(self) -> None:
        """The service stops: end every stream."""
        self._closed = True
        for listener in list(self._listeners):
            self._forget(listener)
            self._end(listener)

    @staticmethod
    def _end(listener: Listener) -> None:
        # Make room for the end marker (a cut-off listener loses its backlog anyway).
        while True:
            try:
                listener.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    listener.queue.get_nowait()


class StreamTail:
    """Publishes the history's new rows to the hub, in `seq` order, when woken."""

    def __init__(self, hub: Broadcaster, sessions: SessionFactory, *, page: int = 500) -> None:
        self._hub = hub
        self._sessions = sessions
        self._page = page
        self._wake = asyncio.Event()
        self.position = 0
        self._positioned = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Background job: starts at the end of the history (live only), then follows it.

        Restarted after a failure (the runtime does), it goes on from where it was: the rows
        committed while it was down are published, not skipped by starting at the end again.
        """
        if not self._positioned:
            async with self._sessions() as session:
                self.position = await last_seq(session)
            self._positioned = True
        self._wake.set()  # a restart catches up at once, woken or not
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.catch_up()

    async def catch_up(self) -> None:
        while True:
            async with self._sessions() as session:
                if not self._hub.active:
                    self.position = max(self.position, await last_seq(session))
                    return
                rows = await events_after(session, self.position, limit=self._page)
            for row in rows:
                self._hub.publish(row)
                self.position = row.seq
            if len(rows) < self._page:
                return
