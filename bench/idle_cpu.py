"""Idle CPU of each service with compressed platform days: nothing submitted, broker running.

    uv run python -m bench.idle_cpu [--day-seconds 2] [--seconds 30] [--warmup 15] [--departments]

Starts the embedded broker and the three services (as `python -m services up` does, on free
ports, fresh SQLite databases) with ``PLATFORM_DAY_SECONDS`` set, lets them settle for the
warm-up, then reads each process's CPU time (user + system, psutil) over the window. An idle
service should sleep: its timers are computed from state or floored in real time, so a
compressed day must not make it spin. Prints one line per service (and the broker), then
``RESULT`` with every figure. With ``--departments`` the department simulator (all 18, as the
approval benchmark runs it) is started too and measured at rest; the broker then also serves
its polls. Take the platform lock around it on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.harness import BenchPlatform, Sampler
from shared.topics import DEPARTMENT_CODES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day-seconds", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window")
    # Past KAFKA_FETCH_IDLE_AFTER_S (10 s), so the consumers fetch as they do at rest.
    parser.add_argument("--warmup", type=float, default=15.0, help="settling time first")
    parser.add_argument(
        "--departments", action="store_true", help="also run the department simulator at rest"
    )
    args = parser.parse_args()
    previous = os.environ.get("PLATFORM_DAY_SECONDS")
    os.environ["PLATFORM_DAY_SECONDS"] = repr(args.day_seconds)
    try:
        with BenchPlatform() as bench:
            platform = bench.start_services()
            pids = dict(platform.pids)
            if args.departments:
                pids["departments"] = bench.start_departments(list(DEPARTMENT_CODES))
            sampler = Sampler(pids)
            time.sleep(args.warmup)
            sampler.mark_start()
            started = time.monotonic()
            time.sleep(args.seconds)
            sampler.mark_end()
            elapsed = time.monotonic() - started
            bench.check()  # every service still alive
    finally:
        if previous is None:
            os.environ.pop("PLATFORM_DAY_SECONDS", None)
        else:
            os.environ["PLATFORM_DAY_SECONDS"] = previous
    figures = []
    print(f"idle CPU over {elapsed:.1f} s at PLATFORM_DAY_SECONDS={args.day_seconds:g}:")
    for name, stat in sorted(sampler.stats.items()):
        percent = 100 * stat.cpu_seconds / elapsed
        print(f"{name}: {percent:.2f} % of one core ({stat.cpu_seconds:.2f} s CPU)")
        figures.append(f"{name}={percent:.2f}")
    print("RESULT idle_cpu_percent " + " ".join(figures))


if __name__ == "__main__":
    main()
