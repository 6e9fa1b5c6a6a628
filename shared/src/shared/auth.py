"""Bearer-token identity shared by every service: HS256 JWTs with role and tenant claims."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.problems import ProblemError

ALGORITHM = "HS256"


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


class InvalidToken(ValueError):
    pass


def mint_token(
    secret: str,
    *,
    sub: str,
    role: str,
    credit_code: str | None = None,
    department: str | None = None,
    ttl_seconds: int = 86_400,
    now: float | None = None,
) -> str:
    """A signed token; tenant claims are checked here so a bad token is never minted."""
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


def decode_token(token: str, secret: str) -> Principal:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "role", "exp"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token has expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"token is not valid: {exc}") from exc
    return _principal_from_claims(claims)


def _principal_from_claims(claims: dict[str, object]) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("claim 'sub' is missing")
    try:
        role = Role(str(claims.get("role")))
    except ValueError as exc:
        raise InvalidToken("claim 'role' must be one of enterprise, department, ops") from exc
    credit_code = claims.get("credit_code")
    department = claims.get("department")
    if role is Role.ENTERPRISE and not (isinstance(credit_code, str) and credit_code):
        raise InvalidToken("an enterprise token needs the claim 'credit_code'")
    if role is Role.DEPARTMENT and not (isinstance(department, str) and department):
        raise InvalidToken("a department token needs the claim 'department'")
    # Claims are `object`; the per-role checks above made these strings, which mypy cannot
    # carry into the conditional expressions below.
    return Principal(
        sub=sub,
        role=role,
        credit_code=credit_code if role is Role.ENTERPRISE else None,  # type: ignore[arg-type]
        department=department if role is Role.DEPARTMENT else None,  # type: ignore[arg-type]
    )


_bearer = HTTPBearer(auto_error=False)


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        status=401,
        title="Unauthorized",
        detail=detail,
        headers={"WWW-Authenticate": 'Bearer realm="platform"'},
    )


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """FastAPI dependency: the caller, or 401. The secret lives on `app.state.jwt_secret`."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("an 'Authorization: Bearer <token>' header is required")
    try:
        return decode_token(credentials.credentials, request.app.state.jwt_secret)
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from exc


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """Dependency factory: the caller must hold one of `roles`, else 403."""
    allowed = frozenset(roles)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise ProblemError(
                status=403,
                title="Forbidden",
                detail=f"role '{principal.role}' may not do this; allowed: "
                + ", ".join(sorted(r.value for r in allowed)),
            )
        return principal

    return dependency


EnterprisePrincipal = Annotated[Principal, Depends(require_roles(Role.ENTERPRISE))]
DepartmentPrincipal = Annotated[Principal, Depends(require_roles(Role.DEPARTMENT))]
OpsPrincipal = Annotated[Principal, Depends(require_roles(Role.OPS))]
