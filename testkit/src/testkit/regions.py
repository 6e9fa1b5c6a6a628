"""Distinct, valid GB/T 2260 region codes: one per test, so project codes never collide.

A project code is ``YYMM-<region>-<industry>-<type>-<serial><check>``; serials restart in each
test's fresh database while the broker's topics outlive the test. With a region of its own, a
test's project codes (and so its event keys) are its own, without heuristics on the data.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from collections.abc import Iterator
from functools import lru_cache

from stdnum import numdb


@lru_cache(maxsize=1)
def county_codes() -> tuple[str, ...]:
    """County-level codes in use today, in code order.

    numdb's ``cn/loc`` is a prefix tree: province ('11') -> division ('0105'). A division's
    name lists its names with year ranges, e.g. '[1983-1989]A,[1990-]B'; it is in use when one
    range is open-ended (or the name has no range at all).
    """
    codes: list[str] = []
    for _, low, high, props, children in numdb.get("cn/loc").prefixes:
        if low != high or not props.get("province"):
            continue
        for _, c_low, c_high, c_props, _ in children:
            name = c_props.get("county", "")
            if not _in_use(name):
                continue
            for n in range(int(c_low), int(c_high) + 1):
                division = f"{n:0{len(c_low)}d}"
                if not division.endswith("00"):  # county level, not a city or province
                    codes.append(low + division)
    return tuple(sorted(set(codes)))


_NAME_PART = re.compile(r"(?:\[(\d*)-(\d*)\])?([^,\[]+)")


def _in_use(raw_name: str) -> bool:
    entries = [(end, name.strip()) for _, end, name in _NAME_PART.findall(raw_name)]
    names = [(end, name) for end, name in entries if name]
    return bool(names) and any(not end for end, _ in names) and names[-1][1] != "市辖区"


def _cycle() -> Iterator[str]:
    # A random starting point: a broker reused across runs (KAFKA_BOOTSTRAP_SERVERS) still
    # sees different regions from one run to the next.
    codes = county_codes()
    start = random.randrange(len(codes))
    return itertools.cycle(codes[start:] + codes[:start])


_lock = threading.Lock()
_codes: Iterator[str] | None = None


def unique_region() -> str:
    """A region code no earlier call in this process returned (until all ~2,800 are used)."""
    global _codes
    with _lock:
        if _codes is None:
            _codes = _cycle()
        return next(_codes)
