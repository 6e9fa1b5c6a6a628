"""JSON text made by orjson where it reads the same, by the standard library where orjson
cannot write it (pure).

The standard library's encoder was 1-4 % of a service's CPU under load: the JSON columns
(audit details, a stream event's audience) and the submit endpoint's answer. orjson writes
the same document in less time; what it refuses (an integer past 64 bits, a non-string key)
goes to the standard library as before. (A NaN would be written as null, not refused or
written as an invalid literal: the input guard refuses NaN, so none reaches here.)
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi.responses import JSONResponse


def column_text(value: Any) -> str:
    """A JSON column's text (the engine's `json_serializer`)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: what it cannot write
        return json.dumps(value)


def column_value(text: str | bytes) -> Any:
    """A JSON column's value (the engine's `json_deserializer`)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN literals, integers past 64 bits
        return json.loads(text)


class FastJSONResponse(JSONResponse):
    """`JSONResponse` with the same body (compact, UTF-8, no NaN), rendered by orjson; what
    orjson cannot write is rendered by Starlette as before."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)
