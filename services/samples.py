"""Realistic sample submissions, and `python -m services submit-samples` that posts them.

Each sample is a body of ``POST /api/v1/projects`` for one of a few typical project profiles,
so the departments a project needs vary the way they do on the real platform: a plain filing
(filed at once), a verified industrial plant (NDRC + MEE + MOHURD), a government-invested
project needing land (NDRC, MNR, MWR, MEE, MOHURD), a chemical plant (MEM, CMA, MEE, MWR)...
Credit codes carry a correct GB 32100 check character, regions are real GB/T 2260 divisions.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from types import FrameType
from typing import Any

import httpx

from approval_svc.settings import ApprovalSettings
from services.tokens import TokenError, make_token
from shared.settings import build_settings

# Valid unified social credit codes (check character computed with stdnum.cn.uscc).
CREDIT_CODES: tuple[str, ...] = (
    "91440300708461136T", "9111010581728056JH", "9144030031661013CW", "9131011516090881QA",
    "9151010733036758X3", "9133010609183313KX", "9142010601285197Q8", "9132050647925878R7",
    "9137020276196905UD", "91610113935388945H", "9150011245451824HR", "9144030049205989HX",
)  # fmt: skip

# GB/T 2260 region code -> place name used in locations.
REGIONS: dict[str, str] = {
    "110105": "Chaoyang District, Beijing", "440300": "Shenzhen, Guangdong",
    "310115": "Pudong New Area, Shanghai", "510107": "Wuhou District, Chengdu",
    "330106": "Xihu District, Hangzhou", "420106": "Wuchang District, Wuhan",
    "320506": "Wuzhong District, Suzhou", "370202": "Shinan District, Qingdao",
    "610113": "Yanta District, Xi'an", "500112": "Yubei District, Chongqing",
}  # fmt: skip


def _money(rng: random.Random, low: int, high: int) -> str:
    """Yuan, as a decimal string (never a float), rounded to ten thousand yuan."""
    return str(Decimal(rng.randint(low // 10_000, high // 10_000) * 10_000))


def _base(rng: random.Random, name: str, industry: str, procedure: str) -> dict[str, Any]:
    region = rng.choice(list(REGIONS))
    return {
        "name": name,
        "region_code": region,
        "industry_code": industry,
        "procedure": procedure,
        "location": f"{REGIONS[region]}, plot {rng.randint(1, 400)}",
        "planned_start": (date.today() + timedelta(days=rng.randint(30, 240))).isoformat(),
        "description": f"{name}: construction of the main works and supporting facilities.",
    }


def filing_office(rng: random.Random) -> dict[str, Any]:
    """Filing with no triggered matter: filed at once."""
    body = _base(rng, "Software R&D centre fit-out", "I6510", "filing")
    body["total_investment"] = _money(rng, 2_000_000, 50_000_000)
    body["eia_category"] = rng.choice(["registration", "none"])
    return body


def verified_plant(rng: random.Random) -> dict[str, Any]:
    """Verification + EIA report + buildings below 20000 m2: NDRC, MEE, MOHURD (3 tasks)."""
    body = _base(rng, "New energy vehicle battery plant", "C3841", "verification")
    body.update(
        total_investment=_money(rng, 200_000_000, 900_000_000),
        land={"needs_new_land": False},
        eia_category="report",
        building_area_m2=str(rng.randint(2_000, 19_000)),
    )
    return body


def government_hospital(rng: random.Random) -> dict[str, Any]:
    """Government investment on new land: NDRC, MNR x2, MWR, MEE, MOHURD x2."""
    body = _base(rng, "District people's hospital relocation", "Q8411", "approval")
    body.update(
        total_investment=_money(rng, 300_000_000, 1_500_000_000),
        land={"needs_new_land": True, "area_m2": str(rng.randint(20_000, 80_000))},
        eia_category="table",
        building_area_m2=str(rng.randint(40_000, 120_000)),
    )
    return body


def chemical_plant(rng: random.Random) -> dict[str, Any]:
    """Filing, hazardous chemicals, water withdrawal: MEM, CMA, MEE, MWR."""
    body = _base(rng, "Fine chemicals production line", "C2614", "filing")
    body.update(
        total_investment=_money(rng, 80_000_000, 600_000_000),
        eia_category="table",
        hazardous_chemicals=True,
        water_withdrawal=True,
        annual_energy_tce=str(rng.randint(500, 3_000)),
    )
    return body


def riverside_park(rng: random.Random) -> dict[str, Any]:
    """Filing in a flood zone near relics, using forest land: MWR, NCHA, NFGA, MOHURD."""
    body = _base(rng, "Riverside cultural tourism park", "N7850", "filing")
    body.update(
        total_investment=_money(rng, 50_000_000, 400_000_000),
        in_flood_zone=True,
        near_cultural_relics=True,
        uses_forest_land=rng.random() < 0.5,
        building_area_m2=str(rng.randint(3_000, 15_000)),
    )
    return body


def power_station(rng: random.Random) -> dict[str, Any]:
    """Verification of a large power station: NDRC x2, MNR x2, MWR, MEE, CEA."""
    body = _base(rng, "Gas-fired combined heat and power station", "D4411", "verification")
    body.update(
        total_investment=_money(rng, 1_000_000_000, 4_000_000_000),
        land={"needs_new_land": True, "area_m2": str(rng.randint(60_000, 200_000))},
        eia_category="report",
        annual_energy_tce=str(rng.randint(50_000, 300_000)),
        foreign_investment=rng.random() < 0.3,
    )
    return body


Profile = Callable[[random.Random], dict[str, Any]]
PROFILES: tuple[tuple[Profile, float], ...] = (
    (filing_office, 0.20), (verified_plant, 0.35), (government_hospital, 0.10),
    (chemical_plant, 0.15), (riverside_park, 0.12), (power_station, 0.08),
)  # fmt: skip


def sample_project(rng: random.Random) -> dict[str, Any]:
    """A sample submission body, profile drawn with realistic weights."""
    profiles, weights = zip(*PROFILES, strict=True)
    profile: Profile = rng.choices(profiles, weights=weights)[0]
    return profile(rng)


def three_department_project(rng: random.Random) -> dict[str, Any]:
    """The benchmark's project: exactly NDRC, MEE and MOHURD tasks."""
    return verified_plant(rng)


# --- `python -m services submit-samples` ----------------------------------------------------


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=0.5, help="submissions per second (0.5)")
    parser.add_argument("--count", type=int, default=0, help="stop after this many (0: never)")
    parser.add_argument("--seed", type=int, help="random seed, for a repeatable run")
    parser.add_argument("--approval-url", help="approval-svc base URL (default from APPROVAL_*)")
    parser.set_defaults(func=main)


def _approval_url(explicit: str | None) -> str:
    if explicit:
        return explicit.rstrip("/")
    settings = build_settings(ApprovalSettings)
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}"


def main(args: argparse.Namespace) -> int:
    if args.rate <= 0:
        print("error: --rate must be positive", flush=True)
        return 2
    try:
        secret = os.environ.get("PLATFORM_JWT_SECRET") or ""
        tokens = {c: make_token(secret, "enterprise", credit_code=c) for c in CREDIT_CODES}
    except TokenError as exc:
        print(f"error: {exc}", flush=True)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    rng = random.Random(args.seed)
    url = _approval_url(args.approval_url)
    print(f"submitting sample projects to {url} at {args.rate:g}/s", flush=True)
    sent = failed = 0
    next_at = time.monotonic()
    with httpx.Client(base_url=url, timeout=10.0, trust_env=False) as client:
        while not stop.is_set() and (args.count <= 0 or sent + failed < args.count):
            credit_code = rng.choice(CREDIT_CODES)
            body = sample_project(rng)
            headers = {
                "Authorization": f"Bearer {tokens[credit_code]}",
                "Idempotency-Key": str(uuid.uuid4()),
            }
            try:
                response = client.post("/api/v1/projects", json=body, headers=headers)
            except httpx.HTTPError as exc:
                failed += 1
                print(f"submission failed: {type(exc).__name__}: {exc}", flush=True)
            else:
                if response.status_code == 201:
                    sent += 1
                    project = response.json()
                    depts = ",".join(sorted({t["department"] for t in project["tasks"]})) or "-"
                    print(
                        f"submitted {project['project_code']} {project['status']:<9} "
                        f"{body['name']} -> {depts}",
                        flush=True,
                    )
                else:
                    failed += 1
                    print(f"refused: HTTP {response.status_code} {response.text[:300]}", flush=True)
            next_at += 1 / args.rate
            stop.wait(max(0.0, next_at - time.monotonic()))
    print(f"sample submissions stopped: {sent} submitted, {failed} failed", flush=True)
    return 0
