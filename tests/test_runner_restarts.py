"""`python -m services up` supervising its children: readiness, restarts with backoff, failures.

Run with stand-in service packages (see conftest.py), so they check the runner itself.
"""

from __future__ import annotations

import signal

import pytest

from services.supervisor import RestartPolicy, describe_restarts
from shared.broker import describe_partitions
from shared.settings import get_platform_settings
from shared.topics import all_topics

from runner_stand_ins import Runner, _assert_gone


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
def test_up_stops_when_a_migration_fails(fake_env):
    runner = Runner({**fake_env, "FAKE_MIGRATE_FAIL": "notify_svc"})
    runner.wait_for("broker ready")
    procs = runner.descendants()
    assert runner.finish() == 1
    assert "migrations failed: notify-svc (exit code 4)" in runner.text
    assert "stopping the broker" in runner.text
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


# --- restart policy (no I/O) -------------------------------------------------------------


def test_restart_policy_doubles_up_to_its_cap():
    policy = RestartPolicy(initial_s=0.5, max_s=4.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.delay(10_000) == 4.0


def test_describe_restarts():
    assert describe_restarts({}) == "none"
    assert describe_restarts({"notify-svc": 2, "broker": 1, "x": 0}) == "broker 1, notify-svc 2"
