"""Child processes of the local runner: start, prefix their output, restart crashes, stop.

Every child runs in its own process group (its own session), so stopping it reaches whatever
it started, and a Ctrl-C in the terminal reaches the runner only: the runner decides the order
(children first, then the broker). On Linux each child also gets SIGTERM from the kernel if the
runner dies without cleaning up, so no orphan survives even a SIGKILL of the runner.

With a :class:`RestartPolicy` a child that exits (other than a ``may_exit`` child finishing
with 0) is started again after a backoff that doubles with each quick crash; without one (the
benchmark harness) a crash raises :class:`ChildCrashed`.

Signals: :class:`StopSignals` turns SIGINT/SIGTERM into a flag. Its handler does no I/O, takes
no lock and raises nothing, so any number of signals (the process-group SIGTERM plus the copy
`uv run` forwards, a held Ctrl-C) lead to one orderly stop run by the main loop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

from services.broker import parent_death_preexec, signal_group
from services.output import Output

FORCE_AFTER_S = 2.0
"""A further signal this long after the first one stops waiting for children (a human's
second Ctrl-C); the copies of one stop request arrive within milliseconds of each other."""


class ShutdownRequested(BaseException):
    """SIGINT or SIGTERM arrived: unwind and stop everything.

    A BaseException so that ``except Exception`` in code being interrupted does not swallow it.
    Raised by the main thread at a safe point (:meth:`StopSignals.raise_if_requested`), never
    by the signal handler itself.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class ChildCrashed(RuntimeError):
    def __init__(self, name: str, returncode: int) -> None:
        super().__init__(f"{name} exited unexpectedly with code {returncode}")
        self.name = name
        self.returncode = returncode


class StopSignals:
    """SIGINT/SIGTERM recorded as a flag for the main loop to act on.

    The handler only assigns a few attributes (no I/O, no lock, no exception), so a signal that
    interrupts the main thread anywhere, even inside a print, cannot deadlock or corrupt it.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.first: int | None = None
        self.first_at = 0.0
        self.count = 0
        self.late = False  # a signal came FORCE_AFTER_S or more after the first

    def handler(self, signum: int, frame: FrameType | None = None) -> None:
        now = self._clock()
        self.count += 1
        if self.first is None:
            self.first, self.first_at = signum, now
        elif now - self.first_at >= FORCE_AFTER_S:
            self.late = True

    @property
    def requested(self) -> bool:
        return self.first is not None

    @property
    def forced(self) -> bool:
        """Stop waiting for children: a second request well after the first."""
        return self.late

    @property
    def name(self) -> str:
        return signal.Signals(self.first).name if self.first is not None else ""

    def raise_if_requested(self) -> None:
        if self.first is not None:
            raise ShutdownRequested(self.first)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        previous = {s: signal.signal(s, self.handler) for s in self.SIGNALS}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


@dataclass(frozen=True)
class RestartPolicy:
    """Backoff between restarts of a crashing child: `initial_s`, doubling up to `max_s`.

    A child that stayed up `reset_after_s` counts as healthy again: its next crash waits
    `initial_s` again.
    """

    initial_s: float = 0.5
    max_s: float = 30.0
    reset_after_s: float = 60.0

    def delay(self, quick_crashes: int) -> float:
        """Seconds to wait before the restart that follows `quick_crashes` crashes in a row."""
        exponent = max(quick_crashes - 1, 0)
        return float(min(self.initial_s * 2 ** min(exponent, 30), self.max_s))


@dataclass(frozen=True)
class ChildSpec:
    """A long-running child of the runner.

    ``ready_url``: polled until it answers 200 before the platform counts as up.
    ``start_after_ready``: started only once every ``ready_url`` answered (helpers, simulators).
    ``may_exit``: exit code 0 is fine (a one-shot helper); any other exit is a crash.
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    ready_url: str | None = None
    start_after_ready: bool = False
    may_exit: bool = False


@dataclass
class _Child:
    spec: ChildSpec
    proc: subprocess.Popen[bytes]
    reader: threading.Thread
    started_at: float = field(default_factory=time.monotonic)
    quick_crashes: int = 0
    restart_at: float | None = None  # exited; started again at this monotonic time


class Supervisor:
    def __init__(
        self,
        out: Output,
        *,
        stop_timeout_s: float = 10.0,
        restart: RestartPolicy | None = None,
        forced: Callable[[], bool] = lambda: False,
    ) -> None:
        self.out = out
        self.stop_timeout_s = stop_timeout_s
        self.restart = restart
        self._forced = forced
        self.force = threading.Event()
        self.restarts: Counter[str] = Counter()
        self._children: list[_Child] = []

    def _spawn(self, spec: ChildSpec) -> _Child:
        self.out.register(spec.name)
        proc = subprocess.Popen(
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **spec.env},
            start_new_session=True,
            preexec_fn=_death_signal(),
        )
        reader = threading.Thread(
            target=self._pump, args=(spec.name, proc.stdout), name=f"out-{spec.name}", daemon=True
        )
        reader.start()
        return _Child(spec, proc, reader)

    def _pump(self, name: str, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with stream:
            for raw in iter(stream.readline, b""):
                self.out.line(name, raw.decode("utf-8", errors="replace").rstrip("\r\n"))

    def run_to_completion(
        self,
        commands: Mapping[str, Sequence[str]],
        *,
        stop: Callable[[], None] | None = None,
    ) -> dict[str, int]:
        """Run commands side by side (e.g. migrations) with prefixed output; their exit codes.

        ``stop`` is called while waiting (every 0.1 s); it may raise to abandon the wait (the
        commands are then stopped).
        """
        children = [self._spawn(ChildSpec(name, argv)) for name, argv in commands.items()]
        try:
            while any(c.proc.poll() is None for c in children):
                if stop is not None:
                    stop()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    next(c for c in children if c.proc.poll() is None).proc.wait(0.1)
            codes = {c.spec.name: c.proc.returncode for c in children}
        except BaseException:
            self._stop(children)
            raise
        for child in children:
            child.reader.join(timeout=2.0)
        return codes

    def start(self, spec: ChildSpec) -> None:
        self._children.append(self._spawn(spec))

    @property
    def pids(self) -> dict[str, int]:
        return {c.spec.name: c.proc.pid for c in self._children if c.restart_at is None}

    def check(self) -> list[str]:
        """Notice children that exited and restart those due; the names restarted now.

        Without a restart policy a crash raises :class:`ChildCrashed`. A ``may_exit`` child
        that finished with 0 is dropped.
        """
        now = time.monotonic()
        restarted: list[str] = []
        for child in list(self._children):
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._respawn(child)
                    restarted.append(child.spec.name)
                continue
            code = child.proc.poll()
            if code is None:
                continue
            child.reader.join(timeout=1.0)  # its last words first
            signal_group(child.proc.pid, signal.SIGKILL)  # whatever it left behind
            if code == 0 and child.spec.may_exit:
                self._children.remove(child)
                self.out.info(f"{child.spec.name} finished (exit code 0)")
                continue
            if self.restart is None:
                self._children.remove(child)
                raise ChildCrashed(child.spec.name, code)
            uptime = now - child.started_at
            child.quick_crashes = (
                1 if uptime >= self.restart.reset_after_s else child.quick_crashes + 1
            )
            delay = self.restart.delay(child.quick_crashes)
            child.restart_at = now + delay
            self.out.error(
                f"{child.spec.name} exited with code {code} after {uptime:.1f}s: "
                f"restarting it in {delay:.1f}s"
            )
        return restarted

    def _respawn(self, child: _Child) -> None:
        fresh = self._spawn(child.spec)
        child.proc, child.reader = fresh.proc, fresh.reader
        child.started_at, child.restart_at = fresh.started_at, None
        self.restarts[child.spec.name] += 1
        self.out.info(
            f"restarted {child.spec.name} (pid {child.proc.pid}); restarts so far: "
            + describe_restarts(self.restarts)
        )

    def stop_all(self) -> None:
        """Stop every child: SIGTERM to each process group, SIGKILL after the timeout."""
        children, self._children = self._children, []
        self._stop([c for c in children if c.restart_at is None])

    def _stop(self, children: list[_Child]) -> None:
        if not children:
            return
        for child in children:
            if child.proc.poll() is None:
                self.out.info(f"stopping {child.spec.name} (pid {child.proc.pid})")
                signal_group(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for child in children:
            while child.proc.poll() is None and time.monotonic() < deadline:
                if self.force.is_set() or self._forced():
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(0.1)
            if child.proc.poll() is None:
                self.out.error(f"{child.spec.name} did not stop in time: killing it")
                signal_group(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
            # whatever it started in its group goes too
            signal_group(child.proc.pid, signal.SIGKILL)
            child.reader.join(timeout=2.0)


def describe_restarts(restarts: Mapping[str, int]) -> str:
    """``approval-svc 1, broker 2`` (or ``none``)."""
    items = [f"{name} {n}" for name, n in sorted(restarts.items()) if n]
    return ", ".join(items) or "none"


def _death_signal() -> Callable[[], None] | None:
    # Tied to the forking thread: only the main thread spawns children here.
    if threading.current_thread() is not threading.main_thread():
        return None
    preexec: Callable[[], None] | None = parent_death_preexec(signal.SIGTERM)
    return preexec
