"""Decision tokens: who may sign a decision sent over Kafka, and why a token is refused."""

from __future__ import annotations

import time

import jwt
import pytest

from shared import decision_token
from shared.auth import InvalidToken, decode_token, mint_token
from shared.decision_token import (
    DECISIONS_AUDIENCE,
    DecisionTokenRefused,
    DecisionTokens,
    mint_decision_token,
    verify_decision_token,
)

SECRET = "unit-test-secret-of-at-least-32-bytes!"


def refusal(token: object, department: str = "MEE") -> DecisionTokenRefused:
    with pytest.raises(DecisionTokenRefused) as caught:
        verify_decision_token(token, SECRET, department=department)
    return caught.value


def test_a_token_of_the_deciding_department_is_accepted() -> None:
    token = mint_decision_token(SECRET, department="MEE")
    assert verify_decision_token(token, SECRET, department="MEE") == "MEE system"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=DECISIONS_AUDIENCE)
    assert (claims["role"], claims["department"], claims["aud"]) == (
        "department",
        "MEE",
        "approval.decisions",
    )


@pytest.mark.parametrize("token", [None, "", 42])
def test_a_missing_token_is_refused(token: object) -> None:
    assert refusal(token).kind == "missing"


def test_another_departments_token_is_refused() -> None:
    refused = refusal(mint_decision_token(SECRET, department="NDRC"))
    assert refused.kind == "department"
    assert "'NDRC'" in str(refused)
    assert "'MEE'" in str(refused)


def test_an_http_token_without_the_audience_is_refused() -> None:
    http_token = mint_token(SECRET, sub="mee-user", role="department", department="MEE")
    assert refusal(http_token).kind == "audience"


def test_a_token_for_another_audience_is_refused() -> None:
    token = jwt.encode(
        {"sub": "x", "role": "department", "department": "MEE", "aud": "elsewhere",
         "exp": int(time.time()) + 60},
        SECRET,
        algorithm="HS256",
    )  # fmt: skip
    assert refusal(token).kind == "audience"


def test_a_token_of_another_role_is_refused() -> None:
    token = jwt.encode(
        {"sub": "ops", "role": "ops", "department": "MEE", "aud": DECISIONS_AUDIENCE,
         "exp": int(time.time()) + 60},
        SECRET,
        algorithm="HS256",
    )  # fmt: skip
    assert refusal(token).kind == "role"


def test_an_expired_token_is_refused() -> None:
    token = mint_decision_token(SECRET, department="MEE", ttl_seconds=60, now=time.time() - 120)
    assert refusal(token).kind == "expired"


def test_a_token_accepted_before_is_refused_once_it_has_expired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = mint_decision_token(SECRET, department="MEE", ttl_seconds=60)
    assert verify_decision_token(token, SECRET, department="MEE") == "MEE system"
    later = time.time() + 61
    monkeypatch.setattr(decision_token.time, "time", lambda: later)

    assert refusal(token).kind == "expired"


def test_a_token_accepted_before_still_decides_only_for_its_department() -> None:
    token = mint_decision_token(SECRET, department="MEE")
    assert verify_decision_token(token, SECRET, department="MEE") == "MEE system"

    assert refusal(token, department="NDRC").kind == "department"
    with pytest.raises(DecisionTokenRefused):
        verify_decision_token(token, "another-secret-of-at-least-32-bytes!!", department="MEE")


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = mint_decision_token("another-secret-also-32-bytes-long!!", department="MEE")
    assert refusal(token).kind == "invalid"


def test_a_token_without_expiry_is_refused() -> None:
    token = jwt.encode(
        {"sub": "x", "role": "department", "department": "MEE", "aud": DECISIONS_AUDIENCE},
        SECRET,
        algorithm="HS256",
    )
    assert refusal(token).kind == "claims"


def test_the_http_api_refuses_a_decision_token() -> None:
    with pytest.raises(InvalidToken, match="audience"):
        decode_token(mint_decision_token(SECRET, department="MEE"), SECRET)


def test_a_token_needs_a_department() -> None:
    with pytest.raises(ValueError, match="department"):
        mint_decision_token(SECRET, department="")


def test_a_department_system_signs_with_a_token_it_mints_or_is_given() -> None:
    from shared.events import new_event

    event = new_event(type="t", source="/departments/MEE", subject="p", data={})
    minted = DecisionTokens("MEE", secret=SECRET).sign(event)
    assert verify_decision_token(minted.model_extra["authtoken"], SECRET, department="MEE")
    given = DecisionTokens("MEE", token="handed-over").sign(event)
    assert given.model_extra == {"authtoken": "handed-over"}


def test_without_secret_or_token_nothing_is_attached(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.events import new_event

    monkeypatch.delenv("PLATFORM_JWT_SECRET", raising=False)
    event = new_event(type="t", source="/departments/MEE", subject="p", data={})
    assert DecisionTokens("MEE").sign(event) is event
