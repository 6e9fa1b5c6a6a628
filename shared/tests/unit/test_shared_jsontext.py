"""JSON text by orjson: the same documents the standard library wrote, and its fallbacks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.responses import JSONResponse

from shared.jsontext import FastJSONResponse, column_text, column_value

SAMPLES: list[Any] = [
    {},
    [],
    {"name": "年产10万吨绿色建材项目", "quote": 'a "b" \\ c', "tab": "\t\n\u001f\u2028"},
    {"amount": "123456789012.34", "n": 3, "neg": -7, "f": 0.1, "big": 1e300, "tiny": 5e-324},
    {"flags": [True, False, None], "nested": {"list": [{"a": 1}, {"b": [2, 3]}]}},
    {"ints": [0, 2**63 - 1, -(2**63)], "unsigned": 2**64 - 1},
    ["emoji 🚧", "", "x" * 1000],
]


@pytest.mark.parametrize("value", SAMPLES)
def test_a_response_body_is_what_starlette_renders(value: Any) -> None:
    assert json.loads(FastJSONResponse(value).body) == value
    # Byte for byte where the float spelling is not involved (orjson writes 1e300, the
    # standard library 1e+300: the same number).
    if not _has_float(value):
        assert FastJSONResponse(value).body == JSONResponse(value).body


@pytest.mark.parametrize("value", SAMPLES)
def test_a_column_round_trips(value: Any) -> None:
    text = column_text(value)

    assert isinstance(text, str)
    assert column_value(text) == value
    assert json.loads(text) == value


def test_what_orjson_cannot_write_goes_to_the_standard_library() -> None:
    huge = {"n": 2**70}
    int_keys = {1: "a"}

    assert column_text(huge) == json.dumps(huge)
    assert column_text(int_keys) == '{"1": "a"}'
    assert FastJSONResponse(huge).body == JSONResponse(huge).body


def test_what_orjson_cannot_read_goes_to_the_standard_library() -> None:
    assert column_value('{"n": 1180591620717411303424}') == {"n": 2**70}
    assert column_value('{"a": 1}') == {"a": 1}
    assert column_value(b"[1, 2]") == [1, 2]


def test_the_response_class_renders_the_same_body() -> None:
    content = {"project_code": "2026-310101-47-01-000001", "tasks": [{"status": "approved"}]}

    response = FastJSONResponse(content, status_code=201, headers={"Location": "/x"})

    assert response.body == JSONResponse(content).body
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["location"] == "/x"


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False
