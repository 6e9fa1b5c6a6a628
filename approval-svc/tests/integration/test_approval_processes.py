"""Two approval processes on one database: project codes never collide; silence is consent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from approval_svc import app as approval_app
from approval_svc.app import create_app
from approval_svc.catalogue_file import bundled_catalogue_text, load_catalogue
from approval_svc.handlers import deem_silent_consultations
from approval_svc.queries import next_consultation_due
from approval_svc.settings import get_approval_settings
from approval_svc.unit_of_work import SqlUnitOfWork
from shared.clock import ManualClock, ScaledClock
from shared.migrations import upgrade
from testkit import eventually, eventually_sync, free_port, unique_group

from conftest import ENTERPRISE_A, MIGRATIONS, OPS, SECRET, dept, project_body

pytestmark = pytest.mark.integration


@pytest.fixture
def two_processes(
    kafka_bootstrap: str, database_factory: Callable[[str], str], tmp_path: Path
) -> Iterator[list[str]]:
    url = database_factory("approval")
    upgrade(MIGRATIONS, url)
    procs: list[subprocess.Popen[bytes]] = []
    urls = []
    for _ in range(2):
        port = free_port()
        env = {
            **os.environ,
            "APPROVAL_DATABASE_URL": url,
            "APPROVAL_PORT": str(port),
            "APPROVAL_CONSUMER_GROUP": unique_group("approval-proc"),
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "PLATFORM_JWT_SECRET": SECRET,
            "PLATFORM_DATA_DIR": str(tmp_path),
            "PLATFORM_LOG_LEVEL": "WARNING",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "approval_svc", "serve"],
                env=env,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")

    def ready(base: str) -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        for base in urls:
            eventually_sync(lambda base=base: ready(base), timeout_s=60, what=f"{base} ready")
        yield urls
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)


async def test_two_processes_never_hand_out_the_same_code(
    two_processes: list[str], region_code: str
) -> None:
    per_process = 40

    async def submit_many(base: str) -> list[str]:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/projects", json=project_body(region_code), headers=ENTERPRISE_A
                    )
                    for _ in range(per_process)
                )
            )
        assert {r.status_code for r in responses} == {201}, [r.text for r in responses][:3]
        return [r.json()["project_code"] for r in responses]

    first, second = await asyncio.gather(*(submit_many(base) for base in two_processes))
    codes = first + second
    assert len(set(codes)) == len(codes) == 2 * per_process
    # Same prefix for all of them, so serials are one gap-free run.
    prefixes = {c.rsplit("-", 1)[0] for c in codes}
    assert len(prefixes) == 1
    serials = sorted(int(c[-6:-1]) for c in codes)
    assert serials == list(range(serials[0], serials[0] + len(codes)))


async def test_silent_consultation_is_deemed_consent(
    approval_factory: Callable[..., object], tmp_path: Path, region_code: str
) -> None:
    # The default catalogue has no consultative matter; mark one, as a deployment may.
    source = load_catalogue()
    text = bundled_catalogue_text()
    marked = text.replace(
        "code: MOHURD-BUILD-PERMIT\n", "code: MOHURD-BUILD-PERMIT\n    consultative: true\n", 1
    )
    assert marked != text
    path = tmp_path / "catalogue.yaml"
    path.write_text(marked)
    assert load_catalogue(path).matter("MOHURD-BUILD-PERMIT").consultative
    assert not source.matter("MOHURD-BUILD-PERMIT").consultative

    clock = ManualClock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))  # a Monday, 10:00 in Beijing
    app = approval_factory(clock=clock, catalogue_path=path)
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=60),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://approval"
        ) as client,
    ):
        project = (
            await client.post(
                "/api/v1/projects", json=project_body(region_code), headers=ENTERPRISE_A
            )
        ).json()
        code = project["project_code"]
        for task in project["tasks"]:
            if task["department"] != "MOHURD":
                await client.post(
                    f"/api/v1/tasks/{task['task_id']}/decision",
                    json={"decision": "approved"},
                    headers=dept(task["department"]),
                )
        clock.advance(timedelta(days=6))  # 4 working days: not yet
        # A sweep of our own at this very time finds nothing due (the service's own sweeps
        # run too; whichever runs, the consultation must still be open afterwards).
        async with app.state.runtime.uow() as outbox:
            assert await deem_silent_consultations(uow=SqlUnitOfWork(outbox), clock=clock) == 0
        current = (await client.get(f"/api/v1/projects/{code}", headers=OPS)).json()
        assert current["status"] == "in_review"
        clock.advance(timedelta(days=4))  # past 7 working days of silence

        async def approved() -> dict[str, object] | None:
            current = (await client.get(f"/api/v1/projects/{code}", headers=OPS)).json()
            return current if current["status"] == "approved" else None

        current = await eventually(approved, timeout_s=20, what="deemed consent by the sweep")
        mohurd = next(t for t in current["tasks"] if t["department"] == "MOHURD")
        assert mohurd["deemed"] is True
        assert mohurd["decision"] == "approved"
        assert mohurd["document_number"]
        timeline = (await client.get(f"/api/v1/projects/{code}/timeline", headers=OPS)).json()
        deemed = [s for s in timeline["items"] if s["detail"].get("deemed")]
        assert deemed
        assert deemed[0]["actor_role"] == "system"


async def test_silence_is_consent_when_the_reply_limit_falls_due_without_polling(
    approval_factory: Callable[..., object],
    tmp_path: Path,
    region_code: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Compressed days (half a second each): the sweep sleeps until the reply limit, then runs.
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        bundled_catalogue_text().replace(
            "code: MOHURD-BUILD-PERMIT\n", "code: MOHURD-BUILD-PERMIT\n    consultative: true\n", 1
        )
    )
    sweeps: list[float] = []

    async def counted(**kwargs: Any) -> int:
        sweeps.append(time.monotonic())
        return await deem_silent_consultations(**kwargs)

    monkeypatch.setattr(approval_app, "deem_silent_consultations", counted)
    clock = ScaledClock(day_seconds=0.5)
    app = approval_factory(clock=clock, catalogue_path=path)
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=60),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://approval"
        ) as client,
    ):
        project = (
            await client.post(
                "/api/v1/projects", json=project_body(region_code), headers=ENTERPRISE_A
            )
        ).json()
        code = project["project_code"]
        for task in project["tasks"]:
            if task["department"] != "MOHURD":
                await client.post(
                    f"/api/v1/tasks/{task['task_id']}/decision",
                    json={"decision": "approved"},
                    headers=dept(task["department"]),
                )
        async with app.state.runtime.read_sessions() as session:
            due = await next_consultation_due(session, after=clock.now() - timedelta(days=1))
        assert due is not None
        assert due > clock.now()
        waiting = time.monotonic()
        real_wait = clock.real_seconds((due - clock.now()).total_seconds())

        async def approved() -> dict[str, Any] | None:
            current = (await client.get(f"/api/v1/projects/{code}", headers=OPS)).json()
            return current if current["status"] == "approved" else None

        current = await eventually(
            approved, timeout_s=real_wait + 20, what="deemed consent when the limit falls due"
        )
        mohurd = next(t for t in current["tasks"] if t["department"] == "MOHURD")
        assert mohurd["deemed"] is True
        # On time: within a few platform hours (tens of real milliseconds) of the limit.
        late = datetime.fromisoformat(mohurd["decided_at"]) - due
        assert timedelta(0) <= late < timedelta(hours=12), late
    # Seconds of waiting, yet no sweep in between: one at start-up, one when due (a polling
    # sweep, at its 0.25 s floor, would have run some twenty times).
    assert real_wait > 2
    assert len([t for t in sweeps if t > waiting]) <= 2, sweeps


def test_settings_secret_is_required(database_factory: Callable[[str], str]) -> None:
    settings = get_approval_settings(database_url=database_factory("approval"), jwt_secret=None)
    with pytest.raises(RuntimeError, match="PLATFORM_JWT_SECRET"):
        create_app(settings)
