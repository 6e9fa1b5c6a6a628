"""Fault suite: SIGKILL one part of the platform at a random moment under steady load, under the
real runner (`python -m services up --simulate-departments`), and check that nothing accepted
is lost, left stale or applied twice.

Each case: a fresh platform, FAULT_PROJECTS projects (default 120) submitted at FAULT_RATE per
second (default 10) by a careful client (one Idempotency-Key per project, retried until
accepted), simulated departments deciding (approve 0.85 / reject 0.15, no supplements: the
simulator's enterprise side keeps its pending supplements in memory), one SIGKILL. Then:

- approval: every accepted project reaches approved or rejected (else: lost);
- supervision: its overview counts exactly the approved and rejected projects approval has,
  and notify has delivered each project's final event on the log channel (else: stale);
- nothing twice: no repeated timeline step, no decision recorded twice for a task, no document
  number issued twice, no event delivered twice on a channel (else: duplicated).

"refused decisions" counts decisions approval dead-lettered: those on tasks withdrawn after
another department rejected, and second decisions after a re-read (never applied).

Runs when RUN_FAULT_SUITE is set (`.ci/run` sets it for its SQLite pass): about 90 s per case.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from platform_run import FINAL, Client, RunnerProcess, wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        not os.environ.get("RUN_FAULT_SUITE"), reason="the fault suite runs with RUN_FAULT_SUITE=1"
    ),
]

PROJECTS = int(os.environ.get("FAULT_PROJECTS", "120"))
RATE = float(os.environ.get("FAULT_RATE", "10"))
RESTARTED = {
    "approval": "restarted approval-svc",
    "supervision": "restarted supervision-svc",
    "notify": "restarted notify-svc",
    "broker": "restarted the broker",
    "simulator": "restarted simulator",
}


@dataclass
class Row:
    case: str
    projects: int
    lost: int
    stale: int
    duplicated: int
    recovery_s: float
    refused: int
    converged_s: float


RESULTS: list[Row] = []


@pytest.fixture(scope="module", autouse=True)
def fault_table(request: pytest.FixtureRequest):
    yield
    if not RESULTS:
        return
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    header = (
        f"{'case':<12}{'projects':>9}{'lost':>6}{'stale':>7}{'duplicated':>12}"
        f"{'recovery s':>12}{'refused decisions':>19}{'converged s':>13}"
    )
    lines = ["", "fault suite (SIGKILL under load, real runner)", header, "-" * len(header)]
    for r in RESULTS:
        lines.append(
            f"{r.case:<12}{r.projects:>9}{r.lost:>6}{r.stale:>7}{r.duplicated:>12}"
            f"{r.recovery_s:>12.1f}{r.refused:>19}{r.converged_s:>13.1f}"
        )
    text = "\n".join(lines)
    # A module fixture's teardown runs while pytest captures output: lift the capture, or
    # the table would only be kept with the test's captured output (shown on failure only).
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        if reporter is not None:
            reporter.write_line(text)
        else:
            print(text)
    out = os.environ.get("FAULT_TABLE_PATH")
    if out:
        Path(out).write_text(text + "\n")


def _statuses(client: Client, codes: list[str]) -> dict[str, str | None]:
    statuses: dict[str, str | None] = {}
    for code in codes:
        try:
            statuses[code] = client.get("approval", f"/api/v1/projects/{code}")["status"]
        except Exception:
            statuses[code] = None
    return statuses


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _duplicates(client: Client, codes: list[str]) -> tuple[int, list[str]]:
    """Steps, decisions, document numbers and deliveries that occur more than once."""
    found: list[str] = []
    documents: Counter[str] = Counter()
    for code in codes:
        steps = client.get("approval", f"/api/v1/projects/{code}/timeline")["items"]
        keys = Counter(json.dumps(step, sort_keys=True) for step in steps)
        found += [f"{code}: timeline step x{n}: {k[:120]}" for k, n in keys.items() if n > 1]
        decided = Counter(
            s["task_id"] for s in steps if s["action"] == "approval.decision.recorded"
        )
        found += [f"{code}: task {t} decided x{n}" for t, n in decided.items() if n > 1]
        results = client.get("approval", "/api/v1/public/results", project_code=code)["items"]
        documents.update(r["document_number"] for r in results if r.get("document_number"))
        deliveries = client.get("notify", "/api/v1/deliveries", project_code=code, limit=500)
        sent = Counter((d["event_id"], d["subscription_id"]) for d in deliveries["items"])
        found += [f"{code}: event {e} delivered x{n} to {s}" for (e, s), n in sent.items() if n > 1]
    found += [f"document number {d} issued x{n}" for d, n in documents.items() if n > 1]
    return len(found), found


def _final_delivered(client: Client, code: str, status: str) -> bool:
    items = client.get("notify", "/api/v1/deliveries", project_code=code, limit=500)["items"]
    return any(
        d["event_type"] == f"project.{status}"
        and d["channel"] == "log"
        and d["status"] == "delivered"
        for d in items
    )


@pytest.mark.parametrize("target", list(RESTARTED))
def test_sigkill_under_load_loses_nothing(target: str, tmp_path: Path) -> None:
    rng = random.Random()
    run = RunnerProcess(tmp_path).start()
    client = Client(run)
    stop_code: int | None = 0
    try:
        duration = PROJECTS / RATE
        kill_after = rng.uniform(min(2.0, duration / 4), max(duration - 3.0, duration / 2))
        codes: list[str] = []
        killed_at: float | None = None
        mark = 0
        started = time.monotonic()
        for n in range(PROJECTS):
            pause = started + n / RATE - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            if killed_at is None and time.monotonic() - started >= kill_after:
                mark = len(run.lines)
                run.child(target).kill()
                killed_at = time.monotonic()
            code = client.submit(n)
            if code is not None:
                codes.append(code)
        assert killed_at is not None
        restarted = run.wait_for(RESTARTED[target], 120, after=mark)
        if target in ("approval", "supervision", "notify"):
            wait_until(lambda: client.ready(target), 120, interval_s=0.2)
            restarted = time.monotonic()
        recovery = restarted - killed_at

        def all_final() -> bool:
            return all(s in FINAL for s in _statuses(client, codes).values())

        wait_until(all_final, 240, interval_s=2.0)
        statuses = _statuses(client, codes)
        lost = [c for c, s in statuses.items() if s not in FINAL]
        want = Counter(s for s in statuses.values() if s in FINAL)

        def supervision_matches() -> bool:
            seen = client.get("supervision", "/api/v1/stats/overview")["projects_by_status"]
            return all(seen.get(s, 0) == want[s] for s in FINAL)

        wait_until(supervision_matches, 90, interval_s=1.0)
        overview = client.get("supervision", "/api/v1/stats/overview")["projects_by_status"]
        stale_supervision = sum(abs(overview.get(s, 0) - want[s]) for s in FINAL)
        final = {c: s for c, s in statuses.items() if s in FINAL}
        wait_until(lambda: all(_final_delivered(client, c, s) for c, s in final.items()), 90, 2.0)
        stale_notify = [c for c, s in final.items() if not _final_delivered(client, c, s)]
        converged = time.monotonic() - killed_at
        duplicated, details = _duplicates(client, codes)
        metrics = client.http.get(f"{run.url('approval')}/metrics").text
        refused = int(_metric(metrics, "dead_letters_total", topic="approval.decisions"))
        RESULTS.append(
            Row(target, len(codes), len(lost), stale_supervision + len(stale_notify),
                duplicated, recovery, refused, converged)
        )  # fmt: skip
        assert len(codes) == PROJECTS, "a submission was never accepted"
        assert not lost, f"{len(lost)} projects never reached a final state: {lost[:5]}"
        assert stale_supervision == 0, f"supervision counts {overview}, approval {dict(want)}"
        assert not stale_notify, f"final event not delivered for {stale_notify[:5]}"
        assert not details, "\n".join(details[:20])
    finally:
        client.close()
        stop_code, _ = run.stop()
    assert stop_code == 0, "the runner did not stop cleanly"
