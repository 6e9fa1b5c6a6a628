"""The pure rules: visibility, signatures, retry schedule, subscription validation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from notify_svc.domain import (
    KNOWN_EVENT_TYPES,
    Audience,
    EventFacts,
    KnownProject,
    RetryPolicy,
    Viewer,
    audience_of,
    event_types_problem,
    facts_of,
    may_see,
    needs_projection,
    next_delay,
    normalise_event_types,
    signature,
    signature_valid,
    target_problem,
)

A, B = "91440300708461136T", "91110000100000000X"
ENT_A = Viewer("enterprise", credit_code=A)
ENT_B = Viewer("enterprise", credit_code=B)
MEE = Viewer("department", department="MEE")
MNR = Viewer("department", department="MNR")
NDRC = Viewer("department", department="NDRC")
OPS = Viewer("ops")


def project_data(code: str = "P1", credit: str = A, depts: tuple[str, ...] = ("MEE", "MNR")):
    return {
        "project_code": code,
        "credit_code": credit,
        "tasks": [{"department": d, "task_id": f"t-{d}"} for d in depts],
    }


# --- facts ---------------------------------------------------------------------------------


def test_a_project_event_names_its_enterprise_and_the_departments_of_its_tasks() -> None:
    facts = facts_of("project.submitted", "P1", project_data())
    assert facts == EventFacts("P1", A, frozenset({"MEE", "MNR"}), task_scoped=False)


def test_a_task_event_concerns_its_department_only() -> None:
    facts = facts_of("approval.task.assigned", "P1", {"project_code": "P1", "department": "MEE"})
    assert facts == EventFacts("P1", None, frozenset({"MEE"}), task_scoped=True)
    # Its enterprise comes from the projection: a task carries no credit code.
    assert needs_projection(facts)


def test_an_alert_about_a_task_is_for_that_department_a_project_alert_for_all() -> None:
    task_alert = facts_of(
        "supervision.alert.raised", "P1", {"project_code": "P1", "department": "MNR"}
    )
    assert task_alert.task_scoped
    assert task_alert.departments == {"MNR"}
    project_alert = facts_of("supervision.alert.raised", "P1", {"project_code": "P1"})
    assert not project_alert.task_scoped
    assert needs_projection(project_alert)


def test_facts_fall_back_to_the_subject_and_tolerate_odd_data() -> None:
    assert facts_of("project.approved", "P9", None) == EventFacts("P9")
    assert facts_of("project.approved", "P9", {"tasks": "nonsense"}).project_code == "P9"
    odd = facts_of("project.approved", None, {"tasks": [1, {"department": 5}]})
    assert odd.departments == frozenset()


# --- visibility ----------------------------------------------------------------------------


def test_an_enterprise_sees_its_own_projects_only() -> None:
    audience = audience_of(facts_of("project.submitted", "P1", project_data()), None)
    assert may_see(ENT_A, audience)
    assert not may_see(ENT_B, audience)


def test_a_department_sees_projects_it_has_tasks_in_and_its_own_tasks() -> None:
    known = KnownProject(A, frozenset({"MEE", "MNR"}))
    submitted = audience_of(facts_of("project.submitted", "P1", project_data()), None)
    assert may_see(MEE, submitted)
    assert may_see(MNR, submitted)
    assert not may_see(NDRC, submitted)
    mee_task = audience_of(
        facts_of("approval.task.assigned", "P1", {"project_code": "P1", "department": "MEE"}),
        known,
    )
    assert may_see(MEE, mee_task)
    assert not may_see(MNR, mee_task)  # another department's task on the same project
    assert may_see(ENT_A, mee_task)  # the enterprise, through the projection
    assert not may_see(ENT_B, mee_task)


def test_a_report_reaches_the_departments_known_from_the_projection() -> None:
    facts = facts_of("supervision.report.filed", "P1", {"project_code": "P1"})
    audience = audience_of(facts, KnownProject(A, frozenset({"MEE"})))
    assert may_see(MEE, audience)
    assert may_see(ENT_A, audience)
    assert not may_see(MNR, audience)


def test_ops_sees_everything_and_an_unknown_audience_is_for_ops_only() -> None:
    assert may_see(OPS, None)
    assert may_see(OPS, Audience(credit_code=B))
    for viewer in (ENT_A, MEE):
        assert not may_see(viewer, None)
        assert not may_see(viewer, Audience(credit_code=None))


# --- signatures ----------------------------------------------------------------------------


def test_signature_is_the_hex_hmac_sha256_of_the_exact_body() -> None:
    body = b"The quick brown fox jumps over the lazy dog"
    assert signature("key", body) == (
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )
    expected = "sha256=" + hmac.new(b"s3cret", b"{}", hashlib.sha256).hexdigest()
    assert signature("s3cret", b"{}") == expected


def test_signature_check_rejects_another_secret_or_body() -> None:
    header = signature("s3cret", b'{"a":1}')
    assert signature_valid("s3cret", b'{"a":1}', header)
    assert not signature_valid("other", b'{"a":1}', header)
    assert not signature_valid("s3cret", b'{"a": 1}', header)  # one byte differs
    assert not signature_valid("s3cret", b'{"a":1}', None)


# --- retries -------------------------------------------------------------------------------


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_s=2, factor=2, max_delay_s=30)
    assert [policy.delay_after(n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert RetryPolicy(base_s=1, factor=2, max_delay_s=10).delay_after(10_000) == 10


def test_retries_stop_at_max_attempts_and_on_410() -> None:
    policy = RetryPolicy(base_s=1)
    assert next_delay(policy, attempts=1, max_attempts=3, status_code=500) == 1
    assert next_delay(policy, attempts=2, max_attempts=3, status_code=None) == 2
    assert next_delay(policy, attempts=3, max_attempts=3, status_code=500) is None
    assert next_delay(policy, attempts=1, max_attempts=3, status_code=410) is None


def test_a_retry_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="factor"):
        RetryPolicy(factor=0.5)
    with pytest.raises(ValueError, match="from 1"):
        RetryPolicy().delay_after(0)


# --- subscription validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x?y=1", "http://127.0.0.1:8080/hook", "http://[::1]/h"]
)
def test_valid_webhook_urls(url: str) -> None:
    # Loopback ones only where the deployment allows private targets (local development).
    assert target_problem("webhook", url, allow_private=True) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "http"),
        ("example.com/hook", "http"),
        ("https:///nohost", "host"),
        ("https://exa mple.com", "spaces"),
        ("http://example.com:99999/x", "URL"),
        ("https://example.com/" + "x" * 2048, "2048"),
    ],
)
def test_invalid_webhook_urls(url: str, why: str) -> None:
    problem = target_problem("webhook", url)
    assert problem is not None
    assert why in problem


@pytest.mark.parametrize("address", ["ops@example.com", "a.b+tag@sub.example.cn"])
def test_valid_email_addresses(address: str) -> None:
    assert target_problem("email", address) is None


@pytest.mark.parametrize("address", ["nobody", "a@b", "a b@example.com", "@example.com", "a@.com"])
def test_invalid_email_addresses(address: str) -> None:
    assert target_problem("email", address) == "not a valid e-mail address"


def test_event_types_must_be_known_and_not_empty() -> None:
    assert event_types_problem(["*"]) is None
    assert event_types_problem(sorted(KNOWN_EVENT_TYPES)) is None
    assert event_types_problem([]) is not None
    problem = event_types_problem(["project.approved", "project.eaten"])
    assert problem is not None
    assert "project.eaten" in problem
    assert "project.approved" not in problem


def test_event_types_are_normalised() -> None:
    assert normalise_event_types(["a", "b", "a"]) == ["a", "b"]
    assert normalise_event_types(["a", "*"]) == ["*"]
