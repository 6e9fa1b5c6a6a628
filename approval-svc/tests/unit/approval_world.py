"""A service instance over the in-memory unit of work, and the submissions the handler tests make."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fakes import FakeUnitOfWork, Store

from approval_svc import handlers
from approval_svc.domain.catalogue import Catalogue, parse_catalogue
from approval_svc.domain.commands import Actor, DecideTask, IdempotencyKey, SubmitProject
from approval_svc.domain.facts import SubmissionFacts
from approval_svc.domain.workdays import WorkCalendar
from shared.clock import ManualClock

CREDIT = "91440300708461136T"
OTHER_CREDIT = "91110108551385082X"
ENTERPRISE = Actor("test-enterprise", "enterprise")
MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, an ordinary working Monday


def catalogue(*, consultative: bool = False) -> Catalogue:
    matter = {"legal_limit": 20, "promised_limit": 15, "day_kind": "working"}
    return parse_catalogue(
        {
            "version": 1,
            "departments": [
                {"code": c, "name": f"{c} name", "name_zh": c} for c in ("NDRC", "MEE", "MOHURD")
            ],
            "matters": [
                {"code": "NDRC-VERIFY", "department": "NDRC", "name": "Verify", "name_zh": "v"}
                | matter,
                {"code": "MEE-EIA-REPORT", "department": "MEE", "name": "EIA", "name_zh": "e",
                 "legal_limit": 60, "promised_limit": 30, "day_kind": "calendar"},
                {"code": "MOHURD-BUILD-PERMIT", "department": "MOHURD", "name": "Permit",
                 "name_zh": "p", "consultative": consultative} | matter,
            ],
            "routing": [
                {"id": "v", "when": [{"field": "procedure", "op": "eq", "value": "verification"}],
                 "matters": ["NDRC-VERIFY"]},
                {"id": "e", "when": [{"field": "eia_category", "op": "eq", "value": "report"}],
                 "matters": ["MEE-EIA-REPORT"]},
                {"id": "b", "when": [{"field": "building_area_m2", "op": "gt", "value": 0}],
                 "matters": ["MOHURD-BUILD-PERMIT"]},
            ],
        },
        source="test",
    )  # fmt: skip


def submission(*, procedure: str = "verification", eia: str = "report", building: int | None = 100,
               key: IdempotencyKey | None = None, credit: str = CREDIT) -> SubmitProject:  # fmt: skip
    facts = SubmissionFacts(
        procedure=procedure,  # type: ignore[arg-type]
        total_investment=Decimal("250000000.00"),
        eia_category=eia,  # type: ignore[arg-type]
        building_area_m2=Decimal(building) if building is not None else None,
    )
    return SubmitProject(
        credit_code=credit,
        name="Riverside logistics park",
        region_code="440300",
        industry_code="G5411",
        procedure=procedure,
        total_investment=Decimal("250000000.00"),
        location="Shenzhen",
        planned_start=None,
        description="",
        facts=facts,
        details={"eia_category": eia, "building_area_m2": building},
        actor=ENTERPRISE,
        idempotency=key,
    )


class World:
    """One service instance: its committed store, clock, catalogue and calendar."""

    def __init__(self, *, consultative: bool = False) -> None:
        self.store = Store()
        self.clock = ManualClock(MONDAY)
        self.catalogue = catalogue(consultative=consultative)
        self.calendar = WorkCalendar()
        self.last_uow: FakeUnitOfWork | None = None

    def uow(self) -> FakeUnitOfWork:
        self.last_uow = FakeUnitOfWork(self.store)
        return self.last_uow

    async def submit(self, command: SubmitProject | None = None) -> handlers.Submitted:
        return await handlers.submit_project(
            command=command or submission(),
            uow=self.uow(),
            catalogue=self.catalogue,
            calendar=self.calendar,
            clock=self.clock,
        )

    async def decide(self, task: dict[str, Any], decision: str, *, department: str | None = None,
                     missing: tuple[str, ...] = (), causation: Any = None) -> Any:  # fmt: skip
        dept = department or task["department"]
        return await handlers.decide_task(
            command=DecideTask(
                task_id=task["task_id"],
                department=dept,
                decision=decision,
                opinion=f"{dept} says {decision}",
                missing_materials=missing,
                actor=Actor(f"test-{dept}", "department"),
                causation=causation,
            ),
            uow=self.uow(),
            clock=self.clock,
        )

    def project(self, code: str) -> Any:
        return self.store.projects[code]

    def published(self, code: str) -> list[tuple[str, str]]:
        return [(m.topic, m.event.type) for m in self.store.published if m.event.subject == code]


def task_of(project: dict[str, Any], department: str) -> dict[str, Any]:
    return next(t for t in project["tasks"] if t["department"] == department)
