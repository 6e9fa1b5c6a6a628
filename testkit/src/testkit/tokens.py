"""Bearer tokens for tests, signed with the secret the test apps are configured with."""

from __future__ import annotations

from typing import Any

import jwt

from shared import auth

TEST_JWT_SECRET = "platform-test-secret-0123456789abcdef"  # >= 32 bytes for HS256
"""The secret every test app and test token share unless a test says otherwise."""


def mint_token(
    role: str,
    *,
    credit_code: str | None = None,
    department: str | None = None,
    secret: str = TEST_JWT_SECRET,
    ttl_s: int = 3600,
    **claims: Any,
) -> str:
    """A signed token for `role` (`sub` defaults to ``test-<role>``).

    Tenant claims are checked by :func:`shared.auth.mint_token`, so a bad token is never minted
    by accident; `now` (epoch seconds) backdates it. Any other keyword becomes an extra claim.
    """
    sub = str(claims.pop("sub", f"test-{role}"))
    now = claims.pop("now", None)
    token = auth.mint_token(
        secret,
        sub=sub,
        role=role,
        credit_code=credit_code,
        department=department,
        ttl_seconds=ttl_s,
        now=now,
    )
    if not claims:
        return token
    payload = jwt.decode(token, secret, algorithms=[auth.ALGORITHM], options={"verify_exp": False})
    return jwt.encode({**payload, **claims}, secret, algorithm=auth.ALGORITHM)


def auth_headers(
    role: str,
    *,
    credit_code: str | None = None,
    department: str | None = None,
    secret: str = TEST_JWT_SECRET,
    ttl_s: int = 3600,
    **claims: Any,
) -> dict[str, str]:
    """``{"Authorization": "Bearer <token>"}`` for :func:`mint_token`'s arguments."""
    token = mint_token(
        role, credit_code=credit_code, department=department, secret=secret, ttl_s=ttl_s, **claims
    )
    return {"Authorization": f"Bearer {token}"}
