"""Pure parts: catalogues, due-date levels, routing hints, form bodies, problem parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from portal_svc import formatting, forms, routing_hints
from portal_svc.clients import Problem
from portal_svc.i18n import LOCALE_DIR, Catalogues
from portal_svc.views.console import consumer_gauges, events_consumed
from portal_svc.views.public import qr_svg

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_chinese_is_the_default_and_english_is_there() -> None:
    catalogues = Catalogues.load()
    assert catalogues.pick(None) == "zh_CN"
    assert catalogues.gettext("zh_CN")("Sign in") == "登录"
    assert catalogues.gettext("en")("Sign in") == "Sign in"
    assert catalogues.gettext("en")("in_review") == "in review"
    assert catalogues.pick("fr") == "zh_CN"


def test_every_chinese_message_is_translated() -> None:
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po)
    missing = [m.id for m in catalogue if m.id and not m.string]
    assert not missing


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        ("2026-06-01T11:00:00+00:00", "red"),  # past due
        ("2026-06-02T00:00:00+00:00", "yellow"),  # 31 of 32 days used: over 90 %
        ("2026-07-01T00:00:00+00:00", "normal"),
    ],
)
def test_due_levels(due: str, expected: str) -> None:
    task = {"status": "pending", "assigned_at": "2026-05-01T00:00:00+00:00", "due_at": due}
    assert formatting.due_level(task, NOW) == expected


def test_decided_tasks_are_not_timed_and_on_time_rate_counts_decisions() -> None:
    late = {
        "status": "approved",
        "due_at": "2026-05-01T00:00:00+00:00",
        "decided_at": "2026-05-02T00:00:00+00:00",
    }
    early = {
        "status": "rejected",
        "due_at": "2026-05-03T00:00:00+00:00",
        "decided_at": "2026-05-02T00:00:00+00:00",
    }
    assert formatting.due_level(late, NOW) == "normal"
    assert formatting.on_time_rate([late, early]) == 0.5
    assert formatting.on_time_rate([]) is None
    assert formatting.percent(0.5) == "50%"
    assert formatting.percent(None) == "—"


def test_routing_hints_follow_the_answers() -> None:
    values = {"procedure": "verification", "land_needs_new_land": "true", "land_area_m2": "6000"}
    assert routing_hints.matters_for(values) == [
        "NDRC-VERIFY",
        "MNR-LAND-PRE",
        "MNR-LAND-PLAN",
        "MWR-SOIL",
    ]
    assert routing_hints.matters_for({"procedure": "filing", "building_area_m2": "0"}) == []


def test_project_body_from_the_form() -> None:
    body = forms.project_body(
        {
            "name": " Plant ",
            "land_needs_new_land": "true",
            "land_area_m2": "12",
            "water_withdrawal": "true",
        }
    )
    assert body["name"] == "Plant"
    assert body["land"] == {"needs_new_land": True, "area_m2": "12"}
    assert body["water_withdrawal"] is True
    assert body["in_flood_zone"] is False
    assert body["eia_category"] == "none"
    assert "annual_energy_tce" not in body
    assert "contact_email" not in body


def test_decision_and_report_bodies() -> None:
    assert forms.decision_body(
        {"decision": "supplement_required", "opinion": "", "missing_materials": "a\n\n b \n"}
    ) == {"decision": "supplement_required", "opinion": "", "missing_materials": ["a", "b"]}
    assert "missing_materials" not in forms.decision_body({"decision": "approved"})
    report = forms.report_body({"kind": "progress", "planned_completion": "2027-01-01"})
    assert "planned_completion" not in report  # only a start report carries it


def test_problem_fields_map_to_form_names() -> None:
    response = httpx.Response(
        422,
        json={
            "title": "Validation Error",
            "detail": "x",
            "errors": [{"loc": ["body", "land", "area_m2"], "msg": "bad"}],
        },
    )
    problem = Problem.from_response(response)
    assert problem.status == 422
    assert [e.field for e in problem.errors] == ["land_area_m2"]
    assert Problem.from_response(httpx.Response(502, text="<html>")).errors == ()


def test_console_reads_lag_and_backlog_from_metrics() -> None:
    text = (
        "# TYPE consumer_lag gauge\n"
        'consumer_lag{group="notify-svc",topic="approval.projects"} 7.0\n'
        "# TYPE events_consumed_total counter\n"
        'events_consumed_total{service="notify",type="x",outcome="processed"} 5.0\n'
        "# TYPE http_requests_total counter\n"
        'http_requests_total{service="notify",method="GET",route="/",status="200"} 1.0\n'
    )
    rows = consumer_gauges(text)
    assert [(r["metric"], r["group"], r["value"]) for r in rows] == [
        ("consumer_lag", "notify-svc", 7.0)
    ]
    assert events_consumed(text) == 5.0


def test_qr_code_is_an_inline_svg_naming_the_url() -> None:
    svg = qr_svg("http://portal.example/public/projects/X")
    assert svg.startswith("<svg")
    assert "http://portal.example/public/projects/X" in svg
