"""The AsyncAPI 3.0 document of the platform's topics and events, generated from the models.

Every service serves it at `/asyncapi.json`; a copy is committed as `deploy/asyncapi.json`
(`python -m shared.asyncapi > deploy/asyncapi.json`) and a test fails when the two drift apart.
Payloads are the CloudEvents 1.0 envelope with `data` typed by `EVENT_DATA_MODELS`.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Mapping
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.decision_token import AUTHTOKEN_ATTRIBUTE, DECISIONS_AUDIENCE
from shared.events import EVENT_DATA_MODELS, EventType
from shared.topics import (
    APPROVAL_DECISIONS,
    APPROVAL_PROJECTS,
    DEPARTMENT_CODES,
    DLQ_SUFFIX,
    NOTIFY_DELIVERIES,
    SUPERVISION_ALERTS,
    SUPERVISION_REPORTS,
    TASKS_PREFIX,
    base_topics,
)

ASYNCAPI_VERSION = "3.0.0"
TASKS_CHANNEL = "approvalTasks"
DLQ_CHANNEL = "deadLetters"

# Which event types each topic carries (the contract's "Topics and types").
TOPIC_EVENT_TYPES: Mapping[str, tuple[EventType, ...]] = {
    APPROVAL_PROJECTS: (
        EventType.PROJECT_SUBMITTED,
        EventType.PROJECT_FILED,
        EventType.TASK_ASSIGNED,
        EventType.DECISION_RECORDED,
        EventType.PROJECT_SUPPLEMENT_REQUESTED,
        EventType.PROJECT_SUPPLEMENT_PROVIDED,
        EventType.PROJECT_APPROVED,
        EventType.PROJECT_REJECTED,
        EventType.PROJECT_WITHDRAWN,
    ),
    f"{TASKS_PREFIX}{{department}}": (EventType.TASK_ASSIGNED, EventType.TASK_WITHDRAWN),
    APPROVAL_DECISIONS: (EventType.DECISION_SUBMITTED,),
    SUPERVISION_REPORTS: (EventType.REPORT_FILED,),
    SUPERVISION_ALERTS: (
        EventType.ALERT_RAISED,
        EventType.ALERT_RESOLVED,
        EventType.CREDIT_RECORD_ADDED,
        EventType.CREDIT_STATUS_CHANGED,
    ),
    NOTIFY_DELIVERIES: (EventType.NOTIFICATION_DELIVERED, EventType.NOTIFICATION_FAILED),
}
# Who produces each topic (the platform service), and so which way its operation goes.
RECEIVED_BY_PLATFORM = frozenset({APPROVAL_DECISIONS})

_ENVELOPE_PROPERTIES: dict[str, Any] = {
    "specversion": {"type": "string", "const": "1.0"},
    "id": {"type": "string", "minLength": 1, "maxLength": 128},
    "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
    "type": {"type": "string"},
    "time": {"type": "string", "format": "date-time"},
    "subject": {"type": "string", "description": "The project code (credit code for credit.*)."},
    "datacontenttype": {"type": "string", "const": "application/json"},
    "correlationid": {"type": "string", "description": "Id of the event that began the flow."},
    "causationid": {"type": "string", "description": "Id of the event that caused this one."},
}

_DEAD_LETTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A message that could not be processed, with the reason.",
    "required": ["error", "service", "consumer", "original_topic", "partition", "offset"],
    "properties": {
        "error": {"type": "string"},
        "service": {"type": "string"},
        "consumer": {"type": "string"},
        "original_topic": {"type": "string"},
        "partition": {"type": "integer"},
        "offset": {"type": "integer"},
        "key": {"type": ["string", "null"]},
        "value": {"description": "The failing message, parsed when it is JSON."},
        "failed_at": {"type": "string", "format": "date-time"},
    },
}


def _message_name(event_type: EventType) -> str:
    return event_type.name.title().replace("_", "")


def _channel_name(topic: str) -> str:
    if topic.startswith(TASKS_PREFIX):
        return TASKS_CHANNEL
    head, *rest = topic.split(".")
    return head + "".join(part.title() for part in rest)


def _event_payload(event_type: EventType, data_schema: dict[str, Any]) -> dict[str, Any]:
    properties = {**_ENVELOPE_PROPERTIES, "type": {"type": "string", "const": event_type.value}}
    properties["data"] = data_schema
    required = ["specversion", "id", "source", "type", "time", "datacontenttype", "data"]
    if event_type is EventType.DECISION_SUBMITTED:
        properties[AUTHTOKEN_ATTRIBUTE] = {
            "type": "string",
            "description": (
                "CloudEvents extension: an HS256 JWT signed with the platform secret, role "
                f"'department', claim 'department' equal to data.department, aud "
                f"'{DECISIONS_AUDIENCE}'. Without a valid one the decision is dead-lettered."
            ),
        }
        required.append(AUTHTOKEN_ATTRIBUTE)
    return {"type": "object", "required": required, "properties": properties}


def build_document() -> dict[str, Any]:
    """The whole document; deterministic, so the committed copy can be compared verbatim."""
    models = sorted(set(EVENT_DATA_MODELS.values()), key=lambda m: m.__name__)
    keyed, definitions = models_json_schema(
        [(m, "serialization") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = dict(sorted(definitions.get("$defs", {}).items()))
    schemas["DeadLetter"] = _DEAD_LETTER_SCHEMA

    messages: dict[str, Any] = {}
    for event_type in EventType:
        model = EVENT_DATA_MODELS[event_type]
        messages[_message_name(event_type)] = {
            "name": event_type.value,
            "title": event_type.value,
            "contentType": "application/cloudevents+json",
            "payload": _event_payload(event_type, keyed[(model, "serialization")]),
        }
    messages["DeadLetter"] = {
        "name": "dead_letter",
        "contentType": "application/json",
        "payload": {"$ref": "#/components/schemas/DeadLetter"},
    }

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, types in TOPIC_EVENT_TYPES.items():
        name = _channel_name(topic)
        channel: dict[str, Any] = {
            "address": topic,
            "messages": {
                _message_name(t): {"$ref": f"#/components/messages/{_message_name(t)}"}
                for t in types
            },
        }
        if name == TASKS_CHANNEL:
            channel["parameters"] = {
                "department": {"enum": list(DEPARTMENT_CODES), "description": "Department code."}
            }
        channels[name] = channel
        action = "receive" if topic in RECEIVED_BY_PLATFORM else "send"
        operations[f"{action}{name[0].upper()}{name[1:]}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{_message_name(t)}"} for t in types],
        }
    channels[DLQ_CHANNEL] = {
        "address": f"{{topic}}{DLQ_SUFFIX}",
        "parameters": {"topic": {"enum": base_topics(), "description": "The original topic."}},
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
    }
    operations["sendDeadLetters"] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{DLQ_CHANNEL}"},
        "messages": [{"$ref": f"#/channels/{DLQ_CHANNEL}/messages/DeadLetter"}],
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Investment project approval platform events",
            "version": "1.0.0",
            "description": (
                "CloudEvents 1.0 (structured JSON) on Kafka; the message key is the project "
                "code (the credit code for credit.* events)."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


@functools.cache
def document_json() -> str:
    """The document as the committed file holds it (sorted keys, two-space indent)."""
    return json.dumps(build_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(document_json())
