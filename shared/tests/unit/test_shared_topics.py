"""Topic names exactly as the contract spells them."""

from __future__ import annotations

from shared.topics import all_topics, base_topics, dlq_topic, tasks_topic


def test_derived_topic_names() -> None:
    assert tasks_topic("MEE") == "approval.tasks.MEE"
    assert dlq_topic("approval.decisions") == "approval.decisions.dlq"


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
