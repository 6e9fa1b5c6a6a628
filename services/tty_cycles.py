"""`python -m services stop-cycles N --tty`: the platform started in a real terminal and stopped
with Ctrl-C, as a person does, N times.

Each cycle starts a private tmux server (its own socket) whose pane runs an interactive bash;
the command (`make run`, or the runner itself) is typed into it, so the shell gives it a
foreground process group on the pane's terminal, and `send-keys C-c` makes the terminal send
SIGINT to that whole group (make, uv, the runner and whatever else shares it). The cycle is
clean when the command returns to the prompt within the stop timeout (exit 0, or 130: make
dies of the SIGINT it forwarded, as make does, after its child exited), nothing was killed for
not stopping in time, and no process it started is left: neither one of the pane's
descendants seen while it ran nor any process carrying this cycle's marker in its environment
(which the runner's children inherit, even if reparented).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

_MARK = "STOP_CYCLES_MARK"
_EXIT = re.compile(r"STOP-CYCLE-EXIT=(\d+)")
_BANNER_END = re.compile("Press Ctrl-C")  # the last line of the runner's banner
_REPO = Path(__file__).resolve().parent.parent  # where the Makefile is


# make dies of the SIGINT it forwarded once its child has exited (the shell reports 130).
OK_CODES = (0, 130)


@dataclass(frozen=True)
class TtyStop:
    up_s: float
    stop_s: float
    exit_code: int | None  # None: still running after the timeout
    leftovers: list[str]  # name and pid of each process left running
    output: str


def tmux_path() -> str | None:
    return shutil.which("tmux")


def _wait_for(path: Path, pattern: re.Pattern[str], timeout_s: float) -> re.Match[str] | None:
    deadline = time.monotonic() + timeout_s
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if found := pattern.search(text):
            return found
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def run_tty_cycle(command: str, env: dict[str, str], log: Path, *, timeout_s: float) -> TtyStop:
    """Type `command` into a terminal with `env`, wait for the banner, press Ctrl-C."""
    tmux = tmux_path()
    if tmux is None:
        raise RuntimeError("tmux is not installed (apt-get install -y tmux)")
    mark = uuid.uuid4().hex
    socket = f"stop-cycles-{mark[:12]}"
    log.unlink(missing_ok=True)
    env = {**env, _MARK: mark}
    server: psutil.Process | None = None
    shell: psutil.Process | None = None

    def ctl(*args: str) -> str:
        done = subprocess.run(
            [tmux, "-L", socket, "-f", "/dev/null", *args],
            env=env, capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        return done.stdout.strip()

    started = time.monotonic()
    # The server takes its environment from this first client: the pane's shell inherits it.
    ctl("new-session", "-d", "-s", "cycle", "-x", "200", "-y", "50", "-c", str(_REPO),
        "bash --norc --noprofile -i")  # fmt: skip
    try:
        ctl("pipe-pane", "-t", "cycle", "-o", f"cat >> {shlex.quote(str(log))}")
        shell = psutil.Process(int(ctl("display-message", "-p", "-t", "cycle", "#{pane_pid}")))
        server = psutil.Process(int(ctl("display-message", "-p", "-t", "cycle", "#{pid}")))
        ctl("send-keys", "-t", "cycle", "-l", command)
        ctl("send-keys", "-t", "cycle", "Enter")
        if _wait_for(log, _BANNER_END, 180) is None:
            raise RuntimeError(f"the platform did not come up:\n{_tail(log)}")
        up_s = time.monotonic() - started
        group = shell.children(recursive=True)
        stop_started = time.monotonic()
        ctl("send-keys", "-t", "cycle", "C-c")
        # The job has ended when the shell has no child left (it is back at its prompt).
        deadline = stop_started + timeout_s + 15
        while shell.children() and time.monotonic() < deadline:
            time.sleep(0.05)
        stop_s = time.monotonic() - stop_started
        code: int | None = None
        if not shell.children():
            # An interactive shell drops the rest of a command list when Ctrl-C killed its
            # job, so the status is asked for afterwards (`$?` typed: only its value matches).
            ctl("send-keys", "-t", "cycle", "-l", "echo STOP-CYCLE-EXIT=$?")
            ctl("send-keys", "-t", "cycle", "Enter")
            if found := _wait_for(log, _EXIT, 15):
                code = int(found.group(1))
        alive = _describe(_leftovers(group, mark, exclude=_terminal(server, shell)))
        return TtyStop(up_s, stop_s, code, alive, log.read_text(errors="replace"))
    finally:
        if server is not None and shell is not None:  # whatever a failed cycle left
            _kill(_leftovers([], mark, exclude=_terminal(server, shell), wait_s=0))
        subprocess.run([tmux, "-L", socket, "kill-server"], capture_output=True, check=False)


def _terminal(server: psutil.Process, shell: psutil.Process) -> set[int]:
    """The terminal's own processes, which carry the mark too: the tmux server, the pane's
    shell and whatever else the server runs (pipe-pane's `cat`), but not what the shell ran."""
    try:
        below_shell = {p.pid for p in shell.children(recursive=True)}
        return {server.pid, shell.pid} | {
            p.pid for p in server.children(recursive=True) if p.pid not in below_shell
        }
    except psutil.Error:
        return {server.pid, shell.pid}


def _leftovers(
    group: list[psutil.Process], mark: str, *, exclude: set[int], wait_s: float = 5.0
) -> list[psutil.Process]:
    """What is still running of `group`, and every other process carrying `mark`."""
    _, alive = psutil.wait_procs(group, timeout=wait_s)
    found = {p.pid: p for p in alive}
    for proc in psutil.process_iter():
        try:
            if proc.pid not in exclude and proc.environ().get(_MARK) == mark:
                found.setdefault(proc.pid, proc)
        except psutil.Error:  # gone meanwhile, or not ours to read
            continue
    return [p for p in found.values() if p.pid not in exclude]


def _describe(processes: list[psutil.Process]) -> list[str]:
    described = []
    for proc in processes:
        try:
            described.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
        except psutil.Error:
            described.append(f"{proc.pid} (gone)")
    return described


def _kill(processes: list[psutil.Process]) -> None:
    for proc in processes:
        try:
            proc.kill()
        except psutil.Error:
            continue


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
