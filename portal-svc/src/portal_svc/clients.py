"""Typed HTTP clients of the three services (httpx), forwarding the user's token and the
correlation id. Errors come back as two exceptions the pages handle:

- :class:`ApiProblem`: the service answered 4xx with problem+json (shown to the user, each
  error next to its field);
- :class:`Unavailable`: no answer, a 5xx, or an answer that is not what the contract says (the
  page shows a "not available" panel instead of failing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.logs import correlation_id

JSON = dict[str, Any]


@dataclass(frozen=True)
class FieldError:
    loc: tuple[str, ...]
    msg: str

    @property
    def field(self) -> str:
        """The form field it belongs to: `body.land.area_m2` -> `land_area_m2`."""
        parts = [p for p in self.loc if p not in ("body", "query", "path")]
        return "_".join(parts)


@dataclass(frozen=True)
class Problem:
    status: int
    title: str
    detail: str
    type: str = "about:blank"
    errors: tuple[FieldError, ...] = ()

    @classmethod
    def from_response(cls, response: httpx.Response) -> Problem:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        errors = tuple(
            FieldError(tuple(str(p) for p in e.get("loc", [])), str(e.get("msg", "")))
            for e in body.get("errors") or []
            if isinstance(e, dict)
        )
        return cls(
            status=response.status_code,
            title=str(body.get("title") or response.reason_phrase),
            detail=str(body.get("detail") or ""),
            type=str(body.get("type") or "about:blank"),
            errors=errors,
        )


class ApiProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem

    @property
    def status(self) -> int:
        return self.problem.status


class Unavailable(Exception):
    """The service did not give a usable answer."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


@dataclass(frozen=True)
class Caller:
    """On whose behalf a call is made: their bearer token (None for public endpoints)."""

    token: str | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        headers = dict(self.extra_headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        cid = correlation_id.get()
        if cid:
            headers["X-Correlation-Id"] = cid
        return headers


PUBLIC = Caller()


class ServiceClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, service: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.service = service

    async def request(
        self,
        method: str,
        path: str,
        caller: Caller,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.http.request(
                method,
                f"{self.base_url}{path}",
                json=json,
                params=clean,
                headers={**caller.headers(), **(headers or {})},
            )
        except httpx.HTTPError as exc:
            raise Unavailable(self.service, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise Unavailable(self.service, f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ApiProblem(Problem.from_response(response))
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise Unavailable(self.service, "the answer is not JSON") from exc

    async def get_json(self, path: str, caller: Caller, **params: Any) -> Any:
        return await self.request("GET", path, caller, params=params)

    async def items(self, path: str, caller: Caller, **params: Any) -> list[JSON]:
        """One page of a list endpoint (up to 500 items, the contract's maximum)."""
        body = await self.get_json(path, caller, limit=500, **params)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise Unavailable(self.service, f"{path} did not answer a page of items")
        return [i for i in body["items"] if isinstance(i, dict)]

    async def metrics_text(self) -> str:
        try:
            response = await self.http.get(f"{self.base_url}/metrics")
        except httpx.HTTPError as exc:
            raise Unavailable(self.service, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise Unavailable(self.service, f"/metrics answered HTTP {response.status_code}")
        return response.text


class ApprovalClient(ServiceClient):
    async def projects(self, caller: Caller, **filters: Any) -> list[JSON]:
        return await self.items("/api/v1/projects", caller, **filters)

    async def project(self, caller: Caller, code: str) -> JSON:
        body: JSON = await self.get_json(f"/api/v1/projects/{code}", caller)
        return body

    async def timeline(self, caller: Caller, code: str) -> list[JSON]:
        return await self.items(f"/api/v1/projects/{code}/timeline", caller)

    async def submit(self, caller: Caller, body: JSON, *, idempotency_key: str) -> JSON:
        project: JSON = await self.request(
            "POST",
            "/api/v1/projects",
            caller,
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        return project

    async def withdraw(self, caller: Caller, code: str) -> JSON:
        body: JSON = await self.request("POST", f"/api/v1/projects/{code}/withdraw", caller)
        return body

    async def departments(self, caller: Caller) -> list[JSON]:
        return await self.items("/api/v1/departments", caller)

    async def department_tasks(
        self, caller: Caller, dept: str, status: str | None = None
    ) -> list[JSON]:
        return await self.items(f"/api/v1/departments/{dept}/tasks", caller, status=status)

    async def decide(self, caller: Caller, task_id: str, body: JSON) -> JSON:
        task: JSON = await self.request(
            "POST", f"/api/v1/tasks/{task_id}/decision", caller, json=body
        )
        return task

    async def supplement(self, caller: Caller, task_id: str, materials: list[str]) -> JSON:
        task: JSON = await self.request(
            "POST", f"/api/v1/tasks/{task_id}/supplement", caller, json={"materials": materials}
        )
        return task

    async def public_results(self, project_code: str | None = None) -> list[JSON]:
        return await self.items("/api/v1/public/results", PUBLIC, project_code=project_code)


class SupervisionClient(ServiceClient):
    async def file_report(self, caller: Caller, code: str, body: JSON) -> JSON:
        report: JSON = await self.request(
            "POST", f"/api/v1/projects/{code}/reports", caller, json=body
        )
        return report

    async def reports(self, caller: Caller, code: str) -> list[JSON]:
        return await self.items(f"/api/v1/projects/{code}/reports", caller)

    async def supervision(self, caller: Caller, code: str) -> JSON:
        body: JSON = await self.get_json(f"/api/v1/projects/{code}/supervision", caller)
        return body

    async def alerts(self, caller: Caller, **filters: Any) -> list[JSON]:
        return await self.items("/api/v1/alerts", caller, **filters)

    async def credit(self, caller: Caller, credit_code: str) -> JSON:
        body: JSON = await self.get_json(f"/api/v1/enterprises/{credit_code}/credit", caller)
        return body

    async def dishonest(self) -> list[JSON]:
        return await self.items("/api/v1/public/credit/dishonest", PUBLIC)

    async def overview(self, caller: Caller) -> JSON:
        body: JSON = await self.get_json("/api/v1/stats/overview", caller)
        return body


class NotifyClient(ServiceClient):
    @asynccontextmanager
    async def stream(self, caller: Caller, last_event_id: str | None) -> AsyncIterator[Any]:
        """The caller's SSE stream, opened; yields the response's byte iterator."""
        headers = caller.headers()
        headers["Accept"] = "text/event-stream"
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        request = self.http.build_request(
            "GET",
            f"{self.base_url}/api/v1/stream",
            headers=headers,
            timeout=httpx.Timeout(10.0, read=None),
        )
        try:
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise Unavailable(self.service, f"{type(exc).__name__}: {exc}") from exc
        try:
            if response.status_code >= 400:
                await response.aread()
                if response.status_code >= 500:
                    raise Unavailable(self.service, f"HTTP {response.status_code}")
                raise ApiProblem(Problem.from_response(response))
            yield response.aiter_raw()
        finally:
            await response.aclose()


@dataclass(frozen=True)
class Clients:
    approval: ApprovalClient
    supervision: SupervisionClient
    notify: NotifyClient

    @classmethod
    def build(
        cls, http: httpx.AsyncClient, *, approval: str, supervision: str, notify: str
    ) -> Clients:
        return cls(
            ApprovalClient(http, approval, "approval-svc"),
            SupervisionClient(http, supervision, "supervision-svc"),
            NotifyClient(http, notify, "notify-svc"),
        )
