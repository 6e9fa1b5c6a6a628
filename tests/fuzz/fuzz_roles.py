"""The callers every hostile-input test plays: each role's token, and no token at all."""

from __future__ import annotations

from testkit import auth_headers

CREDIT_CODE = "91440300708461136T"
ROLE_CLAIMS: dict[str, dict[str, str]] = {
    "enterprise": {"credit_code": CREDIT_CODE},
    "department": {"department": "MEE"},
    "ops": {},
}
ROLES = (*ROLE_CLAIMS, "anonymous")


def role_headers(role: str) -> dict[str, str]:
    """The Authorization header of a token of `role` ({} for an anonymous caller)."""
    return {} if role == "anonymous" else auth_headers(role, **ROLE_CLAIMS[role])
