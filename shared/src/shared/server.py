"""How a service serves HTTP: uvicorn on uvloop and httptools, with a deadline on a request's
headers.

uvloop and httptools (uvicorn's fast event loop and HTTP parser, both C) roughly halve the CPU a
request costs the server compared with the pure-Python asyncio loop and h11.

uvicorn's `timeout_keep_alive` only runs between requests; once a client has sent its first
byte nothing limits how long it takes to finish its headers, so a client that stalls holds a
connection forever. `HeaderDeadlineProtocol` closes such a connection after the read timeout
(`PLATFORM_HTTP_READ_TIMEOUT_S`); the body has the same deadline in `InputGuardMiddleware`.

`Server` ticks once a second instead of uvicorn's ten times (see there).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.settings import ServiceSettings

GRACEFUL_SHUTDOWN_S = 10


class _HeaderDeadline:
    """A request's headers must arrive within a deadline (mixed into a uvicorn protocol)."""

    # Provided by the uvicorn protocol this is mixed into.
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    logger: Any

    def _init_deadline(self, header_timeout_s: float) -> None:
        self.header_timeout_s = header_timeout_s
        self._header_deadline: asyncio.TimerHandle | None = None

    def _awaiting_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_if_awaiting(self) -> None:
        # Armed by the first byte of a request; headers complete start a cycle, which disarms.
        if self._header_deadline is None and self._awaiting_headers():
            self._header_deadline = self.loop.call_later(
                self.header_timeout_s, self._headers_too_slow
            )

    def _disarm_if_started(self) -> None:
        if self._header_deadline is not None and not self._awaiting_headers():
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self._awaiting_headers() and not self.transport.is_closing():
            self.logger.info("closing a connection whose request headers stalled")
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self._arm_if_awaiting()
        super().data_received(data)  # type: ignore[misc]  # the protocol mixed into
        self._disarm_if_started()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        super().connection_lost(exc)  # type: ignore[misc]  # the protocol mixed into


class HeaderDeadlineProtocol(_HeaderDeadline, HttpToolsProtocol):
    """httptools (what uvicorn uses here) plus the header deadline. The parser calls back
    synchronously from `data_received`, so a request whose headers completed there has its
    cycle by the time `data_received` returns."""

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_deadline(header_timeout_s)


class H11HeaderDeadlineProtocol(_HeaderDeadline, H11Protocol):
    """The same on h11 (pure Python), for `http="h11"` overrides."""

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_deadline(header_timeout_s)

    def handle_events(self) -> None:
        super().handle_events()
        self._disarm_if_started()


class Server(uvicorn.Server):
    """uvicorn's server with a housekeeping tick once a second, not every 0.1 s.

    uvicorn wakes its loop ten times a second to refresh the Date header (which it does once a
    second) and to see whether it should stop. At rest that was most of a service's wake-ups:
    the portal, which has nothing else to do, spent a quarter of a percent of a core on it.
    Each tick here refreshes the header. A stop asked through `handle_exit` (what SIGTERM and
    SIGINT call) wakes the loop at once; `should_exit` set directly is seen at the next tick.
    """

    TICK_S = 1.0

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop_requested: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            # uvicorn's on_tick refreshes the header on every tenth of its 0.1 s ticks.
            counter = (counter + 10) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), timeout=self.TICK_S)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        loop, stop = self._loop, self._stop_requested
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)  # a signal handler, or another thread


def server_config(app: FastAPI, settings: ServiceSettings, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": functools.partial(
            HeaderDeadlineProtocol, header_timeout_s=settings.http_read_timeout_s
        ),
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    # The modules, the app and its routes live as long as the process: moved out of the
    # collector's sight (gc.freeze), a full collection no longer walks them all, which
    # otherwise stalls a request now and then for as long as it takes (~100 ms and more).
    gc.collect()
    gc.freeze()
    run_server(server_config(app, settings))


def run_server(config: uvicorn.Config) -> None:
    """`Server(config).run()`; Ctrl-C ends it quietly, as `uvicorn.run` does."""
    with contextlib.suppress(KeyboardInterrupt):
        Server(config).run()
