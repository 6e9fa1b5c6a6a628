"""TopicReader and produce_events against the real broker."""

from __future__ import annotations

import uuid

import pytest

from shared.broker import ensure_topics
from shared.events import new_event
from testkit import TopicReader, aproduce_events, produce_events

pytestmark = pytest.mark.integration


def test_reader_reads_from_the_beginning_and_skips_non_events(kafka_bootstrap: str) -> None:
    topic = f"testkit.{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, [topic], 2)
    events = [
        new_event(type="x.test", source="/test", subject=f"P-{i % 3}", data={"n": i})
        for i in range(5)
    ]
    produce_events(kafka_bootstrap, topic, [*events[:3], b"not an event", *events[3:]])

    with TopicReader(kafka_bootstrap, topic) as reader:
        odd = reader.collect(lambda e: e.data["n"] % 2 == 1, 2, timeout_s=20)
        everything = reader.read_until(lambda evs: len(evs) >= 5, timeout_s=20)
        records = reader.poll_records_until(lambda rs: len(rs) >= 6, timeout_s=1)

    assert sorted(e.data["n"] for e in odd) == [1, 3]
    assert {e.id for e in everything} == {e.id for e in events}
    keyed = {r.value: r.key for r in records}
    assert keyed[events[4].to_json()] == b"P-1"
    assert keyed[b"not an event"] is None


async def test_a_condition_never_met_fails_in_time(kafka_bootstrap: str) -> None:
    topic = f"testkit.{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, [topic], 1)
    event = new_event(type="x.test", source="/test", subject="P", data={})
    await aproduce_events(kafka_bootstrap, topic, [event], key="fixed")

    with TopicReader(kafka_bootstrap, topic) as reader:
        assert [e.id for e in await reader.acollect(lambda e: True, 1, timeout_s=20)] == [event.id]
        with pytest.raises(AssertionError, match="1 records read"):
            await reader.aread_until(lambda evs: len(evs) > 1, timeout_s=1)
        assert reader.records[0].key == b"fixed"
