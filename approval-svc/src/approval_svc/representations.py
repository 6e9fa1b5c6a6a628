"""The contract's shapes of a project and a task (HTTP responses and event data alike)."""

from __future__ import annotations

from decimal import Decimal

from approval_svc.domain.project import Project
from approval_svc.domain.statemachine import TaskState
from shared.events import LandData, ProjectData, TaskData

# PostgreSQL hands NUMERIC back at the column's scale (six places) while SQLite keeps the text
# as sent: money is stated in fen everywhere so a response reads the same from either store.
FEN = Decimal("0.01")


def task_data(project_code: str, task: TaskState, *, credit_flag: str | None) -> TaskData:
    limits = task.limits
    assert limits is not None, "a stored task always has its time limits"
    return TaskData(
        task_id=task.task_id,
        project_code=project_code,
        department=task.department,
        matter_code=task.matter_code,
        matter_name=task.matter_name,
        status=task.status.value,
        assigned_at=limits.assigned_at,
        due_at=limits.due_at,
        promised_due_at=limits.promised_due_at,
        paused_days=limits.paused_days,
        decided_at=task.decided_at,
        decision=task.decision,
        opinion=task.opinion,
        missing_materials=list(task.missing_materials),
        document_number=task.document_number,
        deemed=task.deemed,
        day_kind=limits.day_kind,
        legal_limit_days=limits.legal_limit_days,
        promised_limit_days=limits.promised_limit_days,
        credit_flag=credit_flag,
    )


def project_data(project: Project) -> ProjectData:
    record, details = project.record, project.record.details
    return ProjectData(
        project_code=record.code,
        credit_code=record.credit_code,
        name=record.name,
        region_code=record.region_code,
        industry_code=record.industry_code,
        procedure=record.procedure,
        status=project.status.value,
        total_investment=record.total_investment.quantize(FEN),
        location=record.location,
        planned_start=record.planned_start,
        description=record.description,
        land=LandData.model_validate(details.get("land") or {}),
        eia_category=details.get("eia_category", "none"),
        annual_energy_tce=details.get("annual_energy_tce"),
        building_area_m2=details.get("building_area_m2"),
        water_withdrawal=details.get("water_withdrawal", False),
        uses_forest_land=details.get("uses_forest_land", False),
        near_cultural_relics=details.get("near_cultural_relics", False),
        hazardous_chemicals=details.get("hazardous_chemicals", False),
        in_flood_zone=details.get("in_flood_zone", False),
        foreign_investment=details.get("foreign_investment", False),
        contact_email=details.get("contact_email"),
        submitted_at=record.submitted_at,
        updated_at=project.updated_at,
        credit_flag=record.credit_flag,
        tasks=[task_data(record.code, t, credit_flag=record.credit_flag) for t in project.tasks],
    )
