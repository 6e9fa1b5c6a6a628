"""What no JSON request body may hold, found in one parse (pure: bytes in, problems out).

Refused, each with the `loc` of the offending value: duplicate object keys (the meaning of a
duplicated key is undefined: every parser picks its own winner), text PostgreSQL cannot store
(U+0000 and lone surrogates; SQLite would keep it, so both databases answer alike), arrays
longer than a cap, nesting deeper than a cap, and the non-JSON constants NaN/Infinity.
Malformed JSON is not judged here: the framework answers it (422) as it always did.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_ITEMS = 1000
DEFAULT_MAX_DEPTH = 32
MAX_REPORTED = 20

Loc = list[str | int]


@dataclass(frozen=True, slots=True)
class JsonLimits:
    max_items: int = DEFAULT_MAX_ITEMS
    max_depth: int = DEFAULT_MAX_DEPTH


@dataclass(slots=True)
class JsonVerdict:
    """`errors` as FastAPI reports them (`loc` starting with "body", `msg`); empty when fine."""

    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, loc: Loc, msg: str) -> None:
        if len(self.errors) < MAX_REPORTED:
            self.errors.append({"loc": ["body", *map(_echoable, loc)], "msg": msg})


def _echoable(part: str | int) -> str | int:
    # A refused key is echoed in the answer, which must itself be valid UTF-8 JSON.
    if isinstance(part, str) and bad_text(part):
        return part.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")
    return part


class _Refused(ValueError):
    def __init__(self, loc: Loc, msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused([key], f"duplicate key {_echoable(key)!r}: keys must be unique")
            seen.add(key)
    return obj


def _constant(name: str) -> Any:
    raise _Refused([], f"{name} is not a JSON number")


def _may_hold_bad_text(body: bytes) -> bool:
    # U+0000 and surrogates can only arrive as \u escapes, or as raw bytes the decoder lets
    # through (0xED leads the UTF-8 encoding of U+D000-U+DFFF; NUL bytes mean UTF-16/32).
    return b"\\u" in body or b"\xed" in body or b"\x00" in body


def bad_text(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    if text.isascii():
        return "must not contain the NUL character (U+0000)" if "\x00" in text else None
    if "\x00" in text:
        return "must not contain the NUL character (U+0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain lone surrogate code points (U+D800-U+DFFF)"
    return None


def inspect_json(body: bytes, limits: JsonLimits = JsonLimits()) -> JsonVerdict | None:
    """Problems of a JSON body, or None when it does not parse (left to the framework)."""
    verdict = JsonVerdict()
    try:
        value = json.loads(body, object_pairs_hook=_pairs, parse_constant=_constant)
    except _Refused as refused:
        verdict.add(refused.loc, refused.msg)
        return verdict
    except RecursionError:
        verdict.add([], f"nested too deeply (at most {limits.max_depth} levels)")
        return verdict
    except json.JSONDecodeError:
        return None  # malformed: the framework's own 422 names the position
    except ValueError as exc:
        # Bytes that are no text (UnicodeDecodeError) or a number too long to convert: the
        # framework would answer these with a bare 400; they are invalid input like the rest.
        verdict.add([], f"not valid JSON: {exc}")
        return verdict
    # Cheap scans first: most bodies have fewer commas than the array cap, no \u escape and
    # fewer brackets than the depth cap, and then need no walk at all.
    check_text = _may_hold_bad_text(body)
    check_items = body.count(b",") >= limits.max_items
    check_depth = body.count(b"[") + body.count(b"{") > limits.max_depth
    if check_text or check_items or check_depth:
        for loc, msg in _walk(value, limits, text=check_text):
            verdict.add(loc, msg)
            if len(verdict.errors) >= MAX_REPORTED:
                break
    return verdict


def _walk(value: Any, limits: JsonLimits, *, text: bool) -> Iterator[tuple[Loc, str]]:
    # Iterative: a recursive walk would itself overflow on the deep bodies it must refuse.
    stack: list[tuple[Any, Loc]] = [(value, [])]
    while stack:
        node, loc = stack.pop()
        if len(loc) > limits.max_depth:
            yield loc, f"nested too deeply (at most {limits.max_depth} levels)"
            continue
        if isinstance(node, str):
            if text and (why := bad_text(node)):
                yield loc, why
        elif isinstance(node, dict):
            for key, item in node.items():
                if text and (why := bad_text(key)):
                    yield [*loc, key], f"key {why}"
                stack.append((item, [*loc, key]))
        elif isinstance(node, list):
            if len(node) > limits.max_items:
                yield loc, f"at most {limits.max_items} items are allowed, got {len(node)}"
                continue
            stack.extend((item, [*loc, i]) for i, item in enumerate(node))
