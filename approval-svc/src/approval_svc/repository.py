"""Persistence of the project aggregate: rows <-> domain state <-> contract representations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from approval_svc.domain.statemachine import ProjectState, TaskState
from approval_svc.models import CodeSequence, DocumentSequence, Project, Task
from shared.events import LandData, ProjectData, TaskData


@dataclass
class Aggregate:
    project: Project
    tasks: list[Task]

    def state(self) -> ProjectState:
        return ProjectState(
            code=self.project.project_code,
            status=self.project.status,  # type: ignore[arg-type]
            tasks=tuple(
                TaskState(
                    task_id=t.task_id,
                    department=t.department,
                    matter_code=t.matter_code,
                    status=t.status,  # type: ignore[arg-type]
                    consultative=t.consultative,
                    deemed=t.deemed,
                    missing_materials=tuple(t.missing_materials)
                    if t.status == "supplement_required"
                    else (),
                )
                for t in self.tasks
            ),
        )

    def task(self, task_id: str) -> Task:
        return next(t for t in self.tasks if t.task_id == task_id)


async def load_aggregate(session: AsyncSession, code: str, *, lock: bool) -> Aggregate | None:
    """The project and its tasks; `lock` takes the project row first so that every change to
    one project is serialised (and its outbox ids, hence its events, stay in order)."""
    query = select(Project).where(Project.project_code == code)
    if lock:
        query = query.with_for_update()
    project = (await session.exec(query)).first()
    if project is None:
        return None
    tasks = (
        await session.exec(
            select(Task).where(Task.project_code == code).order_by(col(Task.position))
        )
    ).all()
    return Aggregate(project, list(tasks))


async def project_code_of_task(session: AsyncSession, task_id: str) -> str | None:
    return (await session.exec(select(Task.project_code).where(Task.task_id == task_id))).first()


def _upsert(session: AsyncSession) -> Any:
    # Both dialects have INSERT .. ON CONFLICT DO UPDATE .. RETURNING.
    dialect = session.get_bind().dialect.name
    return pg_insert if dialect == "postgresql" else sqlite_insert


async def next_serial(session: AsyncSession, prefix: str) -> int:
    """Atomically take the next serial for a code prefix (one statement: upsert-returning).

    Two processes submitting at once queue on the row (PostgreSQL row lock, SQLite write
    lock), so a serial is never handed out twice, and never reused after a rollback commits
    nothing either (the row update rolls back with it).
    """
    insert = _upsert(session)
    stmt = (
        insert(CodeSequence)
        .values(prefix=prefix, last_serial=1)
        .on_conflict_do_update(
            index_elements=["prefix"],
            set_={"last_serial": CodeSequence.last_serial + 1},  # type: ignore[operator]
        )
        .returning(CodeSequence.last_serial)  # type: ignore[arg-type]
    )
    return int((await session.execute(stmt)).scalar_one())


async def next_document_number(session: AsyncSession, department: str, year: int) -> str:
    insert = _upsert(session)
    stmt = (
        insert(DocumentSequence)
        .values(department=department, year=year, last_serial=1)
        .on_conflict_do_update(
            index_elements=["department", "year"],
            set_={"last_serial": DocumentSequence.last_serial + 1},  # type: ignore[operator]
        )
        .returning(DocumentSequence.last_serial)  # type: ignore[arg-type]
    )
    serial = int((await session.execute(stmt)).scalar_one())
    return f"{department}-{year}-{serial:06d}"


def task_data(task: Task) -> TaskData:
    return TaskData(
        task_id=task.task_id,
        project_code=task.project_code,
        department=task.department,
        matter_code=task.matter_code,
        matter_name=task.matter_name,
        status=task.status,  # type: ignore[arg-type]
        assigned_at=task.assigned_at,
        due_at=task.due_at,
        promised_due_at=task.promised_due_at,
        paused_days=task.paused_days,
        decided_at=task.decided_at,
        decision=task.decision,  # type: ignore[arg-type]
        opinion=task.opinion,
        missing_materials=list(task.missing_materials),
        document_number=task.document_number,
        deemed=task.deemed,
        day_kind=task.day_kind,  # type: ignore[arg-type]
        legal_limit_days=task.legal_limit_days,
        promised_limit_days=task.promised_limit_days,
    )


def project_data(project: Project, tasks: list[Task]) -> ProjectData:
    details = project.details
    return ProjectData(
        project_code=project.project_code,
        credit_code=project.credit_code,
        name=project.name,
        region_code=project.region_code,
        industry_code=project.industry_code,
        procedure=project.procedure,  # type: ignore[arg-type]
        status=project.status,  # type: ignore[arg-type]
        total_investment=project.total_investment,
        location=project.location,
        planned_start=project.planned_start,
        description=project.description,
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
        submitted_at=project.submitted_at,
        updated_at=project.updated_at,
        tasks=[task_data(t) for t in tasks],
    )


def touch(project: Project, now: datetime) -> None:
    project.updated_at = now
