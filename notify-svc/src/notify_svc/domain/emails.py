"""What an e-mail about an event says: subject, plain text and HTML (Chinese first, then
English, in one message), and a Message-ID derived from the event id, so a resend of the
same event to the same address carries the same id and is recognisable as a repeat.

Pure: the templates (`email_templates`) are rendered from memory; sending is an adapter's job.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape
from markupsafe import Markup

from notify_svc.domain import email_templates as templates
from notify_svc.domain.gist import gist, missing_materials
from shared.events import CloudEvent, EventType

CONTACT_EMAIL_TYPES: frozenset[EventType] = frozenset(
    {
        EventType.PROJECT_SUPPLEMENT_REQUESTED,
        EventType.PROJECT_APPROVED,
        EventType.PROJECT_REJECTED,
        EventType.ALERT_RAISED,
    }
)
"""Events the contact address of a submission is e-mailed about, without a subscription."""

# What each alert kind means and how it is cleared: (zh name, en name, zh clear, en clear).
ALERT_KINDS: dict[str, tuple[str, str, str, str]] = {
    "approval_overdue": (
        "审批事项临近或超过办理时限",
        "an approval task is near or past its time limit",
        "由相关部门在时限内作出审批决定后自动解除。",
        "it clears when the department concerned decides the task.",
    ),
    "started_before_approval": (
        "未批先建（审批完成前报告开工）",
        "construction started before approval",
        "立即停止施工，待全部审批通过后自动解除。",
        "stop construction; it clears once every approval is granted.",
    ),
    "start_overdue": (
        "逾期未开工（未报送开工报告）",
        "start overdue (no start report filed)",
        "在平台报送开工报告（kind=start）后解除。",
        "file a start report (kind start) on the platform.",
    ),
    "progress_missing": (
        "未按期报送进度报告",
        "a progress report is missing",
        "在平台报送最新的进度报告后解除。",
        "file an up-to-date progress report on the platform.",
    ),
    "progress_behind": (
        "建设进度明显落后于计划",
        "construction is behind schedule",
        "报送体现进度赶上计划的进度报告，或报送变更报告调整计划后解除。",
        "file a progress report showing the project back on plan, or a change report with "
        "a revised plan.",
    ),
}
LEVELS_ZH = {"yellow": "黄色", "red": "红色"}


@dataclass(frozen=True, slots=True)
class EmailContent:
    to: str
    sender: str
    subject: str
    text: str
    html: str
    message_id: str


def _text_helpers() -> dict[str, Callable[..., str]]:
    def p(text: Any) -> str:
        return f"{text}\n"

    def items(values: Any) -> str:
        return "".join(f"  - {v}\n" for v in values or [])

    def next_step(text: Any) -> str:
        return f"\n>> {text}\n"

    return {"p": p, "items": items, "next": next_step}


def _html_helpers() -> dict[str, Callable[..., Markup]]:
    def p(text: Any) -> Markup:
        return Markup("<p>{}</p>\n").format(text)

    def items(values: Any) -> Markup:
        if not values:
            return Markup("")
        return Markup("<ul>{}</ul>\n").format(
            Markup("").join(Markup("<li>{}</li>").format(v) for v in values)
        )

    def next_step(text: Any) -> Markup:
        return Markup("<p><strong>{}</strong></p>\n").format(text)

    return {"p": p, "items": items, "next": next_step}


def _environment(*, html: bool) -> Environment:
    sources = {"layout.txt": templates.LAYOUT_TEXT, "layout.html": templates.LAYOUT_HTML}
    sources.update({f"{t}.body": body for t, body in templates.BODIES.items()})
    sources["generic.body"] = templates.GENERIC_BODY
    env = Environment(
        loader=DictLoader(sources),
        autoescape=select_autoescape(default=html, default_for_string=html),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(_html_helpers() if html else _text_helpers())
    return env


_TEXT = _environment(html=False)
_HTML = _environment(html=True)
_SUBJECTS = Environment(autoescape=False, undefined=StrictUndefined)  # noqa: S701 - plain text


def _tasks(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tasks = data.get("tasks")
    return [t for t in tasks if isinstance(t, Mapping)] if isinstance(tasks, list) else []


def context_of(event: CloudEvent) -> dict[str, Any]:
    """Everything any template may use, read tolerantly from the event."""
    data: Mapping[str, Any] = event.data if isinstance(event.data, Mapping) else {}
    code = str(data.get("project_code") or event.subject or "")
    tasks = _tasks(data)
    supplement = [
        {
            "department": t.get("department", ""),
            "matter_name": t.get("matter_name", ""),
            "missing_materials": list(t.get("missing_materials") or []),
            "opinion": t.get("opinion"),
        }
        for t in tasks
        if t.get("status") == "supplement_required" or t.get("missing_materials")
    ]
    if not supplement and (missing := missing_materials(data)):
        supplement = [
            {"department": "", "matter_name": "", "missing_materials": missing, "opinion": None}
        ]
    approved = [t for t in tasks if t.get("decision") == "approved" or t.get("document_number")]
    rejected = [t for t in tasks if t.get("decision") == "rejected"]
    kind = str(data.get("kind") or "")
    kind_zh, kind_en, clear_zh, clear_en = ALERT_KINDS.get(
        kind,
        (kind, kind, "请按说明整改，整改完成后预警解除。", "remedy what the detail says."),
    )
    level = str(data.get("level") or "")
    return {
        "event_id": event.id,
        "event_type": event.type,
        "code": code,
        "name": str(data.get("name") or code),
        "gist": gist(event.type, data),
        "supplement_tasks": supplement,
        "documents_zh": [
            f"{t.get('department')}（{t.get('matter_name') or ''}）批准文号："
            f"{t.get('document_number') or '—'}"
            for t in approved
        ],
        "documents_en": [
            f"{t.get('department')} ({t.get('matter_name') or ''}): document number "
            f"{t.get('document_number') or '-'}"
            for t in approved
        ],
        "rejections_zh": [
            f"{t.get('department')}（{t.get('matter_name') or ''}）不予批准："
            f"{t.get('opinion') or '—'}"
            for t in rejected
        ],
        "rejections_en": [
            f"{t.get('department')} ({t.get('matter_name') or ''}) rejected it: "
            f"{t.get('opinion') or '-'}"
            for t in rejected
        ],
        "tasks_zh": [f"{t.get('department')}：{t.get('matter_name')}" for t in tasks],
        "tasks_en": [f"{t.get('department')}: {t.get('matter_name')}" for t in tasks],
        "kind_zh": kind_zh,
        "kind_en": kind_en,
        "clear_zh": clear_zh,
        "clear_en": clear_en,
        "level": level,
        "level_zh": LEVELS_ZH.get(level, level),
        "detail": str(data.get("detail") or ""),
        "department": str(data.get("department") or ""),
        "matter_name": str(data.get("matter_name") or ""),
        "due": str(data.get("due_at") or ""),
    }


_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


def message_id(event_id: str, to: str, sender: str) -> str:
    """`<event id.recipient hash@sender's domain>`: the same for a resend of the same event."""
    local = _SAFE_ID.sub("-", event_id)[:100] or "event"
    recipient = hashlib.sha256(to.strip().lower().encode()).hexdigest()[:12]
    domain = sender.rpartition("@")[2].strip(" >") or "notify.local"
    return f"<{local}.{recipient}@{domain}>"


def compose(event: CloudEvent, *, to: str, sender: str) -> EmailContent:
    context = context_of(event)
    subject_source = templates.SUBJECTS.get(event.type, templates.GENERIC_SUBJECT)
    subject = " ".join(_SUBJECTS.from_string(subject_source).render(context).split())
    name = f"{event.type}.body" if event.type in templates.BODIES else "generic.body"
    text = _TEXT.get_template(name).render(context, layout="layout.txt", subject=subject)
    html = _HTML.get_template(name).render(context, layout="layout.html", subject=subject)
    return EmailContent(
        to=to,
        sender=sender,
        subject=subject,
        text=text,
        html=html,
        message_id=message_id(event.id, to, sender),
    )


__all__ = ["ALERT_KINDS", "CONTACT_EMAIL_TYPES", "EmailContent", "compose"]
