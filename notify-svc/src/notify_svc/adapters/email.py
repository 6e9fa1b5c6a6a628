"""The e-mail channel: messages composed from the templates (`domain.emails`), sent through
SMTP with aiosmtplib (`SmtpEmailSender`).

With no mail server configured (`NOTIFY_SMTP_HOST` unset) e-mail is off: `LogEmailSender`
writes the message it would send to the log, and the delivery's attempt log says so.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Protocol

import aiosmtplib

from notify_svc.adapters.webhook import short_error
from notify_svc.domain import AttemptResult, EmailContent, compose
from notify_svc.metrics import EMAILS
from shared.events import CloudEvent

email_log = logging.getLogger("notify_svc.channel.email")

SENDER_NAME = "投资项目在线审批监管平台 Investment Platform"


def mime_message(content: EmailContent, event: CloudEvent) -> EmailMessage:
    """The MIME message: plain text, with the HTML version as its alternative."""
    message = EmailMessage()
    message["From"] = formataddr((SENDER_NAME, content.sender))
    message["To"] = content.to
    message["Subject"] = content.subject
    message["Message-ID"] = content.message_id
    message["Date"] = format_datetime(event.time)
    message["X-Event-Id"] = event.id
    message["X-Event-Type"] = event.type
    if event.subject:
        message["X-Project-Code"] = event.subject
    message.set_content(content.text, charset="utf-8")
    message.add_alternative(content.html, subtype="html", charset="utf-8")
    return message


class SmtpEmailSender:
    """Sends through an SMTP server; one connection per message (mail is rare here)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout_s

    async def send(self, message: EmailMessage) -> str:
        await aiosmtplib.send(
            message,
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._starttls,
            use_tls=False,
            timeout=self._timeout,
        )
        return f"sent through {self._host}:{self._port}"


class LogEmailSender:
    """E-mail is off: writes the message to the log. It does not send mail."""

    async def send(self, message: EmailMessage) -> str:
        email_log.info(
            "e-mail not sent (NOTIFY_SMTP_HOST is not set): to %s: %s",
            message["To"],
            message["Subject"],
            extra={"to": message["To"], "message_id": message["Message-ID"]},
        )
        return "written to the service log (e-mail is off: no mail server configured)"


class MailTransport(Protocol):
    async def send(self, message: EmailMessage) -> str: ...


async def send_email(
    transport: MailTransport, *, to: str, body: bytes, sender: str
) -> AttemptResult:
    """Compose the e-mail of the stored event for `to` and send it (one attempt)."""
    try:
        event = CloudEvent.from_json(body)
        content = compose(event, to=to, sender=sender)
        message = mime_message(content, event)
    except Exception as exc:  # a body that cannot be mailed will not improve: give up
        return AttemptResult(ok=False, error=short_error(f"cannot compose: {exc}"), permanent=True)
    try:
        detail = await transport.send(message)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        EMAILS.labels("failed").inc()
        return AttemptResult(ok=False, error=short_error(f"recipient refused: {exc}"))
    except Exception as exc:
        EMAILS.labels("failed").inc()
        return AttemptResult(ok=False, error=short_error(f"{type(exc).__name__}: {exc}"))
    EMAILS.labels("sent").inc()
    return AttemptResult(ok=True, detail=detail)
