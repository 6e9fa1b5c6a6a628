"""The benchmark's load generators: submissions over HTTP, closed loop or open loop.

- **closed loop** (saturation): `concurrency` workers, each posting its next project as soon as
  its previous one is answered; the platform sets the pace.
- **open loop** (`rate`): project *i* is due at ``start + i / rate`` whatever happened to the
  ones before it, so a slow platform meets a growing queue instead of a slower client
  (no coordinated omission). Latencies are counted from the instant a request was due.

Both use one aiohttp session over a keep-alive pool and bodies serialised before the clock
starts: the generator's own CPU is part of what the benchmark reports, and it must stay a small
share of the total. A dropped connection is retried with the same ``Idempotency-Key``, so a
retry never creates a second project.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from services.samples import CREDIT_CODES, three_department_project
from services.tokens import make_token

RETRIES = 3


@dataclass
class Load:
    """What a load run did: per project code, (due or start instant, response instant)."""

    submitted: dict[str, tuple[float, float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    started: float = 0.0
    finished: float = 0.0
    lag_s: float = 0.0  # open loop: how far behind its schedule the generator itself fell

    @property
    def seconds(self) -> float:
        return max(self.finished - self.started, 1e-9)


@dataclass(frozen=True, slots=True)
class Request:
    body: bytes
    headers: dict[str, str]


def build_requests(secret: str, n: int, seed: int, key_prefix: str) -> list[Request]:
    """N three-department projects from 12 enterprises, each with its own Idempotency-Key."""
    tokens = {c: make_token(secret, "enterprise", credit_code=c) for c in CREDIT_CODES}
    rng = random.Random(seed)
    requests = []
    for i in range(n):
        credit_code = rng.choice(CREDIT_CODES)
        requests.append(
            Request(
                body=json.dumps(three_department_project(rng)).encode(),
                headers={
                    "Authorization": f"Bearer {tokens[credit_code]}",
                    "Idempotency-Key": f"{key_prefix}-{seed}-{i}",
                    "Content-Type": "application/json",
                },
            )
        )
    return requests


class Submitter:
    """Posts projects to ``POST /api/v1/projects`` and records each answer in a `Load`."""

    def __init__(self, session: aiohttp.ClientSession, url: str, load: Load) -> None:
        self._session = session
        self._url = url
        self._load = load

    async def submit(self, request: Request, since: float) -> None:
        load = self._load
        for attempt in range(RETRIES):
            try:
                async with self._session.post(
                    self._url, data=request.body, headers=request.headers
                ) as response:
                    payload = await response.read()
                    status = response.status
                break
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                load.retries[type(exc).__name__] += 1
                if attempt == RETRIES - 1:
                    load.errors[type(exc).__name__] += 1
                    return
        end = time.monotonic()
        if status != 201:
            load.errors[f"HTTP {status}"] += 1
            if sum(load.errors.values()) <= 3:
                print(f"  refused: {status} {payload[:300]!r}")
            return
        code = json.loads(payload)["project_code"]
        load.submitted[code] = (since, end)


def _session(connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120), trust_env=False
    )


async def closed_loop(base_url: str, requests: list[Request], concurrency: int) -> Load:
    """`concurrency` workers, each submitting its next project once the last is answered."""
    load = Load()
    pending = iter(requests)
    async with _session(concurrency) as session:
        submitter = Submitter(session, f"{base_url}/api/v1/projects", load)

        async def worker() -> None:
            for request in pending:
                await submitter.submit(request, time.monotonic())

        load.started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        load.finished = time.monotonic()
    return load


async def open_loop(
    base_url: str, requests: list[Request], rate: float, max_connections: int = 256
) -> Load:
    """Request *i* is sent at ``start + i / rate``; each is timed from that instant."""
    load = Load()
    async with _session(max_connections) as session:
        submitter = Submitter(session, f"{base_url}/api/v1/projects", load)
        tasks: list[asyncio.Task[None]] = []
        load.started = start = time.monotonic()
        for i, request in enumerate(requests):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                load.lag_s = max(load.lag_s, -delay)
            tasks.append(asyncio.create_task(submitter.submit(request, due)))
        await asyncio.gather(*tasks)
        load.finished = time.monotonic()
    return load
