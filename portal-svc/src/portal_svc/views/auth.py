"""Sign-in (development login or a bearer token), sign-out, language, the live stream relay."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from stdnum.cn import uscc

from portal_svc.clients import ApiProblem, Unavailable
from portal_svc.metrics import SIGN_INS, STREAMS_OPEN
from portal_svc.web import (
    User,
    flash,
    portal,
    read_form,
    redirect,
    render,
    safe_next,
    signed_in,
    stash_form,
)
from shared.auth import InvalidToken, decode_token, mint_token
from shared.topics import DEPARTMENT_CODES

router = APIRouter()
ROLES = ("enterprise", "department", "ops")


@router.get("/")
async def home(request: Request) -> Response:
    user = signed_in(request)
    return render(request, "home.html", home=user.home if user else None)


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str = "/") -> Response:
    return render(
        request, "sign_in.html", next=safe_next(next), departments=DEPARTMENT_CODES, stash=""
    )


def _dev_token(request: Request, form: dict[str, str]) -> tuple[str | None, dict[str, str]]:
    settings = portal(request).settings
    role = form.get("role", "")
    errors: dict[str, str] = {}
    if role not in ROLES:
        errors["role"] = "Choose who you are signing in as"
        return None, errors
    credit_code = form.get("credit_code", "").strip().upper() or None
    department = form.get("department", "").strip().upper() or None
    if role == "enterprise" and not (credit_code and uscc.is_valid(credit_code)):
        errors["credit_code"] = "Enter a valid 18-character unified social credit code"
    if role == "department" and department not in DEPARTMENT_CODES:
        errors["department"] = "Choose a department"
    if errors:
        return None, errors
    sub = {"enterprise": credit_code, "department": department}.get(role) or "ops"
    token = mint_token(
        settings.require_jwt_secret(),
        sub=f"portal-dev:{sub}",
        role=role,
        credit_code=credit_code if role == "enterprise" else None,
        department=department if role == "department" else None,
        ttl_seconds=settings.dev_token_ttl_s,
    )
    return token, errors


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    p = portal(request)
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    method = "token" if form.get("token", "").strip() else "dev"
    errors: dict[str, str] = {}
    token: str | None = None
    if method == "token":
        token = form["token"].strip()
    elif p.settings.dev_login:
        token, errors = _dev_token(request, form)
    else:
        errors["token"] = "Paste the access token your identity provider gave you"
    user: User | None = None
    if token is not None:
        try:
            principal = decode_token(token, p.settings.require_jwt_secret())
            exp = float(jwt.decode(token, options={"verify_signature": False})["exp"])
        except (InvalidToken, jwt.PyJWTError, KeyError, ValueError) as exc:
            errors["token"] = f"The token was not accepted: {exc}"
        else:
            user = User(
                token=token,
                role=principal.role.value,
                sub=principal.sub,
                exp=exp,
                credit_code=principal.credit_code,
                department=principal.department,
            )
    if user is None:
        return render(
            request,
            "sign_in.html",
            status=422,
            next=next_path,
            departments=DEPARTMENT_CODES,
            stash=form.get("stash", ""),
            values=form,
            errors=errors,
            error_summary=list(errors.items()),
        )
    # A fresh session on sign-in (no fixation); the language and a kept form survive.
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    request.session["user"] = user.as_session()
    SIGN_INS.labels(user.role, method).inc()
    stash = form.get("stash", "")
    if stash:
        try:
            kept = json.loads(stash)
        except ValueError:
            kept = None
        if isinstance(kept, dict) and stash_form(
            request, next_path, {str(k): str(v) for k, v in kept.items()}
        ):
            flash(
                request,
                "You were signed out. What you had entered is kept: check it and send it again.",
                "info",
            )
            return redirect(next_path)
    return redirect(next_path if next_path != "/" else user.home)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    await read_form(request)
    request.session.clear()
    flash(request, "You have signed out.")
    return redirect("/")


@router.get("/language/{locale}")
async def language(request: Request, locale: str, next: str = "/") -> Response:
    request.session["lang"] = portal(request).catalogues.pick(locale)
    return redirect(safe_next(next))


@router.get("/stream")
async def stream(request: Request) -> Response:
    """The signed-in user's notify stream, relayed (the browser cannot send the token itself)."""
    user = signed_in(request)
    if user is None:
        return Response(status_code=401)
    notify = portal(request).clients.notify
    last_id = request.headers.get("last-event-id")

    async def relay() -> AsyncIterator[bytes]:
        STREAMS_OPEN.inc()
        try:
            async with notify.stream(user.caller, last_id) as chunks:
                async for chunk in chunks:
                    yield chunk
        except (Unavailable, ApiProblem):
            # Tell the page, then end: EventSource reconnects by itself after `retry`.
            yield b"retry: 5000\nevent: unavailable\ndata: {}\n\n"
        finally:
            STREAMS_OPEN.dec()

    return StreamingResponse(
        relay(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
