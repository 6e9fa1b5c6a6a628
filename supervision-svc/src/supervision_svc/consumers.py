"""The faust agents of the supervision service: decode, dispatch on the event `type`, handle.

`approval-projection` reads `approval.projects`: a `project.*` event carries the project (with
its tasks), a task event (`approval.task.*`, `approval.decision.recorded`) the task. The batch,
its transaction and the dropping of redeliveries are `shared.consumer`'s; what cannot be
applied is rejected to the dead-letter topic with the reason. Before a batch is applied
together, its projects, their tasks and open alerts are read at once (`projection_cache`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from pydantic import ValidationError

from shared.clock import Clock
from shared.consumer import Handler, RejectEvent
from shared.events import (
    PROJECT_EVENT_TYPES,
    TASK_EVENT_TYPES,
    CloudEvent,
    ContractModel,
    ProjectData,
    TaskData,
)
from shared.outbox import UnitOfWork as OutboxUnitOfWork
from shared.runtime import ServiceRuntime
from shared.topics import APPROVAL_PROJECTS
from supervision_svc import handlers
from supervision_svc.domain.thresholds import DEFAULT_THRESHOLDS, Thresholds
from supervision_svc.metrics import PROJECTION_LAG
from supervision_svc.projection_cache import preload
from supervision_svc.scheduler import Wakeup
from supervision_svc.unit_of_work import SqlUnitOfWork, SupervisionUnitOfWork

PROJECTION_CONSUMER = "approval-projection"

M = TypeVar("M", bound=ContractModel)


def decode(event: CloudEvent, model: type[M], what: str) -> M:
    """The event's `data` as `model`, or a rejection naming what is wrong."""
    if not isinstance(event.data, dict):
        raise RejectEvent(f"{event.type} {event.id}: data must be a JSON object")
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        raise RejectEvent(f"{event.type} {event.id}: data is not a valid {what}: {exc}") from exc


def _version(event: CloudEvent) -> datetime:
    """What a row built from `event` is as new as: the event's time."""
    return event.time  # always aware (CloudEvent's validator makes it so)


def projection_handlers(
    clock: Clock,
    uow_of: Callable[[OutboxUnitOfWork], SupervisionUnitOfWork] = SqlUnitOfWork.joining,
    *,
    rules: Thresholds = DEFAULT_THRESHOLDS,
    wake: Callable[[], None] | None = None,
) -> dict[str, Handler]:
    """The handler of each event type of `approval.projects`, by type. `wake` is called once
    the batch has committed: new state may bring a timer forward."""

    def applied(event: CloudEvent, uow: SupervisionUnitOfWork) -> datetime:
        now = clock.now()
        PROJECTION_LAG.set(max(clock.real_seconds((now - event.time).total_seconds()), 0.0))
        if wake is not None:
            uow.after_commit(wake)
        return now

    async def on_project_event(event: CloudEvent, outbox: OutboxUnitOfWork) -> None:
        uow = uow_of(outbox)
        await handlers.project_changed(
            uow,
            project=decode(event, ProjectData, "project"),
            version=_version(event),
            now=applied(event, uow),
            rules=rules,
            cause=event,
        )

    async def on_task_event(event: CloudEvent, outbox: OutboxUnitOfWork) -> None:
        uow = uow_of(outbox)
        await handlers.task_changed(
            uow,
            task=decode(event, TaskData, "task"),
            version=_version(event),
            now=applied(event, uow),
            rules=rules,
            cause=event,
        )

    by_type: dict[str, Handler] = {}
    by_type.update(dict.fromkeys(PROJECT_EVENT_TYPES, on_project_event))
    by_type.update(dict.fromkeys(TASK_EVENT_TYPES, on_task_event))
    return by_type


async def preload_projection(events: Sequence[CloudEvent], batch: OutboxUnitOfWork) -> None:
    """Before a batch: its projects, their tasks and open alerts, read at once (a malformed
    event is left to its handler, which rejects it)."""
    codes: set[str] = set()
    task_ids: set[str] = set()
    for event in events:
        data = event.data
        if not isinstance(data, dict) or not isinstance(code := data.get("project_code"), str):
            continue
        codes.add(code)
        tasks = data.get("tasks") if event.type in PROJECT_EVENT_TYPES else [data]
        for task in tasks if isinstance(tasks, list) else ():
            if isinstance(task, dict) and isinstance(task_id := task.get("task_id"), str):
                task_ids.add(task_id)
                if isinstance(owner := task.get("project_code"), str):
                    codes.add(owner)  # the project a task names, read with its tasks
    await preload(batch, project_codes=codes, task_ids=task_ids)


def register_consumers(runtime: ServiceRuntime, *, rules: Thresholds, wakeup: Wakeup) -> None:
    runtime.consume(
        PROJECTION_CONSUMER,
        topics=[APPROVAL_PROJECTS],
        handlers=projection_handlers(runtime.clock, rules=rules, wake=wakeup.wake),
        prepare=preload_projection,
    )
