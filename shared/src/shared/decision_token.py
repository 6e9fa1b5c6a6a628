"""The token a department system attaches to a decision it sends over Kafka.

`approval.decision.submitted` carries the CloudEvents extension attribute `authtoken`: an HS256
JWT signed with the platform's secret (like the HTTP tokens), `role` department, a `department`
claim equal to `data.department` and `aud` = `approval.decisions`. The audience keeps the two
kinds of token apart: the HTTP API refuses a token with any audience (PyJWT rejects an `aud`
claim when no audience is expected), and this check refuses a token without this one, so an HTTP
token leaked from a browser cannot decide over Kafka and a Kafka token cannot call the API.

Kept apart from `shared.auth` (the HTTP side) on purpose: only approval-svc and department
systems need it.
"""

from __future__ import annotations

import functools
import logging
import os
import time

import jwt

from shared.auth import ALGORITHM, InvalidToken
from shared.events import CloudEvent
from shared.topics import APPROVAL_DECISIONS

AUTHTOKEN_ATTRIBUTE = "authtoken"
DECISIONS_AUDIENCE = APPROVAL_DECISIONS
DEPARTMENT_ROLE = "department"
log = logging.getLogger(__name__)


class DecisionTokenRefused(InvalidToken):
    """Why a decision's token was refused; `kind` is a bounded label for metrics."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def mint_decision_token(
    secret: str,
    *,
    department: str,
    sub: str | None = None,
    ttl_seconds: int = 3_600,
    now: float | None = None,
) -> str:
    """A token that lets `department`'s system submit decisions on `approval.decisions`."""
    if not department:
        raise ValueError("a decision token needs a department")
    issued = int(now if now is not None else time.time())
    claims: dict[str, object] = {
        "sub": sub or f"{department} system",
        "role": DEPARTMENT_ROLE,
        "department": department,
        "aud": DECISIONS_AUDIENCE,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_decision_token(token: object, secret: str, *, department: str) -> str:
    """The token's subject when it may decide for `department`; `InvalidToken` saying why not."""
    if not isinstance(token, str) or not token:
        raise DecisionTokenRefused(
            "missing", f"the '{AUTHTOKEN_ATTRIBUTE}' extension attribute is missing"
        )
    try:
        subject, role, claimed, expires = _checked_claims(token, secret)
    except jwt.ExpiredSignatureError as exc:
        raise DecisionTokenRefused("expired", "authtoken has expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise DecisionTokenRefused(
            "audience", f"authtoken audience must be '{DECISIONS_AUDIENCE}'"
        ) from exc
    except jwt.MissingRequiredClaimError as exc:
        if exc.claim == "aud":  # an HTTP token: it has no audience
            raise DecisionTokenRefused(
                "audience", f"authtoken audience must be '{DECISIONS_AUDIENCE}' (none given)"
            ) from exc
        raise DecisionTokenRefused("claims", f"authtoken lacks the claim '{exc.claim}'") from exc
    except jwt.PyJWTError as exc:
        raise DecisionTokenRefused("invalid", f"authtoken is not valid: {exc}") from exc
    if expires <= time.time():  # as PyJWT decides it: a remembered token expires all the same
        raise DecisionTokenRefused("expired", "authtoken has expired")
    if role != DEPARTMENT_ROLE:
        raise DecisionTokenRefused("role", f"authtoken role must be '{DEPARTMENT_ROLE}'")
    if claimed != department:
        raise DecisionTokenRefused(
            "department",
            f"authtoken is for department {claimed!r}, the decision is for {department!r}",
        )
    return str(subject)


@functools.lru_cache(maxsize=1024)
def _checked_claims(token: str, secret: str) -> tuple[object, object, object, float]:
    """(sub, role, department, exp) of a token whose signature, audience and claims hold.

    A department system signs every decision with the same token for half an hour, and
    checking its signature was a third of the CPU approval spent on a decision: a token that
    passed is remembered (by its exact text and the secret), and only its expiry is checked
    again. A refusal raises, so it is never remembered.
    """
    options: dict[str, object] = {"require": ["sub", "role", "exp", "aud"]}
    claims = jwt.decode(
        token,
        secret,
        algorithms=[ALGORITHM],
        audience=DECISIONS_AUDIENCE,
        options=options,  # type: ignore[arg-type]  # PyJWT types options as a TypedDict
    )
    return claims["sub"], claims.get("role"), claims.get("department"), float(claims["exp"])


class DecisionTokens:
    """What a department system attaches to its decisions: a token handed to it (`token`), or
    one minted from the platform's `secret` (default: env `PLATFORM_JWT_SECRET`) and minted
    again half-way through its life."""

    def __init__(
        self,
        department: str,
        *,
        secret: str | None = None,
        token: str | None = None,
        ttl_seconds: int = 3_600,
    ) -> None:
        self.department = department
        self._secret = secret or os.environ.get("PLATFORM_JWT_SECRET") or None
        self._token = token
        self._ttl = ttl_seconds
        self._renew_at = float("inf") if token or not self._secret else 0.0

    def current(self) -> str | None:
        if self._secret and time.monotonic() >= self._renew_at:
            self._token = mint_decision_token(
                self._secret, department=self.department, ttl_seconds=self._ttl
            )
            self._renew_at = time.monotonic() + self._ttl / 2
        if self._token is None:
            log.warning("%s: no decision token; its decisions will be refused", self.department)
        return self._token

    def sign(self, event: CloudEvent) -> CloudEvent:
        """`event` with the `authtoken` extension attribute set (unchanged without a token)."""
        token = self.current()
        return event.model_copy(update={AUTHTOKEN_ATTRIBUTE: token}) if token else event
