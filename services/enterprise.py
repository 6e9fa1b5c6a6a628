"""The simulator's other half: the enterprise answering supplement notices, and its output.

:class:`EnterpriseAgent` supplies the materials a department asked for, over approval-svc's
HTTP API, with an enterprise token minted for the project's credit code (looked up once per
project with an ops token). :class:`Reporter` prints a line per decision, or a summary every few
seconds when decisions come faster than a person can read.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from services.departments import DepartmentTask
from services.tokens import TokenError, make_token

TOKEN_TTL_S = 3600
CONFLICT_RETRIES = 240  # the decision may not be applied yet, or approval-svc is restarting
RETRY_PAUSE_S = 0.5
SLOW_RETRY_PAUSE_S = 2.0  # after the first 60 attempts: about 6 minutes in all


class Reporter:
    """Thread-safe console output: one line per event up to a rate, then periodic summaries."""

    def __init__(
        self,
        *,
        quiet: bool = False,
        max_lines_per_s: int = 10,
        summary_every_s: float = 5.0,
        emit: Callable[[str], None] | None = None,
    ) -> None:
        self.quiet = quiet
        self.max_lines_per_s = max_lines_per_s
        self.summary_every_s = summary_every_s
        self._emit = emit or (lambda line: print(line, flush=True))
        self._lock = threading.Lock()
        self._second = 0
        self._lines_this_second = 0
        self._window: Counter[str] = Counter()
        self._suppressed = 0
        self._last_summary = time.monotonic()
        self.counts: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(v for k, v in self.counts.items() if k != "supplemented")

    def _line(self, text: str) -> None:
        now = int(time.monotonic())
        if now != self._second:
            self._second, self._lines_this_second = now, 0
        if self.quiet or self._lines_this_second >= self.max_lines_per_s:
            self._suppressed += 1
            return
        self._lines_this_second += 1
        self._emit(text)

    def decided(self, task: DepartmentTask, decision: str, missing: list[str]) -> None:
        extra = f" missing: {', '.join(missing)}" if missing else ""
        with self._lock:
            self.counts[decision] += 1
            self._window[decision] += 1
            self._line(
                f"{task.task.department:<7} {decision:<20} {task.project_code} "
                f"{task.task.matter_name}{extra}"
            )

    def supplemented(self, task: DepartmentTask, materials: list[str]) -> None:
        with self._lock:
            self.counts["supplemented"] += 1
            self._window["supplemented"] += 1
            self._line(
                f"{'ENTERPR':<7} {'supplemented':<20} {task.project_code} {', '.join(materials)}"
            )

    def problem(self, text: str) -> None:
        with self._lock:
            self.counts["problems"] += 1
            self._emit(f"problem: {text}")

    def tick(self, *, force: bool = False) -> None:
        """Print the summary of the last window if lines were held back (call it periodically)."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_summary < self.summary_every_s:
                return
            elapsed, self._last_summary = now - self._last_summary, now
            window, self._window = self._window, Counter()
            suppressed, self._suppressed = self._suppressed, 0
            if not suppressed:
                return
            parts = ", ".join(f"{k} {v}" for k, v in sorted(window.items()))
            decisions = sum(v for k, v in window.items() if k != "supplemented")
            self._emit(
                f"last {elapsed:.0f}s: {decisions} decisions ({decisions / elapsed:.0f}/s; "
                f"{parts}); {self.total} in all"
            )


@dataclass(order=True)
class _Supplement:
    at: float
    seq: int
    task: DepartmentTask = field(compare=False)
    materials: list[str] = field(compare=False)
    done: Callable[[DepartmentTask], None] = field(compare=False)
    attempts: int = field(compare=False, default=0)


class EnterpriseAgent(threading.Thread):
    """Answers supplement notices after a delay; tells the department when it has."""

    def __init__(
        self,
        base_url: str,
        secret: str,
        *,
        delay_s: float,
        stop: threading.Event,
        reporter: Reporter,
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__(name="enterprise", daemon=True)
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.delay_s = delay_s
        self.stop = stop
        self.reporter = reporter
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, trust_env=False)
        self._inbox: queue.SimpleQueue[_Supplement] = queue.SimpleQueue()
        self._due: list[_Supplement] = []
        self._seq = itertools.count()
        self._credit_codes: dict[str, str] = {}
        self._tokens: dict[str, tuple[str, float]] = {}

    def supplement_later(
        self, task: DepartmentTask, materials: list[str], done: Callable[[DepartmentTask], None]
    ) -> None:
        """Supply `materials` for `task` after the delay, then call `done(task)` (thread-safe)."""
        at = time.monotonic() + self.delay_s
        self._inbox.put(_Supplement(at, next(self._seq), task, list(materials), done))

    def _token(self, role: str, credit_code: str | None = None) -> str:
        key = credit_code or role
        cached = self._tokens.get(key)
        if cached is None or time.monotonic() - cached[1] > TOKEN_TTL_S / 2:
            token = make_token(self.secret, role, credit_code=credit_code, ttl_seconds=TOKEN_TTL_S)
            cached = (token, time.monotonic())
            self._tokens[key] = cached
        return cached[0]

    def _credit_code(self, project_code: str) -> str:
        if project_code not in self._credit_codes:
            response = self._http.get(
                f"/api/v1/projects/{project_code}",
                headers={"Authorization": f"Bearer {self._token('ops')}"},
            )
            response.raise_for_status()
            self._credit_codes[project_code] = str(response.json()["credit_code"])
        return self._credit_codes[project_code]

    def _task_status(self, task: DepartmentTask) -> str | None:
        try:
            response = self._http.get(
                f"/api/v1/projects/{task.project_code}",
                headers={"Authorization": f"Bearer {self._token('ops')}"},
            )
            tasks = response.json().get("tasks", []) if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            return None
        return next((str(t["status"]) for t in tasks if t.get("task_id") == task.task_id), None)

    def run(self) -> None:
        while not self.stop.is_set():
            timeout = 0.2 if not self._due else max(0.0, self._due[0].at - time.monotonic())
            try:
                item = self._inbox.get(timeout=min(timeout, 0.2))
                heapq.heappush(self._due, item)
            except queue.Empty:
                pass
            while self._due and self._due[0].at <= time.monotonic() and not self.stop.is_set():
                self._attempt(heapq.heappop(self._due))

    def _attempt(self, item: _Supplement) -> None:
        task = item.task
        try:
            token = self._token("enterprise", self._credit_code(task.project_code))
            response = self._http.post(
                f"/api/v1/tasks/{task.task_id}/supplement",
                json={"materials": item.materials},
                headers={"Authorization": f"Bearer {token}"},
            )
        except (httpx.HTTPError, TokenError, KeyError, ValueError) as exc:
            self._retry(item, f"{type(exc).__name__}: {exc}")
            return
        if response.status_code == 200:
            self.reporter.supplemented(task, item.materials)
            item.done(task)
        elif response.status_code == 409 and self._task_status(task) not in (None, "pending"):
            return  # the task was closed meanwhile (e.g. another department rejected)
        elif response.status_code in (409, 404) or response.status_code >= 500:
            # 409 with the task still pending: the decision is not applied yet;
            # 404: the project may not be readable yet. Both settle within seconds.
            # 5xx: approval-svc is starting again (the runner restarts it).
            self._retry(item, f"HTTP {response.status_code} {response.text[:200]}")
        else:
            self.reporter.problem(
                f"supplement of task {task.task_id} ({task.project_code}) refused: "
                f"HTTP {response.status_code} {response.text[:300]}"
            )

    def _retry(self, item: _Supplement, why: str) -> None:
        if item.attempts >= CONFLICT_RETRIES:
            self.reporter.problem(
                f"supplement of task {item.task.task_id} ({item.task.project_code}) given up "
                f"after {item.attempts} attempts: {why}"
            )
            return
        item.attempts += 1
        pause = RETRY_PAUSE_S if item.attempts < 60 else SLOW_RETRY_PAUSE_S
        item.at = time.monotonic() + pause
        heapq.heappush(self._due, item)

    def close(self) -> None:
        self._http.close()
