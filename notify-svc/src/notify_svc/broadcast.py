"""The hub behind the Server-Sent-Events stream (`notify_svc.sse`): in-process fan-out of
committed events to the connected listeners, each filtered by what its caller may see.

The consumer publishes an event only after its batch commits (`handlers.ingest_event` puts it
live after the commit), so a listener never sees an event that was rolled back. Each process
has its own hub: a client sees the events this replica consumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from dataclasses import dataclass

from notify_svc.domain import Audience, Viewer, may_see
from notify_svc.metrics import STREAM_LISTENERS
from shared.events import CloudEvent

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)  # identity: listeners live in a set
class Listener:
    viewer: Viewer
    event_types: frozenset[str]
    queue: asyncio.Queue[CloudEvent | None]
    lagged: bool = False

    def wants(self, event: CloudEvent, audience: Audience | None) -> bool:
        if self.event_types and event.type not in self.event_types:
            return False
        return may_see(self.viewer, audience)


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
    def restricted(self) -> bool:
        """Some listener is not ops (its events need their audience resolved)."""
        return any(not listener.viewer.is_ops for listener in self._listeners)

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

    def publish(self, event: CloudEvent, audience: Audience | None) -> None:
        for listener in list(self._listeners):
            if not listener.wants(event, audience):
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
