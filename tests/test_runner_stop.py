"""`python -m services up` stopping: on a signal, on many signals at once, and when killed.

Run with stand-in service packages (see conftest.py), so they check the runner itself.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from services import stack
from services.supervisor import FORCE_AFTER_S, ShutdownRequested, StopSignals

from runner_stand_ins import Runner, _assert_gone


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
def test_children_die_with_a_killed_runner(fake_env):
    runner = Runner(fake_env)
    runner.wait_for("Press Ctrl-C")
    procs = runner.descendants()
    runner.proc.kill()
    runner.finish()
    _assert_gone(procs)


# --- stop signals (no I/O) ---------------------------------------------------------------


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
