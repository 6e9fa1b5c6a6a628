"""Shared by the outbox tests: sample events, committing them, reading the outbox back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import col, select

from shared.db import OutboxMessage
from shared.events import CloudEvent, new_event
from shared.kafka import OutgoingMessage
from shared.outbox import UnitOfWork


def _events(n: int, keys: Sequence[str] = ("P-A", "P-B", "P-C")) -> list[CloudEvent]:
    return [
        new_event(
            type="project.submitted", source="/test", subject=keys[i % len(keys)], data={"n": i}
        )
        for i in range(n)
    ]


async def _emit(sessions, events: Sequence[CloudEvent], topic: str, **kw) -> None:
    async with UnitOfWork(sessions, **kw) as uow:
        for event in events:
            uow.emit(event, topic)
        await uow.commit()


async def _rows(sessions) -> list[OutboxMessage]:
    async with sessions() as session:
        return list(
            (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        )


def _service() -> str:
    return f"outbox-test-{uuid.uuid4().hex[:6]}"


class RecordingProducer:
    """Stands in for KafkaProducer where only the relay's choices matter."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    async def send_batch(self, messages: Sequence[OutgoingMessage]) -> None:
        self.sent.extend(messages)

    async def reset(self) -> None:
        pass

    async def stop(self) -> None:
        pass
