"""What no JSON body may hold, judged from the bytes in one parse."""

from __future__ import annotations

import json

import pytest

from shared.jsonguard import JsonLimits, bad_text, inspect_json


def _locs(body: bytes, limits: JsonLimits = JsonLimits()) -> list[list[object]]:
    verdict = inspect_json(body, limits)
    assert verdict is not None
    return [e["loc"] for e in verdict.errors]


def test_an_ordinary_body_passes() -> None:
    body = json.dumps(
        {"name": "Riverside 物流园", "tags": ["a", "b"], "land": {"area_m2": 12.5}}
    ).encode()

    assert _locs(body) == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b'{"name": "a\\u0000b"}', ["body", "name"]),
        (b'{"land": {"notes": ["ok", "\\u0000"]}}', ["body", "land", "notes", 1]),
        (b'{"name": "\\ud800"}', ["body", "name"]),  # a lone high surrogate, escaped
        (b'{"name": "\\udfff tail"}', ["body", "name"]),
        (b'{"name": "\xed\xa0\x80"}', ["body", "name"]),  # a surrogate as raw (CESU) bytes
    ],
)
def test_text_postgresql_cannot_store_is_named(body: bytes, loc: list[object]) -> None:
    assert _locs(body) == [loc]


def test_a_bad_key_is_named_in_a_form_that_can_be_echoed() -> None:
    verdict = inspect_json(b'{"a\\u0000b": 1}')

    assert verdict is not None
    [error] = verdict.errors
    assert error["loc"] == ["body", "a\\u0000b"]
    json.dumps(error).encode("utf-8")  # the answer itself must be valid UTF-8


def test_a_surrogate_pair_is_a_real_character_and_passes() -> None:
    assert _locs(b'{"name": "\\ud83d\\ude00"}') == []  # U+1F600 written as a pair


def test_hangul_shares_the_lead_byte_of_surrogates_and_passes() -> None:
    assert _locs('{"name": "한국"}'.encode()) == []


def test_duplicate_keys_are_refused_naming_the_key() -> None:
    verdict = inspect_json(b'{"land": {"area_m2": 1, "area_m2": 2}}')

    assert verdict is not None
    [error] = verdict.errors
    assert error["loc"] == ["body", "area_m2"]
    assert "duplicate key 'area_m2'" in error["msg"]


def test_long_arrays_are_refused_at_their_path() -> None:
    limits = JsonLimits(max_items=3)

    assert _locs(b'{"types": [1, 2, 3]}', limits) == []
    assert _locs(b'{"types": [1, 2, 3, 4]}', limits) == [["body", "types"]]
    assert _locs(b"[[1], [1, 2, 3, 4]]", limits) == [["body", 1]]


def test_deep_nesting_is_refused() -> None:
    limits = JsonLimits(max_depth=4)

    assert _locs(b"[[[[1]]]]", limits) == []
    assert _locs(b"[[[[[1]]]]]", limits) == [["body", 0, 0, 0, 0, 0]]


def test_nesting_beyond_the_parsers_own_limit_is_refused_not_raised() -> None:
    body = b"[" * 100_000 + b"]" * 100_000

    assert _locs(body) == [["body"]]


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_json_constants_are_refused(constant: bytes) -> None:
    assert _locs(b'{"x": ' + constant + b"}") == [["body"]]


@pytest.mark.parametrize("body", [b"{", b"not json", b"[1,]"])
def test_malformed_json_is_left_to_the_framework(body: bytes) -> None:
    assert inspect_json(body) is None


@pytest.mark.parametrize("body", [b"1" * 5000, b'{"a": ' + b"9" * 5000 + b"}", b"\xff\xfe\xfd"])
def test_bodies_the_parser_fails_on_otherwise_are_refused(body: bytes) -> None:
    verdict = inspect_json(body)

    assert verdict is not None
    assert [e["loc"] for e in verdict.errors] == [["body"]]
    assert "not valid JSON" in verdict.errors[0]["msg"]


def test_errors_are_capped() -> None:
    body = json.dumps([f"x\u0000{i}" for i in range(100)]).encode()

    verdict = inspect_json(body)

    assert verdict is not None
    assert len(verdict.errors) == 20


@pytest.mark.parametrize(
    ("text", "bad"),
    [("plain", False), ("漢字", False), ("a\x00", True), ("\ud800", True), ("\x00漢", True)],
)
def test_bad_text(text: str, bad: bool) -> None:
    assert (bad_text(text) is not None) is bad
