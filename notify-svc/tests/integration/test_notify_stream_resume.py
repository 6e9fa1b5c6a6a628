"""The resumable stream: Last-Event-ID replays what was missed, then live, with no gap and no
repeat; and two notify replicas in one consumer group each stream every event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from notify_helpers import MIGRATIONS, Notify, credit_code, event, ops, project, project_code
from notify_streams import Stream, open_stream, serving

from shared.events import CloudEvent, EventType
from shared.migrations import upgrade
from shared.topics import APPROVAL_PROJECTS
from testkit import auth_headers, eventually, unique_group

pytestmark = pytest.mark.integration

TIMEOUT = httpx.Timeout(5.0, read=None)


def approved(code: str, credit: str) -> CloudEvent:
    return event(EventType.PROJECT_APPROVED, code, project(code, credit))


async def test_a_resumed_stream_has_no_gap_and_no_repeat(notify: Notify, region_code: str) -> None:
    credit = credit_code()
    me = auth_headers("enterprise", credit_code=credit)
    codes = [project_code(region_code, n) for n in range(1, 7)]  # several keys: partitions
    before = [approved(c, credit) for c in codes[:3]]
    missed = [approved(c, credit) for c in codes]
    after = [approved(c, credit) for c in codes[3:]]
    other = approved(codes[0], credit_code())  # another enterprise's: never shown
    async with (
        serving(notify.app) as url,
        httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as client,
    ):
        async with open_stream(client, me) as first:
            await notify.produce(APPROVAL_PROJECTS, *before)
            await eventually(
                lambda: len(first.ids()) == 3, timeout_s=60, what="the first stream's events"
            )
            seen = first.ids()
        assert set(seen) == {e.id for e in before}
        await notify.produce(APPROVAL_PROJECTS, *missed, other)  # while disconnected
        await notify.consumed(APPROVAL_PROJECTS, codes[0])
        async with open_stream(client, me, last_event_id=seen[-1]) as resumed:
            await eventually(
                lambda: len(resumed.ids()) >= len(missed), timeout_s=60, what="the replay"
            )
            await notify.produce(APPROVAL_PROJECTS, *after)  # live after the replay
            expected = [e.id for e in missed] + [e.id for e in after]
            await eventually(
                lambda: set(expected) <= set(resumed.ids()), timeout_s=60, what="live events"
            )
            sentinel = approved(codes[0], credit)
            await notify.produce(APPROVAL_PROJECTS, sentinel)
            await eventually(lambda: sentinel.id in resumed.ids(), timeout_s=60, what="sentinel")
            got = resumed.ids()
    # No repeat of what the first stream saw, nothing missing, nobody else's, nothing twice.
    assert set(got[: len(missed)]) == {e.id for e in missed}  # the replay came first
    assert len(got) == len(set(got))
    assert set(got) == set(expected) | {sentinel.id}
    assert not set(got) & set(seen)
    assert other.id not in got
    # Per partition (per project), the order is the order produced.
    for code in codes:
        mine = [e.id for e in [*missed, *after] if e.subject == code]
        assert [i for i in got if i in mine] == mine


async def test_two_replicas_in_one_group_each_stream_every_event(
    notify_factory: Callable[..., Any],
    database_factory: Callable[[str], str],
    region_code: str,
) -> None:
    url = database_factory("notify")
    upgrade(MIGRATIONS, url)
    group = unique_group("notify-pair")
    credit = credit_code()
    events = [approved(project_code(region_code, n), credit) for n in range(1, 13)]
    async with (
        notify_factory(url, group) as one,
        notify_factory(url, group) as two,
        serving(one.app) as url_one,
        serving(two.app) as url_two,
        httpx.AsyncClient(base_url=url_one, timeout=TIMEOUT) as client_one,
        httpx.AsyncClient(base_url=url_two, timeout=TIMEOUT) as client_two,
    ):
        # The group really split the partitions between them (else this proves nothing).
        def split() -> bool:
            mine = [_assigned(n, APPROVAL_PROJECTS) for n in (one, two)]
            return all(mine) and not (mine[0] & mine[1])

        await eventually(split, timeout_s=60, what="the group to split the partitions")
        async with (
            open_stream(client_one, ops()) as stream_one,
            open_stream(client_two, ops()) as stream_two,
        ):
            await one.produce(APPROVAL_PROJECTS, *events)
            wanted = {e.id for e in events}

            def everything(stream: Stream) -> bool:
                return wanted <= set(stream.ids())

            await eventually(lambda: everything(stream_one), timeout_s=90, what="replica one")
            await eventually(lambda: everything(stream_two), timeout_s=90, what="replica two")
            # Both replicas number the stream the same way: one resumes where the other left.
            last_on_one = [i for i in stream_one.ids() if i in wanted][5]
            async with open_stream(client_two, ops(), last_event_id=last_on_one) as resumed:
                rest = [i for i in stream_one.ids() if i in wanted][6:]
                await eventually(
                    lambda: set(rest) <= set(resumed.ids()), timeout_s=60, what="the resume"
                )
                assert [i for i in resumed.ids() if i in wanted] == rest


def _assigned(notify: Notify, topic: str) -> set[int]:
    consumer = notify.app.state.runtime.faust.consumer
    return {tp.partition for tp in consumer.assignment() if tp.topic == topic}
