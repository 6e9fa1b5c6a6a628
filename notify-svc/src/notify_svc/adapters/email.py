"""The e-mail channel.

There is no mail server in this deployment. The default `LogEmailSender` does NOT send mail;
it writes the message it would send to the log, and the delivery's attempt log says "written to
the service log (no mail server configured)". Inject a real sender into
`create_app(email_sender=...)` to send mail (an `EmailSender`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from notify_svc.adapters.webhook import short_error
from notify_svc.domain import AttemptResult
from shared.events import CloudEvent

email_log = logging.getLogger("notify_svc.channel.email")


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
        return AttemptResult(ok=False, error=short_error(f"{type(exc).__name__}: {exc}"))
    return AttemptResult(ok=True, detail=detail)
