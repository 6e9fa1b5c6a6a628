"""Posted forms -> the services' request bodies (pure; the services validate the values and
their problem+json errors are shown next to these same field names)."""

from __future__ import annotations

from typing import Any

PROJECT_TEXT_FIELDS = (
    "name",
    "region_code",
    "industry_code",
    "procedure",
    "total_investment",
    "location",
    "planned_start",
    "description",
)
PROJECT_FLAGS = (
    "water_withdrawal",
    "uses_forest_land",
    "near_cultural_relics",
    "hazardous_chemicals",
    "in_flood_zone",
    "foreign_investment",
)
CHECKED = ("true", "on", "1", "yes")


def lines(text: str) -> list[str]:
    """One item per non-empty line."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def project_body(form: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {name: form.get(name, "").strip() for name in PROJECT_TEXT_FIELDS}
    land: dict[str, Any] = {"needs_new_land": form.get("land_needs_new_land") in CHECKED}
    if form.get("land_area_m2", "").strip():
        land["area_m2"] = form["land_area_m2"].strip()
    body["land"] = land
    body["eia_category"] = form.get("eia_category") or "none"
    for name in ("annual_energy_tce", "building_area_m2"):
        if form.get(name, "").strip():
            body[name] = form[name].strip()
    for name in PROJECT_FLAGS:
        body[name] = form.get(name) in CHECKED
    if form.get("contact_email", "").strip():
        body["contact_email"] = form["contact_email"].strip()
    return body


def report_body(form: dict[str, str]) -> dict[str, Any]:
    kind = form.get("kind", "").strip()
    body: dict[str, Any] = {
        "kind": kind,
        "report_date": form.get("report_date", "").strip(),
        "progress_percent": form.get("progress_percent", "").strip(),
        "invested_to_date": form.get("invested_to_date", "").strip(),
        "note": form.get("note", "").strip(),
    }
    if kind == "start" and form.get("planned_completion", "").strip():
        body["planned_completion"] = form["planned_completion"].strip()
    return body


def decision_body(form: dict[str, str]) -> dict[str, Any]:
    decision = form.get("decision", "")
    body: dict[str, Any] = {"decision": decision, "opinion": form.get("opinion", "").strip()}
    missing = lines(form.get("missing_materials", ""))
    if decision == "supplement_required" or missing:
        body["missing_materials"] = missing
    return body


def local_errors(required: dict[str, str], form: dict[str, str]) -> dict[str, str]:
    """Errors the portal can tell before calling (empty required choices)."""
    return {name: msg for name, msg in required.items() if not form.get(name, "").strip()}
