"""The AsyncAPI document: every topic and event type of the contract, typed by the models."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from shared.asyncapi import TOPIC_EVENT_TYPES, build_document, document_json
from shared.events import EVENT_DATA_MODELS, EventType
from shared.http import create_service_app
from shared.topics import DEPARTMENT_CODES, base_topics, tasks_topic


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_it_is_an_asyncapi_3_document() -> None:
    document = build_document()
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"]
    assert document["info"]["version"]


def test_every_event_type_is_a_message_whose_data_is_its_model() -> None:
    document = build_document()
    by_type = {m["name"]: m for m in document["components"]["messages"].values()}
    for event_type in EventType:
        payload = by_type[event_type.value]["payload"]
        assert payload["properties"]["type"]["const"] == event_type.value
        data = resolve(document, payload["properties"]["data"]["$ref"])
        model = EVENT_DATA_MODELS[event_type]
        assert set(data["properties"]) == set(model.model_fields), event_type
        assert set(data.get("required", [])) == {
            name for name, field in model.model_fields.items() if field.is_required()
        }


def test_every_topic_is_a_channel_carrying_its_event_types() -> None:
    document = build_document()
    addresses = {c["address"]: c for c in document["channels"].values()}
    every_topic = {t for t in base_topics() if not t.startswith("approval.tasks.")}
    assert every_topic | {"approval.tasks.{department}", "{topic}.dlq"} == set(addresses)
    tasks = addresses["approval.tasks.{department}"]
    assert tasks["parameters"]["department"]["enum"] == list(DEPARTMENT_CODES)
    assert tasks_topic("MEE") in {
        tasks["address"].format(department=d) for d in tasks["parameters"]["department"]["enum"]
    }
    assert set(addresses["{topic}.dlq"]["parameters"]["topic"]["enum"]) == set(base_topics())
    carried = {t for types in TOPIC_EVENT_TYPES.values() for t in types}
    assert carried == set(EventType), "an event type no topic carries"
    for topic, types in TOPIC_EVENT_TYPES.items():
        names = {
            resolve(document, m["$ref"])["name"] for m in addresses[topic]["messages"].values()
        }
        assert names == {t.value for t in types}, topic


def test_operations_reference_their_channels_messages() -> None:
    document = build_document()
    for name, operation in document["operations"].items():
        channel = resolve(document, operation["channel"]["$ref"])
        for message in operation["messages"]:
            assert resolve(document, message["$ref"]), name
            assert message["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
        assert operation["action"] in {"send", "receive"}
        assert channel["address"]
    assert document["operations"]["receiveApprovalDecisions"]["action"] == "receive"


def test_a_submitted_decision_requires_the_authtoken_extension() -> None:
    document = build_document()
    payload = document["components"]["messages"]["DecisionSubmitted"]["payload"]
    assert "authtoken" in payload["required"]
    assert "approval.decisions" in payload["properties"]["authtoken"]["description"]


def test_every_service_serves_the_document() -> None:
    async def ready() -> list[str]:
        return []

    app = create_service_app(service="svc", title="t", description="d", readiness=ready)
    with TestClient(app) as client:
        response = client.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == json.loads(document_json())
