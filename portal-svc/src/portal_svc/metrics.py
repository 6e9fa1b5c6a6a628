"""The portal's own metrics (the HTTP RED metrics come from shared.http)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

UPSTREAM_FAILURES = Counter(
    "portal_upstream_unavailable_total",
    "Pages or panels shown without a service's data because it did not answer usably.",
    ["upstream"],
)
SIGN_INS = Counter(
    "portal_sign_ins_total", "Successful sign-ins, by role and method.", ["role", "method"]
)
STREAMS_OPEN = Gauge("portal_streams_open", "Live notification streams relayed to browsers now.")
