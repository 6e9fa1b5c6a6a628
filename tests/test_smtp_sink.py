"""The runner's local mail sink: where it listens, and that it prints what it is sent."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from services import broker as broker_module
from services.broker import free_port
from services.smtp_sink import start_local_mail


@pytest.mark.integration
def test_the_sink_takes_no_port_promised_to_a_service_and_prints_each_mail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    promised = free_port()
    broker_module._handed_out.discard(promised)  # only the environment promises it now
    offers = iter([promised])

    def choice(seq):  # the span first (any), then the promised port, then any
        return seq[0] if isinstance(seq, list) else next(offers, seq[len(seq) // 2])

    monkeypatch.setattr(broker_module.random, "choice", choice)
    environ = {"APPROVAL_PORT": str(promised)}
    lines: list[str] = []
    sink = start_local_mail(environ, lines.append, lines.append)
    assert sink is not None
    try:
        assert sink.port != promised
        assert environ["NOTIFY_SMTP_PORT"] == str(sink.port)
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "a@example.org", "b@example.org", "Hello"
        mail.set_content("Project approved")
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
            client.send_message(mail)
    finally:
        sink.stop()

    assert any("Hello" in line for line in lines), lines
    assert any("Project approved" in line for line in lines), lines
