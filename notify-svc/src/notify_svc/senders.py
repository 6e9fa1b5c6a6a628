"""The channels: how one event reaches a log, a webhook or a mailbox.

E-mail: there is no mail server in this deployment. The default `LogEmailSender` does NOT send
mail; it writes the message it would send to the log, and the delivery's attempt log says
"written to the service log (no mail server configured)". Inject a real sender into
`create_app(email_sender=...)` to send mail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from notify_svc.domain import CLOUDEVENTS_JSON, SIGNATURE_HEADER, signature
from shared.events import CloudEvent

log = logging.getLogger(__name__)
event_log = logging.getLogger("notify_svc.channel.log")
email_log = logging.getLogger("notify_svc.channel.email")

USER_AGENT = "notify-svc/1.0"
MAX_ERROR_LENGTH = 500


def log_channel(event: CloudEvent) -> None:
    """The built-in log channel: the event as one structured (JSON) log line."""
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


@dataclass(frozen=True, slots=True)
class AttemptResult:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    detail: str | None = None
    permanent: bool = False
    """Retrying cannot help (the subscription is gone, the body is missing)."""


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


async def post_webhook(
    client: httpx.AsyncClient, *, url: str, body: bytes, secret: str
) -> AttemptResult:
    """POST the exact CloudEvent bytes, signed; any 2xx is a success."""
    headers = {
        "Content-Type": CLOUDEVENTS_JSON,
        SIGNATURE_HEADER: signature(secret, body),
        "User-Agent": USER_AGENT,
    }
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return AttemptResult(ok=False, error=_short(f"{type(exc).__name__}: {exc}".strip()))
    code = response.status_code
    if 200 <= code < 300:
        return AttemptResult(ok=True, status_code=code)
    snippet = response.text[:200].strip() if response.content else ""
    error = f"HTTP {code} {response.reason_phrase}".strip() + (f": {snippet}" if snippet else "")
    return AttemptResult(ok=False, status_code=code, error=_short(error))


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    body: str


class EmailSender(Protocol):
    async def __call__(self, message: EmailMessage) -> str | None:
        """Send `message`; return a note for the attempt log; raise on failure."""
        ...


class LogEmailSender:
    """Default e-mail channel: writes the message to the log. It does not send mail."""

    async def __call__(self, message: EmailMessage) -> str | None:
        email_log.info(
            "e-mail not sent (no mail server configured); message written to the log",
            extra={"to": message.to, "subject": message.subject, "body": message.body},
        )
        return "written to the service log (no mail server configured)"


def email_for(event: CloudEvent, to: str) -> EmailMessage:
    subject = f"[investment platform] {event.type}" + (f" {event.subject}" if event.subject else "")
    return EmailMessage(to=to, subject=subject, body=event.to_json().decode())


async def send_email(sender: EmailSender, *, to: str, body: bytes) -> AttemptResult:
    try:
        event = CloudEvent.from_json(body)
        detail = await sender(email_for(event, to))
    except Exception as exc:
        return AttemptResult(ok=False, error=_short(f"{type(exc).__name__}: {exc}"))
    return AttemptResult(ok=True, detail=detail)


HttpClientFactory = Callable[[], httpx.AsyncClient]
