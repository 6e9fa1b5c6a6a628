"""The cases the read benchmark measures: every list route (and the overview), with the
cursors of deep pages found by walking `next_cursor` from the first page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from bench.reads.world import Facts
from services.samples import CREDIT_CODES
from shared.auth import mint_token

SECRET = "bench-secret-bench-secret-bench-secret"
DEEP_ROWS = 20_000  # how far `*.deep` cases page in (or half of the list when it is shorter)
WALK_LIMIT = 500


Params = dict[str, str | int]


@dataclass
class Case:
    name: str
    service: str
    path: str | Callable[[int], str]
    params: Params | Callable[[int], Params] = field(default_factory=dict)
    token: str | None = None
    min_items: int = 1  # a page must hold at least this many items (the data is really read)
    budgeted: bool = True  # False: reported, but not held to the budget (see the README)

    def request(self, i: int) -> tuple[str, Params]:
        path = self.path(i) if callable(self.path) else self.path
        params = self.params(i) if callable(self.params) else self.params
        return path, params


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _walk(
    client: httpx.AsyncClient, path: str, params: Params, token: str | None, *, rows: int
) -> list[str]:
    """Cursors of the pages after the first, following `next_cursor` with pages of
    `WALK_LIMIT` until about `rows` rows are behind (or the list ends)."""
    cursors: list[str] = []
    cursor: str | None = None
    seen = 0
    limit = WALK_LIMIT if rows >= 2 * WALK_LIMIT else 50  # a short list: smaller steps
    while seen < rows:
        query: Params = {**params, "limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        response = await client.get(path, params=query, headers=_headers(token))
        response.raise_for_status()
        body = response.json()
        seen += len(body["items"])
        cursor = body.get("next_cursor")
        if cursor is None:
            break
        cursors.append(cursor)
    return cursors


async def _pages(
    client: httpx.AsyncClient, path: str, params: Params, token: str | None, *, pages: int
) -> list[str]:
    """Cursors of pages 2 .. pages+1 of 50, by following `next_cursor`."""
    cursors: list[str] = []
    cursor: str | None = None
    for _ in range(pages):
        query: Params = dict(params)
        if cursor is not None:
            query["cursor"] = cursor
        response = await client.get(path, params=query, headers=_headers(token))
        response.raise_for_status()
        cursor = response.json().get("next_cursor")
        if cursor is None:
            break
        cursors.append(cursor)
    return cursors


async def _deep(
    client: httpx.AsyncClient, path: str, params: Params, token: str | None, total: int
) -> Callable[[int], Params]:
    """Params of pages deep in a list: the cursor `min(DEEP_ROWS, total/2)` rows in and
    the next few pages from there, in turn."""
    walked = await _walk(client, path, params, token, rows=min(DEEP_ROWS, total // 2))
    if not walked:
        raise RuntimeError(f"{path} {params}: no next_cursor on the first page")
    start = walked[-1]
    cursors = [start, *await _pages(client, path, {**params, "cursor": start}, token, pages=4)]
    return lambda i: {**params, "cursor": cursors[i % len(cursors)]}


async def _paged(
    client: httpx.AsyncClient, path: str, params: Params, token: str | None
) -> Callable[[int], Params]:
    """Params of pages 2-6 (of 50), in turn."""
    cursors = await _pages(client, path, params, token, pages=5)
    if not cursors:
        raise RuntimeError(f"{path} {params}: no next_cursor on the first page")
    return lambda i: {**params, "cursor": cursors[i % len(cursors)]}


def _cycle(values: Sequence[str], template: str) -> Callable[[int], str]:
    return lambda i: template.format(values[i * 7919 % len(values)])


def _tokens() -> dict[str, str]:
    ent = CREDIT_CODES[0]
    return {
        "ops": mint_token(SECRET, sub="bench-ops", role="ops"),
        "enterprise": mint_token(SECRET, sub="bench-ent", role="enterprise", credit_code=ent),
        "NDRC": mint_token(SECRET, sub="bench-ndrc", role="department", department="NDRC"),
        "NCHA": mint_token(SECRET, sub="bench-ncha", role="department", department="NCHA"),
    }


async def build_cases(clients: dict[str, httpx.AsyncClient], facts: Facts) -> list[Case]:
    tok = _tokens()
    ent, ops, ndrc, ncha = tok["enterprise"], tok["ops"], tok["NDRC"], tok["NCHA"]
    a, s, n = clients["approval"], clients["supervision"], clients["notify"]
    region = facts.regions.most_common(1)[0][0]
    rare_region = facts.regions.most_common()[-1][0]
    own = facts.enterprise_codes
    recent_own = own[-300:]
    reported = facts.reported_codes[-300:] or own[:300]
    decided = facts.decided_codes
    last = facts.last_day
    month_ago = (last - timedelta(days=29)).isoformat()
    year_ago = (last - timedelta(days=365)).isoformat()
    n_projects = sum(facts.regions.values())
    ent_share = len(own)
    projects, tasks_path = "/api/v1/projects", "/api/v1/departments/{}/tasks"
    results, alerts, deliveries = "/api/v1/public/results", "/api/v1/alerts", "/api/v1/deliveries"
    ndrc_tasks = tasks_path.format("NDRC")
    ncha_tasks = tasks_path.format("NCHA")
    cases = [
        # approval-svc
        Case("approval_projects_enterprise", "approval", projects, token=ent),
        Case("approval_projects_enterprise_p2_6", "approval", projects,
             await _paged(a, projects, {}, ent), token=ent),
        Case("approval_projects_enterprise_deep", "approval", projects,
             await _deep(a, projects, {}, ent, ent_share), token=ent),
        Case("approval_projects_enterprise_status", "approval", projects,
             {"status": "approved"}, token=ent),
        Case("approval_projects_ops", "approval", projects, token=ops),
        Case("approval_projects_ops_deep", "approval", projects,
             await _deep(a, projects, {}, ops, n_projects), token=ops),
        Case("approval_projects_ops_in_review", "approval", projects,
             {"status": "in_review"}, token=ops),
        Case("approval_projects_ops_region", "approval", projects,
             {"region_code": region}, token=ops),
        Case("approval_projects_ops_rare_region", "approval", projects,
             {"region_code": rare_region}, token=ops),
        Case("approval_projects_ops_procedure", "approval", projects,
             {"procedure": "verification"}, token=ops),
        Case("approval_projects_ops_region_deep", "approval", projects,
             await _deep(a, projects, {"region_code": region}, ops,
                         facts.regions[region]), token=ops),
        Case("approval_projects_ops_procedure_status", "approval", projects,
             {"procedure": "approval", "status": "rejected"}, token=ops),
        Case("approval_projects_department", "approval", projects, token=ndrc),
        Case("approval_projects_department_rare", "approval", projects, token=ncha),
        Case("approval_project", "approval", _cycle(recent_own, "/api/v1/projects/{}"),
             token=ent, min_items=0),
        Case("approval_timeline_enterprise", "approval",
             _cycle(own, "/api/v1/projects/{}/timeline"), token=ent),
        Case("approval_timeline_ops", "approval",
             _cycle(decided, "/api/v1/projects/{}/timeline"), token=ops),
        Case("approval_departments", "approval", "/api/v1/departments", token=ent),
        Case("approval_dept_tasks", "approval", ndrc_tasks, token=ndrc),
        Case("approval_dept_tasks_p2_6", "approval", ndrc_tasks,
             await _paged(a, ndrc_tasks, {}, ndrc), token=ndrc),
        Case("approval_dept_tasks_deep", "approval", ndrc_tasks,
             await _deep(a, ndrc_tasks, {}, ndrc, facts.department_tasks["NDRC"]), token=ndrc),
        Case("approval_dept_tasks_pending", "approval", ndrc_tasks,
             {"status": "pending"}, token=ndrc),
        Case("approval_dept_tasks_pending_p2_6", "approval", ndrc_tasks,
             await _paged(a, ndrc_tasks, {"status": "pending"}, ndrc), token=ndrc),
        Case("approval_dept_tasks_approved_deep", "approval", ndrc_tasks,
             await _deep(a, ndrc_tasks, {"status": "approved"}, ndrc,
                         facts.department_tasks["NDRC"]), token=ndrc),
        Case("approval_dept_tasks_rare", "approval", ncha_tasks, token=ncha),
        Case("approval_dept_tasks_ops", "approval", ndrc_tasks, {"status": "pending"}, token=ops),
        Case("approval_public_results", "approval", results),
        Case("approval_public_results_p2_6", "approval", results,
             await _paged(a, results, {}, None)),
        Case("approval_public_results_deep", "approval", results,
             await _deep(a, results, {}, None, facts.counts["approval.tasks"] // 2)),
        Case("approval_public_results_project", "approval", results,
             lambda i: {"project_code": decided[i * 7919 % len(decided)]}),
        # supervision-svc
        Case("supervision_overview", "supervision", "/api/v1/stats/overview", token=ops),
        Case("supervision_overview_department", "supervision", "/api/v1/stats/overview",
             token=ndrc),
        Case("supervision_alerts_open", "supervision", alerts,
             {"status": "open", "limit": 50}, token=ops),
        Case("supervision_alerts", "supervision", alerts, token=ops),
        Case("supervision_alerts_deep", "supervision", alerts,
             await _deep(s, alerts, {}, ops, facts.counts["supervision.alerts"] // 2), token=ops),
        Case("supervision_alerts_resolved_p2_6", "supervision", alerts,
             await _paged(s, alerts, {"status": "resolved"}, ops), token=ops),
        Case("supervision_alerts_red_open", "supervision", alerts,
             {"level": "red", "status": "open"}, token=ops),
        Case("supervision_alerts_kind", "supervision", alerts,
             {"kind": "progress_missing"}, token=ops),
        Case("supervision_alerts_enterprise", "supervision", alerts, token=ent),
        Case("supervision_alerts_enterprise_open", "supervision", alerts,
             {"status": "open"}, token=ent),
        Case("supervision_alerts_enterprise_deep", "supervision", alerts,
             await _deep(s, alerts, {}, ent, facts.counts["supervision.alerts"] // 12), token=ent),
        Case("supervision_alerts_department", "supervision", alerts, token=ndrc),
        Case("supervision_alerts_department_open", "supervision", alerts,
             {"status": "open"}, token=ndrc),
        Case("supervision_alerts_project", "supervision", alerts,
             lambda i: {"project_code": own[i * 7919 % len(own)]}, token=ent, min_items=0),
        Case("supervision_submissions_region", "supervision", "/api/v1/stats/submissions",
             {"from": month_ago, "to": last.isoformat(), "by": "region"}, token=ops),
        Case("supervision_submissions_industry", "supervision", "/api/v1/stats/submissions",
             {"from": month_ago, "to": last.isoformat(), "by": "industry"}, token=ops),
        Case("supervision_submissions_region_year", "supervision", "/api/v1/stats/submissions",
             {"from": year_ago, "to": last.isoformat(), "by": "region"}, token=ops,
             budgeted=False),
        Case("supervision_dishonest", "supervision", "/api/v1/public/credit/dishonest",
             min_items=0),
        Case("supervision_credit", "supervision",
             f"/api/v1/enterprises/{facts.enterprise}/credit", token=ent, min_items=0),
        Case("supervision_reports", "supervision",
             _cycle(reported, "/api/v1/projects/{}/reports"), token=ent),
        Case("supervision_project_view", "supervision",
             _cycle(reported, "/api/v1/projects/{}/supervision"), token=ent, min_items=0),
        # notify-svc
        Case("notify_deliveries_ops", "notify", deliveries, token=ops),
        Case("notify_deliveries_ops_deep", "notify", deliveries,
             await _deep(n, deliveries, {}, ops, facts.counts["notify.deliveries"]), token=ops),
        Case("notify_deliveries_failed", "notify", deliveries, {"status": "failed"}, token=ops),
        Case("notify_deliveries_enterprise", "notify", deliveries, token=ent),
        Case("notify_deliveries_enterprise_p2_6", "notify", deliveries,
             await _paged(n, deliveries, {}, ent), token=ent),
        Case("notify_deliveries_subscription", "notify", deliveries,
             {"subscription_id": "sub-e0-mail"}, token=ent),
        Case("notify_deliveries_project", "notify", deliveries,
             lambda i: {"project_code": recent_own[i * 7919 % len(recent_own)]}, token=ent),
        Case("notify_deliveries_department", "notify", deliveries, token=ncha),
        Case("notify_subscriptions_ops", "notify", "/api/v1/subscriptions", token=ops),
        Case("notify_subscriptions_enterprise", "notify", "/api/v1/subscriptions", token=ent),
    ]  # fmt: skip
    return cases
