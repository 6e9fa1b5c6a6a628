"""Public pages (no sign-in): disclosed results, the dishonest list, a project's page + QR."""

from __future__ import annotations

import re

import segno
from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal_svc.web import panel, portal, render
from shared.topics import DEPARTMENT_CODES

router = APIRouter(prefix="/public")
PROJECT_CODE = re.compile(r"^\d{4}-\d{6}-\d{2}-\d{2}-\d{5}[0-9A-Z]$")


@router.get("")
async def results(request: Request, q: str = "", department: str = "") -> Response:
    approval = portal(request).clients.approval
    query = q.strip()
    by_code = query.upper() if PROJECT_CODE.match(query.upper()) else None
    found = await panel(approval.public_results(project_code=by_code))
    items = found.data or []
    if query and not by_code:
        items = [i for i in items if query.lower() in str(i.get("project_name", "")).lower()]
    if department:
        items = [i for i in items if i.get("department") == department]
    return render(
        request,
        "public/results.html",
        found=found,
        items=items,
        q=query,
        department=department,
        departments=DEPARTMENT_CODES,
        searched=bool(query or department),
    )


@router.get("/dishonest")
async def dishonest(request: Request) -> Response:
    found = await panel(portal(request).clients.supervision.dishonest())
    return render(request, "public/dishonest.html", found=found)


def qr_svg(url: str) -> str:
    """An inline SVG QR code of `url` (as printed on the project's site sign)."""
    return str(segno.make(url, error="m").svg_inline(scale=4, title=url))


@router.get("/projects/{code}")
async def project(request: Request, code: str) -> Response:
    p = portal(request)
    found = await panel(p.clients.approval.public_results(project_code=code.upper()))
    base = p.settings.public_base_url or str(request.base_url).rstrip("/")
    url = f"{base.rstrip('/')}/public/projects/{code}"
    items = found.data or []
    return render(
        request,
        "public/project.html",
        status=200 if items or not found.ok else 404,
        code=code,
        found=found,
        items=items,
        name=items[0].get("project_name") if items else None,
        url=url,
        qr=qr_svg(url),
    )
