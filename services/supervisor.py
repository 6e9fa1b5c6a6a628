"""Child processes of the local runner: start, prefix their output, notice crashes, stop.

Every child runs in its own process group (its own session), so stopping it reaches whatever
it started, and a Ctrl-C in the terminal reaches the runner only: the runner decides the order
(children first, then the broker). On Linux each child also gets SIGTERM from the kernel if the
runner dies without cleaning up, so no orphan survives even a SIGKILL of the runner.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

from services.broker import parent_death_preexec, signal_group
from services.output import Output


class ShutdownRequested(BaseException):
    """SIGINT or SIGTERM arrived: unwind and stop everything.

    A BaseException so that ``except Exception`` in code being interrupted does not swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class ChildCrashed(RuntimeError):
    def __init__(self, name: str, returncode: int) -> None:
        super().__init__(f"{name} exited unexpectedly with code {returncode}")
        self.name = name
        self.returncode = returncode


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


class Supervisor:
    def __init__(self, out: Output, *, stop_timeout_s: float = 10.0) -> None:
        self.out = out
        self.stop_timeout_s = stop_timeout_s
        self.force = threading.Event()
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

    def run_to_completion(self, commands: Mapping[str, Sequence[str]]) -> dict[str, int]:
        """Run commands side by side (e.g. migrations) with prefixed output; their exit codes."""
        children = [self._spawn(ChildSpec(name, argv)) for name, argv in commands.items()]
        try:
            codes = {c.spec.name: c.proc.wait() for c in children}
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
        return {c.spec.name: c.proc.pid for c in self._children}

    def check(self) -> None:
        """Raise :class:`ChildCrashed` if a child has exited (a ``may_exit`` one with 0 is fine)."""
        for child in list(self._children):
            code = child.proc.poll()
            if code is None:
                continue
            child.reader.join(timeout=1.0)  # its last words first
            self._children.remove(child)
            signal_group(child.proc.pid, signal.SIGKILL)  # whatever it left behind
            if code == 0 and child.spec.may_exit:
                self.out.info(f"{child.spec.name} finished (exit code 0)")
                continue
            raise ChildCrashed(child.spec.name, code)

    def stop_all(self) -> None:
        """Stop every child: SIGTERM to each process group, SIGKILL after the timeout."""
        children, self._children = self._children, []
        self._stop(children)

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
                if self.force.is_set():
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


def _death_signal() -> Callable[[], None] | None:
    # Tied to the forking thread: only the main thread spawns children here.
    if threading.current_thread() is not threading.main_thread():
        return None
    preexec: Callable[[], None] | None = parent_death_preexec(signal.SIGTERM)
    return preexec


@contextlib.contextmanager
def shutdown_on_signals(out: Output, on_second: Callable[[], None] | None = None) -> Iterator[None]:
    """SIGINT/SIGTERM raise :class:`ShutdownRequested` once; a second one calls `on_second`."""
    requested: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if requested:
            out.error("second signal: not waiting any longer")
            if on_second is not None:
                on_second()
            return
        requested.append(signum)
        out.info(f"{signal.Signals(signum).name} received: shutting down")
        raise ShutdownRequested(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
