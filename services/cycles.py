"""`python -m services stop-cycles N`: start the platform N times and stop it with SIGTERM to its
process group (what a service manager does); report each stop. With `--tty` the platform is
typed into a real terminal (tmux) and stopped with Ctrl-C instead (`services.tty_cycles`);
`--make` types `make run`.

A cycle is clean when the runner exits 0 within its stop timeout, no child was killed for not
stopping in time, and no process of the group is left. Uses its own free ports and data dir.
"""

from __future__ import annotations

import argparse
import os
import shlex
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

from services import tty_cycles
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
    ok_codes: tuple[int, ...] = (0,)

    @property
    def clean(self) -> bool:
        return self.exit_code in self.ok_codes and not self.leftovers and not self.killed_children


def platform_env(data_dir: Path) -> dict[str, str]:
    """This environment without the platform's settings, plus free ports and `data_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PREFIXES)}
    env.update(PLATFORM_DATA_DIR=str(data_dir), NO_COLOR="1", BROKER_PORT=str(free_port()))
    for service in ("APPROVAL", "SUPERVISION", "NOTIFY"):
        env[f"{service}_PORT"] = str(free_port())
    return env


def platform_argv(*, timeout_s: float, simulate: bool, uv: str | None) -> list[str]:
    python = [uv, "run", "--no-sync", "python"] if uv else [sys.executable]
    argv = [*python, "-m", "services", "up", "--stop-timeout", f"{timeout_s:g}"]
    if simulate:
        argv.append("--simulate-departments")
    return argv


def run_cycle(
    number: int, data_dir: Path, *, timeout_s: float, simulate: bool, uv: str | None = None
) -> Cycle:
    argv = platform_argv(timeout_s=timeout_s, simulate=simulate, uv=uv)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, env=platform_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
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


def run_tty_cycle(
    number: int,
    data_dir: Path,
    *,
    timeout_s: float,
    simulate: bool,
    uv: str | None = None,
    make: bool = False,
) -> Cycle:
    """One cycle in a terminal stopped with Ctrl-C (`services.tty_cycles`)."""
    if make:  # the runner's own default stop timeout: `make run` passes none
        command = "make run" + (" SIMULATE=1" if simulate else "")
    else:
        command = shlex.join(platform_argv(timeout_s=timeout_s, simulate=simulate, uv=uv))
    stop = tty_cycles.run_tty_cycle(
        command, platform_env(data_dir), data_dir / f"tty-{number}.log", timeout_s=timeout_s
    )
    for leftover in stop.leftovers:
        print(f"cycle {number:>3}: left running: {leftover}", flush=True)
    return Cycle(
        number, stop.up_s, stop.stop_s, stop.exit_code, len(stop.leftovers),
        "did not stop in time" in stop.output, ok_codes=tty_cycles.OK_CODES,
    )  # fmt: skip


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
    if (args.tty or args.make) and tty_cycles.tmux_path() is None:
        print("error: --tty needs tmux (apt-get install -y tmux)", flush=True)
        return 2
    cycles: list[Cycle] = []
    with tempfile.TemporaryDirectory(prefix="stop-cycles-") as tmp:
        for number in range(1, args.cycles + 1):
            if args.tty or args.make:
                cycle = run_tty_cycle(
                    number, Path(tmp), timeout_s=timeout_s, simulate=args.simulate, uv=uv,
                    make=args.make,
                )  # fmt: skip
            else:
                cycle = run_cycle(
                    number, Path(tmp), timeout_s=timeout_s, simulate=args.simulate, uv=uv
                )
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
    parser.add_argument(
        "--tty", action="store_true",
        help="type the command into a terminal (tmux) and stop it with Ctrl-C instead",
    )  # fmt: skip
    parser.add_argument(
        "--make", action="store_true",
        help="with --tty: type `make run` (the runner's default stop timeout applies)",
    )  # fmt: skip
    parser.set_defaults(func=main)
