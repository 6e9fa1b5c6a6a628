"""The platform's one retry policy for its plumbing: retry forever, capped exponential backoff.

Used where giving up would lose or stall something accepted: a consumed batch that must not be
acknowledged unapplied, the outbox relay publishing committed events. Built on `tenacity`.
A cancellation is never retried (`CancelledError` is not an `Exception`), so a stopping task
stops at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_never,
    wait_exponential,
)

T = TypeVar("T")

OnFailure = Callable[[Exception, float], Awaitable[None] | None]


def backoff_waits(first_wait_s: float, max_wait_s: float) -> wait_exponential:
    """first_wait_s after the first failure, then twice as long each time, at most max_wait_s."""
    if first_wait_s <= 0 or max_wait_s < first_wait_s:
        raise ValueError("backoff needs 0 < first_wait_s <= max_wait_s")
    return wait_exponential(multiplier=first_wait_s, exp_base=2, max=max_wait_s)


async def retry_forever(
    attempt: Callable[[], Awaitable[T]],
    *,
    first_wait_s: float,
    max_wait_s: float,
    on_failure: OnFailure | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    stop_when: Callable[[], bool] | None = None,
) -> T | None:
    """Await `attempt()` until it returns, and return its result.

    Each failure (any `Exception`) is reported to `on_failure(exc, wait_s)` (sync or async),
    then `sleep(wait_s)` runs before the next attempt; waits grow as `backoff_waits`. With
    `stop_when`, it is asked after each failure: once true, no more attempts and None is
    returned. An exception raised by `on_failure` or `sleep` ends the retries.
    """

    async def before_sleep(state: RetryCallState) -> None:
        if on_failure is None or state.outcome is None:
            return
        exc = state.outcome.exception()
        assert isinstance(exc, Exception)  # only Exceptions are retried
        result = on_failure(exc, state.upcoming_sleep)
        if result is not None:
            await result

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        wait=backoff_waits(first_wait_s, max_wait_s),
        stop=stop_never if stop_when is None else (lambda _: stop_when()),
        sleep=sleep,
        before_sleep=before_sleep,
        retry_error_callback=lambda _: None,  # stopped: end the iteration, no RetryError
    )
    # The iterator form awaits `attempt()` itself: calling the retrier with `attempt` would
    # treat a lambda returning a coroutine as a plain function and never await it.
    async for trying in retrying:
        with trying:
            return await attempt()
    return None  # stopped by `stop_when`
