"""Topic names exactly as the contract spells them."""

from __future__ import annotations

from shared.topics import (
    APPROVAL_DECISIONS,
    APPROVAL_PROJECTS,
    DEPARTMENT_CODES,
    NOTIFY_DELIVERIES,
    SUPERVISION_ALERTS,
    SUPERVISION_REPORTS,
    all_topics,
    base_topics,
    dlq_topic,
    tasks_topic,
)

CONTRACT_DEPARTMENTS = {
    "NDRC", "MNR", "MEE", "MOHURD", "MWR", "MEM", "CMA", "CEA", "NCHA",
    "MOT", "NFGA", "MIIT", "NHC", "NEA", "CAAC", "MOFCOM", "SAMR", "NBS",
}  # fmt: skip


def test_contract_topic_names() -> None:
    assert APPROVAL_PROJECTS == "approval.projects"
    assert APPROVAL_DECISIONS == "approval.decisions"
    assert SUPERVISION_REPORTS == "supervision.reports"
    assert SUPERVISION_ALERTS == "supervision.alerts"
    assert NOTIFY_DELIVERIES == "notify.deliveries"
    assert tasks_topic("MEE") == "approval.tasks.MEE"
    assert dlq_topic("approval.decisions") == "approval.decisions.dlq"


def test_the_18_departments_of_the_contract() -> None:
    assert len(DEPARTMENT_CODES) == 18
    assert set(DEPARTMENT_CODES) == CONTRACT_DEPARTMENTS


def test_every_topic_has_its_dead_letter_topic() -> None:
    base = base_topics()
    everything = all_topics()

    assert len(base) == 5 + 18
    assert len(everything) == len(set(everything)) == 2 * len(base)
    assert all(dlq_topic(t) in everything for t in base)
    assert "approval.tasks.NBS.dlq" in everything
    assert all_topics(["MEE"]) == [
        *base_topics(["MEE"]),
        *(f"{t}.dlq" for t in base_topics(["MEE"])),
    ]
