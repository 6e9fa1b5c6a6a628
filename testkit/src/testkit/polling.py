"""Wait for a condition with a bound, instead of sleeping and hoping."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout_s: float = ...,
    interval_s: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T | None],
    *,
    timeout_s: float = ...,
    interval_s: float = ...,
    what: str = ...,
) -> T: ...


async def eventually(
    check: Callable[[], Any],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.1,
    what: str = "",
) -> Any:
    """Call `check()` (sync or async) until it returns something truthy; return that value.

    Raises AssertionError naming `what` and the last value returned when `timeout_s` passes.
    The check always runs at least once, and once more after the deadline is reached.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        value = await result if inspect.isawaitable(result) else result
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timeout_message(timeout_s, what, value))
        await asyncio.sleep(interval_s)


def eventually_sync(
    check: Callable[[], T | None],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.1,
    what: str = "",
) -> T:
    """:func:`eventually` for blocking code: `check` is a plain function."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value  # truthy, so not None
        if time.monotonic() >= deadline:
            raise AssertionError(_timeout_message(timeout_s, what, value))
        time.sleep(interval_s)


def _timeout_message(timeout_s: float, what: str, last: object) -> str:
    return f"not within {timeout_s}s: {what or 'condition'}; last value: {last!r}"
