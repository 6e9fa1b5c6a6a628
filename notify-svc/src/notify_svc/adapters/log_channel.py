"""The built-in log channel: every ingested event as ONE readable line, like a feed:

    project.supplement_requested 2405-110105-02-01-00012X: status supplement_required; missing ...

In JSON log mode the same line is the `message`, with `event_type`, `event_id`,
`project_code` and `gist` as fields of their own (and no copy of the whole event).
"""

from __future__ import annotations

import logging

from notify_svc.domain import gist
from shared.events import CloudEvent

event_log = logging.getLogger("notify_svc.channel.log")


def feed_line(event: CloudEvent) -> tuple[str, str]:
    """(the line, the gist) of an event."""
    summary = gist(event.type, event.data)
    about = event.subject or "-"
    return f"{event.type} {about}" + (f": {summary}" if summary else ""), summary


def log_channel(event: CloudEvent) -> None:
    if not event_log.isEnabledFor(logging.INFO):
        return
    line, summary = feed_line(event)
    event_log.info(
        "%s",
        line,
        extra={
            "channel": "log",
            "event_type": event.type,
            "event_id": event.id,
            "project_code": event.subject,
            "gist": summary,
        },
    )
