"""Development tokens stay within the lifetime the services accept."""

from __future__ import annotations

import jwt
import pytest

from services import tokens
from shared.auth import decode_token

SECRET = "dev-token-test-secret-of-sufficient-length"


def _lifetime(token: str) -> int:
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    return int(claims["exp"]) - int(claims["iat"])


def test_dev_tokens_live_a_day_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLATFORM_JWT_MAX_TTL_S", raising=False)

    dev = tokens.dev_tokens(SECRET)

    assert {_lifetime(t) for _, t in dev} == {86_400}
    assert all(decode_token(t, SECRET) for _, t in dev)


def test_dev_tokens_follow_a_lower_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_JWT_MAX_TTL_S", "600")

    dev = tokens.dev_tokens(SECRET)

    assert {_lifetime(t) for _, t in dev} == {600}
    assert tokens.dev_ttl_seconds() == 600


def test_a_ttl_beyond_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_JWT_MAX_TTL_S", "600")

    with pytest.raises(tokens.TokenError, match="at most 600"):
        tokens.make_token(SECRET, "ops", ttl_seconds=601)
    assert _lifetime(tokens.make_token(SECRET, "ops", ttl_seconds=600)) == 600
