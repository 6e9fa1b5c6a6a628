"""`python -m bench.reads`: the command line (see the package's docstring)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import approval_svc
import bench.reads as package
import notify_svc
import supervision_svc
from bench.reads.databases import fresh_databases, terminate_on_sigterm
from bench.reads.measuring import BUDGET_MS, measure
from bench.reads.seeding import SERVICES, seed
from bench.reads.world import Facts
from shared.migrations import upgrade

MIGRATIONS = {
    "approval": Path(approval_svc.__file__).parent / "migrations",
    "supervision": Path(supervision_svc.__file__).parent / "migrations",
    "notify": Path(notify_svc.__file__).parent / "migrations",
}


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reads", description=package.__doc__.splitlines()[0]
    )
    parser.add_argument("--n", type=int, default=100_000, help="projects to seed")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per case")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default=None, help="run only the cases whose name has this")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() the heap before measuring, as the services do at start-up "
        "(shared.server.serve); without it the seeded world's objects inflate full collections",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="SQLite only: keep the databases here and reuse them when already seeded",
    )
    args = parser.parse_args()
    terminate_on_sigterm()
    now = datetime.now(UTC).replace(microsecond=0)
    with fresh_databases(args.database, SERVICES, workdir=args.workdir) as urls:
        reuse = args.workdir is not None and (args.workdir / "seeded").exists()
        for service, url in urls.items():
            upgrade(MIGRATIONS[service], url)
        if reuse:
            assert args.workdir is not None
            facts = _load_facts(args.workdir / "seeded")
        else:
            facts = seed(urls, args.n, seed_value=args.seed, now=now)
            if args.workdir is not None:
                _save_facts(args.workdir / "seeded", facts)
        results = asyncio.run(
            measure(urls, facts, args.requests, args.only, gc_freeze=args.gc_freeze)
        )
    held = [r for r in results if r.budgeted] or results
    worst = max(held, key=lambda r: r.p99)
    over = [r.name for r in held if r.p99 > BUDGET_MS]
    print(
        f"slowest: {worst.name} p99 {worst.p99} ms (budget {BUDGET_MS:g} ms); "
        f"over the budget: {', '.join(over) or 'none'}"
    )
    print(
        f"RESULT reads_max_p99_ms={worst.p99} "
        + " ".join(f"{r.name}_p99_ms={r.p99}" for r in results)
    )


def _save_facts(path: Path, facts: Facts) -> None:
    data = {
        name: value.isoformat() if isinstance(value, date) else value
        for name, value in ((f, getattr(facts, f)) for f in Facts.__dataclass_fields__)
    }
    path.write_text(json.dumps(data))


def _load_facts(path: Path) -> Facts:
    data = json.loads(path.read_text())
    return Facts(
        enterprise=data["enterprise"],
        enterprise_codes=data["enterprise_codes"],
        reported_codes=data["reported_codes"],
        decided_codes=data["decided_codes"],
        regions=Counter(data["regions"]),
        department_tasks=Counter(data["department_tasks"]),
        first_day=date.fromisoformat(data["first_day"]),
        last_day=date.fromisoformat(data["last_day"]),
        counts=Counter(data["counts"]),
    )


if __name__ == "__main__":
    main()
