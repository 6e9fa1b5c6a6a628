"""The department client (services.departments) against the embedded broker, and the
simulator's decision chooser."""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from services.broker import EmbeddedBroker
from services.departments import DepartmentClient, DepartmentTask
from services.offsets import OffsetTracker
from services.simulate import (
    DecisionChooser,
    DepartmentWorker,
    configure_parser,
    start_departments,
    stop_departments,
)
from shared.broker import ensure_topics
from shared.decision_token import DecisionTokens, verify_decision_token
from shared.events import CloudEvent, DecisionSubmittedData, TaskData, new_event
from shared.topics import APPROVAL_DECISIONS, all_topics, tasks_topic
from testkit import TEST_JWT_SECRET

PARTITIONS = 3


@pytest.fixture(scope="module")
def broker():
    with EmbeddedBroker(port=0, startup_timeout_s=30) as b:
        ensure_topics(b.bootstrap, all_topics(), PARTITIONS)
        yield b


@pytest.fixture
def producer(broker):
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    yield p
    p.close()


def task_data(department: str, project_code: str | None = None) -> dict:
    now = datetime.now(UTC)
    return TaskData(
        task_id=str(uuid.uuid4()),
        project_code=project_code or f"2509-110105-44-02-{random.randint(1, 99999):05d}0",
        department=department,
        matter_code=f"{department}-X",
        matter_name="a matter",
        status="pending",
        assigned_at=now,
        due_at=now + timedelta(days=20),
        promised_due_at=now + timedelta(days=10),
    ).model_dump(mode="json")


def publish(producer, department: str, *, event_type="approval.task.assigned", data=None, raw=None):
    data = data or task_data(department)
    if raw is None:
        event = new_event(
            type=event_type, source="/approval-svc", subject=data["project_code"], data=data
        )
        raw = event.to_json()
    else:
        event = None
    producer.send(tasks_topic(department), key=data["project_code"].encode(), value=raw)
    producer.flush()
    return event, data


def poll_until(client: DepartmentClient, predicate, timeout_s: float = 30.0):
    """Poll (marking everything done) until `predicate(seen)` holds; return what was seen."""
    seen: list[DepartmentTask] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for task in client.poll(200):
            seen.append(task)
            client.mark_done(task)
        if predicate(seen):
            return seen
    raise AssertionError(f"condition not met in {timeout_s}s; saw {seen}")


def read_decision(bootstrap: str, key: bytes, timeout_s: float = 20.0):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    partitions = [TopicPartition(APPROVAL_DECISIONS, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=300).values():
                for record in records:
                    if record.key == key:
                        return record
    finally:
        consumer.close()
    raise AssertionError(f"no decision keyed {key!r} on {APPROVAL_DECISIONS}")


@pytest.mark.integration
def test_task_reaches_its_department_only_and_decision_is_well_formed(broker, producer):
    suffix = uuid.uuid4().hex[:8]
    tokens = DecisionTokens("MEE", secret=TEST_JWT_SECRET)
    mee = DepartmentClient(broker.bootstrap, "MEE", group_id=f"t-mee-{suffix}", tokens=tokens)
    ndrc = DepartmentClient(broker.bootstrap, "NDRC", group_id=f"t-ndrc-{suffix}")
    try:
        assigned, data = publish(producer, "MEE")
        seen = poll_until(mee, lambda s: any(t.task_id == data["task_id"] for t in s))
        task = next(t for t in seen if t.task_id == data["task_id"])
        assert task.is_assigned
        assert task.project_code == data["project_code"]
        assert task.event.id == assigned.id
        assert all(t.task.department == "NDRC" for t in ndrc.poll(2000))  # not MEE's task

        sent = mee.decide(task.task_id, "supplement_required", "incomplete", ["site plan", " "])
        assert mee.commit() >= 1  # flushed, then the offset committed

        record = read_decision(broker.bootstrap, data["project_code"].encode())
        event = CloudEvent.from_json(record.value)
        assert event.id == sent.id
        assert event.type == "approval.decision.submitted"
        assert event.source == "/departments/MEE"
        assert event.subject == data["project_code"]
        assert event.correlationid == assigned.correlationid
        assert event.causationid == assigned.id
        decision = DecisionSubmittedData.model_validate(event.data)
        assert decision.task_id == data["task_id"]
        assert decision.department == "MEE"
        assert decision.decision == "supplement_required"
        assert decision.missing_materials == ["site plan"]
        # Signed with MEE's decision token, which approval-svc verifies.
        token = (event.model_extra or {}).get("authtoken")
        assert verify_decision_token(token, TEST_JWT_SECRET, department="MEE") == "MEE system"
        # The official SDK reads it as a structured-mode Kafka CloudEvent 1.0.
        message = ce_kafka.KafkaMessage(headers={}, key=record.key, value=record.value)
        official = ce_kafka.from_structured(message, JSONFormat())
        attributes = official.get_attributes()
        assert attributes["specversion"] == "1.0"
        assert attributes["subject"] == data["project_code"]
        assert attributes["correlationid"] == assigned.correlationid
        assert attributes["partitionkey"] == data["project_code"]
        assert official.get_data()["task_id"] == data["task_id"]
        assert json.loads(record.value)["datacontenttype"] == "application/json"
    finally:
        mee.close()
        ndrc.close()


@pytest.mark.integration
def test_unknown_fields_and_types_are_ignored(broker, producer):
    client = DepartmentClient(broker.bootstrap, "MWR", group_id=f"t-mwr-{uuid.uuid4().hex[:8]}")
    try:
        publish(producer, "MWR", event_type="approval.something.else")
        publish(producer, "MWR", raw=b"not json at all")
        publish(producer, "MWR", raw=json.dumps({"specversion": "1.0", "type": "x"}).encode())
        data = task_data("MWR")
        data["surprise"] = {"nested": True}
        event = new_event(
            type="approval.task.assigned", source="/x", subject=data["project_code"], data=data
        )
        envelope = json.loads(event.to_json())
        envelope["someextension"] = "value"
        publish(producer, "MWR", raw=json.dumps(envelope).encode(), data=data)
        _withdrawn, _ = publish(producer, "MWR", event_type="approval.task.withdrawn", data=data)
        seen = poll_until(client, lambda s: len(s) >= 2)
        assert [t.event_type for t in seen] == ["approval.task.assigned", "approval.task.withdrawn"]
        assert seen[0].task_id == data["task_id"]
        assert seen[1].is_withdrawn
        assert client.stats["ignored"] >= 3
        with pytest.raises(KeyError):  # withdrawn: no longer the client's to decide
            client.decide(data["task_id"], "approved")
        with pytest.raises(ValueError, match="missing materials"):
            client.decide(seen[0], "supplement_required")
        client.commit()
        assert client.tracker.pending == 0
    finally:
        client.close()


@pytest.mark.integration
def test_offsets_are_committed_only_up_to_the_first_unhandled_task(broker, producer):
    group = f"t-mem-{uuid.uuid4().hex[:8]}"
    code = f"2509-440300-26-02-{random.randint(1, 99999):05d}0"  # one key: one partition
    first = DepartmentClient(broker.bootstrap, "MEM", group_id=group)
    try:
        ids = [
            publish(producer, "MEM", data=task_data("MEM", code))[1]["task_id"] for _ in range(3)
        ]
        seen = []
        deadline = time.monotonic() + 30
        while len(seen) < 3 and time.monotonic() < deadline:
            seen += first.poll(200)
        assert [t.task_id for t in seen] == ids
        first.mark_done(seen[0])
        first.mark_done(seen[2])  # the second is still being handled
        first.commit()
    finally:
        first.close()
    again = DepartmentClient(broker.bootstrap, "MEM", group_id=group)
    try:
        redelivered = poll_until(again, lambda s: len(s) >= 2)
        assert [t.task_id for t in redelivered] == ids[1:]  # at least once
    finally:
        again.close()


@pytest.mark.integration
def test_worker_decides_after_the_delay(broker, producer):
    stop = threading.Event()
    client = DepartmentClient(broker.bootstrap, "CMA", group_id=f"t-cma-{uuid.uuid4().hex[:8]}")
    worker = DepartmentWorker(
        client, DecisionChooser(1, 0, 0), delay_s=0.5, stop=stop, rng=random.Random(1)
    )
    try:
        _, data = publish(producer, "CMA")
        deadline = time.monotonic() + 30
        while client.stats["decided"] == 0 and time.monotonic() < deadline:
            worker.step(100)
        assert client.stats["decided"] == 1
        record = read_decision(broker.bootstrap, data["project_code"].encode())
        assert CloudEvent.from_json(record.value).data["decision"] == "approved"
    finally:
        client.close()


def _one_task(producer, department: str) -> tuple[TopicPartition, int, bytes]:
    """Publishes one task to a topic no other test uses; its partition, offset and key."""
    data = task_data(department)
    event = new_event(
        type="approval.task.assigned", source="/approval-svc", subject=data["project_code"],
        data=data,
    )  # fmt: skip
    key = data["project_code"].encode()
    sent = producer.send(tasks_topic(department), key=key, value=event.to_json()).get(10)
    return TopicPartition(sent.topic, sent.partition), sent.offset, key


def _committed(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        found = admin.list_group_offsets({group: [tp]}).get(group, {}).get(tp)
    finally:
        admin.close()
    return None if found is None or found.offset < 0 else found.offset


def _decide_one(worker: DepartmentWorker) -> None:
    deadline = time.monotonic() + 30
    while worker.client.stats["decided"] == 0 and time.monotonic() < deadline:
        worker.step(100)
    assert worker.client.stats["decided"] == 1


@pytest.mark.integration
def test_worker_sends_decisions_at_once_and_commits_offsets_once_per_interval(broker, producer):
    group = f"t-ncha-{uuid.uuid4().hex[:8]}"
    client = DepartmentClient(broker.bootstrap, "NCHA", group_id=group)
    worker = DepartmentWorker(
        client, DecisionChooser(1, 0, 0), delay_s=0, stop=threading.Event(),
        rng=random.Random(1), commit_interval_s=3600,
    )  # fmt: skip
    try:
        worker.step(0)  # its first commit is due at once; the next one is an hour off
        tp, offset, key = _one_task(producer, "NCHA")
        _decide_one(worker)
        assert read_decision(broker.bootstrap, key) is not None  # out without waiting for it
        assert _committed(broker.bootstrap, group, tp) is None
    finally:
        client.close()  # commits what is done, after the decisions are acknowledged
    assert _committed(broker.bootstrap, group, tp) == offset + 1


@pytest.mark.integration
def test_a_rebalance_commits_what_is_done_before_the_partitions_go(broker, producer):
    group = f"t-nfga-{uuid.uuid4().hex[:8]}"
    client = DepartmentClient(broker.bootstrap, "NFGA", group_id=group)
    worker = DepartmentWorker(
        client, DecisionChooser(1, 0, 0), delay_s=0, stop=threading.Event(),
        rng=random.Random(1), commit_interval_s=3600,
    )  # fmt: skip
    second = None
    try:
        worker.step(0)  # its first commit is due at once; the next one is an hour off
        tp, offset, _ = _one_task(producer, "NFGA")
        _decide_one(worker)
        assert _committed(broker.bootstrap, group, tp) is None
        second = DepartmentClient(broker.bootstrap, "NFGA", group_id=group)  # a rebalance
        deadline = time.monotonic() + 30
        while _committed(broker.bootstrap, group, tp) is None:
            assert time.monotonic() < deadline, "nothing was committed on the rebalance"
            worker.step(100)  # the first member learns of the rebalance and gives its partitions
            second.poll(100)
        assert _committed(broker.bootstrap, group, tp) == offset + 1
    finally:
        if second is not None:
            second.close()
        client.close()


@pytest.mark.integration
def test_worker_with_no_commit_interval_commits_after_every_poll(broker, producer):
    group = f"t-cea-{uuid.uuid4().hex[:8]}"
    tp, offset, _ = _one_task(producer, "CEA")
    client = DepartmentClient(broker.bootstrap, "CEA", group_id=group)
    worker = DepartmentWorker(
        client, DecisionChooser(1, 0, 0), delay_s=0, stop=threading.Event(),
        rng=random.Random(1), commit_interval_s=0,
    )  # fmt: skip
    try:
        _decide_one(worker)
        assert _committed(broker.bootstrap, group, tp) == offset + 1
    finally:
        client.close()


def test_simulated_departments_fetch_with_the_platform_waits(broker, monkeypatch):
    monkeypatch.setenv("KAFKA_FETCH_MAX_WAIT_MS", "37")
    monkeypatch.setenv("KAFKA_FETCH_IDLE_WAIT_MS", "900")
    monkeypatch.setenv("KAFKA_FETCH_IDLE_AFTER_S", "0.3")
    stop = threading.Event()
    workers, shared_producer = start_departments(
        broker.bootstrap, ["SAMR"], DecisionChooser(1, 0, 0), delay_s=0, stop=stop,
        group_prefix=f"t-wait-{uuid.uuid4().hex[:8]}-",
    )  # fmt: skip
    try:
        client = workers[0].client
        assert client.fetch_wait_ms == 37  # busy: tasks may come
        deadline = time.monotonic() + 20
        while client.fetch_wait_ms != 900 and time.monotonic() < deadline:
            time.sleep(0.05)  # the worker polls; no task comes to SAMR
        assert client.fetch_wait_ms == 900
    finally:
        stop.set()
        stop_departments(workers, shared_producer)


def test_offset_tracker_commits_the_done_prefix_only():
    tracker = OffsetTracker()
    tp, other = TopicPartition("t", 0), TopicPartition("t", 1)
    for offset in (5, 6, 7):
        tracker.add(tp, offset)
    tracker.add(other, 3, done=True)  # an ignored message: done at once
    tracker.done(tp, 6)
    assert {k: v.offset for k, v in tracker.committable().items()} == {other: 4}
    tracker.done(tp, 5)
    offsets = tracker.committable()
    assert offsets[tp].offset == 7  # 7 is still being handled
    tracker.retry(offsets)  # the commit failed: offered again
    assert tracker.committable()[tp].offset == 7
    tracker.committed({tp: offsets[tp]})
    assert tracker.committable() == {}
    assert tracker.pending == 1
    tracker.forget([tp])
    assert tracker.pending == 0


def test_chooser_honours_the_ratios():
    chooser = DecisionChooser(approve=0.8, supplement=0.1, reject=0.1)
    rng = random.Random(42)
    n = 20_000
    counts = Counter(chooser.choose(rng) for _ in range(n))
    assert abs(counts["approved"] / n - 0.8) < 0.015
    assert abs(counts["supplement_required"] / n - 0.1) < 0.01
    assert abs(counts["rejected"] / n - 0.1) < 0.01
    again = [DecisionChooser(0.8, 0.1, 0.1).choose(random.Random(7)) for _ in range(3)]
    assert len(set(again)) == 1  # same seed, same decision


def test_chooser_after_a_supplement_and_edge_cases():
    rng = random.Random(3)
    chooser = DecisionChooser(approve=1, supplement=2, reject=1)  # need not add up to 1
    resubmitted = Counter(chooser.choose(rng, resubmitted=True) for _ in range(10_000))
    assert resubmitted["supplement_required"] == 0
    assert abs(resubmitted["approved"] / 10_000 - 0.5) < 0.03
    assert {DecisionChooser(0, 0, 1).choose(rng) for _ in range(100)} == {"rejected"}
    assert DecisionChooser(0, 1, 0).choose(rng, resubmitted=True) == "approved"
    with pytest.raises(ValueError, match="not all 0"):
        DecisionChooser(0, 0, 0)
    with pytest.raises(ValueError, match=">= 0"):
        DecisionChooser(-1, 1, 1)
    materials = chooser.materials(rng, "MEE")
    assert 1 <= len(materials) <= 2
    assert all(materials)


@pytest.mark.parametrize("text", ["-1", "61", "nan", "inf", "soon"])
def test_commit_interval_outside_0_to_60_seconds_is_refused(text, capsys):
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--commit-interval", text])
    assert "--commit-interval" in capsys.readouterr().err


def test_commit_interval_defaults_to_a_second_and_takes_0():
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    assert parser.parse_args([]).commit_interval == 1.0
    assert parser.parse_args(["--commit-interval", "0"]).commit_interval == 0.0
