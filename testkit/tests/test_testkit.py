"""The kit's pure parts: polling, tokens, regions, clock environment, event keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import jwt
import pytest

from shared.auth import decode_token
from shared.events import new_event
from testkit import (
    TEST_JWT_SECRET,
    auth_headers,
    clock_from_env,
    compressed_clock_env,
    county_codes,
    decode,
    eventually,
    eventually_sync,
    mint_token,
    unique_group,
    unique_region,
)
from testkit.kafka import _key


async def test_eventually_returns_the_first_truthy_value_of_a_sync_or_async_check():
    calls = count(1)

    async def third_time() -> list[int]:
        n = next(calls)
        return [n] if n >= 3 else []

    assert await eventually(third_time, interval_s=0) == [3]
    assert await eventually(lambda: "ok", interval_s=0) == "ok"


async def test_eventually_names_what_it_waited_for_and_the_last_value():
    with pytest.raises(AssertionError, match=r"the report.*last value: \[\]"):
        await eventually(lambda: [], timeout_s=0, what="the report")


def test_eventually_sync_polls_until_true_or_fails():
    calls = count(1)
    assert eventually_sync(lambda: next(calls) >= 2, interval_s=0) is True
    with pytest.raises(AssertionError, match="flag"):
        eventually_sync(lambda: 0, timeout_s=0, what="flag")


def test_tokens_carry_role_tenant_and_expiry():
    principal = decode_token(mint_token("department", department="MEE"), TEST_JWT_SECRET)
    assert (principal.role.value, principal.department) == ("department", "MEE")
    header = auth_headers("enterprise", credit_code="91440300708461136T", secret="s" * 32)
    token = header["Authorization"].removeprefix("Bearer ")
    assert decode_token(token, "s" * 32).credit_code == "91440300708461136T"
    claims = jwt.decode(token, "s" * 32, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 3600


def test_extra_claims_and_sub_are_added():
    token = mint_token("ops", sub="alice", tenant_hint="x")
    claims = jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["tenant_hint"]) == ("alice", "x")


def test_unique_regions_are_distinct_real_county_codes():
    codes = [unique_region() for _ in range(200)]
    assert len(set(codes)) == 200
    assert all(len(c) == 6 and c.isdigit() and not c.endswith("00") for c in codes)
    assert set(codes) <= set(county_codes())
    assert "110105" in county_codes()  # Beijing, Chaoyang district
    assert len(county_codes()) > 2000


def test_unique_groups_differ_and_keep_their_prefix():
    a, b = unique_group("approval"), unique_group("approval")
    assert a != b
    assert a.startswith("approval-")


def test_compressed_clock_env_drives_the_services_clock():
    epoch = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    env = compressed_clock_env(60, epoch=epoch)
    assert env == {
        "PLATFORM_DAY_SECONDS": "60.0",
        "PLATFORM_CLOCK_EPOCH": "2026-03-02T08:00:00+00:00",
    }
    clock = clock_from_env(env)
    assert clock.epoch == epoch
    assert clock.real_seconds(timedelta(days=1).total_seconds()) == pytest.approx(60)
    with pytest.raises(ValueError, match="positive"):
        compressed_clock_env(0)


def test_events_are_keyed_by_subject_unless_told_otherwise():
    event = new_event(type="x.test", source="/test", subject="P-1", data={})
    assert _key(lambda e: e.subject, event) == b"P-1"
    assert _key("fixed", event) == b"fixed"
    assert _key(None, event) is None
    assert decode(event.to_json()) == event
    assert decode(b"not json") is None
    assert decode(None) is None
