"""HS256 bearer tokens with role and tenant claims; 401/403 as problem+json."""

from __future__ import annotations

import time

import jwt
import pytest
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from shared import auth
from shared.auth import (
    ALGORITHM,
    DEFAULT_POLICY,
    Access,
    CurrentPrincipal,
    DepartmentPrincipal,
    EnterprisePrincipal,
    InvalidToken,
    OpsPrincipal,
    Principal,
    Role,
    TokenPolicy,
    decode_token,
    mint_token,
    require_roles,
    route_access,
)
from shared.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers

SECRET = "unit-test-secret-of-sufficient-length"
CREDIT = "91440300708461136T"


def test_round_trip_of_each_role() -> None:
    enterprise = decode_token(
        mint_token(SECRET, sub="u1", role="enterprise", credit_code=CREDIT), SECRET
    )
    department = decode_token(
        mint_token(SECRET, sub="u2", role="department", department="MEE"), SECRET
    )
    ops = decode_token(mint_token(SECRET, sub="u3", role="ops"), SECRET)

    assert enterprise == Principal(sub="u1", role=Role.ENTERPRISE, credit_code=CREDIT)
    assert department == Principal(sub="u2", role=Role.DEPARTMENT, department="MEE")
    assert ops == Principal(sub="u3", role=Role.OPS)
    assert ops.is_ops
    assert not enterprise.is_ops


def test_token_is_hs256_with_exp_and_contract_claims() -> None:
    token = mint_token(SECRET, sub="u1", role="enterprise", credit_code=CREDIT, ttl_seconds=60)

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, SECRET, algorithms=[ALGORITHM])

    assert header["alg"] == "HS256"
    assert claims["sub"] == "u1"
    assert claims["role"] == "enterprise"
    assert claims["credit_code"] == CREDIT
    assert claims["exp"] - claims["iat"] == 60
    assert "department" not in claims


def test_tenant_claims_of_other_roles_are_dropped() -> None:
    token = jwt.encode(
        {"sub": "u", "role": "ops", "credit_code": CREDIT, "department": "MEE",
         "exp": int(time.time()) + 60},
        SECRET,
        algorithm=ALGORITHM,
    )  # fmt: skip

    principal = decode_token(token, SECRET)

    assert principal.credit_code is None
    assert principal.department is None


def test_expired_token_is_refused() -> None:
    token = mint_token(SECRET, sub="u", role="ops", ttl_seconds=10, now=time.time() - 100)

    with pytest.raises(InvalidToken, match="expired"):
        decode_token(token, SECRET)


def test_a_token_accepted_before_is_refused_once_it_has_expired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = mint_token(SECRET, sub="u", role="ops", ttl_seconds=60)
    assert decode_token(token, SECRET).role is Role.OPS
    later = time.time() + 60 + DEFAULT_POLICY.leeway_s
    monkeypatch.setattr(auth.time, "time", lambda: later)

    with pytest.raises(InvalidToken, match="expired"):
        decode_token(token, SECRET)


def test_a_token_accepted_before_is_still_checked_against_the_secret_and_policy() -> None:
    token = mint_token(SECRET, sub="u", role="ops", ttl_seconds=3_600)
    assert decode_token(token, SECRET).role is Role.OPS

    with pytest.raises(InvalidToken, match="not valid"):
        decode_token(token, "another-secret-of-sufficient-length")
    with pytest.raises(InvalidToken, match="at most 600 s ahead"):
        decode_token(token, SECRET, TokenPolicy(max_ttl_s=600))


def test_wrong_secret_is_refused() -> None:
    token = mint_token(SECRET, sub="u", role="ops")

    with pytest.raises(InvalidToken):
        decode_token(token, "another-secret-of-sufficient-length")


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "u", "role": "enterprise"},  # no credit code
        {"sub": "u", "role": "enterprise", "credit_code": ""},
        {"sub": "u", "role": "department"},  # no department
        {"sub": "u", "role": "admin"},
        {"role": "ops"},
        {"sub": "u"},
        {"sub": "", "role": "ops"},
    ],
)
def test_tokens_missing_required_claims_are_refused(claims: dict[str, object]) -> None:
    token = jwt.encode({**claims, "exp": int(time.time()) + 60}, SECRET, algorithm=ALGORITHM)

    with pytest.raises(InvalidToken):
        decode_token(token, SECRET)


def test_token_without_exp_is_refused() -> None:
    token = jwt.encode({"sub": "u", "role": "ops"}, SECRET, algorithm=ALGORITHM)

    with pytest.raises(InvalidToken):
        decode_token(token, SECRET)


def test_unsigned_and_other_algorithms_are_refused() -> None:
    claims = {"sub": "u", "role": "ops", "exp": int(time.time()) + 60}
    unsigned = jwt.encode(claims, None, algorithm="none")
    hs512 = jwt.encode(claims, SECRET, algorithm="HS512")

    for token in (unsigned, hs512):
        with pytest.raises(InvalidToken):
            decode_token(token, SECRET)


def test_a_bad_token_is_never_minted() -> None:
    with pytest.raises(InvalidToken):
        mint_token(SECRET, sub="u", role="enterprise")
    with pytest.raises(InvalidToken):
        mint_token(SECRET, sub="u", role="root")


# --- FastAPI dependencies ---------------------------------------------------------------


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.state.jwt_secret = SECRET
    install_problem_handlers(app)

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str | None]:
        return {"sub": principal.sub, "role": principal.role.value}

    @app.get("/enterprise")
    async def enterprise(principal: EnterprisePrincipal) -> dict[str, str | None]:
        return {"credit_code": principal.credit_code}

    @app.get("/department")
    async def department(principal: DepartmentPrincipal) -> dict[str, str | None]:
        return {"department": principal.department}

    @app.get("/ops")
    async def ops(principal: OpsPrincipal) -> dict[str, str]:
        return {"sub": principal.sub}

    return TestClient(app)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_401(response) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["detail"]


def test_missing_header_is_401(client: TestClient) -> None:
    _assert_401(client.get("/me"))


def test_other_scheme_is_401(client: TestClient) -> None:
    _assert_401(client.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"}))


def test_garbage_token_is_401(client: TestClient) -> None:
    _assert_401(client.get("/me", headers=_bearer("not.a.jwt")))


def test_expired_token_is_401_saying_so(client: TestClient) -> None:
    token = mint_token(SECRET, sub="u", role="ops", ttl_seconds=1, now=time.time() - 10)

    response = client.get("/me", headers=_bearer(token))

    _assert_401(response)
    assert "expired" in response.json()["detail"]


def test_token_signed_with_another_secret_is_401(client: TestClient) -> None:
    token = mint_token("someone-elses-secret-of-some-length", sub="u", role="ops")

    _assert_401(client.get("/me", headers=_bearer(token)))


def test_valid_token_reaches_the_endpoint(client: TestClient) -> None:
    token = mint_token(SECRET, sub="u9", role="ops")

    response = client.get("/me", headers=_bearer(token))

    assert response.status_code == 200
    assert response.json() == {"sub": "u9", "role": "ops"}


@pytest.mark.parametrize(
    ("path", "role", "claims", "allowed"),
    [
        ("/enterprise", "enterprise", {"credit_code": CREDIT}, True),
        ("/enterprise", "department", {"department": "MEE"}, False),
        ("/enterprise", "ops", {}, False),
        ("/department", "department", {"department": "MEE"}, True),
        ("/department", "enterprise", {"credit_code": CREDIT}, False),
        ("/ops", "ops", {}, True),
        ("/ops", "enterprise", {"credit_code": CREDIT}, False),
    ],
)
def test_role_checks(
    client: TestClient, path: str, role: str, claims: dict[str, str], allowed: bool
) -> None:
    token = mint_token(SECRET, sub="u", role=role, **claims)

    response = client.get(path, headers=_bearer(token))

    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        body = response.json()
        assert body["status"] == 403
        assert role in body["detail"]


def test_role_dependency_exposes_tenant_claims(client: TestClient) -> None:
    enterprise = mint_token(SECRET, sub="u", role="enterprise", credit_code=CREDIT)
    department = mint_token(SECRET, sub="u", role="department", department="MNR")

    assert client.get("/enterprise", headers=_bearer(enterprise)).json() == {"credit_code": CREDIT}
    assert client.get("/department", headers=_bearer(department)).json() == {"department": "MNR"}


# --- lifetime, nbf/iat, catalogue claims ------------------------------------------------


def _signed(**claims: object) -> str:
    return jwt.encode({"sub": "u", "role": "ops", **claims}, SECRET, algorithm=ALGORITHM)


def test_exp_far_ahead_is_refused() -> None:
    token = _signed(exp=int(time.time()) + 950 * 365 * 86_400)

    with pytest.raises(InvalidToken, match="lifetime"):
        decode_token(token, SECRET)


def test_exp_is_capped_by_the_policy() -> None:
    policy = TokenPolicy(max_ttl_s=600, leeway_s=5)
    now = int(time.time())

    assert decode_token(_signed(exp=now + 590), SECRET, policy).role is Role.OPS
    with pytest.raises(InvalidToken, match="at most 600 s ahead"):
        decode_token(_signed(exp=now + 700), SECRET, policy)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_from_the_future_is_refused(claim: str) -> None:
    now = int(time.time())

    with pytest.raises(InvalidToken, match=f"not valid yet.*{claim}"):
        decode_token(_signed(exp=now + 600, **{claim: now + 120}), SECRET)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_small_clock_skew_is_forgiven(claim: str) -> None:
    now = int(time.time())

    principal = decode_token(_signed(exp=now + 600, **{claim: now + 2}), SECRET)

    assert principal.role is Role.OPS


def test_a_department_outside_the_catalogue_is_refused() -> None:
    token = _signed(role="department", department="ANYTHING", exp=int(time.time()) + 60)

    with pytest.raises(InvalidToken, match="department of the catalogue"):
        decode_token(token, SECRET)


@pytest.mark.parametrize("code", ["91440300708461136X", "not-a-code", "9144030070846113"])
def test_an_invalid_credit_code_is_refused(code: str) -> None:
    token = _signed(role="enterprise", credit_code=code, exp=int(time.time()) + 60)

    with pytest.raises(InvalidToken, match="credit code"):
        decode_token(token, SECRET)


@pytest.mark.parametrize("sub", ["a\x00b", "x" * 201, "tab\tin"])
def test_a_subject_that_cannot_be_stored_is_refused(sub: str) -> None:
    token = _signed(sub=sub, exp=int(time.time()) + 60)

    with pytest.raises(InvalidToken, match="sub"):
        decode_token(token, SECRET)


def test_a_subject_with_a_lone_surrogate_is_never_minted() -> None:
    with pytest.raises(InvalidToken, match="sub"):
        mint_token(SECRET, sub="\ud800", role="ops")


@pytest.mark.parametrize("ttl", [0, -5, 86_401])
def test_a_token_beyond_the_lifetime_cap_is_never_minted(ttl: int) -> None:
    with pytest.raises(InvalidToken, match="PLATFORM_JWT_MAX_TTL_S"):
        mint_token(SECRET, sub="u", role="ops", ttl_seconds=ttl)


def test_minting_follows_a_tighter_policy() -> None:
    policy = TokenPolicy(max_ttl_s=60)

    with pytest.raises(InvalidToken):
        mint_token(SECRET, sub="u", role="ops", ttl_seconds=61, policy=policy)
    assert decode_token(mint_token(SECRET, sub="u", role="ops", ttl_seconds=60), SECRET, policy)


# --- what a route demands, read from its dependencies ----------------------------------


def test_route_access_reads_tokens_and_roles_from_the_dependency_tree() -> None:
    app = FastAPI()

    @app.get("/public")
    async def public() -> None: ...

    @app.get("/any")
    async def any_role(_: CurrentPrincipal) -> None: ...

    @app.get("/ops")
    async def ops(_: OpsPrincipal) -> None: ...

    @app.get("/either", dependencies=[Depends(require_roles(Role.OPS, Role.DEPARTMENT))])
    async def either() -> None: ...

    access = {r.path: route_access(r.dependant) for r in app.routes if isinstance(r, APIRoute)}

    assert access["/public"] is None
    assert access["/any"] == Access(roles=None)
    assert access["/ops"] == Access(roles=frozenset({Role.OPS}))
    assert access["/either"] == Access(roles=frozenset({Role.OPS, Role.DEPARTMENT}))
