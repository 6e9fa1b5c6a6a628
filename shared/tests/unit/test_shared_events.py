"""The event contract: CloudEvents 1.0 structured JSON, interoperable with the official SDK."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent
from cloudevents.v1.conversion import to_json as v1_to_json
from cloudevents.v1.http import CloudEvent as V1SdkEvent
from cloudevents.v1.http import from_json as v1_from_json
from pydantic import ValidationError

from shared.events import (
    APPROVAL_SOURCE,
    CloudEvent,
    DecisionSubmittedData,
    TaskData,
    department_source,
    new_event,
    source_of,
)

from shared_event_samples import PROJECT, TASK, _event

# What the contract allows on the wire: the CloudEvents attributes we use plus our extensions.
CE_ATTRIBUTES = {
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "subject",
    "datacontenttype",
    "data",
    "correlationid",
    "causationid",
}


# --- our own JSON ------------------------------------------------------------------------


def test_round_trip_through_json_keeps_every_attribute() -> None:
    event = _event(correlationid="corr-1", causationid="cause-1")

    again = CloudEvent.from_json(event.to_json())

    assert again == event
    assert again.model_dump() == event.model_dump()
    assert again.time.utcoffset() == timedelta(0)


def test_wire_json_has_only_cloudevents_attributes() -> None:
    doc = json.loads(_event(causationid="c").to_json())

    assert set(doc) == CE_ATTRIBUTES
    assert doc["specversion"] == "1.0"
    assert doc["datacontenttype"] == "application/json"
    assert doc["data"] == PROJECT  # the data object itself, not an encoded string
    # RFC 3339 with an offset
    assert datetime.fromisoformat(doc["time"]).tzinfo is not None
    assert not any("faust" in key or key.startswith("__") for key in doc)


def test_new_event_dumps_models_in_json_mode_and_starts_a_correlation() -> None:
    data = TaskData.model_validate(TASK)
    event = new_event(type="approval.task.assigned", source="/a", subject="P", data=data)

    assert event.data["assigned_at"] == "2025-03-04T05:06:07Z"
    assert event.correlationid == event.id
    assert event.causationid is None
    json.loads(event.to_json())  # plain JSON all the way down


def test_caused_keeps_the_correlation_and_points_at_its_cause() -> None:
    root = _event()
    child = root.caused(type="approval.task.assigned", source="/approval-svc", data=TASK)
    grandchild = child.caused(
        type="approval.decision.recorded", source="/approval-svc", data=TASK, subject="other"
    )

    assert child.correlationid == root.id == root.correlationid
    assert child.causationid == root.id
    assert child.subject == root.subject
    assert child.id != root.id
    assert grandchild.correlationid == root.id
    assert grandchild.causationid == child.id
    assert grandchild.subject == "other"


def test_caused_by_a_foreign_event_without_correlation_uses_its_id() -> None:
    foreign = CloudEvent(type="x", source="/dept", id="dept-42")

    child = foreign.caused(type="y", source="/approval-svc", data={})

    assert child.correlationid == "dept-42"
    assert child.causationid == "dept-42"


def test_new_event_with_a_cause_joins_its_correlation_whatever_else_is_given() -> None:
    root = _event(correlationid="corr-1")

    child = new_event(
        type="y", source=APPROVAL_SOURCE, subject="P", data={}, cause=root, correlationid="req-9"
    )

    assert child.correlationid == "corr-1"
    assert child.causationid == root.id


def test_new_event_without_a_cause_takes_the_given_correlation() -> None:
    # e.g. the correlation id of the HTTP request that made the event
    event = new_event(type="y", source=APPROVAL_SOURCE, subject="P", data={}, correlationid="r-1")

    assert event.correlationid == "r-1"
    assert event.causationid is None


def test_sources_are_spelled_one_way() -> None:
    assert source_of("notify-svc") == source_of("/notify-svc/") == "/notify-svc"
    assert department_source("MEE") == "/departments/MEE"


def test_unknown_envelope_extensions_are_kept_and_re_emitted() -> None:
    doc = json.loads(_event().to_json())
    doc["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    doc["comexampleother"] = 5

    event = CloudEvent.from_json(json.dumps(doc))
    again = json.loads(event.to_json())

    assert event.model_extra == {
        "traceparent": doc["traceparent"],
        "comexampleother": 5,
    }
    assert again["traceparent"] == doc["traceparent"]
    assert again["comexampleother"] == 5


@pytest.mark.parametrize(
    ("field", "value"),
    [("specversion", "0.3"), ("id", ""), ("source", ""), ("type", ""), ("source", None)],
)
def test_invalid_envelopes_are_rejected(field: str, value: Any) -> None:
    doc = json.loads(_event().to_json())
    doc[field] = value

    with pytest.raises(ValidationError):
        CloudEvent.from_json(json.dumps(doc))


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b"not json", b"\xff\xfe", None])
def test_non_json_or_non_object_values_are_rejected_as_validation_errors(raw: Any) -> None:
    with pytest.raises(ValidationError):
        CloudEvent.from_json(raw)


def test_time_in_another_offset_is_the_same_instant() -> None:
    doc = json.loads(_event().to_json())
    doc["time"] = "2025-03-04T13:06:07+08:00"

    event = CloudEvent.from_json(json.dumps(doc))

    assert event.time == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.mark.parametrize("attribute", ["time", "datacontenttype", "id", "specversion"])
def test_null_attributes_are_treated_as_unset(attribute: str) -> None:
    doc = json.loads(_event().to_json())
    doc[attribute] = None

    event = CloudEvent.from_json(json.dumps(doc))

    uuid.UUID(event.id)  # a fresh id
    assert event.specversion == "1.0"
    assert event.datacontenttype == "application/json"
    assert event.time.tzinfo is not None
    assert CloudEvent.from_json(event.to_json()) == event


def test_null_optional_attributes_and_extensions_are_unset() -> None:
    doc = json.loads(_event().to_json())
    doc.update(subject=None, correlationid=None, causationid=None, traceparent=None, data=None)

    event = CloudEvent.from_json(json.dumps(doc))

    assert (event.subject, event.correlationid, event.causationid, event.data) == (None,) * 4
    assert event.model_extra == {}
    assert "traceparent" not in event.model_fields_set
    built = CloudEvent(source="/x", type="t", traceparent=None, authtoken="tok")
    assert built.model_extra == {"authtoken": "tok"}
    out = json.loads(event.to_json())
    assert "traceparent" not in out
    assert "subject" not in out


@pytest.mark.parametrize("attribute", ["source", "type"])
def test_a_required_attribute_that_is_null_is_refused(attribute: str) -> None:
    doc = json.loads(_event().to_json())
    doc[attribute] = None

    with pytest.raises(ValidationError) as refused:
        CloudEvent.from_json(json.dumps(doc))

    assert refused.value.errors()[0]["loc"] == (attribute,)


# --- the official SDK -------------------------------------------------------------------


def test_our_json_is_read_by_the_sdk_core_json_format() -> None:
    event = _event(correlationid="corr-9", causationid="cause-9")

    sdk = JSONFormat().read(None, event.to_json())

    assert sdk.get_id() == event.id
    assert sdk.get_type() == event.type
    assert sdk.get_source() == event.source
    assert sdk.get_subject() == event.subject
    assert sdk.get_specversion() == "1.0"
    assert sdk.get_time() == event.time
    assert sdk.get_data() == event.data
    assert sdk.get_extension("correlationid") == "corr-9"
    assert sdk.get_extension("causationid") == "cause-9"


def test_our_kafka_message_is_read_by_the_sdk_kafka_binding() -> None:
    event = _event(correlationid="corr-9", causationid="cause-9")
    message = ce_kafka.KafkaMessage(headers={}, key=event.subject.encode(), value=event.to_json())

    sdk = ce_kafka.from_structured(message, JSONFormat())

    assert sdk.get_id() == event.id
    assert sdk.get_data() == event.data
    assert sdk.get_extension("partitionkey") == event.subject


def test_our_json_is_read_by_the_sdk_v1_api() -> None:
    event = _event(correlationid="corr-9", causationid="cause-9")

    sdk = v1_from_json(event.to_json())

    assert sdk["id"] == event.id
    assert sdk["type"] == event.type
    assert sdk["source"] == event.source
    assert sdk["subject"] == event.subject
    assert sdk["correlationid"] == "corr-9"
    assert sdk["causationid"] == "cause-9"
    assert sdk.data == event.data


def test_an_event_without_subject_is_read_by_the_sdk_core() -> None:
    event = new_event(type="credit.record.added", source="/supervision-svc", subject=None, data={})

    sdk = JSONFormat().read(None, event.to_json())

    assert sdk.get_id() == event.id
    assert sdk.get_subject() is None


def test_an_sdk_core_event_parses_as_ours() -> None:
    sdk = SdkEvent(
        {
            "type": "approval.decision.submitted",
            "source": "urn:dept:MEE",
            "subject": PROJECT["project_code"],
            "time": datetime(2025, 3, 4, 13, 0, tzinfo=timezone(timedelta(hours=8))),
            "datacontenttype": "application/json",
            "correlationid": "corr-7",
            "causationid": "cause-7",
            "comexampleext": "kept",
        },
        {"task_id": "t-1", "department": "MEE", "decision": "approved", "extra": 1},
    )

    ours = CloudEvent.from_json(JSONFormat().write(sdk))

    assert ours.id == sdk.get_id()
    assert ours.type == "approval.decision.submitted"
    assert ours.source == "urn:dept:MEE"
    assert ours.subject == PROJECT["project_code"]
    assert ours.time == datetime(2025, 3, 4, 5, 0, tzinfo=UTC)
    assert ours.correlationid == "corr-7"
    assert ours.causationid == "cause-7"
    assert ours.model_extra == {"comexampleext": "kept"}
    decision = ours.typed_data()
    assert isinstance(decision, DecisionSubmittedData)
    assert decision.decision == "approved"


def test_an_sdk_kafka_structured_message_parses_as_ours() -> None:
    sdk = SdkEvent({"type": "t.x", "source": "/s", "subject": "P"}, {"n": 1})

    message = ce_kafka.to_structured(sdk, JSONFormat())
    ours = CloudEvent.from_json(message.value)

    assert (ours.id, ours.type, ours.subject, ours.data) == (sdk.get_id(), "t.x", "P", {"n": 1})


def test_an_sdk_v1_event_parses_as_ours() -> None:
    sdk = V1SdkEvent(
        {"type": "t.y", "source": "/dept", "subject": "P", "correlationid": "c"}, {"k": "v"}
    )

    ours = CloudEvent.from_json(v1_to_json(sdk))

    assert ours.id == sdk["id"]
    assert (ours.type, ours.source, ours.subject, ours.data) == ("t.y", "/dept", "P", {"k": "v"})
    assert ours.correlationid == "c"
    assert ours.time.tzinfo is not None


def test_sdk_round_trip_keeps_our_event() -> None:
    event = _event(correlationid="corr-1", causationid="cause-1")

    back = CloudEvent.from_json(JSONFormat().write(JSONFormat().read(None, event.to_json())))

    assert back == event
