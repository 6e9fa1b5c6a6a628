"""Consumer batches whose time window opens at the first event, so an idle agent sleeps.

faust's ``Stream.take_events(max_, within)`` waits ``within`` for the buffer to fill, then
loops: an agent with nothing to do wakes every ``within`` (20 times a second at 50 ms), and
each wake-up builds and cancels the tasks of mode's ``wait_first``. Across a service's agents
that was most of its CPU at rest. ``take_batches`` keeps the same contract (at most ``max_``
events per batch, acked only after the caller's loop body returns, the buffer closed while a
batch is consumed) and changes one thing: while the buffer is empty it waits for the first
event with no timeout, and only then gives the batch ``within`` to fill. A lone event waits
at most ``within``, as before.

It drives the stream through the same members faust's own buffering generators use
(``add_processor``, ``_enable_passive``, ``_processors``, ``_active_agens``, ``ack``), which is
why it lives in one place with the faust version it was written against pinned in the lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from faust.types import EventT


async def take_batches(
    stream: Any, max_: int, within_s: float
) -> AsyncGenerator[Sequence[EventT[Any]], None]:
    """Yield lists of at most `max_` events: what arrives within `within_s` of the first."""
    events: list[EventT[Any]] = []
    first_event = asyncio.Event()
    buffer_full = asyncio.Event()
    buffer_consumed = asyncio.Event()
    # Set while the caller holds a batch: the processor waits on it before buffering more.
    consuming: asyncio.Future[None] | None = None
    enable_acks: bool = stream.enable_acks

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        if consuming is not None:
            try:
                await consuming
            finally:
                consuming = None
        event = stream.current_event
        if event is None:  # faust sets it before running processors
            raise RuntimeError("batch buffer found no current event")
        events.append(event)
        first_event.set()
        if len(events) >= max_:
            buffer_full.set()
            # Strict: a batch of max_ never becomes max_ + 1 while the caller catches up.
            buffer_consumed.clear()
            await stream.wait(buffer_consumed)
        return value

    # Acks are ours: an event is acknowledged only after its batch has been handled.
    stream.enable_acks = False
    stream.add_processor(add_to_buffer)
    stream._enable_passive(stream.channel.__aiter__())
    try:
        while not stream.should_stop:
            if not events and await stream.wait_for_stopped(first_event):
                break
            await stream.wait_for_stopped(buffer_full, timeout=within_s)
            if not events:
                continue
            consuming = asyncio.get_running_loop().create_future()
            batch = list(events)
            try:
                yield batch
            finally:
                events.clear()
                for event in batch:
                    await stream.ack(event)
                first_event.clear()
                buffer_full.clear()
                if not consuming.done():
                    consuming.set_result(None)
                buffer_consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
