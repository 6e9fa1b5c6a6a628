"""Ops console (`/console`): counts, queues, alerts, lag; refreshed live over the notify stream."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client.parser import text_string_to_metric_families

from portal_svc.clients import ServiceClient
from portal_svc.web import Panel, panel, portal, render, require

router = APIRouter(prefix="/console")


def consumer_gauges(metrics_text: str) -> list[dict[str, Any]]:
    """Consumer lag (any gauge whose name has `lag`, per group/topic) and the outbox backlog."""
    rows: list[dict[str, Any]] = []
    for family in text_string_to_metric_families(metrics_text):
        if "lag" not in family.name and family.name != "outbox_backlog":
            continue
        for sample in family.samples:
            labels = sample.labels
            rows.append(
                {
                    "metric": sample.name,
                    "group": labels.get("group") or labels.get("consumer_group") or "",
                    "detail": ", ".join(
                        f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("group",)
                    ),
                    "value": sample.value,
                }
            )
    return rows


def events_consumed(metrics_text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "events_consumed":
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return total


async def _metrics(client: ServiceClient) -> dict[str, Any]:
    text = await client.metrics_text()
    return {"gauges": consumer_gauges(text), "consumed": events_consumed(text)}


async def console_context(request: Request) -> dict[str, Any]:
    user = require(request, "ops")
    clients = portal(request).clients
    services = (clients.approval, clients.supervision, clients.notify)
    overview, projects, alerts, *metrics = await asyncio.gather(
        panel(clients.supervision.overview(user.caller)),
        panel(clients.approval.projects(user.caller)),
        panel(clients.supervision.alerts(user.caller, status="open")),
        *(panel(_metrics(s)) for s in services),
    )
    by_status: dict[str, int] = {}
    if overview.ok and isinstance(overview.data.get("projects_by_status"), dict):
        by_status = dict(overview.data["projects_by_status"])
    elif projects.ok:
        by_status = dict(Counter(str(p.get("status")) for p in projects.data))
    queues: dict[str, Any] = overview.data.get("by_department", {}) if overview.ok else {}
    latest_alerts = sorted(
        alerts.data or [], key=lambda a: str(a.get("raised_at", "")), reverse=True
    )[:20]
    return {
        "dashboards_url": portal(request).settings.dashboards_url,
        "overview": overview,
        "by_status": by_status,
        "status_source": "supervision" if overview.ok else ("approval" if projects.ok else None),
        "queues": queues,
        "alerts": alerts,
        "latest_alerts": latest_alerts,
        "recent_projects": sorted(
            projects.data or [], key=lambda p: str(p.get("submitted_at", "")), reverse=True
        )[:10],
        "metrics": [
            {"service": s.service, "base": s.base_url, "panel": m}
            for s, m in zip(services, metrics, strict=True)
        ],
        "chart": {
            "labels": list(by_status),
            "values": list(by_status.values()),
            "queue_labels": list(queues),
            "queue_pending": [int((q or {}).get("pending") or 0) for q in queues.values()],
            "queue_overdue": [int((q or {}).get("overdue") or 0) for q in queues.values()],
        },
    }


@router.get("")
async def console(request: Request) -> Response:
    return render(request, "console/console.html", **await console_context(request))


@router.get("/panels")
async def panels(request: Request) -> Response:
    """The live parts, re-fetched by htmx when events arrive."""
    return render(request, "console/panels.html", **await console_context(request))


__all__ = ["Panel", "router"]
