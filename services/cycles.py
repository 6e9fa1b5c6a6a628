"""`python -m services stop-cycles N`: start the platform N times and stop it with SIGTERM to its
process group (what a terminal's Ctrl-C or a service manager does); report each stop.

A cycle is clean when the runner exits 0 within its stop timeout, no child was killed for not
stopping in time, and no process of the group is left. Uses its own free ports and data dir.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from services.broker import free_port
from services.stack import DEFAULT_STOP_TIMEOUT_S

_PREFIXES = ("PLATFORM_", "KAFKA_", "APPROVAL_", "SUPERVISION_", "NOTIFY_", "BROKER_")


@dataclass(frozen=True)
class Cycle:
    number: int
    up_s: float
    stop_s: float
    exit_code: int | None
    leftovers: int
    killed_children: bool

    @property
    def clean(self) -> bool:
        return self.exit_code == 0 and not self.leftovers and not self.killed_children


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PREFIXES)}
    env.update(PLATFORM_DATA_DIR=str(data_dir), NO_COLOR="1", BROKER_PORT=str(free_port()))
    for service in ("APPROVAL", "SUPERVISION", "NOTIFY"):
        env[f"{service}_PORT"] = str(free_port())
    return env


def run_cycle(
    number: int, data_dir: Path, *, timeout_s: float, simulate: bool, uv: str | None = None
) -> Cycle:
    python = [uv, "run", "--no-sync", "python"] if uv else [sys.executable]
    argv = [*python, "-m", "services", "up", "--stop-timeout", f"{timeout_s:g}"]
    if simulate:
        argv.append("--simulate-departments")
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, env=_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    up = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                up.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not up.wait(180):
        os.killpg(proc.pid, signal.SIGKILL)
        raise RuntimeError("the platform did not come up:\n" + "".join(lines[-30:]))
    up_s = time.monotonic() - started
    group = [proc.pid, *(p.pid for p in psutil.Process(proc.pid).children(recursive=True))]
    stop_started = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)  # the whole group: the runner (and uv, when used)
    try:
        code: int | None = proc.wait(timeout_s + 15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        code = None
    stop_s = time.monotonic() - stop_started
    reader.join(5)
    _, alive = psutil.wait_procs([p for p in map(_process, group) if p is not None], timeout=5)
    for leftover in alive:
        leftover.kill()
    text = "".join(lines)
    return Cycle(number, up_s, stop_s, code, len(alive), "did not stop in time" in text)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def main(args: argparse.Namespace) -> int:
    timeout_s = args.stop_timeout
    uv = shutil.which("uv") if args.uv else None
    if args.uv and uv is None:
        print("error: --uv given but uv is not on PATH", flush=True)
        return 2
    cycles: list[Cycle] = []
    with tempfile.TemporaryDirectory(prefix="stop-cycles-") as tmp:
        for number in range(1, args.cycles + 1):
            cycle = run_cycle(number, Path(tmp), timeout_s=timeout_s, simulate=args.simulate, uv=uv)
            cycles.append(cycle)
            verdict = "clean" if cycle.clean else "NOT CLEAN"
            print(
                f"cycle {number:>3}: up in {cycle.up_s:5.1f}s, stopped in {cycle.stop_s:5.1f}s, "
                f"exit {cycle.exit_code}, leftovers {cycle.leftovers}, "
                f"children killed: {'yes' if cycle.killed_children else 'no'}: {verdict}",
                flush=True,
            )
    clean = sum(c.clean for c in cycles)
    slowest = max((c.stop_s for c in cycles), default=0.0)
    print(
        f"{clean} of {len(cycles)} stop cycles clean within the {timeout_s:g}s stop timeout "
        f"(slowest stop {slowest:.1f}s)",
        flush=True,
    )
    return 0 if clean == len(cycles) else 1


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cycles", type=int, nargs="?", default=20, help="how many (20)")
    parser.add_argument(
        "--stop-timeout", type=float, default=DEFAULT_STOP_TIMEOUT_S,
        help=f"the runner's stop timeout ({DEFAULT_STOP_TIMEOUT_S:g}s)",
    )  # fmt: skip
    parser.add_argument(
        "--simulate", action="store_true", help="with the department simulator running"
    )
    parser.add_argument(
        "--uv", action="store_true",
        help="start it as `uv run python -m services up` (uv forwards the signal: two arrive)",
    )  # fmt: skip
    parser.set_defaults(func=main)
