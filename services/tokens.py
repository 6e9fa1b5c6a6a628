"""Development tokens: `python -m services token ...` and the tokens `up` prints.

Signing is ``shared.auth.mint_token``; nothing here touches JWT itself.
Lifetimes stay within ``PLATFORM_JWT_MAX_TTL_S``, the cap the services enforce.
"""

from __future__ import annotations

import argparse
import os
import sys

from shared.auth import TokenPolicy, mint_token
from shared.settings import get_platform_settings
from shared.topics import DEPARTMENT_CODES

ROLES = ("enterprise", "department", "ops")
DEV_CREDIT_CODE = "91440300708461136T"
DEV_DEPARTMENTS = ("NDRC", "MEE")
DEFAULT_TTL_SECONDS = 86_400
_USCC_CHARS = set("0123456789ABCDEFGHJKLMNPQRTUWXY")


class TokenError(ValueError):
    """A token cannot be made; the message says why and what to do."""


def max_ttl_seconds() -> int:
    """The longest lifetime the services accept (PLATFORM_JWT_MAX_TTL_S, default 24 h)."""
    return get_platform_settings().jwt_max_ttl_s


def dev_ttl_seconds() -> int:
    """Lifetime of the tokens `up` prints: a day, or less when the services' cap is lower."""
    return min(DEFAULT_TTL_SECONDS, max_ttl_seconds())


def require_secret(environ: dict[str, str] | None = None) -> str:
    secret = (environ if environ is not None else dict(os.environ)).get("PLATFORM_JWT_SECRET")
    if not secret:
        raise TokenError(
            "PLATFORM_JWT_SECRET is not set. Use the secret `make run` printed when it started "
            "(export PLATFORM_JWT_SECRET=...), or set your own before `make run` so services "
            "and tokens share it."
        )
    return secret


def check_credit_code(code: str) -> str:
    """The code, upper-cased, if it is a valid unified social credit code (GB 32100-2015)."""
    value = code.strip().upper()
    if len(value) != 18 or not set(value) <= _USCC_CHARS:
        raise TokenError(
            f"credit code {code!r} must be 18 characters of 0-9 and A-Y without I, O, S, V, Z"
        )
    try:
        from stdnum.cn import uscc
    except ImportError:  # the library is optional here; the services verify anyway
        return value
    if not uscc.is_valid(value):
        raise TokenError(f"credit code {code!r} has a wrong check character")
    return value


def check_department(code: str) -> str:
    value = code.strip().upper()
    if value not in DEPARTMENT_CODES:
        raise TokenError(f"unknown department {code!r}; one of: {', '.join(DEPARTMENT_CODES)}")
    return value


def make_token(
    secret: str,
    role: str,
    *,
    credit_code: str | None = None,
    department: str | None = None,
    sub: str | None = None,
    ttl_seconds: int | None = None,
) -> str:
    """A signed token for `role`; checks that the role's identifying claim is given and valid.

    `ttl_seconds` defaults to `dev_ttl_seconds()` and may not exceed the services' cap.
    """
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    cap = max_ttl_seconds()
    ttl_seconds = min(DEFAULT_TTL_SECONDS, cap) if ttl_seconds is None else ttl_seconds
    if ttl_seconds <= 0:
        raise TokenError("--ttl must be a positive number of seconds")
    if ttl_seconds > cap:
        raise TokenError(
            f"--ttl may be at most {cap} seconds: services refuse longer-lived tokens "
            "(PLATFORM_JWT_MAX_TTL_S)"
        )
    if role == "enterprise":
        if not credit_code:
            raise TokenError("an enterprise token needs --credit-code (e.g. 91440300708461136T)")
        credit_code = check_credit_code(credit_code)
        department = None
    elif role == "department":
        if not department:
            raise TokenError("a department token needs --department (e.g. MEE)")
        department = check_department(department)
        credit_code = None
    else:
        credit_code = department = None
    default_sub = {"enterprise": f"ent-{credit_code}", "department": f"dept-{department}"}
    subject = sub or default_sub.get(role, "ops-dev")
    try:
        return mint_token(
            secret,
            sub=subject,
            role=role,
            credit_code=credit_code,
            department=department,
            ttl_seconds=ttl_seconds,
            policy=TokenPolicy(max_ttl_s=cap),
        )
    except ValueError as exc:  # the claims were refused by shared.auth
        raise TokenError(str(exc)) from exc


def dev_tokens(secret: str, ttl_seconds: int | None = None) -> list[tuple[str, str]]:
    """(label, token) for each development identity `up` prints."""
    tokens = [
        (
            f"enterprise {DEV_CREDIT_CODE}",
            make_token(secret, "enterprise", credit_code=DEV_CREDIT_CODE, ttl_seconds=ttl_seconds),
        )
    ]
    tokens += [
        (f"department {d}", make_token(secret, "department", department=d, ttl_seconds=ttl_seconds))
        for d in DEV_DEPARTMENTS
    ]
    tokens.append(("ops", make_token(secret, "ops", ttl_seconds=ttl_seconds)))
    return tokens


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--credit-code", help="enterprise: its unified social credit code")
    parser.add_argument("--department", help="department: its code, e.g. MEE")
    parser.add_argument("--sub", help="subject claim (default derived from the role)")
    parser.add_argument(
        "--ttl",
        type=int,
        default=None,
        help="lifetime in seconds (default 1 day, at most PLATFORM_JWT_MAX_TTL_S)",
    )
    parser.set_defaults(func=token_command)


def token_command(args: argparse.Namespace) -> int:
    """Print only the token on stdout, so `TOKEN=$(python -m services token ...)` works."""
    try:
        token = make_token(
            require_secret(),
            args.role,
            credit_code=args.credit_code,
            department=args.department,
            sub=args.sub,
            ttl_seconds=args.ttl,
        )
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0
