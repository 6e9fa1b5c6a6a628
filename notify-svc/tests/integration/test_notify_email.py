"""E-mail through a real SMTP server (aiosmtpd): the contact address of a submission, a mail
server that is down then up, and retries that survive a restart of notify."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from notify_helpers import (
    MIGRATIONS,
    MailSink,
    Notify,
    credit_code,
    event,
    ops,
    project,
    project_code,
)

from notify_svc.domain import CONTACT_EMAIL_SUBSCRIPTION, RetryPolicy
from shared.events import EventType
from shared.migrations import upgrade
from shared.topics import APPROVAL_PROJECTS
from testkit import eventually, unique_group

pytestmark = pytest.mark.integration


def contact_of(region: str) -> str:
    """A contact address of this test only (notify reads the topics from the beginning)."""
    return f"owner-{region}@example.cn"


def smtp(sink: MailSink) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_timeout_s": 2.0}


async def contact_deliveries(notify: Notify, code: str) -> list[dict[str, Any]]:
    return await notify.deliveries(
        ops(), subscription_id=CONTACT_EMAIL_SUBSCRIPTION, project_code=code
    )


async def test_the_contact_address_is_mailed_without_subscribing(
    notify_factory: Callable[..., Any],
    database_factory: Callable[[str], str],
    mail_sink: MailSink,
    region_code: str,
) -> None:
    mail_sink.start()
    contact = contact_of(region_code)
    url = database_factory("notify")
    upgrade(MIGRATIONS, url)
    code = project_code(region_code)
    submitted = project(code, credit_code(), ("MEE",)) | {"contact_email": contact}
    missing = dict(submitted, status="supplement_required")
    missing["tasks"] = [
        dict(
            submitted["tasks"][0],
            status="supplement_required",
            missing_materials=["环评报告书", "站址图"],
        )
    ]
    request = event(EventType.PROJECT_SUPPLEMENT_REQUESTED, code, missing)
    async with notify_factory(url, unique_group("notify-mail"), **smtp(mail_sink)) as notify:
        await notify.produce(
            APPROVAL_PROJECTS, event(EventType.PROJECT_SUBMITTED, code, submitted), request
        )
        [mail] = await eventually(lambda: mail_sink.to(contact), timeout_s=60, what="the e-mail")
        await notify.consumed(APPROVAL_PROJECTS, code)

    assert str(mail["Message-ID"]).strip().startswith(f"<{request.id}.")
    assert "需要补充材料" in mail["Subject"]
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "环评报告书" in text.get_content()
    assert "站址图" in text.get_content()
    assert "<li>环评报告书</li>" in html.get_content()
    assert len(mail_sink.to(contact)) == 1  # the submission itself mails nothing


async def test_mail_down_then_up_arrives_after_retries_even_across_a_restart(
    notify_factory: Callable[..., Any],
    database_factory: Callable[[str], str],
    mail_sink: MailSink,
    region_code: str,
) -> None:
    contact = contact_of(region_code)
    url = database_factory("notify")
    upgrade(MIGRATIONS, url)
    group = unique_group("notify-mail")
    code = project_code(region_code)
    data = project(code, credit_code(), ("NDRC",)) | {"contact_email": contact}
    data["tasks"] = [dict(data["tasks"][0], decision="approved", document_number="发改〔2026〕1号")]
    approved = event(EventType.PROJECT_APPROVED, code, data)
    # A backoff long enough that notify is stopped while the retry is pending.
    slow = RetryPolicy(base_s=1.0, factor=2.0, max_delay_s=2.0)
    async with notify_factory(
        url, group, retry_policy=slow, webhook_max_attempts=20, **smtp(mail_sink)
    ) as notify:
        await notify.produce(APPROVAL_PROJECTS, approved)

        async def failed_twice() -> bool:
            items = await contact_deliveries(notify, code)
            return bool(items) and items[0]["attempts"] >= 2 and items[0]["status"] == "pending"

        await eventually(failed_twice, timeout_s=60, what="two failed attempts (server down)")
        [pending] = await contact_deliveries(notify, code)
        assert "Error" in pending["error"] or "refused" in pending["error"].lower()
    mail_sink.start()  # the mail server comes up while notify is down
    async with notify_factory(
        url, group, retry_policy=slow, webhook_max_attempts=20, **smtp(mail_sink)
    ) as notify:
        [mail] = await eventually(lambda: mail_sink.to(contact), timeout_s=60, what="the e-mail")
        [done] = await eventually(
            lambda: _delivered(notify, code), timeout_s=30, what="the delivery recorded"
        )
    assert str(mail["Message-ID"]).strip().startswith(f"<{approved.id}.")
    assert "发改〔2026〕1号" in mail.get_body(preferencelist=("plain",)).get_content()
    assert done["attempts"] >= 3


async def _delivered(notify: Notify, code: str) -> list[dict[str, Any]]:
    return [d for d in await contact_deliveries(notify, code) if d["status"] == "delivered"]
