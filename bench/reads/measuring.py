"""Measuring: the apps in-process (ASGI), each case called `--requests` times after a
warm-up, one request at a time; p50/p99, CPU and full garbage collections per case."""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from approval_svc.app import create_app as create_approval_app
from approval_svc.settings import get_approval_settings
from bench.reads.cases import SECRET, Case, _headers, build_cases
from bench.reads.world import Facts
from notify_svc.app import create_app as create_notify_app
from notify_svc.settings import get_notify_settings
from supervision_svc.app import create_app as create_supervision_app
from supervision_svc.settings import get_supervision_settings

BUDGET_MS = 50.0
WARMUP = 5


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    p50: float
    p99: float
    items: int
    cpu_ms: float  # CPU of this process (app, driver threads, client) per request
    gc_full: int  # full (generation 2) garbage collections during the measured requests
    gc_max_ms: float  # the longest of them
    budgeted: bool


class GcWatch:
    """Records the duration of every full garbage collection (`gc.callbacks`)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._started) * 1000)


def _p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1] if len(samples) > 1 else samples[0]


def _items(body: Any) -> int:
    if isinstance(body, dict):
        for key in ("items", "records", "open_alerts", "by_department"):
            if key in body:
                return len(body[key])
        return len(body)
    return len(body) if isinstance(body, list) else 1


async def run_case(client: httpx.AsyncClient, case: Case, requests: int, watch: GcWatch) -> Result:
    samples: list[float] = []
    items = 0
    cpu = 0.0
    for i in range(-WARMUP, requests):
        if i == 0:
            watch.pauses.clear()
            cpu = time.process_time()
        path, params = case.request(i)
        headers = _headers(case.token)
        started = time.perf_counter()
        response = await client.get(path, params=params, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(
                f"{case.name}: {path} {params} -> {response.status_code} {response.text[:300]}"
            )
        if i == 0:
            items = _items(response.json())
            if items < case.min_items:
                raise RuntimeError(f"{case.name}: {path} {params} returned {items} items")
        if i >= 0:
            samples.append(elapsed)
    cpu_ms = (time.process_time() - cpu) * 1000 / requests
    return Result(
        case.name,
        round(_p(samples, 50), 2),
        round(_p(samples, 99), 2),
        items,
        round(cpu_ms, 2),
        len(watch.pauses),
        round(max(watch.pauses, default=0.0), 1),
        case.budgeted,
    )


def make_apps(urls: dict[str, str]) -> dict[str, FastAPI]:
    common: dict[str, object] = {"jwt_secret": SECRET, "log_json": False}
    return {
        "approval": create_approval_app(
            get_approval_settings(database_url=urls["approval"], **common), consume=False
        ),
        "supervision": create_supervision_app(
            get_supervision_settings(database_url=urls["supervision"], **common)
        ),
        "notify": create_notify_app(get_notify_settings(database_url=urls["notify"], **common)),
    }


async def measure(
    urls: dict[str, str], facts: Facts, requests: int, only: str | None, *, gc_freeze: bool
) -> list[Result]:
    apps = make_apps(urls)
    clients = {
        name: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{name}", timeout=120
        )
        for name, app in apps.items()
    }
    results = []
    try:
        started = time.perf_counter()
        cases = await build_cases(clients, facts)
        print(f"walked to the deep pages in {time.perf_counter() - started:.1f} s", flush=True)
        gc.collect()
        if gc_freeze:  # what a gc.freeze() after start-up in the services would give
            gc.freeze()
        print(
            f"{'endpoint':<44} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>7} {'items':>6}"
            f" {'full gc':>7} {'gc max ms':>9}",
            flush=True,
        )
        watch = GcWatch()
        gc.callbacks.append(watch)
        for case in cases:
            if only and only not in case.name:
                continue
            r = await run_case(clients[case.service], case, requests, watch)
            flag = (" OVER" if r.p99 > BUDGET_MS else "") + ("" if r.budgeted else " (info)")
            print(
                f"{r.name:<44} {r.p50:8.2f} {r.p99:8.2f} {r.cpu_ms:7.2f} {r.items:6d}"
                f" {r.gc_full:7d} {r.gc_max_ms:9.1f}{flag}",
                flush=True,
            )
            results.append(r)
        gc.callbacks.remove(watch)
    finally:
        for client in clients.values():
            await client.aclose()
        for app in apps.values():
            runtime = app.state.runtime
            if runtime.read_engine is not runtime.engine:
                await runtime.read_engine.dispose()
            await runtime.engine.dispose()
    return results
