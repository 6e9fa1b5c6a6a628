"""Cursor pagination of every list endpoint: `?limit=` (default 50, max 500) and `?cursor=`."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from shared.problems import field_error

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (max 500).")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="Opaque cursor from `next_cursor`.")
]


def encode_cursor(position: list[Any]) -> str:
    """The sort key of the last item served, opaque to clients."""
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise field_error(["query", "cursor"], "not a cursor this API issued") from exc
    if not isinstance(value, list):
        raise field_error(["query", "cursor"], "not a cursor this API issued")
    return value


R = TypeVar("R")


def split_page(
    rows: Sequence[R], limit: int, position_of: Callable[[R], list[Any]]
) -> tuple[list[R], str | None]:
    """Rows fetched with `LIMIT limit + 1` -> the page and the cursor after its last row
    (None on the last page): one extra row tells whether another page exists."""
    page = list(rows[:limit])
    more = len(rows) > limit
    return page, encode_cursor(position_of(page[-1])) if more and page else None
