"""The stream reader stores a batch only while its topics are those it started on: read
again at most every EPOCH_CHECK_S, waited for while they cannot be read, and a new id (a new
broker) raises, so the batch is not stored and the reader starts again."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from notify_svc.adapters.stream_feed import EPOCH_CHECK_S, StreamFeed, TopicsRecreated


class Ids:
    """Answers from a script: a dict of ids, or an exception (the broker away)."""

    def __init__(self, *answers: dict[str, str | None] | Exception) -> None:
        self.answers = list(answers)
        self.reads = 0

    async def get(self, topics: Iterable[str]) -> dict[str, str | None]:
        self.reads += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _feed(ids: Ids, clock: Clock) -> StreamFeed:
    feed = StreamFeed(
        bootstrap="unused:9092",
        topics=["a", "b"],
        streamed_types=(),
        uow_factory=lambda: None,  # type: ignore[arg-type,return-value]
        sessions=lambda: None,  # type: ignore[arg-type,return-value]
        on_stored=lambda: None,
        topic_ids=ids,
        clock=clock,
    )
    feed._ids = {"a": "id-a", "b": "id-b"}
    feed._ids_confirmed_at = clock.now
    return feed


async def test_the_ids_are_read_again_at_most_every_check_interval() -> None:
    ids, clock = Ids({"a": "id-a", "b": "id-b"}), Clock()
    feed = _feed(ids, clock)

    clock.now += EPOCH_CHECK_S / 2
    await feed.confirm_topics()
    assert ids.reads == 0
    clock.now += EPOCH_CHECK_S
    await feed.confirm_topics()
    assert ids.reads == 1
    await feed.confirm_topics()  # just confirmed
    assert ids.reads == 1


@pytest.mark.parametrize(
    "now",
    [{"a": "id-a", "b": "id-b-of-a-new-broker"}, {"a": "id-a", "b": None}],
    ids=["a new id", "a topic not there (yet)"],
)
async def test_a_topic_created_anew_raises_so_the_batch_is_not_stored(
    now: dict[str, str | None],
) -> None:
    clock = Clock()
    feed = _feed(Ids(now), clock)
    clock.now += EPOCH_CHECK_S
    with pytest.raises(TopicsRecreated):
        await feed.confirm_topics()


async def test_while_the_ids_cannot_be_read_the_batch_waits() -> None:
    ids, clock = Ids(OSError("broker away"), {"a": "id-a", "b": "id-b"}), Clock()
    feed = _feed(ids, clock)
    clock.now += EPOCH_CHECK_S
    await feed.confirm_topics()  # one failed read, a second's wait, then the same ids
    assert ids.reads == 2
