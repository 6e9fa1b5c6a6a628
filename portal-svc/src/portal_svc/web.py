"""What every page needs: the portal's parts, the signed-in user, CSRF, the form stash, render."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from portal_svc import formatting
from portal_svc.clients import ApiProblem, Caller, Clients, FieldError, Unavailable
from portal_svc.i18n import HTML_LANG, LANGUAGE_NAMES, Catalogues
from portal_svc.metrics import UPSTREAM_FAILURES
from portal_svc.settings import PortalSettings
from shared.clock import Clock

STASH_LIMIT = 3000  # characters of JSON: the session lives in a cookie (about 4 KB at most)


@dataclass
class Portal:
    settings: PortalSettings
    clients: Clients
    templates: jinja2.Environment
    catalogues: Catalogues
    clock: Clock


def portal(request: Request) -> Portal:
    value: Portal = request.app.state.portal
    return value


@dataclass(frozen=True)
class User:
    token: str
    role: str
    sub: str
    exp: float
    credit_code: str | None = None
    department: str | None = None

    @property
    def caller(self) -> Caller:
        return Caller(self.token)

    def as_session(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "role": self.role,
            "sub": self.sub,
            "exp": self.exp,
            "credit_code": self.credit_code,
            "department": self.department,
        }

    @property
    def home(self) -> str:
        return {"enterprise": "/enterprise", "department": "/department"}.get(self.role, "/console")


def signed_in(request: Request) -> User | None:
    data = request.session.get("user")
    if not isinstance(data, dict):
        return None
    try:
        user = User(**data)
    except TypeError:
        return None
    return user if user.exp > time.time() else None


class SignInRequired(Exception):
    """Go to sign-in, then come back to `next_path` (with the form the user had filled in)."""

    def __init__(
        self, next_path: str, form: dict[str, str] | None = None, *, expired: bool
    ) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.form = form
        self.expired = expired


class PageError(Exception):
    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail


def require(request: Request, role: str) -> User:
    user = signed_in(request)
    if user is None:
        raise SignInRequired(
            request.url.path,
            getattr(request.state, "form", None),
            expired="user" in request.session,
        )
    if user.role != role:
        raise PageError(403, "This page is not for your role", f"Signed in as {user.role}.")
    return user


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def read_form(request: Request) -> dict[str, str]:
    """The posted form (one value per name, the last wins), CSRF-checked."""
    data = await request.form()
    form = {k: v for k, v in data.multi_items() if isinstance(v, str)}
    sent = form.pop("csrf_token", "")
    request.state.form = form
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not secrets.compare_digest(sent, expected):
        if signed_in(request) is None:
            # The session is gone (expired cookie): sign in again and keep what was typed.
            raise SignInRequired(request.url.path, form, expired=True)
        raise PageError(400, "The form has expired", "Go back, reload the page and try again.")
    return form


def safe_next(path: str | None, default: str = "/") -> str:
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return default


def stash_form(request: Request, path: str, form: dict[str, str]) -> bool:
    encoded = json.dumps(form, ensure_ascii=False)
    if len(encoded) > STASH_LIMIT:
        return False
    request.session["stash"] = {"path": path, "form": form}
    return True


def restore_form(request: Request, path: str) -> dict[str, str] | None:
    stash = request.session.get("stash")
    if isinstance(stash, dict) and stash.get("path") == path:
        del request.session["stash"]
        form = stash.get("form")
        return {str(k): str(v) for k, v in form.items()} if isinstance(form, dict) else None
    return None


def flash(request: Request, message: str, kind: str = "success", **params: str) -> None:
    """A notification banner for the next page (the message id is translated when shown)."""
    request.session["flash"] = {"message": message, "kind": kind, "params": params}


def locale_of(request: Request) -> str:
    return portal(request).catalogues.pick(request.session.get("lang"))


def errors_by_field(errors: list[FieldError]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in errors:
        out.setdefault(e.field or "_form", e.msg)
    return out


def problem_context(exc: ApiProblem) -> dict[str, Any]:
    """What a form template needs to show a service's problem: per field and a summary."""
    problem = exc.problem
    fields = errors_by_field(list(problem.errors))
    summary = [(name, msg) for name, msg in fields.items()] or [("_form", problem.detail)]
    return {"errors": fields, "error_summary": summary, "problem": problem}


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    p = portal(request)
    locale = locale_of(request)
    gettext = p.catalogues.gettext(locale)
    note = request.session.pop("flash", None)
    banner = None
    if isinstance(note, dict):
        banner = {
            "kind": note.get("kind", "success"),
            "text": gettext(str(note.get("message", ""))).format(**(note.get("params") or {})),
        }
    now: datetime = p.clock.now()
    base = {
        "request": request,
        "_": gettext,
        "user": signed_in(request),
        "csrf_token": csrf_token(request),
        "locale": locale,
        "html_lang": HTML_LANG.get(locale, "zh-CN"),
        "languages": LANGUAGE_NAMES,
        "banner": banner,
        "dev_login": p.settings.dev_login,
        "now": now,
        "fmt": formatting,
        "errors": {},
        "error_summary": [],
        "values": {},
    }
    base.update(context)
    html = p.templates.get_template(template).render(base)
    return HTMLResponse(html, status_code=status)


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@dataclass(frozen=True)
class Panel:
    """Data for one part of a page, or why it is not there (the page still renders)."""

    data: Any = None
    unavailable: str | None = None

    @property
    def ok(self) -> bool:
        return self.unavailable is None


async def panel(awaitable: Awaitable[Any]) -> Panel:
    try:
        return Panel(await awaitable)
    except Unavailable as exc:
        UPSTREAM_FAILURES.labels(exc.service).inc()
        return Panel(unavailable=exc.service)
    except ApiProblem as exc:
        if exc.status == 401:
            raise
        # 404 here is usually an endpoint not deployed yet (or nothing to show): degrade.
        return Panel(unavailable=f"{exc.status} {exc.problem.title}")
