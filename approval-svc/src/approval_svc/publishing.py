"""Which event goes to which topic, and what it carries: the one place that decides it.

* Every event goes to ``approval.projects``; its ``data`` is the project, except for task
  events (``approval.task.*``, ``approval.decision.recorded``), which carry the task.
* ``approval.task.assigned`` and ``approval.task.withdrawn`` also go to the department's own
  topic ``approval.tasks.<DEPT>`` (what a department system consumes).
* ``project.supplement_provided`` is about one task but is a project event; a department system
  reads only its own topic, so it is told that the task is pending again (same task id,
  deadlines moved by the pause) by an ``approval.task.assigned`` caused by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from approval_svc.domain.events import DomainEvent, TaskEvent
from approval_svc.domain.project import Project
from approval_svc.representations import project_data, task_data
from shared.events import (
    APPROVAL_SOURCE,
    PROJECT_EVENT_TYPES,
    CloudEvent,
    EventType,
    new_event,
)
from shared.logs import correlation_id
from shared.topics import APPROVAL_PROJECTS, tasks_topic

DEPARTMENT_TOPIC_EVENTS = frozenset({EventType.TASK_ASSIGNED, EventType.TASK_WITHDRAWN})


@dataclass(frozen=True, slots=True)
class Message:
    event: CloudEvent
    topic: str


@dataclass(frozen=True, slots=True)
class Published:
    """One domain event as the world sees it: its CloudEvent and every message it makes."""

    domain_event: DomainEvent
    cloud_event: CloudEvent
    messages: tuple[Message, ...]


def publish(
    project: Project,
    events: Sequence[DomainEvent],
    *,
    at: datetime,
    causation: CloudEvent | None = None,
) -> list[Published]:
    """The messages of ``events``, with ``project`` as it is after them."""
    project_json: dict[str, Any] | None = None
    published = []
    for event in events:
        task = project.task(event.task_id) if isinstance(event, TaskEvent) else None
        if task is not None and event.type not in PROJECT_EVENT_TYPES:
            data: dict[str, Any] = task_data(
                project.code, task, credit_flag=project.record.credit_flag
            ).model_dump(mode="json")
        else:
            if project_json is None:
                project_json = project_data(project).model_dump(mode="json")
            data = project_json
        cloud_event = new_event(
            type=event.type,
            source=APPROVAL_SOURCE,
            subject=project.code,
            data=data,
            time=at,
            cause=causation,
            correlationid=correlation_id.get(),
        )
        messages = [Message(cloud_event, APPROVAL_PROJECTS)]
        if task is not None and event.type in DEPARTMENT_TOPIC_EVENTS:
            messages.append(Message(cloud_event, tasks_topic(task.department)))
        elif task is not None and event.type is EventType.PROJECT_SUPPLEMENT_PROVIDED:
            reassigned = cloud_event.caused(
                type=EventType.TASK_ASSIGNED,
                source=APPROVAL_SOURCE,
                data=task_data(
                    project.code, task, credit_flag=project.record.credit_flag
                ).model_dump(mode="json"),
                time=at,
            )
            messages.append(Message(reassigned, tasks_topic(task.department)))
        published.append(Published(event, cloud_event, tuple(messages)))
    return published
