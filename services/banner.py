"""The banner `python -m services up` prints once the platform is up: URLs and dev tokens."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from services import tokens
from services.output import Output
from shared.settings import PlatformSettings

if TYPE_CHECKING:
    from services.stack import RunningService


def print_banner(
    out: Output, services: list[RunningService], platform: PlatformSettings, broker_desc: str
) -> None:
    out.plain()
    out.plain(out.bold("The platform is up."))
    by_name = {s.definition.name: s for s in services}
    if "portal-svc" in by_name:
        portal = by_name["portal-svc"].base_url
        out.plain(f"  {'portal':<16} {out.bold(portal)}  (open in a browser)")
    for s in services:
        out.plain(f"  {s.definition.name:<16} {s.base_url}")
        out.plain(f"  {'':<16}   docs    {s.base_url}/docs")
        out.plain(f"  {'':<16}   metrics {s.base_url}/metrics")
    out.plain(f"  {'broker':<16} {broker_desc}")
    epoch = platform.clock_epoch.isoformat() if platform.clock_epoch else "unset"
    out.plain(f"  clock epoch {epoch}, one platform day = {platform.day_seconds:g}s")
    out.plain()
    secret = os.environ["PLATFORM_JWT_SECRET"]
    try:
        dev = tokens.dev_tokens(secret)
    except tokens.TokenError as exc:
        out.plain(f"Development tokens are not available: {exc}")
    else:
        out.plain(out.bold(f"Development tokens (valid {tokens.dev_ttl_seconds()} s):"))
        for label, token in dev:
            out.plain(f"  {label}:")
            out.plain(f"    {token}")
        by_label, approval = dict(dev), by_name["approval-svc"].base_url
        enterprise = by_label[f"enterprise {tokens.DEV_CREDIT_CODE}"]
        out.plain()
        out.plain("Try:")
        out.plain(f"  curl -s -H 'Authorization: Bearer {enterprise}' {approval}/api/v1/projects")
        out.plain(
            f"  curl -s -H 'Authorization: Bearer {by_label['department MEE']}' "
            f"{approval}/api/v1/departments/MEE/tasks"
        )
    out.plain("More tokens: uv run python -m services token --role department --department MWR")
    out.plain("Press Ctrl-C to stop everything.")
    out.plain()
