"""Use cases that change state, by concern:

- `subscriptions`: subscribe, delete, rotate a secret, retry a failed delivery,
- `events`: a consumed event into deliveries (subscriptions, the contact address, the log
  channel), delivery attempts and their outcomes,
- `stream`: the stream history and retention sweeps.

Each takes a unit of work (`unit_of_work.NotifyUnitOfWork`) and plain values or a command,
keyword-only, and raises domain errors only (`domain.errors`).
"""

from notify_svc.handlers.events import (
    Announce,
    audience_of_event,
    claim_due_deliveries,
    ingest_event,
    record_attempts,
)
from notify_svc.handlers.stream import Kept, ReadMessage, record_stream_batch, sweep_retention
from notify_svc.handlers.subscriptions import (
    HostResolver,
    Subscribe,
    create_subscription,
    delete_subscription,
    retry_delivery,
    rotate_secret,
)

__all__ = [
    "Announce",
    "HostResolver",
    "Kept",
    "ReadMessage",
    "Subscribe",
    "audience_of_event",
    "claim_due_deliveries",
    "create_subscription",
    "delete_subscription",
    "ingest_event",
    "record_attempts",
    "record_stream_batch",
    "retry_delivery",
    "rotate_secret",
    "sweep_retention",
]
