"""The exit watchdog, on real pytest runs in a subprocess (each a few seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LEFTOVER = """
import threading

def test_leaves_a_blocked_thread():
    threading.Thread(target=threading.Event().wait, name="left-behind").start()
"""


def _run(tmp_path: Path, body: str, *, grace_s: str = "1") -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_case.py").write_text(body)
    env = {**os.environ, "TEST_EXIT_GRACE_S": grace_s}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "testkit.exit_watchdog",
            "-q",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_case.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("extra", "status"), [("", 0), ("\ndef test_fails():\n    assert False\n", 1)]
)
def test_a_run_held_by_a_leftover_thread_ends_with_its_own_status_and_the_stacks(
    tmp_path: Path, extra: str, status: int
) -> None:
    done = _run(tmp_path, LEFTOVER + extra)
    assert done.returncode == status, done.stdout + done.stderr
    assert "exit watchdog: the test run had not exited" in done.stderr
    assert "left-behind (non-daemon)" in done.stderr
    assert "in _shutdown" in done.stderr  # the main thread's stack: where it waits


def test_a_run_that_exits_in_time_is_left_alone(tmp_path: Path) -> None:
    done = _run(tmp_path, "def test_passes():\n    pass\n", grace_s="30")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "exit watchdog" not in done.stderr
