"""End to end: two `python -m notify_svc serve` processes in one consumer group, on one database.

The group splits the partitions of `approval.projects` between them, yet a stream client on
either instance receives every event: each instance reads every partition into the shared
stream history (`notify_svc.adapters.stream_feed`), whichever instance the group gave the
partition to.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from kafka.partitioner.default import murmur2
from prometheus_client.parser import text_string_to_metric_families

from shared.events import CloudEvent, EventType, new_event
from shared.topics import APPROVAL_PROJECTS
from testkit import auth_headers, eventually, produce_events, unique_group

from e2e_platform import PARTITIONS, Platform

pytestmark = pytest.mark.e2e

CREDIT = "91440300708461136T"
OPS = auth_headers("ops")
PER_PARTITION = 4
TIMEOUT = httpx.Timeout(10.0, read=None)  # a stream is read for as long as the test runs


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, str, list[str]]]:
    """The broker and two notify processes; (platform, their group, their URLs)."""
    group = unique_group("notify-pair")
    platform = Platform(
        workdir=Path(tmp_path_factory.mktemp("notify-pair")),
        services=("notify",),
        extra_env={"NOTIFY_CONSUMER_GROUP": group},
    )
    try:
        platform.start()
        second = platform.add_instance("notify", "notify-b")
        platform.wait_ready()
        yield platform, group, [platform.urls["notify"], second]
    finally:
        platform.stop()


def partition_of(code: str) -> int:
    """The partition kafka-python's default partitioner gives the key `code`."""
    hashed: int = murmur2(code.encode())  # kafka-python is untyped
    return (hashed & 0x7FFFFFFF) % PARTITIONS


def spread_codes(region_code: str) -> list[str]:
    """Project codes of the test's region, `PER_PARTITION` on each partition of the topic."""
    month = f"{datetime.now(UTC):%y%m}"
    by_partition: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    serial = 0
    while any(len(codes) < PER_PARTITION for codes in by_partition.values()):
        serial += 1
        code = f"{month}-{region_code}-01-01-{serial:05d}X"
        if len(by_partition[partition_of(code)]) < PER_PARTITION:
            by_partition[partition_of(code)].append(code)
    return [code for codes in by_partition.values() for code in codes]


def approved(code: str) -> CloudEvent:
    now = datetime.now(UTC).isoformat()
    return new_event(
        type=EventType.PROJECT_APPROVED,
        source="approval-svc",
        subject=code,
        data={
            "project_code": code,
            "credit_code": CREDIT,
            "name": "two-instance stream project",
            "region_code": code.split("-")[1],
            "industry_code": "C3011",
            "procedure": "verification",
            "status": "approved",
            "total_investment": "12000000.00",
            "submitted_at": now,
            "tasks": [],
        },
    )


async def samples(client: httpx.AsyncClient, name: str) -> list[tuple[dict[str, str], float]]:
    text = (await client.get("/metrics")).text
    return [
        (dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


async def assigned(client: httpx.AsyncClient, group: str) -> set[int]:
    """The partitions of `approval.projects` this instance's group consumer holds (its lag
    series: an instance exports only the partitions assigned to it and fetched from)."""
    return {
        int(labels["partition"])
        for labels, _ in await samples(client, "consumer_lag_messages")
        if labels.get("group") == group and labels.get("topic") == APPROVAL_PROJECTS
    }


async def processed(client: httpx.AsyncClient) -> float:
    """Approval events this instance's group consumer applied (`events_consumed_total`)."""
    return sum(
        value
        for labels, value in await samples(client, "events_consumed_total")
        if labels.get("type") == EventType.PROJECT_APPROVED and labels.get("outcome") == "processed"
    )


class Stream:
    """`GET /api/v1/stream` read line by line in the background: the ids of its events."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.ids: list[str] = []
        self.opened = False
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for line in self.response.aiter_lines():
            if line.startswith(":"):
                self.opened = True  # the "connected" comment
            elif line.startswith("id:"):
                self.ids.append(line.removeprefix("id:").strip())

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self._task


@contextlib.asynccontextmanager
async def open_stream(client: httpx.AsyncClient) -> AsyncIterator[Stream]:
    async with client.stream("GET", "/api/v1/stream", headers=OPS) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = Stream(response)
        try:
            await eventually(lambda: stream.opened, timeout_s=15, what="the stream to open")
            yield stream
        finally:
            await stream.close()


async def test_two_instances_in_one_group_each_stream_every_event(
    pair: tuple[Platform, str, list[str]], region_code: str
) -> None:
    platform, group, urls = pair
    events = [approved(code) for code in spread_codes(region_code)]
    wanted = {e.id for e in events}
    assert {partition_of(e.subject or "") for e in events} == set(range(PARTITIONS))
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=TIMEOUT))
            for url in urls
        ]

        # The group has split the partitions: each holds some, none both, together all.
        async def split() -> list[set[int]] | None:
            held = [await assigned(c, group) for c in clients]
            fair = all(held) and not (held[0] & held[1])
            return held if fair and held[0] | held[1] == set(range(PARTITIONS)) else None

        held = await eventually(split, timeout_s=90, what="the group to split the partitions")
        streams = [await stack.enter_async_context(open_stream(c)) for c in clients]
        before = [await processed(c) for c in clients]

        await asyncio.to_thread(produce_events, platform.bootstrap, APPROVAL_PROJECTS, events)

        for n, stream in enumerate(streams):

            def complete(stream: Stream = stream) -> bool:
                return wanted <= set(stream.ids)

            await eventually(complete, timeout_s=90, what=f"every event on instance {n}'s stream")

        # Each instance applied the events of its own partitions only: some, not all, and
        # together every event once (its partition's holder applied it, the other did not).
        async def applied() -> list[float] | None:
            now = [await processed(c) - b for c, b in zip(clients, before, strict=True)]
            return now if sum(now) >= len(events) else None

        counts = await eventually(applied, timeout_s=90, what="both consumers to apply")
        assert sum(counts) == len(events), counts
        expected = [PER_PARTITION * len(h) for h in held]
        assert counts == expected, (counts, held)
        assert all(0 < c < len(events) for c in counts), counts
        assert [await assigned(c, group) for c in clients] == held  # no rebalance meanwhile

    # Each stream carried every event once, in the order produced per project.
    for stream in streams:
        got = [i for i in stream.ids if i in wanted]
        assert len(got) == len(set(got)) == len(events)
        for code in {e.subject for e in events}:
            mine = [e.id for e in events if e.subject == code]
            assert [i for i in got if i in mine] == mine
