"""Bearer-token identity shared by every service: HS256 JWTs with role and tenant claims.

A token must carry `sub`, `role` and `exp`; `exp` may lie at most `PLATFORM_JWT_MAX_TTL_S`
ahead, `nbf` and `iat` are honoured (within `PLATFORM_JWT_LEEWAY_S` of clock skew), a department
claim names one of the contract's departments and an enterprise claim a valid unified social
credit code (GB 32100-2015).
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from stdnum.cn import uscc

from shared.problems import ProblemError
from shared.topics import DEPARTMENT_CODES

ALGORITHM = "HS256"
DEFAULT_MAX_TTL_S = 86_400
DEFAULT_LEEWAY_S = 5
MAX_SUBJECT_LENGTH = 200
PRINCIPAL_STATE_KEY = "platform.principal"


class Role(StrEnum):
    ENTERPRISE = "enterprise"
    DEPARTMENT = "department"
    OPS = "ops"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the verified claims of the token."""

    sub: str
    role: Role
    credit_code: str | None = None
    department: str | None = None

    @property
    def is_ops(self) -> bool:
        return self.role is Role.OPS


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """How long a token may live and how much clock skew is forgiven."""

    max_ttl_s: int = DEFAULT_MAX_TTL_S
    leeway_s: int = DEFAULT_LEEWAY_S


DEFAULT_POLICY = TokenPolicy()


class InvalidToken(ValueError):
    pass


def mint_token(
    secret: str,
    *,
    sub: str,
    role: str,
    credit_code: str | None = None,
    department: str | None = None,
    ttl_seconds: int = DEFAULT_MAX_TTL_S,
    now: float | None = None,
    policy: TokenPolicy = DEFAULT_POLICY,
) -> str:
    """A signed token; its claims are checked here so a token services refuse is never minted."""
    if not 0 < ttl_seconds <= policy.max_ttl_s:
        raise InvalidToken(
            f"a token lives between 1 and {policy.max_ttl_s} seconds "
            f"(PLATFORM_JWT_MAX_TTL_S); asked for {ttl_seconds}"
        )
    principal = _principal_from_claims(
        {"sub": sub, "role": role, "credit_code": credit_code, "department": department}
    )
    issued = int(now if now is not None else time.time())
    claims: dict[str, object] = {
        "sub": principal.sub,
        "role": principal.role.value,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    if principal.credit_code:
        claims["credit_code"] = principal.credit_code
    if principal.department:
        claims["department"] = principal.department
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str, policy: TokenPolicy = DEFAULT_POLICY) -> Principal:
    """The principal of a valid token, else `InvalidToken` saying what is wrong with it."""
    principal, expires = _verified(token, secret, policy)
    # A remembered token expires all the same (PyJWT's rule: `exp <= now - leeway`). What
    # else depends on the time only gets easier to pass as it goes on: a token that was not
    # too young (`nbf`, `iat`) nor too long-lived when it was verified still is not.
    if expires <= time.time() - policy.leeway_s:
        raise InvalidToken("token has expired")
    return principal


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str, policy: TokenPolicy) -> tuple[Principal, int]:
    """The principal and `exp` of a token whose signature and claims hold.

    Every request carries one of a few tokens (a person's or a system's, for hours), and
    checking the signature and claims of each was a fifth of the CPU of a submission: a token
    that passed is remembered by its exact text, the secret and the policy. A refusal raises,
    so it is never remembered.
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            leeway=policy.leeway_s,
            options={"require": ["sub", "role", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token has expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise InvalidToken(f"token is not valid yet: {exc}") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"token is not valid: {exc}") from exc
    # PyJWT checked that exp is an integer in the future; a token living longer than the cap
    # (a leaked one would stay useful for years) is refused whoever signed it.
    expires = int(claims["exp"])
    if expires > time.time() + policy.max_ttl_s + policy.leeway_s:
        raise InvalidToken(
            f"token lifetime is too long: 'exp' may be at most {policy.max_ttl_s} s ahead"
        )
    return _principal_from_claims(claims), expires


def _principal_from_claims(claims: dict[str, object]) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("claim 'sub' is missing")
    if len(sub) > MAX_SUBJECT_LENGTH or not sub.isprintable() or not _storable(sub):
        raise InvalidToken(f"claim 'sub' must be printable text of at most {MAX_SUBJECT_LENGTH}")
    try:
        role = Role(str(claims.get("role")))
    except ValueError as exc:
        raise InvalidToken("claim 'role' must be one of enterprise, department, ops") from exc
    credit_code = claims.get("credit_code")
    department = claims.get("department")
    if role is Role.ENTERPRISE:
        if not (isinstance(credit_code, str) and credit_code):
            raise InvalidToken("an enterprise token needs the claim 'credit_code'")
        if not uscc.is_valid(credit_code):
            raise InvalidToken("claim 'credit_code' is not a valid unified social credit code")
        return Principal(sub=sub, role=role, credit_code=credit_code)
    if role is Role.DEPARTMENT:
        if not (isinstance(department, str) and department):
            raise InvalidToken("a department token needs the claim 'department'")
        if department not in DEPARTMENT_CODES:
            raise InvalidToken(
                "claim 'department' must name a department of the catalogue: "
                + ", ".join(DEPARTMENT_CODES)
            )
        return Principal(sub=sub, role=role, department=department)
    return Principal(sub=sub, role=role)


def _storable(text: str) -> bool:
    # Lone surrogates cannot be encoded (nor stored by PostgreSQL).
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_bearer = HTTPBearer(auto_error=False)


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        status=401,
        title="Unauthorized",
        detail=detail,
        headers={"WWW-Authenticate": 'Bearer realm="platform"'},
    )


def authenticate(authorization: str | None, secret: str, policy: TokenPolicy) -> Principal:
    """The caller named by an `Authorization` header value, else a 401 problem."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise _unauthorized("an 'Authorization: Bearer <token>' header is required")
    try:
        return decode_token(credentials.strip(), secret, policy)
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from exc


def token_policy(app_state: Any) -> TokenPolicy:
    """The policy `create_service_app` put on the app state (the defaults elsewhere)."""
    policy = getattr(app_state, "token_policy", None)
    return policy if isinstance(policy, TokenPolicy) else DEFAULT_POLICY


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """FastAPI dependency: the caller, or 401. The secret lives on `app.state.jwt_secret`."""
    # Usually the auth-first middleware has verified the token already (before validation).
    verified = request.scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
    if isinstance(verified, Principal):
        return verified
    if credentials is None:
        raise _unauthorized("an 'Authorization: Bearer <token>' header is required")
    return authenticate(
        f"{credentials.scheme} {credentials.credentials}",
        request.app.state.jwt_secret,
        token_policy(request.app.state),
    )


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]

# The roles each `require_roles` dependency admits, so a route's requirements can be read
# from its dependency tree (the auth-first middleware and the OpenAPI document do).
_ROLE_GUARDS: weakref.WeakKeyDictionary[Callable[..., Any], frozenset[Role]] = (
    weakref.WeakKeyDictionary()
)


def forbidden(principal: Principal, allowed: frozenset[Role]) -> ProblemError:
    return ProblemError(
        status=403,
        title="Forbidden",
        detail=f"role '{principal.role}' may not do this; allowed: "
        + ", ".join(sorted(r.value for r in allowed)),
    )


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """Dependency factory: the caller must hold one of `roles`, else 403."""
    allowed = frozenset(roles)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise forbidden(principal, allowed)
        return principal

    _ROLE_GUARDS[dependency] = allowed
    return dependency


@dataclass(frozen=True, slots=True)
class Access:
    """What a route asks of its caller: a valid token, and (if not None) one of these roles."""

    roles: frozenset[Role] | None = None

    def check(self, principal: Principal) -> None:
        if self.roles is not None and principal.role not in self.roles:
            raise forbidden(principal, self.roles)


def route_access(dependant: Any) -> Access | None:
    """The access a FastAPI route's dependency tree demands; None for a public route."""
    needs_token = False
    roles: frozenset[Role] | None = None
    stack = [dependant]
    while stack:
        node = stack.pop()
        call = getattr(node, "call", None)
        if call is get_principal:
            needs_token = True
        elif call is not None and (guard := _ROLE_GUARDS.get(call)) is not None:
            needs_token = True
            roles = guard if roles is None else roles & guard
        stack.extend(getattr(node, "dependencies", ()))
    return Access(roles) if needs_token else None


EnterprisePrincipal = Annotated[Principal, Depends(require_roles(Role.ENTERPRISE))]
DepartmentPrincipal = Annotated[Principal, Depends(require_roles(Role.DEPARTMENT))]
OpsPrincipal = Annotated[Principal, Depends(require_roles(Role.OPS))]
