"""The local runner: embedded broker, topic admin, `python -m services up|token|broker`.

`up` is exercised with stand-in service packages (tiny HTTP servers put first on PYTHONPATH),
so these tests check the runner itself whatever state the real services are in.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from services import stack
from services.broker import EmbeddedBroker, free_port, wait_for_broker
from services.output import Output
from services.supervisor import (
    FORCE_AFTER_S,
    RestartPolicy,
    ShutdownRequested,
    StopSignals,
    describe_restarts,
)
from shared.broker import BrokerError, describe_partitions, ensure_topics
from shared.settings import get_platform_settings
from shared.topics import DEPARTMENT_CODES, all_topics, dlq_topic, tasks_topic

ROOT = Path(__file__).resolve().parents[1]
CREDIT_CODE = "91440300708461136T"
SECRET = "test-secret-of-at-least-32-bytes-length"


@pytest.fixture(scope="module")
def broker():
    with EmbeddedBroker(port=0, startup_timeout_s=30) as b:
        yield b


# --- embedded broker and topics ----------------------------------------------------------


def test_broker_topics_partitions_and_roundtrip(broker):
    partitions = get_platform_settings().topic_partitions
    created = ensure_topics(broker.bootstrap, all_topics(), partitions)
    assert set(created) <= set(all_topics())

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        listed = set(admin.list_topics())
    finally:
        admin.close()
    task_topics = [tasks_topic(d) for d in DEPARTMENT_CODES]
    assert len(task_topics) == 18
    expected = task_topics + [dlq_topic(t) for t in task_topics] + all_topics()
    assert set(expected) <= listed
    counts = describe_partitions(broker.bootstrap, all_topics())
    assert counts == dict.fromkeys(all_topics(), partitions)

    topic = tasks_topic("MEE")
    key, value = b"2509-140602-89-05-864976", b'{"specversion": "1.0"}'
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    metadata = producer.send(topic, key=key, value=value).get(timeout=10)
    producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, enable_auto_commit=False, consumer_timeout_ms=10_000
    )
    partition = TopicPartition(topic, metadata.partition)
    consumer.assign([partition])
    consumer.seek(partition, metadata.offset)
    record = next(iter(consumer))
    consumer.close()
    assert (record.key, record.value) == (key, value)


def test_ensure_topics_is_idempotent(broker):
    ensure_topics(broker.bootstrap, all_topics(), 2)
    assert ensure_topics(broker.bootstrap, all_topics(), 2) == []
    name = f"test.{uuid.uuid4().hex}"
    assert ensure_topics(broker.bootstrap, [name, name], 3) == [name]


def test_create_topics_command(broker):
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
    result = subprocess.run(
        [sys.executable, "-m", "shared.broker", "create-topics", "--timeout", "20"],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"({len(all_topics())} in all)" in result.stdout


def test_broker_stops_without_orphan():
    lines: list[str] = []
    b = EmbeddedBroker(port=0, on_output=lines.append)
    b.start()
    pid = b.pid
    assert pid is not None
    assert psutil.pid_exists(pid)
    assert b.startup_seconds is not None
    assert b.startup_seconds < 30
    b.stop()
    assert not b.running
    assert not psutil.pid_exists(pid)
    assert any("listening on" in line for line in lines)


def test_port_in_use_is_refused(broker):
    with pytest.raises(BrokerError, match="already in use"):
        EmbeddedBroker(port=broker.port).start()


def test_wait_for_broker_times_out():
    with pytest.raises(BrokerError, match="not ready"):
        wait_for_broker(f"127.0.0.1:{free_port()}", timeout_s=0.5)


# --- tokens ------------------------------------------------------------------------------


def _token(*args: str, secret: str | None = SECRET) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PLATFORM_JWT_SECRET"}
    if secret is not None:
        env["PLATFORM_JWT_SECRET"] = secret
    return subprocess.run(
        [sys.executable, "-m", "services", "token", *args],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def test_token_command_output_decodes():
    try:
        from shared.auth import decode_token
    except ImportError as exc:
        pytest.skip(f"shared.auth.decode_token is not available yet: {exc}")
    enterprise = _token("--role", "enterprise", "--credit-code", CREDIT_CODE)
    assert enterprise.returncode == 0, enterprise.stderr
    principal = decode_token(enterprise.stdout.strip(), SECRET)
    assert (principal.role, principal.credit_code) == ("enterprise", CREDIT_CODE)

    department = _token("--role", "department", "--department", "mee", "--sub", "alice")
    assert department.returncode == 0, department.stderr
    principal = decode_token(department.stdout.strip(), SECRET)
    assert (principal.role, principal.department, principal.sub) == ("department", "MEE", "alice")

    ops = _token("--role", "ops", "--ttl", "60")
    assert ops.returncode == 0, ops.stderr
    assert decode_token(ops.stdout.strip(), SECRET).role == "ops"


@pytest.mark.parametrize(
    ("args", "secret", "message"),
    [
        (("--role", "ops"), None, "PLATFORM_JWT_SECRET is not set"),
        (("--role", "enterprise"), "s", "needs --credit-code"),
        (("--role", "enterprise", "--credit-code", "91440300708461136X"), "s", "check character"),
        (("--role", "department", "--department", "XYZ"), "s", "unknown department"),
    ],
)
def test_token_command_errors(args, secret, message):
    result = _token(*args, secret=secret)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


# --- `up` with stand-in services ---------------------------------------------------------

FAKE_SERVICE = textwrap.dedent(
    """
    import os, subprocess, sys, threading, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    PKG = __package__
    PREFIX = PKG.split("_")[0].upper()

    if sys.argv[1] == "migrate":
        failing = os.environ.get("FAKE_MIGRATE_FAIL") == PKG
        print(f"{PKG}: {'migration failed' if failing else 'migrated'}", flush=True)
        sys.exit(4 if failing else 0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            ready = os.environ.get("FAKE_NOT_READY") != PKG
            code = 200 if ready or self.path != "/readyz" else 503
            body = b'{"status": "ok"}' if code == 200 else b'{"detail": "database unreachable"}'
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    if os.environ.get("FAKE_GRANDCHILD"):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    if os.environ.get("FAKE_CRASH") == PKG:
        threading.Timer(1.5, lambda: os._exit(3)).start()
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ[PREFIX + "_PORT"])), Handler)
    print(f"{PKG}: serving", flush=True)
    server.serve_forever()
    """
)


@pytest.fixture
def fake_env(tmp_path):
    for definition in stack.SERVICES:
        package = tmp_path / "fakes" / definition.package
        package.mkdir(parents=True)
        # The stand-in's `__main__` is found first; its other modules (the settings the runner
        # imports) are the real package's, found further along sys.path.
        (package / "__init__.py").write_text(
            "from pkgutil import extend_path\n__path__ = extend_path(__path__, __name__)\n"
        )
        (package / "__main__.py").write_text(FAKE_SERVICE)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PLATFORM_", "KAFKA_", "APPROVAL_", "SUPERVISION_", "NOTIFY_"))
    }
    env.update(
        PYTHONPATH=str(tmp_path / "fakes"),
        PLATFORM_DATA_DIR=str(tmp_path / "data"),
        BROKER_PORT=str(free_port()),
        APPROVAL_PORT=str(free_port()),
        SUPERVISION_PORT=str(free_port()),
        NOTIFY_PORT=str(free_port()),
        PORTAL_PORT=str(free_port()),
        NO_COLOR="1",
    )
    return env


class Runner:
    """`python -m services up` as a child, its output collected by a thread."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services", "up", *args],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, needle: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while needle not in self.text:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"{needle!r} not seen; output:\n{self.text}")
            time.sleep(0.1)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def finish(self, timeout_s: float = 60.0) -> int:
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"runner did not exit; output:\n{self.text}")
        self._reader.join(5)
        return code


def _assert_gone(processes: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(processes, timeout=5)
    assert not alive, f"orphans left: {alive}"


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_up_starts_everything_and_stops_cleanly(fake_env, sig):
    runner = Runner({**fake_env, "FAKE_GRANDCHILD": "1"})
    runner.wait_for("Press Ctrl-C")
    text = runner.text
    assert "generated a development secret" in text
    assert "PLATFORM_CLOCK_EPOCH set to now" in text
    assert "migrating the databases of approval-svc, supervision-svc, notify-svc" in text
    for name in ("approval-svc", "supervision-svc", "notify-svc"):
        assert f"{name} is ready" in text
    portal = f"http://127.0.0.1:{fake_env['PORTAL_PORT']}"
    port = fake_env["APPROVAL_PORT"]
    assert text.index(portal) < text.index(f"http://127.0.0.1:{port}")  # the portal's URL first
    assert f"http://127.0.0.1:{port}/docs" in text
    assert f"http://127.0.0.1:{port}/metrics" in text
    assert "department MEE" in text
    assert "curl -s -H 'Authorization: Bearer ey" in text
    assert "approval_svc: serving" in text  # child output, prefixed
    procs = runner.descendants()
    # broker + 3 services + 3 grandchildren
    assert len(procs) >= 7, procs
    runner.proc.send_signal(sig)
    assert runner.finish() == 0, runner.text
    _assert_gone(procs)
    assert "stopping the broker" in runner.text


@pytest.mark.integration
def test_up_restarts_a_crashed_child_with_backoff(fake_env):
    runner = Runner({**fake_env, "FAKE_CRASH": "notify_svc"})
    runner.wait_for("Press Ctrl-C")
    # The stand-in crashes 1.5 s after every start: restarted after 0.5 s, then after 1 s.
    runner.wait_for("notify-svc exited with code 3")
    runner.wait_for("restarting it in 0.5s")
    runner.wait_for("restarts so far: notify-svc 1")
    runner.wait_for("restarting it in 1.0s")
    runner.wait_for("restarts so far: notify-svc 2")
    assert runner.proc.poll() is None, "the runner must outlive a crashing child"
    procs = runner.descendants()
    runner.proc.send_signal(signal.SIGTERM)
    assert runner.finish() == 0, runner.text
    assert "restarts: notify-svc " in runner.text
    assert "approval-svc exited" not in runner.text
    _assert_gone(procs)


@pytest.mark.integration
def test_up_restarts_a_killed_broker_and_recreates_its_topics(fake_env):
    runner = Runner(fake_env)
    runner.wait_for("Press Ctrl-C")
    (tansu,) = [p for p in runner.descendants() if "tansu" in p.name()]
    tansu.kill()
    runner.wait_for("the broker exited with code -9")
    runner.wait_for("restarted the broker")
    bootstrap = f"127.0.0.1:{fake_env['BROKER_PORT']}"
    counts = describe_partitions(bootstrap, all_topics())
    assert set(counts.values()) == {get_platform_settings().topic_partitions}, counts
    procs = runner.descendants()
    assert tansu.pid not in {p.pid for p in procs}
    runner.proc.send_signal(signal.SIGTERM)
    assert runner.finish() == 0, runner.text
    assert "restarts: broker 1" in runner.text
    _assert_gone(procs)


@pytest.mark.integration
def test_many_signals_make_one_orderly_stop(fake_env):
    runner = Runner(fake_env)
    runner.wait_for("Press Ctrl-C")
    procs = runner.descendants()
    # The process-group SIGTERM, the copy `uv run` forwards, a held Ctrl-C: all at once.
    for sig in [signal.SIGTERM, signal.SIGTERM, signal.SIGINT] * 5:
        runner.proc.send_signal(sig)
    started = time.monotonic()
    assert runner.finish(timeout_s=stack.DEFAULT_STOP_TIMEOUT_S + 10) == 0, runner.text
    assert time.monotonic() - started < stack.DEFAULT_STOP_TIMEOUT_S
    # Pending copies of one signal merge in the kernel, so fewer than 15 may be counted.
    assert runner.text.count(" received: stopping") == 1, runner.text
    assert re.search(r"stopped; restarts: none; \d+ more signal\(s\) ignored", runner.text)
    assert "did not stop in time" not in runner.text
    _assert_gone(procs)


@pytest.mark.integration
def test_up_names_the_service_that_is_not_ready(fake_env):
    runner = Runner({**fake_env, "FAKE_NOT_READY": "supervision_svc"}, "--ready-timeout", "2")
    runner.wait_for("approval-svc is ready")
    procs = runner.descendants()
    assert runner.finish() == 1
    assert "not ready after 2s: supervision-svc" in runner.text
    assert "HTTP 503" in runner.text
    assert "database unreachable" in runner.text
    _assert_gone(procs)


@pytest.mark.integration
@pytest.mark.parametrize("how", ["KAFKA_BOOTSTRAP_SERVERS", "--no-broker"])
def test_up_uses_a_running_broker(fake_env, broker, how):
    env, args = dict(fake_env), []
    if how == "--no-broker":
        env["BROKER_PORT"], args = str(broker.port), ["--no-broker"]
    else:
        env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
    runner = Runner(env, *args)
    runner.wait_for("Press Ctrl-C")
    assert f"using the broker at {broker.bootstrap} ({how})" in runner.text
    assert "starting the embedded broker" not in runner.text
    assert not [p for p in runner.descendants() if "tansu" in p.name()]
    runner.proc.send_signal(signal.SIGTERM)
    assert runner.finish() == 0
    assert broker.running


@pytest.mark.integration
def test_up_stops_when_a_migration_fails(fake_env):
    runner = Runner({**fake_env, "FAKE_MIGRATE_FAIL": "notify_svc"})
    runner.wait_for("broker ready")
    procs = runner.descendants()
    assert runner.finish() == 1
    assert "migrations failed: notify-svc (exit code 4)" in runner.text
    assert "stopping the broker" in runner.text
    _assert_gone(procs)


@pytest.mark.integration
def test_children_die_with_a_killed_runner(fake_env):
    runner = Runner(fake_env)
    runner.wait_for("Press Ctrl-C")
    procs = runner.descendants()
    runner.proc.kill()
    runner.finish()
    _assert_gone(procs)


def test_prepare_env_keeps_what_is_set():
    mine = {
        "PLATFORM_JWT_SECRET": "mine",
        "PLATFORM_CLOCK_EPOCH": "2025-01-01T00:00:00+08:00",
        "PLATFORM_LOG_JSON": "true",
        "PLATFORM_DEV_LOGIN": "false",
    }
    env = dict(mine)
    stack.prepare_env(env, Output(colour=False))
    assert env == mine
    fresh: dict[str, str] = {}
    stack.prepare_env(fresh, Output(colour=False))
    assert len(fresh["PLATFORM_JWT_SECRET"]) >= 32
    assert fresh["PLATFORM_CLOCK_EPOCH"].endswith("+00:00")
    assert fresh["PLATFORM_DEV_LOGIN"] == "true"  # the portal's development sign-in


def test_children_list_is_extensible():
    services = [stack.RunningService(d, f"http://127.0.0.1:{9000 + i}")
                for i, d in enumerate(stack.SERVICES)]  # fmt: skip
    plain = stack.build_children(services, simulate_departments=False)
    assert [c.name for c in plain] == [
        "approval-svc",
        "supervision-svc",
        "notify-svc",
        "portal-svc",
    ]
    assert all(c.ready_url and c.ready_url.endswith("/readyz") for c in plain)
    demo = stack.build_children(services, simulate_departments=True)
    simulator = demo[-1]
    assert simulator.argv[-2:] == ["services", "simulate-departments"]
    assert simulator.start_after_ready
    assert simulator.ready_url is None


# --- signals and restart policy (no I/O) ---------------------------------------------------


def test_stop_signals_record_only_the_first_and_force_only_when_late():
    now = [100.0]
    signals = StopSignals(clock=lambda: now[0])
    assert not signals.requested
    signals.raise_if_requested()  # nothing requested: no exception
    signals.handler(signal.SIGTERM)
    now[0] += 0.01
    signals.handler(signal.SIGINT)
    assert (signals.requested, signals.name, signals.count, signals.forced) == (
        True,
        "SIGTERM",
        2,
        False,
    )
    with pytest.raises(ShutdownRequested, match="SIGTERM"):
        signals.raise_if_requested()
    now[0] += FORCE_AFTER_S
    signals.handler(signal.SIGINT)
    assert signals.forced
    assert signals.name == "SIGTERM"


def test_restart_policy_doubles_up_to_its_cap():
    policy = RestartPolicy(initial_s=0.5, max_s=4.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.delay(10_000) == 4.0


def test_describe_restarts():
    assert describe_restarts({}) == "none"
    assert describe_restarts({"notify-svc": 2, "broker": 1, "x": 0}) == "broker 1, notify-svc 2"
