"""Cursors are opaque, signed and typed; a bad one is a 422 naming `cursor`, never a 500."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared.pagination import (
    DEFAULT_LIMIT,
    MAX_CURSOR_LENGTH,
    Cursor,
    CursorCodec,
    Cursors,
    InvalidCursor,
    Limit,
    Page,
    stored,
)
from shared.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers

SECRET = "test-secret-for-cursors"
AT = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec.from_secret(SECRET)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- codec -------------------------------------------------------------------------------


def test_round_trip_keeps_types_and_values(codec: CursorCodec) -> None:
    assert codec.decode(codec.encode((AT, "2503-110105-03-01-000017")), (datetime, str)) == (
        AT,
        "2503-110105-03-01-000017",
    )
    assert codec.decode(codec.encode((42,)), (int,)) == (42,)
    assert codec.decode(codec.encode(("NDRC",)), (str,)) == ("NDRC",)
    assert codec.decode(codec.encode((AT, 7, "ü/+=")), (datetime, int, str)) == (AT, 7, "ü/+=")


@pytest.mark.parametrize("value", [0, -1, 2**63 - 1, -(2**63)])
def test_integers_within_64_bits_round_trip(codec: CursorCodec, value: int) -> None:
    assert codec.decode(codec.encode((value,)), (int,)) == (value,)


def test_times_come_back_aware_in_utc(codec: CursorCodec) -> None:
    beijing = AT.astimezone(timezone(timedelta(hours=8)))

    (decoded,) = codec.decode(codec.encode((beijing,)), (datetime,)) or (None,)

    assert decoded == AT
    assert decoded is not None
    assert decoded.utcoffset() == timedelta(0)


def test_cursor_is_url_safe_and_unpadded(codec: CursorCodec) -> None:
    cursor = codec.encode((AT, "a/b+c=?&"))

    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_no_cursor_means_the_first_page(codec: CursorCodec) -> None:
    assert codec.decode(None, (int,)) is None


def test_codecs_from_the_same_secret_agree_and_others_do_not(codec: CursorCodec) -> None:
    cursor = codec.encode((5,))

    # Every replica of every service derives the same key from the shared secret.
    assert CursorCodec.from_secret(SECRET).decode(cursor, (int,)) == (5,)
    with pytest.raises(InvalidCursor):
        CursorCodec.from_secret("another secret").decode(cursor, (int,))
    # The key is derived: a codec keyed with the raw secret does not accept the cursor.
    with pytest.raises(InvalidCursor):
        CursorCodec(SECRET.encode()).decode(cursor, (int,))


def test_explicit_key_is_accepted_and_must_be_long_enough() -> None:
    codec = CursorCodec(b"k" * 32)

    assert codec.decode(codec.encode(("x",)), (str,)) == ("x",)
    with pytest.raises(ValueError, match="16 bytes"):
        CursorCodec(b"short")
    with pytest.raises(ValueError, match="secret"):
        CursorCodec.from_secret("")


def test_a_tampered_payload_is_refused(codec: CursorCodec) -> None:
    _, mac = codec.encode((100,)).split(".")
    forged_payload = _b64(json.dumps([99]).encode())

    with pytest.raises(InvalidCursor, match="not a cursor this API issued"):
        codec.decode(f"{forged_payload}.{mac}", (int,))


def test_a_tampered_signature_is_refused(codec: CursorCodec) -> None:
    payload, mac = codec.encode((100,)).split(".")
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]

    with pytest.raises(InvalidCursor):
        codec.decode(f"{payload}.{flipped}", (int,))
    with pytest.raises(InvalidCursor):
        codec.decode(f"{payload}.", (int,))


def test_an_unsigned_cursor_of_the_old_format_is_refused(codec: CursorCodec) -> None:
    unsigned = _b64(json.dumps(["2025-01-01T00:00:00+00:00", "P-1"]).encode())

    with pytest.raises(InvalidCursor):
        codec.decode(unsigned, (datetime, str))


def test_a_naive_time_is_refused(codec: CursorCodec) -> None:
    # Signed by the codec, so only the content check can catch it (a naive time compared
    # with the stored aware ones used to fail in the database: a 500).
    cursor = codec.encode(("2025-01-01T00:00:00",))

    with pytest.raises(InvalidCursor, match="without an offset"):
        codec.decode(cursor, (datetime,))


@pytest.mark.parametrize("text", ["yesterday", "2025-13-01T00:00:00+00:00", ""])
def test_a_malformed_time_is_refused(codec: CursorCodec, text: str) -> None:
    with pytest.raises(InvalidCursor, match="malformed time"):
        codec.decode(codec.encode((text,)), (datetime,))


def test_a_time_past_the_calendar_after_conversion_is_refused(codec: CursorCodec) -> None:
    with pytest.raises(InvalidCursor, match="out of range"):
        codec.decode(codec.encode(("9999-12-31T23:59:59-14:00",)), (datetime,))


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**40])
def test_an_integer_beyond_64_bits_is_refused(codec: CursorCodec, value: int) -> None:
    with pytest.raises(InvalidCursor, match="malformed number"):
        codec.decode(codec.encode((value,)), (int,))


@pytest.mark.parametrize(
    ("position", "shape"),
    [
        ((1,), (datetime, str)),  # too short
        ((AT, "P", 3), (datetime, str)),  # too long
        (("12",), (int,)),  # a number as text
        ((12,), (str,)),  # text as a number
        ((AT,), (int,)),
        ((), (int,)),
    ],
)
def test_a_cursor_of_another_shape_is_refused(
    codec: CursorCodec, position: tuple[datetime | int | str, ...], shape: Any
) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode(codec.encode(position), shape)


@pytest.mark.parametrize("text", ["a\x00b", "x" * 257])
def test_text_that_no_key_holds_is_refused(codec: CursorCodec, text: str) -> None:
    with pytest.raises(InvalidCursor, match="malformed key"):
        codec.decode(codec.encode((text,)), (str,))


@pytest.mark.parametrize(
    "garbage",
    [
        "not a cursor!",
        "%%%garbage",
        "",
        ".",
        "a.b.c",
        "e",
        "é.é",
        "AAAA.AAAA",
        _b64(b"\xff\xfe\x00") + "." + _b64(b"\x00" * 16),
        "A" * (MAX_CURSOR_LENGTH + 1),
    ],
)
def test_garbage_is_refused(codec: CursorCodec, garbage: str) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode(garbage, (int,))


def test_invalid_cursor_is_a_value_error_naming_the_field() -> None:
    # Domain-neutral: code that knows nothing of HTTP may catch it as bad input.
    assert issubclass(InvalidCursor, ValueError)
    assert InvalidCursor("x").field == "cursor"


def test_encoding_refuses_what_no_list_sorts_by(codec: CursorCodec) -> None:
    with pytest.raises(ValueError, match="aware"):
        codec.encode((datetime(2025, 1, 1),))
    with pytest.raises(TypeError):
        codec.encode((True,))
    with pytest.raises(TypeError):
        codec.encode((1.5,))  # type: ignore[arg-type]  # the point of the test


def test_split_page_cuts_at_limit_and_points_after_the_last_row(codec: CursorCodec) -> None:
    page, cursor = codec.split_page([1, 2, 3], 2, lambda n: (n,))

    assert page == [1, 2]
    assert codec.decode(cursor, (int,)) == (2,)
    assert codec.split_page([1, 2], 2, lambda n: (n,)) == ([1, 2], None)
    assert codec.split_page([], 5, lambda n: (n,)) == ([], None)


def test_stored_passes_values_and_refuses_none() -> None:
    assert stored(3) == 3
    with pytest.raises(ValueError, match="None"):
        stored(None)


# --- over HTTP ---------------------------------------------------------------------------


def _app(**state: object) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    for name, value in state.items():
        setattr(app.state, name, value)

    @app.get("/numbers")
    async def numbers(
        cursors: Cursors, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> Page[int]:
        position = cursors.decode(cursor, (int,))
        start = position[0] + 1 if position else 0
        rows = list(range(start, min(start + limit + 1, 120)))
        items, next_cursor = cursors.split_page(rows, limit, lambda n: (n,))
        return Page[int](items=items, next_cursor=next_cursor)

    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(_app(jwt_secret=SECRET), raise_server_exceptions=False)


def _problem_at_cursor(response: Any) -> dict[str, Any]:
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body["errors"][0]["loc"] == ["query", "cursor"]
    assert "query.cursor" in body["detail"]
    return body


def test_pages_follow_the_cursor_to_the_end(client: TestClient) -> None:
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 50} | ({"cursor": cursor} if cursor else {})
        page = client.get("/numbers", params=params).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(range(120))


def test_the_cursor_is_keyed_from_the_apps_jwt_secret(client: TestClient) -> None:
    first = client.get("/numbers", params={"limit": 3}).json()

    assert CursorCodec.from_secret(SECRET).decode(first["next_cursor"], (int,)) == (2,)


def test_an_explicit_codec_on_the_app_wins() -> None:
    codec = CursorCodec(b"e" * 32)
    client = TestClient(_app(jwt_secret=SECRET, cursor_codec=codec))

    first = client.get("/numbers", params={"limit": 3}).json()

    assert codec.decode(first["next_cursor"], (int,)) == (2,)


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%garbage",
        _b64(json.dumps([2]).encode()),  # unsigned
        CursorCodec.from_secret("another secret").encode((2,)),  # another key
        CursorCodec.from_secret(SECRET).encode((2**64,)),  # beyond 64 bits
        CursorCodec.from_secret(SECRET).encode(("2",)),  # another shape
    ],
)
def test_a_bad_cursor_over_http_is_a_422_naming_query_cursor(
    client: TestClient, cursor: str
) -> None:
    _problem_at_cursor(client.get("/numbers", params={"cursor": cursor}))


def test_an_overlong_cursor_is_refused_before_decoding(client: TestClient) -> None:
    _problem_at_cursor(client.get("/numbers", params={"cursor": "A" * (MAX_CURSOR_LENGTH + 1)}))


def test_default_limit_is_50(client: TestClient) -> None:
    assert len(client.get("/numbers").json()["items"]) == 50


@pytest.mark.parametrize("limit", [0, 501, -1])
def test_limit_out_of_range_names_query_limit(client: TestClient, limit: int) -> None:
    response = client.get("/numbers", params={"limit": limit})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "limit"]


def test_limit_500_is_allowed() -> None:
    app = _app(jwt_secret=SECRET)
    client = TestClient(app)

    assert len(client.get("/numbers", params={"limit": 500}).json()["items"]) == 120
