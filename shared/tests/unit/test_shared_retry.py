"""Retry forever with capped exponential backoff (no real waiting: the sleep is recorded)."""

from __future__ import annotations

import asyncio

import pytest

from shared.retry import backoff_waits, retry_forever


class Flaky:
    """Fails `failures` times with `error`, then answers."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("broker away")
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_retries_until_it_succeeds_with_doubling_capped_waits() -> None:
    attempt, sleep = Flaky(8), Sleeps()

    result = await retry_forever(attempt, first_wait_s=0.1, max_wait_s=5.0, sleep=sleep)

    assert result == "done"
    assert attempt.calls == 9
    assert sleep.waits == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])


async def test_a_lambda_returning_a_coroutine_is_awaited_and_retried() -> None:
    # How callers pass arguments: `lambda: self._process_once(messages)`.
    attempt, sleep = Flaky(2), Sleeps()

    async def work(n: int) -> str:
        return f"{await attempt()} {n}"

    result = await retry_forever(lambda: work(7), first_wait_s=0.1, max_wait_s=1, sleep=sleep)

    assert result == "done 7"
    assert attempt.calls == 3
    assert sleep.waits == pytest.approx([0.1, 0.2])


async def test_first_success_needs_no_wait() -> None:
    sleep = Sleeps()

    assert await retry_forever(Flaky(0), first_wait_s=0.1, max_wait_s=1, sleep=sleep) == "done"
    assert sleep.waits == []


async def test_never_gives_up_and_waits_stay_capped() -> None:
    attempt, sleep = Flaky(2000), Sleeps()

    assert await retry_forever(attempt, first_wait_s=0.2, max_wait_s=5.0, sleep=sleep) == "done"
    assert attempt.calls == 2001
    assert max(sleep.waits) == 5.0
    assert sleep.waits[-1] == 5.0


async def test_each_failure_is_reported_with_the_coming_wait() -> None:
    seen: list[tuple[str, float]] = []
    error = OSError("database away")

    await retry_forever(
        Flaky(2, error),
        first_wait_s=0.5,
        max_wait_s=5.0,
        on_failure=lambda exc, wait: seen.append((str(exc), wait)),
        sleep=Sleeps(),
    )

    assert seen == [("database away", 0.5), ("database away", 1.0)]


async def test_an_async_failure_callback_is_awaited() -> None:
    resets: list[float] = []

    async def reset(exc: Exception, wait: float) -> None:
        await asyncio.sleep(0)
        resets.append(wait)

    await retry_forever(
        Flaky(3), first_wait_s=0.1, max_wait_s=0.2, on_failure=reset, sleep=Sleeps()
    )

    assert resets == pytest.approx([0.1, 0.2, 0.2])


async def test_stop_when_ends_the_retries_after_a_failure() -> None:
    attempt = Flaky(100)
    stopping = False

    def fail_then_stop(exc: Exception, wait: float) -> None:
        nonlocal stopping
        stopping = attempt.calls >= 3

    result = await retry_forever(
        attempt,
        first_wait_s=0.1,
        max_wait_s=1,
        on_failure=fail_then_stop,
        sleep=Sleeps(),
        stop_when=lambda: stopping,
    )

    assert result is None
    assert attempt.calls == 4  # the failure after `stopping` turned true is the last


async def test_a_cancellation_is_never_retried() -> None:
    attempt = Flaky(5, asyncio.CancelledError())  # type: ignore[arg-type]  # a BaseException

    with pytest.raises(asyncio.CancelledError):
        await retry_forever(attempt, first_wait_s=0.1, max_wait_s=1, sleep=Sleeps())
    assert attempt.calls == 1


async def test_an_error_in_the_failure_callback_ends_the_retries() -> None:
    attempt = Flaky(5)

    def broken(exc: Exception, wait: float) -> None:
        raise RuntimeError("cannot even reset")

    with pytest.raises(RuntimeError, match="cannot even reset"):
        await retry_forever(
            attempt, first_wait_s=0.1, max_wait_s=1, on_failure=broken, sleep=Sleeps()
        )
    assert attempt.calls == 1


@pytest.mark.parametrize(("first", "cap"), [(0, 1), (-1, 1), (2, 1)])
def test_backoff_needs_a_positive_first_wait_below_the_cap(first: float, cap: float) -> None:
    with pytest.raises(ValueError, match="first_wait_s"):
        backoff_waits(first, cap)
