"""Scale-out: two instances of every service, one broker, one PostgreSQL database per service.

Projects are submitted through both approval instances in turn and decided by the departments,
half over HTTP (both instances in turn) and half over Kafka (signed decisions). Half-way, one
instance of each service is SIGKILLed while decisions, outbox events and notifications are in
flight. Then: every project is approved; no event was applied twice (timelines, supervision's
projection and notify's deliveries are exact); both instances took partitions and HTTP traffic
before the kill and the survivor took over the killed one's partitions; project codes are
unique with gap-free serials; and `approval.projects` carries each project's events in the
order of its timeline.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaProducer

from shared.decision_token import DecisionTokens
from shared.events import CloudEvent, DecisionSubmittedData, EventType, new_event
from shared.topics import APPROVAL_DECISIONS, APPROVAL_PROJECTS
from testkit import TEST_JWT_SECRET, TopicReader, auth_headers, eventually_sync, unique_region

from scaleout_cluster import Cluster, Instance

POSTGRES = bool(os.environ.get("TEST_POSTGRES")) and all(
    os.environ.get(f"{s}_DATABASE_URL", "").startswith("postgresql")
    for s in ("APPROVAL", "SUPERVISION", "NOTIFY")
)
pytestmark = [
    pytest.mark.scaleout,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        not POSTGRES,
        reason="scale-out runs on PostgreSQL only: set TEST_POSTGRES=1 and "
        "APPROVAL_/SUPERVISION_/NOTIFY_DATABASE_URL=postgresql://... (as .ci/run does)",
    ),
]

PROJECTS = 100
KILL_AT = 60  # the project index at which one instance of each service is SIGKILLed
CREDIT = "91440300708461136T"
ENTERPRISE = auth_headers("enterprise", credit_code=CREDIT)
OPS = auth_headers("ops")
INGESTED_BY_NOTIFY = {
    EventType.PROJECT_SUBMITTED,
    EventType.TASK_ASSIGNED,
    EventType.DECISION_RECORDED,
    EventType.PROJECT_APPROVED,
}


def project_body(region_code: str, n: int) -> dict[str, Any]:
    return {
        "name": f"Scale-out solar farm {n}",
        "region_code": region_code,
        "industry_code": "D4416",
        "procedure": "verification",
        "total_investment": "880000000",
        "location": "Hillside, east county",
        "planned_start": "2027-06-01",
        "description": "120 MW photovoltaic plant",
        "eia_category": "table",
        "land": {"needs_new_land": True, "area_m2": "42000"},
    }


class Driver:
    """Submits and decides projects, spreading HTTP calls over the live approval instances."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.region = unique_region()
        self.codes: list[str] = []
        self.tasks: dict[str, list[dict[str, Any]]] = {}
        self.http_calls: Counter[str] = Counter()
        self.kafka_decisions = 0
        self.failovers = 0
        self._turn = 0
        self._producer = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all")
        self._tokens: dict[str, DecisionTokens] = {}

    def close(self) -> None:
        self._producer.flush(timeout=30)
        self._producer.close(timeout=10)

    def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[httpx.Response, bool]:
        """POST to the next live approval instance; on a connection failure the next one.
        Returns the response and whether an earlier attempt may have been applied."""
        self._turn += 1
        retried = False
        for attempt in range(6):
            live = self.cluster.live("approval")
            instance = live[(self._turn + attempt) % len(live)]
            try:
                response = httpx.post(
                    f"{instance.url}{path}", json=body, headers=headers, timeout=30
                )
            except httpx.TransportError:
                self.failovers += 1
                retried = True
                time.sleep(0.5)  # pacing only: the process is going away
                continue
            self.http_calls[instance.name] += 1
            return response, retried
        raise AssertionError(f"no approval instance answered POST {path}")

    def submit(self, n: int) -> str:
        headers = {**ENTERPRISE, "Idempotency-Key": str(uuid.uuid4())}
        response, _ = self.post("/api/v1/projects", project_body(self.region, n), headers)
        assert response.status_code == 201, response.text
        created = response.json()
        self.codes.append(created["project_code"])
        self.tasks[created["project_code"]] = created["tasks"]
        assert created["tasks"], created
        return str(created["project_code"])

    def decide(self, code: str, *, over_kafka: bool) -> None:
        for task in self.tasks[code]:
            if over_kafka:
                self._decide_on_kafka(code, task)
                continue
            response, retried = self.post(
                f"/api/v1/tasks/{task['task_id']}/decision",
                {"decision": "approved", "opinion": "in order"},
                auth_headers("department", department=task["department"]),
            )
            # A retry after a lost connection may find its first attempt applied.
            assert response.status_code == 200 or (retried and response.status_code == 409), (
                response.text
            )

    def _decide_on_kafka(self, code: str, task: dict[str, Any]) -> None:
        department = task["department"]
        tokens = self._tokens.setdefault(
            department, DecisionTokens(department, secret=TEST_JWT_SECRET)
        )
        event = tokens.sign(
            new_event(
                type=EventType.DECISION_SUBMITTED,
                source=f"/departments/{department}",
                subject=code,
                data=DecisionSubmittedData(
                    task_id=task["task_id"],
                    department=department,
                    decision="approved",
                    opinion="in order",
                    missing_materials=[],
                ),
            )
        )
        self._producer.send(APPROVAL_DECISIONS, key=code.encode(), value=event.to_json())
        self.kafka_decisions += 1


def get_json(instance: Instance, path: str, **params: Any) -> Any:
    response = httpx.get(f"{instance.url}{path}", params=params, headers=OPS, timeout=30)
    assert response.status_code == 200, (instance.name, path, response.text)
    return response.json()


def all_items(instance: Instance, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = get_json(
            instance, path, limit=500, **params, **({"cursor": cursor} if cursor else {})
        )
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items


def approved_count(cluster: Cluster, driver: Driver) -> int:
    approval = cluster.live("approval")[0]
    projects = all_items(approval, "/api/v1/projects", region_code=driver.region)
    return sum(p["status"] == "approved" for p in projects)


def consumed(instance: Instance) -> float:
    return instance.metric("events_consumed_total", outcome="processed")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(workdir=Path(tmp_path_factory.mktemp("scaleout")))
    try:  # stopped even when its start fails half-way (processes, databases, broker)
        yield running.start()
    finally:
        running.stop()


def test_two_instances_of_each_service_share_the_work_and_survive_a_kill(
    cluster: Cluster,
) -> None:
    started = time.monotonic()
    driver = Driver(cluster)
    figures: dict[str, Any] = {}
    try:
        # --- phase 1: both instances of everything ----------------------------------------
        for n in range(KILL_AT):
            code = driver.submit(n)
            driver.decide(code, over_kafka=n % 2 == 0)
        driver._producer.flush(timeout=30)
        eventually_sync(
            lambda: approved_count(cluster, driver) == KILL_AT,
            timeout_s=180,
            interval_s=1,
            what=f"the first {KILL_AT} projects approved",
        )
        before_kill: dict[str, dict[str, set[tuple[str, int]]]] = {}
        for service, instances in cluster.instances.items():
            held = {i.name: i.partitions() for i in instances}
            before_kill[service] = held
            for instance in instances:
                assert held[instance.name], f"{instance.name} holds no partition: {held}"
                assert consumed(instance) > 0, f"{instance.name} applied no event"
            a, b = held.values()
            assert not a & b, f"{service}: a partition held twice: {held}"
        for instance in cluster.instances["approval"]:
            posts = instance.metric("http_requests_total", method="POST")
            assert posts >= KILL_AT / 2, (instance.name, posts)
        figures["partitions before the kill"] = before_kill
        figures["http calls per approval instance before the kill"] = dict(driver.http_calls)

        # --- phase 2: SIGKILL one instance of each service mid-load -----------------------
        killed: dict[str, Instance] = {}
        for n in range(KILL_AT, PROJECTS):
            if n == KILL_AT + 5:
                # Decisions on Kafka, outbox events and deliveries are in flight now.
                # The instance whose relay holds the outbox lease, so another must take it over.
                for service, instances in cluster.instances.items():
                    victim = cluster.relay_holder(service)
                    figures[f"{service} relay holder killed"] = victim is not None
                    killed[service] = victim or instances[1]
                    killed[service].kill()
                figures["killed after (s)"] = round(time.monotonic() - started, 1)
            code = driver.submit(n)
            driver.decide(code, over_kafka=n % 2 == 0)
        driver._producer.flush(timeout=30)
        eventually_sync(
            lambda: approved_count(cluster, driver) == PROJECTS,
            timeout_s=300,
            interval_s=1,
            what=f"all {PROJECTS} projects approved after the kill",
        )
        figures["all approved after (s)"] = round(time.monotonic() - started, 1)
    finally:
        driver.close()

    approval, supervision, notify = (cluster.live(s)[0] for s in cluster.instances)
    eventually_sync(
        lambda: cluster.relay_holder("approval") is approval,
        timeout_s=30,
        what=f"{approval.name} holds the outbox lease",
    )
    assert [s for s in cluster.instances if len(cluster.live(s)) != 1] == []

    # The survivor of each service took over every partition the killed one held.
    for service, survivor in (
        ("approval", approval),
        ("supervision", supervision),
        ("notify", notify),
    ):
        lost = before_kill[service][killed[service].name]
        eventually_sync(
            lambda survivor=survivor, lost=lost: lost <= survivor.partitions(),
            timeout_s=60,
            what=f"{survivor.name} holds the partitions of {killed[service].name}",
        )

    # Codes unique, one project per submission, serials gap-free.
    projects = all_items(approval, "/api/v1/projects", region_code=driver.region)
    codes = sorted(p["project_code"] for p in projects)
    assert len(codes) == PROJECTS
    assert len(set(codes)) == PROJECTS
    assert set(codes) == set(driver.codes)
    assert sorted(int(c[-6:-1]) for c in codes) == list(range(1, PROJECTS + 1))

    # Timelines exact: one submission, one assignment and one decision per task, one approval.
    timelines: dict[str, list[str]] = {}
    for code in codes:
        actions = [s["action"] for s in all_items(approval, f"/api/v1/projects/{code}/timeline")]
        k = len(driver.tasks[code])
        assert Counter(actions) == {
            EventType.PROJECT_SUBMITTED: 1,
            EventType.TASK_ASSIGNED: k,
            EventType.DECISION_RECORDED: k,
            EventType.PROJECT_APPROVED: 1,
        }, (code, actions)
        timelines[code] = actions

    # The relay published each project's events in timeline order (a republished event after
    # the kill keeps its id: consumers drop it; count them).
    with TopicReader(cluster.bootstrap, APPROVAL_PROJECTS) as reader:
        events = reader.read_until(
            lambda evs: (
                {e.subject for e in evs if e.type == EventType.PROJECT_APPROVED} >= set(codes)
            ),
            timeout_s=60,
        )
    first: dict[str, CloudEvent] = {}
    for event in events:
        first.setdefault(event.id, event)
    per_project: dict[str, list[CloudEvent]] = defaultdict(list)
    for event in first.values():
        per_project[str(event.subject)].append(event)
    for code in codes:
        assert [e.type for e in per_project[code]] == timelines[code], code
    figures["events on approval.projects"] = len(events)
    figures["republished (same id)"] = len(events) - len(first)

    # Supervision's projection: every project once, all approved, nothing pending.
    def by_status() -> dict[str, int]:
        counts = get_json(supervision, "/api/v1/stats/overview")["projects_by_status"]
        return {status: n for status, n in counts.items() if n}

    eventually_sync(
        lambda: by_status().get("approved") == PROJECTS,
        timeout_s=60,
        what="supervision projects every approval",
    )
    overview = get_json(supervision, "/api/v1/stats/overview")
    assert overview["projects_total"] == PROJECTS, overview
    assert by_status() == {"approved": PROJECTS}
    pending = {d: v["pending"] for d, v in overview["by_department"].items() if v["pending"]}
    assert pending == {}, pending

    # Notify: exactly one delivery per event per subscription (the built-in log channel).
    def deliveries_complete() -> dict[str, list[dict[str, Any]]]:
        out = {}
        for code in codes:
            expected = {e.id for e in per_project[code] if e.type in INGESTED_BY_NOTIFY}
            got = all_items(notify, "/api/v1/deliveries", project_code=code)
            if {d["event_id"] for d in got} != expected:
                return {}
            out[code] = got
        return out

    deliveries = eventually_sync(deliveries_complete, timeout_s=120, what="every event delivered")
    for code, got in deliveries.items():
        keys = Counter((d["subscription_id"], d["event_id"]) for d in got)
        assert [k for k, n in keys.items() if n > 1] == [], code
        assert all(d["status"] == "delivered" for d in got), code

    figures.update(
        projects=PROJECTS,
        kafka_decisions=driver.kafka_decisions,
        http_calls=dict(driver.http_calls),
        failovers=driver.failovers,
        deliveries=sum(len(v) for v in deliveries.values()),
        total_s=round(time.monotonic() - started, 1),
    )
    print(f"\nscale-out figures: {figures}")
