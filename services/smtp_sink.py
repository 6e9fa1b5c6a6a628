"""A local mail sink for `make run`: an aiosmtpd server that accepts every message and prints
it (sender, recipients, subject and the plain-text part) instead of delivering it, so a
newcomer sees the platform's e-mail without a mail server. Started only when
`NOTIFY_SMTP_HOST` is not set; notify-svc is pointed at it through the environment.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Collection, MutableMapping
from typing import Any

from aiosmtpd.controller import Controller

from services.broker import free_port


class _PrintingHandler:
    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self._emit(
            f"mail from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)}: "
            f"{message['Subject']} ({message['Message-ID']})"
        )
        body = message.get_body(preferencelist=("plain",))  # EmailMessage under the default policy
        if body is not None:
            for line in str(body.get_content()).splitlines():
                if line.strip():
                    self._emit(f"  {line}")
        return "250 Message accepted for delivery"


class SmtpSink:
    """The sink on 127.0.0.1 and a free port, until `stop()`."""

    def __init__(
        self, emit: Callable[[str], None], *, port: int | None = None, exclude: Collection[int] = ()
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port(exclude=exclude)
        self._controller = Controller(_PrintingHandler(emit), hostname=self.host, port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


def start_local_mail(
    environ: MutableMapping[str, str], emit: Callable[[str], None], info: Callable[[str], None]
) -> SmtpSink | None:
    """Start the sink and point notify at it unless NOTIFY_SMTP_HOST is set; allow private
    webhook targets (local receivers) unless NOTIFY_WEBHOOK_ALLOW_PRIVATE is set."""
    sink = None
    if not environ.get("NOTIFY_SMTP_HOST"):
        # Not a port the environment already promises to a service or the broker.
        promised = {int(v) for k, v in environ.items() if k.endswith("_PORT") and v.isdigit()}
        sink = SmtpSink(emit, exclude=promised)
        sink.start()
        environ["NOTIFY_SMTP_HOST"] = sink.host
        environ["NOTIFY_SMTP_PORT"] = str(sink.port)
        info(
            f"NOTIFY_SMTP_HOST was not set: a local SMTP sink on {sink.host}:{sink.port} "
            "prints every e-mail here instead of sending it"
        )
    if "NOTIFY_WEBHOOK_ALLOW_PRIVATE" not in environ:
        environ["NOTIFY_WEBHOOK_ALLOW_PRIVATE"] = "true"
        info(
            "NOTIFY_WEBHOOK_ALLOW_PRIVATE=true for local development: webhooks may target "
            "loopback and private addresses"
        )
    return sink
