"""Projection rules: rows only move forward, final statuses are never left."""

from datetime import UTC, datetime, timedelta

import pytest

from supervision_svc.domain.projection import (
    decision_seconds,
    mean_hours,
    project_supersedes,
    task_supersedes,
    yellow_threshold,
)

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)


def test_first_state_is_always_taken():
    assert project_supersedes(
        current_status=None, current_version=None, incoming_status="submitted", incoming_version=T0
    )


def test_newer_event_wins_older_is_ignored():
    assert project_supersedes(
        current_status="in_review",
        current_version=T0,
        incoming_status="supplement_required",
        incoming_version=LATER,
    )
    assert not project_supersedes(
        current_status="supplement_required",
        current_version=LATER,
        incoming_status="in_review",
        incoming_version=T0,
    )


def test_same_event_again_is_harmless():
    assert task_supersedes(
        current_status="pending",
        current_version=T0,
        incoming_status="pending",
        incoming_version=T0,
    )


@pytest.mark.parametrize("final", ["approved", "rejected", "filed", "withdrawn"])
def test_project_never_leaves_a_final_status(final):
    assert not project_supersedes(
        current_status=final,
        current_version=T0,
        incoming_status="in_review",
        incoming_version=LATER,
    )


def test_final_status_wins_even_with_an_older_timestamp():
    assert project_supersedes(
        current_status="in_review",
        current_version=LATER,
        incoming_status="approved",
        incoming_version=T0,
    )


@pytest.mark.parametrize("final", ["approved", "rejected", "withdrawn"])
def test_task_never_leaves_a_final_status(final):
    assert not task_supersedes(
        current_status=final, current_version=T0, incoming_status="pending", incoming_version=LATER
    )


def test_filed_is_not_final_for_a_task():
    # "filed" is a project status only; a task in a status we do not know is not frozen.
    assert task_supersedes(
        current_status="filed", current_version=T0, incoming_status="pending", incoming_version=T0
    )


def test_yellow_threshold_is_ninety_percent():
    assert yellow_threshold(T0, T0 + timedelta(days=10)) == T0 + timedelta(days=9)
    assert yellow_threshold(T0, T0) == T0


def test_decision_seconds_only_for_decided_tasks():
    decided = T0 + timedelta(hours=30)
    assert decision_seconds(status="approved", assigned_at=T0, decided_at=decided) == 30 * 3600
    assert decision_seconds(status="rejected", assigned_at=T0, decided_at=decided) == 30 * 3600
    paused = decision_seconds(status="supplement_required", assigned_at=T0, decided_at=decided)
    assert paused is None
    assert decision_seconds(status="withdrawn", assigned_at=T0, decided_at=decided) is None
    assert decision_seconds(status="approved", assigned_at=T0, decided_at=None) is None


def test_mean_hours():
    assert mean_hours(None, 0) is None
    assert mean_hours(0.0, 0) is None
    assert mean_hours(3 * 3600.0 + 3 * 3600.0, 2) == 3.0
    assert mean_hours(3600.0, 3) == 0.33
