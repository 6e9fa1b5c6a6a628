"""Cursor pagination of every list endpoint: `?limit=` (default 50, max 500) and `?cursor=`.

A cursor is the sort key ("position") of the last item served, e.g. `(submitted_at,
project_code)`, made opaque and tamper-proof by one codec: `<payload>.<mac>`, both unpadded
base64url, where the payload is the position as a JSON array and the mac an HMAC-SHA256 of it
(keyed from `PLATFORM_JWT_SECRET`, or an explicit key). A list decodes a cursor with the shape
it expects, e.g. `(datetime, str)`; the values come back typed and bounded (aware datetimes in
UTC, integers within 64 bits, strings without NUL) so they are safe to bind in a query.
Anything else, garbage, forged, unsigned or of another shape, raises `InvalidCursor`, which
the HTTP layer answers with a 422 problem naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Generic, TypeVar, overload

from fastapi import Depends, Query, Request
from pydantic import BaseModel

T = TypeVar("T")
R = TypeVar("R")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR_LENGTH = 512

PositionValue = datetime | int | str
Position = tuple[PositionValue, ...]
# One type variable per element of a position's shape: `decode` returns exactly those types.
A = TypeVar("A", datetime, int, str)
B = TypeVar("B", datetime, int, str)
C = TypeVar("C", datetime, int, str)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_TEXT = 256
_MAC_BYTES = 16  # 128 bits of HMAC-SHA256: forging one is out of reach
_KEY_CONTEXT = b"platform pagination cursor key v1"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (max 500).")]
Cursor = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_LENGTH, description="Opaque cursor from `next_cursor`."),
]


class InvalidCursor(ValueError):
    """A cursor this API did not issue (or issued for another list): bad input, not a fault.

    Domain-neutral on purpose; `shared.problems` answers it with 422 naming `cursor`.
    """

    field = "cursor"


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    if not _BASE64URL.fullmatch(text):
        raise InvalidCursor("not a cursor this API issued")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor("not a cursor this API issued") from exc


def _dump_value(value: PositionValue) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            # A programming error (every stored time is aware), not bad input.
            raise ValueError("a cursor position needs aware datetimes")
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"a cursor position holds datetime, int or str, not {type(value)}")
    return value


def _load_value(raw: Any, kind: type[Any]) -> PositionValue:
    if kind is datetime:
        if not isinstance(raw, str):
            raise InvalidCursor("the cursor holds a malformed time")
        try:
            at = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise InvalidCursor("the cursor holds a malformed time") from exc
        if at.tzinfo is None:
            # Compared with the aware times stored, a naive one would fail in the database.
            raise InvalidCursor("the cursor holds a time without an offset")
        try:
            return at.astimezone(UTC)
        except OverflowError as exc:  # e.g. 9999-12-31T23:59-14:00 is past datetime.max
            raise InvalidCursor("the cursor holds a time out of range") from exc
    if kind is int:
        if isinstance(raw, bool) or not isinstance(raw, int) or not _INT64_MIN <= raw <= _INT64_MAX:
            raise InvalidCursor("the cursor holds a malformed number")
        return raw
    if kind is str:
        if not isinstance(raw, str) or len(raw) > _MAX_TEXT or "\x00" in raw:
            raise InvalidCursor("the cursor holds a malformed key")
        return raw
    raise TypeError(f"a cursor position holds datetime, int or str, not {kind}")


class CursorCodec:
    """Encodes positions into signed, opaque cursors and decodes them back, typed."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a cursor key needs at least 16 bytes")
        self._key = key

    @classmethod
    def from_secret(cls, secret: str) -> CursorCodec:
        """A codec keyed from the platform's shared secret (a key of its own, derived)."""
        if not secret:
            raise ValueError("a cursor key needs a non-empty secret")
        return cls(hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest())

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, position: Position) -> str:
        """The cursor of `position` (the sort key of the last item served)."""
        payload = json.dumps(
            [_dump_value(v) for v in position], separators=(",", ":"), ensure_ascii=True
        ).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._mac(payload))}"

    @overload
    def decode(self, cursor: str | None, shape: tuple[type[A]]) -> tuple[A] | None: ...

    @overload
    def decode(self, cursor: str | None, shape: tuple[type[A], type[B]]) -> tuple[A, B] | None: ...

    @overload
    def decode(
        self, cursor: str | None, shape: tuple[type[A], type[B], type[C]]
    ) -> tuple[A, B, C] | None: ...

    def decode(self, cursor: str | None, shape: tuple[type[Any], ...]) -> Position | None:
        """The position in `cursor` (None when there is none), with the types of `shape`;
        `InvalidCursor` unless this codec issued it for a position of that shape."""
        if cursor is None:
            return None
        if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
            raise InvalidCursor("not a cursor this API issued")
        payload_text, mac_text = cursor.split(".")
        payload = _b64decode(payload_text)
        if not hmac.compare_digest(self._mac(payload), _b64decode(mac_text)):
            raise InvalidCursor("not a cursor this API issued")
        try:
            values = json.loads(payload)
        except ValueError as exc:
            raise InvalidCursor("not a cursor this API issued") from exc
        if not isinstance(values, list) or len(values) != len(shape):
            raise InvalidCursor("not a cursor of this list")
        return tuple(_load_value(raw, kind) for raw, kind in zip(values, shape, strict=True))

    def split_page(
        self, rows: Sequence[R], limit: int, position_of: Callable[[R], Position]
    ) -> tuple[list[R], str | None]:
        """Rows fetched with `LIMIT limit + 1` -> the page and the cursor after its last row
        (None on the last page): one extra row tells whether another page exists."""
        page = list(rows[:limit])
        more = len(rows) > limit
        return page, self.encode(position_of(page[-1])) if more and page else None


def stored(value: T | None) -> T:
    """A sort key the query guarantees is set (a row's id, the time of a decided task): a
    position never holds None."""
    if value is None:
        raise ValueError("a cursor position cannot hold None")
    return value


@lru_cache(maxsize=8)
def _codec_for_secret(secret: str) -> CursorCodec:
    return CursorCodec.from_secret(secret)


# async although it awaits nothing: FastAPI runs a plain function dependency in a worker
# thread, a thread hop on every request.
async def cursor_codec(request: Request) -> CursorCodec:
    """FastAPI dependency: the app's codec, `app.state.cursor_codec` when a service set one,
    else keyed from `app.state.jwt_secret` (which every service sets for its tokens)."""
    explicit = getattr(request.app.state, "cursor_codec", None)
    if isinstance(explicit, CursorCodec):
        return explicit
    return _codec_for_secret(request.app.state.jwt_secret)


Cursors = Annotated[CursorCodec, Depends(cursor_codec)]
