"""Which offsets a department client may commit: per partition, up to the first not handled."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata


class OffsetTracker:
    """Per partition, offsets in the order read; the committable position is the first not done."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[TopicPartition, OrderedDict[int, bool]] = {}
        self._committed: dict[TopicPartition, int] = {}

    def add(self, tp: TopicPartition, offset: int, *, done: bool = False) -> None:
        with self._lock:
            self._open.setdefault(tp, OrderedDict())[offset] = done

    def done(self, tp: TopicPartition, offset: int) -> None:
        with self._lock:
            entries = self._open.get(tp)
            if entries is not None and offset in entries:
                entries[offset] = True

    def committable(self) -> dict[TopicPartition, OffsetAndMetadata]:
        """Positions to commit now (each partition's next offset after its done prefix)."""
        out: dict[TopicPartition, OffsetAndMetadata] = {}
        with self._lock:
            for tp, entries in self._open.items():
                position = None
                while entries:
                    offset, finished = next(iter(entries.items()))
                    if not finished:
                        break
                    entries.popitem(last=False)
                    position = offset + 1
                if position is not None and position > self._committed.get(tp, -1):
                    out[tp] = OffsetAndMetadata(position, "", -1)
        return out

    def retry(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """A commit of `offsets` failed: offer those positions again next time."""
        with self._lock:
            for tp, meta in offsets.items():
                entries = self._open.setdefault(tp, OrderedDict())
                entries[meta.offset - 1] = True
                entries.move_to_end(meta.offset - 1, last=False)

    def committed(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        with self._lock:
            for tp, meta in offsets.items():
                self._committed[tp] = meta.offset

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        with self._lock:
            for tp in partitions:
                self._open.pop(tp, None)
                self._committed.pop(tp, None)

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(1 for e in self._open.values() for d in e.values() if not d)
