"""Department officer pages: my queue, a task (facts, documents, decision), my history."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal_svc import forms
from portal_svc.clients import ApiProblem
from portal_svc.formatting import due_level, on_time_rate
from portal_svc.web import (
    PageError,
    User,
    flash,
    panel,
    portal,
    problem_context,
    read_form,
    redirect,
    render,
    require,
)

router = APIRouter(prefix="/department")
OPEN = ("pending", "supplement_required")
DECIDED = ("approved", "rejected")


@router.get("")
async def queue(request: Request) -> Response:
    user = require(request, "department")
    p = portal(request)
    tasks = await p.clients.approval.department_tasks(user.caller, user.department or "")
    now = p.clock.now()
    open_tasks = sorted(
        (t for t in tasks if t.get("status") in OPEN), key=lambda t: t.get("due_at") or ""
    )
    decided = sorted(
        (t for t in tasks if t.get("status") in DECIDED),
        key=lambda t: t.get("decided_at") or "",
        reverse=True,
    )
    cards = [{"task": t, "level": due_level(t, now)} for t in open_tasks]
    return render(
        request,
        "department/queue.html",
        cards=cards,
        decided=decided,
        on_time=on_time_rate(decided),
    )


async def _task_page(
    request: Request, user: User, task_id: str, status: int = 200, **context: Any
) -> Response:
    p = portal(request)
    tasks = await p.clients.approval.department_tasks(user.caller, user.department or "")
    task = next((t for t in tasks if t.get("task_id") == task_id), None)
    if task is None:
        raise PageError(404, "Not found", f"Task {task_id} is not one of your department's.")
    code = task["project_code"]
    project, timeline = await asyncio.gather(
        panel(p.clients.approval.project(user.caller, code)),
        panel(p.clients.approval.timeline(user.caller, code)),
    )
    documents = [
        {"at": step.get("at"), "material": m}
        for step in timeline.data or []
        for m in (step.get("detail") or {}).get("materials", []) or []
    ]
    return render(
        request,
        "department/task.html",
        status=status,
        task=task,
        level=due_level(task, p.clock.now()),
        project=project,
        timeline=timeline,
        documents=documents,
        **context,
    )


@router.get("/tasks/{task_id}")
async def task_page(request: Request, task_id: str) -> Response:
    user = require(request, "department")
    return await _task_page(request, user, task_id)


@router.post("/tasks/{task_id}/decision")
async def decide(request: Request, task_id: str) -> Response:
    form = await read_form(request)
    user = require(request, "department")
    errors = forms.local_errors({"decision": "Choose a decision"}, form)
    if form.get("decision") == "supplement_required" and not forms.lines(
        form.get("missing_materials", "")
    ):
        errors["missing_materials"] = "List every missing material, one per line"
    if errors:
        return await _task_page(
            request, user, task_id, status=422, values=form, errors=errors,
            error_summary=list(errors.items()),
        )  # fmt: skip
    try:
        task = await portal(request).clients.approval.decide(
            user.caller, task_id, forms.decision_body(form)
        )
    except ApiProblem as exc:
        if exc.status == 401:
            raise
        return await _task_page(
            request, user, task_id, status=exc.status, values=form, **problem_context(exc)
        )
    flash(
        request,
        "Decision recorded for {project}: {decision}.",
        project=str(task.get("project_code", "")),
        decision=str(task.get("decision") or task.get("status") or ""),
    )
    return redirect("/department")
