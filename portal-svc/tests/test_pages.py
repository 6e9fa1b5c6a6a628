"""Pages over faked services: sign-in, CSRF, field errors, degraded panels, the form stash."""

from __future__ import annotations

import json
import re

import httpx

from portal_svc.clients import Caller

from conftest import FakeServices, csrf_of, problem, sign_in

CODE = "2606-110105-02-01-00001X"
PROJECT = {
    "project_code": CODE,
    "name": "Riverside plant",
    "status": "in_review",
    "procedure": "verification",
    "tasks": [
        {
            "task_id": "t-1",
            "project_code": CODE,
            "department": "MEE",
            "matter_code": "MEE-EIA-TABLE",
            "matter_name": "EIA report table approval",
            "status": "supplement_required",
            "missing_materials": ["Noise study", "Site photos"],
            "assigned_at": "2026-05-20T09:00:00+08:00",
            "due_at": "2026-06-20T09:00:00+08:00",
        }
    ],
    "submitted_at": "2026-05-20T09:00:00+08:00",
}
VALID_FORM = {
    "name": "Riverside plant",
    "procedure": "verification",
    "region_code": "110105",
    "industry_code": "C3011",
    "total_investment": "1000000",
    "location": "Beijing",
    "planned_start": "2026-09-01",
    "eia_category": "table",
}


def test_sign_in_sets_a_signed_httponly_samesite_cookie(client, fake: FakeServices) -> None:
    cookie = sign_in(client).headers["set-cookie"].lower()
    assert cookie.startswith("portal_session=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    page = client.get("/enterprise")
    assert page.status_code == 200
    # The services get the user's own token and a correlation id.
    sent = fake.sent("GET", "/api/v1/projects")[-1]
    assert sent.headers["authorization"].startswith("Bearer ey")
    assert sent.headers["x-correlation-id"]


def test_a_tampered_cookie_is_not_a_session(client) -> None:
    sign_in(client)
    value = client.cookies.get("portal_session")
    client.cookies.set("portal_session", value[:-3] + "abc")
    assert client.get("/enterprise", follow_redirects=False).status_code == 303


def test_sign_in_with_a_bad_credit_code_names_the_field(client) -> None:
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={"csrf_token": csrf_of(page.text), "role": "enterprise", "credit_code": "123"},
    )
    assert response.status_code == 422
    assert 'id="credit_code-error"' in response.text
    assert 'href="#credit_code"' in response.text  # the error summary links to the field


def test_a_form_without_the_csrf_token_changes_nothing(client, fake: FakeServices) -> None:
    sign_in(client)
    response = client.post("/enterprise/projects/new", data=VALID_FORM)
    assert response.status_code == 400
    assert not fake.sent("POST", "/api/v1/projects")


def test_service_field_errors_are_shown_next_to_their_fields(client, fake: FakeServices) -> None:
    fake.on(
        "POST",
        r".*:8001/api/v1/projects",
        lambda _r: problem(
            422,
            "body.region_code: String should match pattern",
            [{"loc": ["body", "region_code"], "msg": "String should match pattern '^\\d{6}$'"}],
        ),
    )
    sign_in(client)
    page = client.get("/enterprise/projects/new")
    form = {**VALID_FORM, "region_code": "11", "csrf_token": csrf_of(page.text)}
    response = client.post("/enterprise/projects/new", data=form)
    assert response.status_code == 422
    assert 'id="region_code-error"' in response.text
    assert 'href="#region_code"' in response.text
    assert 'value="11"' in response.text  # what was typed is kept
    body = json.loads(fake.sent("POST", "/api/v1/projects")[-1].content)
    assert body["region_code"] == "11"
    assert body["land"] == {"needs_new_land": False}


def test_a_submission_goes_to_the_confirmation_page(client, fake: FakeServices) -> None:
    fake.on("POST", r".*:8001/api/v1/projects", PROJECT, status=201)
    fake.on("GET", rf".*:8001/api/v1/projects/{CODE}", PROJECT)
    sign_in(client)
    page = client.get("/enterprise/projects/new")
    form = {**VALID_FORM, "csrf_token": csrf_of(page.text)}
    response = client.post("/enterprise/projects/new", data=form, follow_redirects=True)
    assert response.status_code == 200
    assert f"data-project-code>{CODE}<" in response.text
    sent = fake.sent("POST", "/api/v1/projects")[-1]
    assert sent.headers["idempotency-key"]  # a double submit does not create two projects


def test_project_page_degrades_when_supervision_is_missing(client, fake: FakeServices) -> None:
    fake.on("GET", rf".*:8001/api/v1/projects/{CODE}", PROJECT)
    fake.on("GET", rf".*:8001/api/v1/projects/{CODE}/timeline", {"items": [], "next_cursor": None})
    fake.on("GET", r".*:8002/.*", lambda _r: httpx.Response(503))
    sign_in(client)
    response = client.get(f"/enterprise/projects/{CODE}")
    assert response.status_code == 200
    assert "unavailable" in response.text
    assert "supervision-svc" in response.text
    # The supplement notice lists every missing material, with the form to answer it.
    assert "Noise study" in response.text
    assert "Site photos" in response.text
    assert 'name="materials_t-1"' in response.text


def test_a_whole_page_whose_service_is_down_is_503_not_500(client, fake: FakeServices) -> None:
    fake.on("GET", r".*:8001/api/v1/projects", lambda _r: httpx.Response(502))
    sign_in(client)
    response = client.get("/enterprise")
    assert response.status_code == 503
    assert "approval-svc" in response.text


def test_an_expired_session_keeps_the_half_filled_form(client, fake: FakeServices) -> None:
    sign_in(client)
    page = client.get("/enterprise/projects/new")
    csrf = csrf_of(page.text)
    client.cookies.clear()  # the session cookie has expired
    form = {**VALID_FORM, "name": "Half-filled plant", "csrf_token": csrf}
    response = client.post("/enterprise/projects/new", data=form)
    assert response.status_code == 401
    assert not fake.sent("POST", "/api/v1/projects")
    stash = re.search(r'name="stash" value="([^"]+)"', response.text)
    assert stash
    assert "Half-filled plant" in stash.group(1).replace("&#34;", '"')
    again = client.post(
        "/sign-in",
        data={
            "csrf_token": csrf_of(response.text),
            "role": "enterprise",
            "credit_code": "91440300708461136T",
            "next": "/enterprise/projects/new",
            "stash": stash.group(1).replace("&#34;", '"'),
        },
        follow_redirects=True,
    )
    assert again.status_code == 200
    assert 'value="Half-filled plant"' in again.text


def test_department_queue_is_sorted_by_due_date_with_levels(client, fake: FakeServices) -> None:
    def task(task_id: str, assigned: str, due: str, status: str = "pending") -> dict:
        return {
            "task_id": task_id,
            "project_code": CODE,
            "department": "MEE",
            "matter_name": f"matter {task_id}",
            "status": status,
            "assigned_at": assigned,
            "due_at": due,
            "credit_flag": "abnormal" if task_id == "late" else None,
        }

    tasks = [
        task("calm", "2026-05-31T00:00:00+00:00", "2026-07-01T00:00:00+00:00"),
        task("late", "2026-05-01T00:00:00+00:00", "2026-05-30T00:00:00+00:00"),
        task("soon", "2026-05-01T00:00:00+00:00", "2026-06-02T00:00:00+00:00"),
    ]
    fake.on("GET", r".*:8001/api/v1/departments/MEE/tasks", {"items": tasks, "next_cursor": None})
    sign_in(client, "department")
    client.get("/language/en")
    html = client.get("/department").text
    order = [m for m in re.findall(r'id="card-(\w+)"', html)]
    assert order == ["late", "soon", "calm"]
    assert 'class="card card--red"' in html
    assert 'class="card card--yellow"' in html
    assert "Credit: abnormal" in html


def test_public_project_page_has_a_qr_code_of_its_url(client, fake: FakeServices) -> None:
    result = {
        "project_name": "Riverside plant",
        "project_code": CODE,
        "department": "MEE",
        "issuing_department": "Ministry of Ecology and Environment",
        "matter_code": "MEE-EIA-TABLE",
        "matter": "EIA",
        "decision": "approved",
        "decided_date": "2026-06-01",
        "document_number": "MEE-2026-1",
    }
    fake.on("GET", r".*:8001/api/v1/public/results", {"items": [result], "next_cursor": None})
    response = client.get(f"/public/projects/{CODE}")
    assert response.status_code == 200
    assert "<svg" in response.text
    assert f"/public/projects/{CODE}" in response.text
    assert "MEE-2026-1" in response.text
    sent = fake.sent("GET", "/api/v1/public/results")[-1]
    assert "authorization" not in sent.headers
    assert sent.url.params["project_code"] == CODE


def test_public_search_by_name_filters_locally(client, fake: FakeServices) -> None:
    items = [
        {
            "project_name": "Riverside plant",
            "project_code": CODE,
            "department": "MEE",
            "decision": "approved",
        },
        {
            "project_name": "Hill road",
            "project_code": CODE,
            "department": "MOT",
            "decision": "approved",
        },
    ]
    fake.on("GET", r".*:8001/api/v1/public/results", {"items": items, "next_cursor": None})
    html = client.get("/public", params={"q": "river"}).text
    assert "Riverside plant" in html
    assert "Hill road" not in html


def test_console_falls_back_to_approval_counts(client, fake: FakeServices) -> None:
    fake.on("GET", r".*:8001/api/v1/projects", {"items": [PROJECT, PROJECT], "next_cursor": None})
    fake.on(
        "GET",
        r".*:8003/metrics",
        lambda _r: httpx.Response(
            200, text='# TYPE outbox_backlog gauge\noutbox_backlog{service="notify"} 3.0\n'
        ),
    )
    sign_in(client, "ops")
    response = client.get("/console")
    assert response.status_code == 200
    assert re.search(r'data-status="in_review".*?data-count>2<', response.text, re.S)
    assert "outbox_backlog" in response.text


def test_pages_are_chinese_first_with_an_english_switch(client) -> None:
    assert "登录" in client.get("/sign-in").text
    client.get("/language/en")
    html = client.get("/sign-in").text
    assert '<html lang="en">' in html
    assert "Sign in" in html
    assert "登录" not in html


def test_the_wrong_role_gets_a_clear_403(client) -> None:
    sign_in(client)
    assert client.get("/console").status_code == 403


def test_caller_headers_carry_the_token() -> None:
    assert Caller("abc").headers()["Authorization"] == "Bearer abc"
    assert "Authorization" not in Caller().headers()
