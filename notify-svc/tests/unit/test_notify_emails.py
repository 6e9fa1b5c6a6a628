"""E-mail content from the templates, the MIME message and the log channel's line (pure)."""

from __future__ import annotations

from typing import Any

from notify_svc.adapters.email import mime_message
from notify_svc.adapters.log_channel import feed_line
from notify_svc.domain import compose
from notify_svc.domain.emails import message_id
from shared.events import CloudEvent, EventType, new_event

CODE = "2603-110105-02-01-00012X"
FROM = "notify@platform.example.cn"


def event(event_type: str, **data: Any) -> CloudEvent:
    return new_event(
        type=event_type, source="/t", subject=CODE, data={"project_code": CODE, **data}
    )


def task(department: str, **extra: Any) -> dict[str, Any]:
    return {"department": department, "matter_name": f"{department} matter", **extra}


def test_a_supplement_request_lists_every_missing_material_chinese_first() -> None:
    e = event(
        EventType.PROJECT_SUPPLEMENT_REQUESTED,
        name="风电项目",
        status="supplement_required",
        tasks=[
            task(
                "MEE",
                status="supplement_required",
                missing_materials=["环评报告书", "公众参与说明"],
            ),
            task("MNR", status="supplement_required", missing_materials=["用地预审申请表"]),
            task("NDRC", status="pending"),
        ],
    )
    mail = compose(e, to="boss@example.cn", sender=FROM)

    assert mail.subject.index("需要补充材料") < mail.subject.index("supplementary materials")
    for material in ("环评报告书", "公众参与说明", "用地预审申请表"):
        assert material in mail.text
        assert f"<li>{material}</li>" in mail.html
    assert mail.text.index("下一步") < mail.text.index("Next:")
    assert "NDRC" not in mail.text  # a task with nothing missing is not listed


def test_an_approval_gives_the_document_numbers() -> None:
    e = event(
        EventType.PROJECT_APPROVED,
        tasks=[task("NDRC", decision="approved", document_number="发改投资〔2026〕12号")],
    )
    mail = compose(e, to="a@example.cn", sender=FROM)
    assert "批准文号：发改投资〔2026〕12号" in mail.text
    assert "document number 发改投资〔2026〕12号" in mail.text


def test_an_alert_says_which_rule_fired_and_how_to_clear_it() -> None:
    e = event(EventType.ALERT_RAISED, kind="start_overdue", level="red", detail="no start")
    mail = compose(e, to="a@example.cn", sender=FROM)
    assert "逾期未开工" in mail.text
    assert "start overdue" in mail.text
    assert "file a start report" in mail.text
    assert "红色" in mail.subject
    assert "red alert" in mail.subject


def test_html_escapes_what_the_event_says_and_other_types_get_the_generic_mail() -> None:
    e = event(EventType.PROJECT_REJECTED, name="<script>x</script>", tasks=[])
    mail = compose(e, to="a@example.cn", sender=FROM)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    other = compose(event(EventType.REPORT_FILED, kind="progress"), to="a@b.cn", sender=FROM)
    assert "supervision.report.filed" in other.text


def test_the_message_id_is_derived_from_the_event_and_stable_per_recipient() -> None:
    first = message_id("ev-1", "a@example.cn", FROM)
    assert first == message_id("ev-1", "A@example.cn ", FROM)  # a resend is recognisable
    assert first.startswith("<ev-1.")
    assert first.endswith("@platform.example.cn>")
    assert first != message_id("ev-1", "b@example.cn", FROM)
    assert first != message_id("ev-2", "a@example.cn", FROM)


def test_the_mime_message_has_text_and_html_alternatives() -> None:
    e = event(EventType.PROJECT_APPROVED, tasks=[])
    message = mime_message(compose(e, to="a@example.cn", sender=FROM), e)
    assert message.get_content_type() == "multipart/alternative"
    types = [part.get_content_type() for part in message.iter_parts()]
    assert types == ["text/plain", "text/html"]
    assert message["Message-ID"].startswith(f"<{e.id}.")
    assert message["To"] == "a@example.cn"


def test_the_log_channel_line_says_type_project_and_gist() -> None:
    decision = new_event(
        type=EventType.DECISION_RECORDED,
        source="/t",
        subject=CODE,
        data=task("MEE", decision="supplement_required", missing_materials=["a", "b"]),
    )
    line, gist = feed_line(decision)
    assert line.startswith(f"approval.decision.recorded {CODE}: MEE")
    assert "supplement_required" in gist
    assert "missing a, b" in gist
    alert = event(EventType.ALERT_RAISED, kind="progress_behind", level="yellow", detail="late")
    assert feed_line(alert)[0] == f"supervision.alert.raised {CODE}: progress_behind yellow; late"
