"""The Metadata v10 structs, checked against kafka-python's codec (generated from Kafka's own
message definitions): the same request bytes, the same answer read back."""

from __future__ import annotations

import uuid
from io import BytesIO

import pytest
from kafka.protocol.metadata import MetadataRequest, MetadataResponse

from shared.topic_metadata import (
    NO_ID,
    MetadataResponse_v10,
    TopicIdsRequest,
    Uuid,
    topic_ids,
)

VERSIONS = {3: (0, 12)}  # what a broker answers to ApiVersions for Metadata


def test_the_request_is_byte_for_byte_kafkas_version_10() -> None:
    ours = TopicIdsRequest(["approval.events", "项目"]).prepare(VERSIONS)

    theirs = MetadataRequest[10](
        topics=[
            MetadataRequest.MetadataRequestTopic(topic_id=None, name="approval.events"),
            MetadataRequest.MetadataRequestTopic(topic_id=None, name="项目"),
        ],
        allow_auto_topic_creation=False,
        include_cluster_authorized_operations=False,
        include_topic_authorized_operations=False,
    )

    assert ours.API_VERSION == 10
    assert ours.FLEXIBLE_VERSION
    assert ours.encode() == bytes(theirs.encode())


def test_a_broker_without_version_10_is_refused() -> None:
    with pytest.raises(NotImplementedError):
        TopicIdsRequest(["t"]).prepare({3: (0, 9)})


def test_the_answer_is_read_as_kafka_writes_it() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    topic = MetadataResponse.MetadataResponseTopic
    partition = topic.MetadataResponsePartition
    answer = MetadataResponse[10](
        throttle_time_ms=0,
        brokers=[
            MetadataResponse.MetadataResponseBroker(node_id=1, host="h", port=9092, rack=None)
        ],
        cluster_id="c",
        controller_id=1,
        topics=[
            topic(
                error_code=0,
                name="approval.events",
                topic_id=first,
                is_internal=False,
                partitions=[
                    partition(
                        error_code=0,
                        partition_index=p,
                        leader_id=1,
                        leader_epoch=0,
                        replica_nodes=[1],
                        isr_nodes=[1],
                        offline_replicas=[],
                    )
                    for p in range(3)
                ],
                authorized_operations=set(),
            ),
            topic(
                error_code=0,
                name="项目",
                topic_id=second,
                is_internal=False,
                partitions=[],
                authorized_operations=set(),
            ),
            topic(
                error_code=3,
                name="missing",
                topic_id=uuid.UUID(int=0),
                is_internal=False,
                partitions=[],
                authorized_operations=set(),
            ),
        ],
        authorized_operations=set(),
    )

    decoded = MetadataResponse_v10.decode(BytesIO(bytes(answer.encode())))

    assert topic_ids(decoded) == [
        ("approval.events", 0, str(first)),
        ("项目", 0, str(second)),
        ("missing", 3, None),
    ]
    assert [p[1] for p in decoded.topics[0][4]] == [0, 1, 2]


def test_a_uuid_round_trips_and_a_short_one_is_refused() -> None:
    value = str(uuid.uuid4())

    assert Uuid.decode(BytesIO(Uuid.encode(value))) == value
    assert Uuid.encode(NO_ID) == bytes(16)
    with pytest.raises(ValueError, match="16 bytes"):
        Uuid.decode(BytesIO(b"\x00" * 15))
