"""Consumer lag from a group's committed offsets and the high-water marks it fetched."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from shared.lag import LagCollector, LagTracker, PartitionLag, PartitionOffsets


def row(committed: int | None, highwater: int | None, partition: int = 0) -> PartitionOffsets:
    return PartitionOffsets("approval.decisions", partition, committed, highwater)


def test_lag_in_messages_is_highwater_minus_committed() -> None:
    tracker = LagTracker()
    lags = tracker.observe([row(7, 10), row(4, 4, partition=1)], now=100.0)
    assert lags == [
        PartitionLag("approval.decisions", 0, 3, 0.0),
        PartitionLag("approval.decisions", 1, 0, 0.0),
    ]


def test_a_group_that_never_committed_counts_from_the_log_start() -> None:
    assert LagTracker().observe([row(None, 5)], now=1.0)[0].messages == 5


def test_a_partition_not_fetched_yet_has_no_sample() -> None:
    assert LagTracker().observe([row(3, None)], now=1.0) == []


def test_lag_in_seconds_is_how_long_the_oldest_unprocessed_message_waits() -> None:
    tracker = LagTracker()
    tracker.observe([row(0, 0)], now=100.0)
    tracker.observe([row(0, 5)], now=110.0)  # offsets 0-4 appear at 110
    tracker.observe([row(0, 9)], now=120.0)  # 5-8 at 120
    assert tracker.observe([row(0, 9)], now=130.0)[0].seconds == 20.0
    # Offsets 0-4 done: the oldest waiting one (5) appeared at 120.
    assert tracker.observe([row(5, 9)], now=131.0)[0] == PartitionLag(
        "approval.decisions", 0, 4, 11.0
    )
    # Caught up: no lag, however old the last message.
    assert tracker.observe([row(9, 9)], now=200.0)[0] == PartitionLag(
        "approval.decisions", 0, 0, 0.0
    )


def test_a_backlog_present_at_the_first_sample_counts_from_that_sample() -> None:
    tracker = LagTracker()
    assert tracker.observe([row(0, 50)], now=10.0)[0].seconds == 0.0
    assert tracker.observe([row(10, 50)], now=25.0)[0].seconds == 15.0


def test_a_recreated_topic_starts_a_new_history() -> None:
    tracker = LagTracker()
    tracker.observe([row(0, 100)], now=10.0)
    assert tracker.observe([row(0, 3)], now=20.0)[0] == PartitionLag(
        "approval.decisions", 0, 3, 0.0
    )


def test_a_revoked_partition_is_forgotten() -> None:
    tracker = LagTracker()
    tracker.observe([row(0, 5), row(0, 5, partition=1)], now=1.0)
    assert [lag.partition for lag in tracker.observe([row(0, 5)], now=2.0)] == [0]


def test_the_collector_exports_both_gauges_per_group_topic_and_partition() -> None:
    now = [100.0]
    collector = LagCollector(clock=lambda: now[0])
    offsets = [row(0, 0)]
    handle = collector.register("approval", "approval-svc", lambda: offsets)
    registry = CollectorRegistry()
    registry.register(collector)
    collector.sample()
    offsets[:] = [row(0, 4)]
    now[0] = 103.0
    collector.sample()
    now[0] = 105.0
    text = generate_latest(registry).decode()
    labels = 'group="approval-svc",partition="0",service="approval",topic="approval.decisions"'
    assert f"consumer_lag_messages{{{labels}}} 4.0" in text
    assert f"consumer_lag_seconds{{{labels}}} 2.0" in text
    collector.unregister(handle)
    assert "consumer_lag_messages{" not in generate_latest(registry).decode()


def test_a_failing_source_does_not_break_the_scrape() -> None:
    collector = LagCollector(clock=lambda: 1.0)

    def broken() -> list[PartitionOffsets]:
        raise RuntimeError("rebalancing")

    collector.register("notify", "notify-svc", broken)
    registry = CollectorRegistry()
    registry.register(collector)
    assert "# TYPE consumer_lag_messages gauge" in generate_latest(registry).decode()
