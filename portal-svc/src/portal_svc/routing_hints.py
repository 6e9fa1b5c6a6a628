"""Which answers on the submission form bring which department matters, for the live hint
beside the form. Guidance only: approval-svc routes with its own catalogue (this mirrors its
published routing rules); the project page shows the tasks it actually assigned.
"""

from __future__ import annotations

from typing import Any

# (form field, operator, value) conditions, all must hold -> matter codes.
RULES: list[dict[str, Any]] = [
    {"when": [["procedure", "eq", "approval"]], "matters": ["NDRC-APPROVE"]},
    {"when": [["procedure", "eq", "verification"]], "matters": ["NDRC-VERIFY"]},
    {"when": [["annual_energy_tce", "ge", 1000]], "matters": ["NDRC-ENERGY"]},
    {"when": [["land_needs_new_land", "true", None]], "matters": ["MNR-LAND-PRE", "MNR-LAND-PLAN"]},
    {
        "when": [["land_needs_new_land", "true", None], ["land_area_m2", "ge", 5000]],
        "matters": ["MWR-SOIL"],
    },
    {"when": [["eia_category", "eq", "report"]], "matters": ["MEE-EIA-REPORT"]},
    {"when": [["eia_category", "eq", "table"]], "matters": ["MEE-EIA-TABLE"]},
    {"when": [["building_area_m2", "gt", 0]], "matters": ["MOHURD-BUILD-PERMIT"]},
    {"when": [["building_area_m2", "ge", 20000]], "matters": ["MOHURD-FIRE"]},
    {"when": [["water_withdrawal", "true", None]], "matters": ["MWR-WATER-PERMIT"]},
    {"when": [["in_flood_zone", "true", None]], "matters": ["MWR-FLOOD"]},
    {"when": [["hazardous_chemicals", "true", None]], "matters": ["MEM-HAZCHEM", "CMA-LIGHTNING"]},
    {"when": [["near_cultural_relics", "true", None]], "matters": ["NCHA-RELICS"]},
    {"when": [["uses_forest_land", "true", None]], "matters": ["NFGA-FOREST"]},
    {"when": [["total_investment", "ge", 1_000_000_000]], "matters": ["CEA-SEISMIC"]},
]


def _holds(values: dict[str, str], field: str, op: str, expected: Any) -> bool:
    raw = values.get(field, "")
    if op == "true":
        return raw in ("true", "on", "1")
    if op == "eq":
        return bool(raw == expected)
    try:
        number = float(raw)
    except ValueError:
        return False
    limit = float(expected)
    return number >= limit if op == "ge" else number > limit


def matters_for(values: dict[str, str]) -> list[str]:
    """The matter codes the answers so far would bring (the same logic the page's script runs)."""
    found: list[str] = []
    for rule in RULES:
        if all(_holds(values, f, op, v) for f, op, v in rule["when"]):
            found.extend(m for m in rule["matters"] if m not in found)
    return found
