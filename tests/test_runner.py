"""The local runner's commands: embedded broker, topic admin, `python -m services token|broker`.

Also what `up` prepares before it starts anything: the environment and its list of children.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psutil
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from services import stack
from services.broker import EmbeddedBroker, free_port, wait_for_broker
from services.output import Output
from shared.broker import BrokerError, describe_partitions, ensure_topics
from shared.settings import get_platform_settings
from shared.topics import DEPARTMENT_CODES, all_topics, dlq_topic, tasks_topic

from runner_stand_ins import ROOT

CREDIT_CODE = "91440300708461136T"
SECRET = "test-secret-of-at-least-32-bytes-length"


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


# --- what `up` prepares (no I/O) ----------------------------------------------------------


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
