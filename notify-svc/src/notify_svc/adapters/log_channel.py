"""The built-in log channel: every ingested event as one structured (JSON) log line."""

from __future__ import annotations

import logging

from shared.events import CloudEvent

event_log = logging.getLogger("notify_svc.channel.log")


def log_channel(event: CloudEvent) -> None:
    if not event_log.isEnabledFor(logging.INFO):
        return
    event_log.info(
        "event",
        extra={
            "channel": "log",
            "event": {
                "specversion": event.specversion,
                "id": event.id,
                "source": event.source,
                "type": event.type,
                "time": event.time.isoformat(),
                "subject": event.subject,
                "correlationid": event.correlationid,
                "causationid": event.causationid,
                "data": event.data,
            },
        },
    )
