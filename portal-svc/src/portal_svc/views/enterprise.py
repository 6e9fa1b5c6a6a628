"""Enterprise pages: my projects, submit, a project (tasks, timeline, supplement, withdraw,
construction reports, supervision), my credit."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal_svc import forms, routing_hints
from portal_svc.clients import ApiProblem
from portal_svc.web import (
    User,
    flash,
    panel,
    portal,
    problem_context,
    read_form,
    redirect,
    render,
    require,
    restore_form,
)

router = APIRouter(prefix="/enterprise")
NEW_PATH = "/enterprise/projects/new"


@router.get("")
async def my_projects(request: Request) -> Response:
    user = require(request, "enterprise")
    clients = portal(request).clients
    projects = await clients.approval.projects(user.caller)
    lights, credit = await asyncio.gather(
        asyncio.gather(
            *(
                panel(clients.supervision.supervision(user.caller, p["project_code"]))
                for p in projects
            )
        ),
        panel(clients.supervision.credit(user.caller, user.credit_code or "")),
    )
    rows = [
        {"project": p, "light": (lp.data or {}).get("light") if lp.ok else None}
        for p, lp in zip(projects, lights, strict=True)
    ]
    return render(request, "enterprise/projects.html", rows=rows, credit=credit)


async def _matter_names(request: Request, user: User) -> dict[str, dict[str, str]]:
    catalogue = await panel(portal(request).clients.approval.departments(user.caller))
    names: dict[str, dict[str, str]] = {}
    for dept in catalogue.data or []:
        for matter in dept.get("matters", []):
            names[matter["matter_code"]] = {
                "department": dept.get("code", ""),
                "name": matter.get("name", ""),
                "name_zh": matter.get("name_zh", ""),
            }
    return names


async def _new_form(request: Request, user: User, status: int = 200, **context: Any) -> Response:
    values = context.pop("values", None) or {}
    return render(
        request,
        "enterprise/new_project.html",
        status=status,
        values=values,
        idempotency_key=values.get("idempotency_key") or str(uuid.uuid4()),
        matter_names=await _matter_names(request, user),
        rules=routing_hints.RULES,
        expected=routing_hints.matters_for(values),
        **context,
    )


@router.get("/projects/new")
async def new_project(request: Request) -> Response:
    user = require(request, "enterprise")
    return await _new_form(request, user, values=restore_form(request, NEW_PATH) or {})


@router.post("/projects/new")
async def submit_project(request: Request) -> Response:
    form = await read_form(request)
    user = require(request, "enterprise")
    approval = portal(request).clients.approval
    key = form.get("idempotency_key") or str(uuid.uuid4())
    try:
        project = await approval.submit(user.caller, forms.project_body(form), idempotency_key=key)
    except ApiProblem as exc:
        if exc.status == 401:
            raise
        return await _new_form(
            request, user, status=exc.status, values=form, **problem_context(exc)
        )
    return redirect(f"/enterprise/projects/{project['project_code']}/submitted")


@router.get("/projects/{code}/submitted")
async def submitted(request: Request, code: str) -> Response:
    user = require(request, "enterprise")
    project = await portal(request).clients.approval.project(user.caller, code)
    return render(request, "enterprise/submitted.html", project=project)


async def _project_page(
    request: Request, user: User, code: str, status: int = 200, **context: Any
) -> Response:
    clients = portal(request).clients
    project = await clients.approval.project(user.caller, code)
    timeline, supervision, reports = await asyncio.gather(
        panel(clients.approval.timeline(user.caller, code)),
        panel(clients.supervision.supervision(user.caller, code)),
        panel(clients.supervision.reports(user.caller, code)),
    )
    return render(
        request,
        "enterprise/project.html",
        status=status,
        project=project,
        timeline=timeline,
        supervision=supervision,
        reports=reports,
        **context,
    )


@router.get("/projects/{code}")
async def project_page(request: Request, code: str) -> Response:
    user = require(request, "enterprise")
    return await _project_page(request, user, code)


@router.post("/projects/{code}/supplement/{task_id}")
async def supplement(request: Request, code: str, task_id: str) -> Response:
    form = await read_form(request)
    user = require(request, "enterprise")
    materials = forms.lines(form.get(f"materials_{task_id}", ""))
    if not materials:
        errors = {f"materials_{task_id}": "List the materials you are supplying, one per line"}
        return await _project_page(
            request, user, code, status=422, errors=errors, error_summary=list(errors.items())
        )
    try:
        await portal(request).clients.approval.supplement(user.caller, task_id, materials)
    except ApiProblem as exc:
        if exc.status == 401:
            raise
        ctx = problem_context(exc)
        ctx["errors"] = {f"materials_{task_id}": exc.problem.detail, **ctx["errors"]}
        return await _project_page(request, user, code, status=exc.status, **ctx)
    flash(request, "Materials supplied: the department's clock runs again.")
    return redirect(f"/enterprise/projects/{code}")


@router.get("/projects/{code}/withdraw")
async def withdraw_confirm(request: Request, code: str) -> Response:
    user = require(request, "enterprise")
    project = await portal(request).clients.approval.project(user.caller, code)
    return render(request, "enterprise/withdraw.html", project=project)


@router.post("/projects/{code}/withdraw")
async def withdraw(request: Request, code: str) -> Response:
    await read_form(request)
    user = require(request, "enterprise")
    await portal(request).clients.approval.withdraw(user.caller, code)
    flash(request, "The project was withdrawn.")
    return redirect(f"/enterprise/projects/{code}")


@router.post("/projects/{code}/reports")
async def file_report(request: Request, code: str) -> Response:
    form = await read_form(request)
    user = require(request, "enterprise")
    errors = forms.local_errors({"kind": "Choose the kind of report"}, form)
    if errors:
        return await _project_page(
            request, user, code, status=422, errors=errors, error_summary=list(errors.items()),
            values=form,
        )  # fmt: skip
    try:
        await portal(request).clients.supervision.file_report(
            user.caller, code, forms.report_body(form)
        )
    except ApiProblem as exc:
        if exc.status == 401:
            raise
        return await _project_page(
            request, user, code, status=exc.status, values=form, **problem_context(exc)
        )
    flash(request, "Construction report filed.")
    return redirect(f"/enterprise/projects/{code}")
