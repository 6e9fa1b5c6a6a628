"""Optional py-spy profiles of the benchmark's processes (``--profile DIR``).

Each process is sampled with ``py-spy record --nonblocking --gil -f raw`` while the load runs:
collapsed stacks of the thread holding the GIL, i.e. where the process spends CPU in Python
(threads sleeping in SQLite's busy handler, epoll or a lock are left out). Afterwards the
busiest packages and functions are listed, by own time (where the CPU goes) and by inclusive
time of the platform's own functions (which code path spends it).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Profile:
    name: str
    path: Path
    samples: int
    own: list[tuple[str, float]]
    inclusive: list[tuple[str, float]]
    packages: list[tuple[str, float]]


class Profilers:
    """py-spy on each pid; ``stop()`` writes the files, ``summaries()`` reads them."""

    def __init__(self, pids: dict[str, int], outdir: Path, *, rate: int = 50) -> None:
        self.outdir = outdir
        self.procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        binary = shutil.which("py-spy")
        if binary is None:
            raise RuntimeError("py-spy is not on PATH (it is in the dev dependencies: uv sync)")
        outdir.mkdir(parents=True, exist_ok=True)
        for name, pid in pids.items():
            path = outdir / f"{name.split()[0]}.txt"
            # --gil: only samples holding the GIL, i.e. where this process spends CPU in Python
            # (threads waiting on SQLite's busy handler, epoll or locks are left out).
            cmd = [binary, "record", "--pid", str(pid), "--nonblocking", "--nolineno", "--gil",
                   "--rate", str(rate), "--format", "raw", "--output", str(path)]  # fmt: skip
            self.procs[name] = (
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                path,
            )

    def stop(self) -> None:
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc, _ in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def summaries(self, top: int = 8) -> list[Profile]:
        out = []
        for name, (_, path) in self.procs.items():
            with contextlib.suppress(OSError):
                out.append(summarise(name, path, top))
        return out


def _short(frame: str) -> str:
    # "function (path/to/module.py)" -> "function (module.py)"
    func, _, where = frame.partition(" (")
    return f"{func} ({where.rstrip(')').rsplit('/', 1)[-1]})" if where else func


APP_PACKAGES = frozenset(
    {"approval_svc", "supervision_svc", "notify_svc", "shared", "services", "bench"}
)


def _package(frame: str) -> str:
    # "f (sqlalchemy/orm/session.py)" -> "sqlalchemy"; "f (threading.py)" -> "threading.py"
    where = frame.partition(" (")[2].rstrip(")")
    return where.split("/", 1)[0] if where else frame


def summarise(name: str, path: Path, top: int = 8) -> Profile:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    own_code: set[str] = set()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        own[frames[-1]] += n
        packages[_package(stack.split(";")[-1])] += n
        for frame in set(frames):
            inclusive[frame] += n
        own_code.update(f for f, raw in zip(frames, stack.split(";"), strict=False)
                        if _package(raw) in APP_PACKAGES)  # fmt: skip
    share = 100 / total if total else 0.0
    interesting = [(f, n) for f, n in inclusive.most_common() if f in own_code]
    return Profile(
        name=name,
        path=path,
        samples=total,
        own=[(f, n * share) for f, n in own.most_common(top)],
        inclusive=[(f, n * share) for f, n in interesting[: top * 2]],
        packages=[(f, n * share) for f, n in packages.most_common(top)],
    )


def print_profiles(profiles: list[Profile]) -> None:
    for p in profiles:
        print(f"py-spy {p.name}: {p.samples} busy samples ({p.path})")
        print("    own time by package: " + ", ".join(f"{k} {v:.0f}%" for k, v in p.packages))
        print("    own time:")
        for frame, pct in p.own:
            print(f"      {pct:5.1f}%  {frame}")
        print("    inclusive:")
        for frame, pct in p.inclusive:
            print(f"      {pct:5.1f}%  {frame}")
