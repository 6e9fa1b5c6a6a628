"""Subscriptions: what a valid one is, which ones want an event, who may manage one.

A subscription belongs to a tenant (`Viewer.tenant`) and acts as that tenant: it receives
only the events its tenant may see (`visibility.may_see`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from notify_svc.domain.addresses import host_problem
from notify_svc.domain.visibility import Audience, Viewer, may_see
from shared.events import EVENT_DATA_MODELS

WILDCARD = "*"
KNOWN_EVENT_TYPES: frozenset[str] = frozenset(EVENT_DATA_MODELS)
"""Types a subscription may name (besides '*')."""

CHANNELS: tuple[str, ...] = ("webhook", "email")
"""Channels a tenant may subscribe with; the log channel is the system's own."""
LOG_CHANNEL = "log"
BUILTIN_LOG_SUBSCRIPTION = "builtin-log"
CONTACT_EMAIL_SUBSCRIPTION = "contact-email"
"""The system's own 'subscription' of every submission's contact address (no row of its own)."""
MAX_TARGET_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class ActiveSubscription:
    """A subscription as the consumer's hot path sees it."""

    id: str
    channel: str
    target: str
    event_types: tuple[str, ...]
    viewer: Viewer


class SubscriptionIndex:
    """Active subscriptions by the event type they want ('*' ones want every type)."""

    def __init__(self, subscriptions: Iterable[ActiveSubscription]) -> None:
        self._by_type: dict[str, list[ActiveSubscription]] = {}
        self._any: list[ActiveSubscription] = []
        for sub in subscriptions:
            if WILDCARD in sub.event_types:
                self._any.append(sub)
                continue
            for event_type in sub.event_types:
                self._by_type.setdefault(event_type, []).append(sub)

    def matching(self, event_type: str) -> Sequence[ActiveSubscription]:
        typed = self._by_type.get(event_type)
        if not typed:
            return self._any
        return [*typed, *self._any] if self._any else typed


def any_restricted(candidates: Iterable[ActiveSubscription]) -> bool:
    """Some candidate is not ops: the event's audience must be resolved to decide."""
    return any(not s.viewer.is_ops for s in candidates)


def recipients(
    candidates: Iterable[ActiveSubscription], audience: Audience | None
) -> list[ActiveSubscription]:
    """The candidates whose tenant may see the event."""
    return [s for s in candidates if may_see(s.viewer, audience)]


def may_read(viewer: Viewer, owner: str) -> bool:
    """Ops reads every subscription (read-only); anyone else those of its own tenant."""
    return viewer.is_ops or owner == viewer.tenant


def may_manage(viewer: Viewer, owner: str) -> bool:
    """The owning tenant or ops (operators clean up and unblock) manage a subscription: delete
    it, rotate its secret, retry its failed deliveries. Anyone else is told it does not exist."""
    return viewer.is_ops or owner == viewer.tenant


# --- validation ----------------------------------------------------------------------------

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def webhook_host(target: str) -> str | None:
    """The host of a webhook URL (None when it has none or is not a URL)."""
    try:
        return urlsplit(target).hostname
    except ValueError:
        return None


def target_problem(channel: str, target: str, *, allow_private: bool = False) -> str | None:
    """Why `target` is not a valid address for `channel`, or None when it is (a webhook
    host that is an internal address is refused here; names are resolved by the caller)."""
    if len(target) > MAX_TARGET_LENGTH:
        return f"must be at most {MAX_TARGET_LENGTH} characters"
    if channel == "webhook":
        if any(c.isspace() for c in target):
            return "a webhook URL may not contain spaces"
        try:
            parts = urlsplit(target)
            _ = parts.port  # raises on a non-numeric or out-of-range port
        except ValueError as exc:
            return f"not a valid URL: {exc}"
        if parts.scheme not in ("http", "https"):
            return "a webhook target must be an http:// or https:// URL"
        if not parts.hostname:
            return "a webhook URL needs a host"
        if parts.username is not None or parts.password is not None:
            return "a webhook URL may not carry credentials"
        return host_problem(parts.hostname, allow_private=allow_private)
    if channel == "email":
        if len(target) > 254 or not _EMAIL.match(target):
            return "not a valid e-mail address"
        return None
    return f"unknown channel {channel!r}"


def event_types_problem(event_types: Iterable[str]) -> str | None:
    types = list(event_types)
    if not types:
        return "at least one event type (or '*') is required"
    unknown = sorted({t for t in types if t != WILDCARD and t not in KNOWN_EVENT_TYPES})
    if unknown:
        return "unknown event type(s): " + ", ".join(unknown)
    return None


def normalise_event_types(event_types: Iterable[str]) -> list[str]:
    """Deduplicated, in the order given; '*' alone when present."""
    types = list(dict.fromkeys(event_types))
    return [WILDCARD] if WILDCARD in types else types
