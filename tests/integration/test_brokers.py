"""What the project relies on from its Kafka broker, checked on whichever broker the session runs.

Run on both: ``pytest tests/integration/test_brokers.py`` (tansu) and
``TONGBAN_TEST_BROKER=apache pytest tests/integration/test_brokers.py`` (Apache Kafka).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError as AIOKafkaError
from aiokafka.structs import TopicPartition as AIOTopicPartition
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from infra.brokers import Broker, open_broker
from infra.local_broker import LocalBroker
from services.common.kafka_settings import (
    aiokafka_consumer_config,
    aiokafka_producer_config,
    ensure_topics,
    kafka_python_consumer_config,
    kafka_python_producer_config,
)

pytestmark = pytest.mark.kafka

# Generous next to the ~3 s a group takes to form on tansu, and well under pytest's 300 s timeout.
GROUP_JOIN_DEADLINE = 20.0
READ_DEADLINE = 30.0


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


async def async_wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.02)


def read_all(bootstrap: str, topic: str, expected: int) -> list[ConsumerRecord]:
    """Read ``expected`` records from every partition of ``topic`` from the start, without a group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        assert partitions, f"topic {topic} has no partitions"
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        records: list[ConsumerRecord] = []

        def got_all() -> bool:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            return len(records) >= expected

        wait_for(got_all, READ_DEADLINE, f"{expected} records on {topic} (have {len(records)})")
        return records
    finally:
        consumer.close()


def partition_count(bootstrap: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (described,) = admin.describe_topics([topic])
        return len(described["partitions"])
    finally:
        admin.close()


def topic_names(bootstrap: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def test_a_record_comes_back_with_the_same_key_value_headers_and_timestamp(
    kafka_broker: Broker, kafka_topic_prefix: str
) -> None:
    topic = f"{kafka_topic_prefix}.roundtrip"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=1)
    occurred_at_ms = 1_767_225_600_123  # a fixed instant, to prove the broker keeps the producer's CreateTime
    sent: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = [
        (
            "640000-婚姻-0001".encode(),
            '{"type":"MarriageRegistered","who":"张三"}'.encode(),
            [
                ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                ("event-id", b"0192f1c2-7d3e-7000-8000-000000000001"),
                ("empty", b""),
                # Kafka headers are a list, not a map: repeats and their order must survive.
                ("hop", b"640000"),
                ("hop", b"510000"),
            ],
        ),
        (b"\x00\xff binary key", bytes(range(256)), [("binary", b"\x00\x01\xfe\xff")]),
        (b"case-tombstone", None, []),  # a tombstone: null value
    ]
    producer = KafkaProducer(**kafka_python_producer_config(kafka_broker.bootstrap))
    try:
        for key, value, headers in sent:
            producer.send(topic, key=key, value=value, headers=headers, timestamp_ms=occurred_at_ms).get(
                timeout=READ_DEADLINE
            )
    finally:
        producer.close()

    received = read_all(kafka_broker.bootstrap, topic, len(sent))

    assert [(r.key, r.value, list(r.headers)) for r in received] == sent
    assert [r.timestamp for r in received] == [occurred_at_ms] * len(sent)
    assert [r.offset for r in received] == [0, 1, 2]


def test_records_with_the_same_key_stay_in_order_on_one_partition(
    kafka_broker: Broker, kafka_topic_prefix: str
) -> None:
    topic = f"{kafka_topic_prefix}.order"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=4)
    keys = [f"case-{n}".encode() for n in range(12)]
    per_key = 60
    producer = KafkaProducer(**kafka_python_producer_config(kafka_broker.bootstrap))
    try:
        # Interleaved across keys, like events of many cases arriving from one outbox.
        futures = [producer.send(topic, key=key, value=str(seq).encode()) for seq in range(per_key) for key in keys]
        producer.flush(timeout=READ_DEADLINE)
        for future in futures:
            future.get(timeout=READ_DEADLINE)
    finally:
        producer.close()

    received = read_all(kafka_broker.bootstrap, topic, len(keys) * per_key)

    assert len(received) == len(keys) * per_key, "no duplicates from an idempotent producer"
    for key in keys:
        mine = [r for r in received if r.key == key]
        assert {r.partition for r in mine} == {mine[0].partition}, f"{key!r} spread over partitions"
        assert [int(r.value) for r in mine] == list(range(per_key)), f"{key!r} out of order"
    assert len({r.partition for r in received}) > 1, "12 keys should spread over the 4 partitions"


def test_ensure_topics_creates_the_partitions_asked_for_and_is_idempotent(
    kafka_broker: Broker, kafka_topic_prefix: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    four, two = f"{kafka_topic_prefix}.four", f"{kafka_topic_prefix}.two"

    ensure_topics(bootstrap, [four])
    ensure_topics(bootstrap, [two, two], partitions=2)  # repeats in one call are fine too
    assert partition_count(bootstrap, four) == 4  # the default
    assert partition_count(bootstrap, two) == 2

    # Again, overlapping, with a different count: existing topics are left exactly as they are
    # (growing them would move keys to other partitions), and the call does not fail.
    third = f"{kafka_topic_prefix}.third"
    ensure_topics(bootstrap, [four, two, third], partitions=3)
    ensure_topics(bootstrap, [four, two, third], partitions=3)
    assert partition_count(bootstrap, four) == 4
    assert partition_count(bootstrap, two) == 2
    assert partition_count(bootstrap, third) == 3
    assert {four, two, third} <= topic_names(bootstrap)


def test_an_aiokafka_consumer_group_joins_and_receives_a_record_within_seconds(
    kafka_broker: Broker, kafka_topic_prefix: str, kafka_timing: Callable[[str, float], None]
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = f"{kafka_topic_prefix}.group"
    ensure_topics(bootstrap, [topic], partitions=2)

    async def scenario() -> tuple[float, float]:
        consumer = AIOKafkaConsumer(topic, **aiokafka_consumer_config(bootstrap, f"{kafka_topic_prefix}.g"))
        producer = AIOKafkaProducer(**aiokafka_producer_config(bootstrap))
        started = time.monotonic()
        await consumer.start()
        try:
            await async_wait_for(lambda: bool(consumer.assignment()), GROUP_JOIN_DEADLINE, "the group to form")
            joined = time.monotonic() - started
            assert consumer.assignment() == {AIOTopicPartition(topic, 0), AIOTopicPartition(topic, 1)}

            await producer.start()
            await producer.send_and_wait(topic, key=b"case-1", value=b"hello", headers=[("h", b"1")])
            record = await asyncio.wait_for(consumer.getone(), timeout=READ_DEADLINE)
            received = time.monotonic() - started
            assert (record.key, record.value, list(record.headers)) == (b"case-1", b"hello", [("h", b"1")])

            # Auto-commit is off in the settings: a service commits after its inbox has the event.
            tp = AIOTopicPartition(topic, record.partition)
            await consumer.commit({tp: record.offset + 1})
            assert await consumer.committed(tp) == record.offset + 1
            return joined, received
        finally:
            await producer.stop()
            await consumer.stop()

    joined, received = asyncio.run(scenario())
    print(f"aiokafka group joined in {joined:.2f}s, first record after {received:.2f}s on {kafka_broker.kind}")
    kafka_timing(f"aiokafka group join on {kafka_broker.kind}", joined)
    assert joined < GROUP_JOIN_DEADLINE


def test_a_kafka_python_consumer_group_joins_within_seconds(
    kafka_broker: Broker, kafka_topic_prefix: str, kafka_timing: Callable[[str, float], None]
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = f"{kafka_topic_prefix}.kpgroup"
    ensure_topics(bootstrap, [topic], partitions=2)
    producer = KafkaProducer(**kafka_python_producer_config(bootstrap))
    try:
        producer.send(topic, key=b"case-1", value=b"early").get(timeout=READ_DEADLINE)
    finally:
        producer.close()

    consumer = KafkaConsumer(topic, **kafka_python_consumer_config(bootstrap, f"{kafka_topic_prefix}.g"))
    try:
        started = time.monotonic()
        received: list[ConsumerRecord] = []
        # kafka-python joins on its first poll, and the group's leader (this consumer) assigns what its
        # metadata holds: a topic created a moment ago and not yet in it was assigned nothing, and the
        # consumer waited for its next metadata refresh (seen on Apache Kafka under a loaded machine).
        wait_for(lambda: bool(consumer.partitions_for_topic(topic)), GROUP_JOIN_DEADLINE,
                 "the consumer's metadata to hold the topic")

        def got_record() -> bool:
            for batch in consumer.poll(timeout_ms=100).values():
                received.extend(batch)
            return bool(received)

        # auto_offset_reset=earliest: a record published before the group existed is still delivered.
        wait_for(got_record, GROUP_JOIN_DEADLINE, "the group to form and deliver the record")
        joined = time.monotonic() - started
        assert [(r.key, r.value) for r in received] == [(b"case-1", b"early")]
    finally:
        consumer.close()
    print(f"kafka-python group joined and read in {joined:.2f}s on {kafka_broker.kind}")
    kafka_timing(f"kafka-python group join on {kafka_broker.kind}", joined)


def test_the_kafka_python_producer_is_idempotent_and_the_broker_accepts_it(
    kafka_broker: Broker, kafka_topic_prefix: str
) -> None:
    config = kafka_python_producer_config(kafka_broker.bootstrap)
    assert (config["enable_idempotence"], config["acks"]) == (True, "all")
    topic = f"{kafka_topic_prefix}.idempotent"
    producer = KafkaProducer(**config)
    try:
        metadata = producer.send(topic, key=b"case-1", value=b"once").get(timeout=READ_DEADLINE)
        assert metadata.offset == 0  # the topic was auto-created by the first produce, on both brokers
        # kafka-python has no public accessor; a producer id proves the broker granted InitProducerId,
        # i.e. the records were sent with sequence numbers the broker deduplicates on retry.
        assert producer._transaction_manager.has_producer_id()
    finally:
        producer.close()


def test_aiokafka_idempotence_is_off_exactly_because_tansu_refuses_it(kafka_broker: Broker) -> None:
    """aiokafka_producer_config has enable_idempotence=False only because of tansu; this pins that down.

    If a tansu upgrade starts accepting aiokafka's InitProducerId v0, the tansu branch fails and the
    setting can be turned on.
    """
    if kafka_broker.kind == "external":
        pytest.skip("unknown which broker TONGBAN_KAFKA points at")
    assert aiokafka_producer_config(kafka_broker.bootstrap)["enable_idempotence"] is False

    async def start_idempotent_producer() -> None:
        producer = AIOKafkaProducer(**{**aiokafka_producer_config(kafka_broker.bootstrap), "enable_idempotence": True})
        try:
            await producer.start()
        finally:
            await producer.stop()

    if kafka_broker.kind == "tansu":
        with pytest.raises(AIOKafkaError):
            asyncio.run(start_idempotent_producer())
    else:
        asyncio.run(start_idempotent_producer())


def test_a_restarted_tansu_has_lost_every_topic(kafka_broker: Broker, kafka_topic_prefix: str, tmp_path: Path) -> None:
    """Tansu here is memory-only: the project must be able to refill Kafka from its event stores."""
    if kafka_broker.kind != "tansu":
        pytest.skip(f"only tansu is memory-only; this session's broker is {kafka_broker.kind}")
    topic = f"{kafka_topic_prefix}.volatile"
    # A broker of its own: restarting the session broker would wipe the other tests' topics.
    broker = LocalBroker(tmp_path)
    with broker:
        address = broker.bootstrap
        ensure_topics(address, [topic], partitions=2)
        producer = KafkaProducer(**kafka_python_producer_config(address))
        try:
            producer.send(topic, key=b"case-1", value=b"before restart").get(timeout=READ_DEADLINE)
        finally:
            producer.close()
        assert topic in topic_names(address)

        broker.stop()
        assert not broker.running
        broker.start()

        assert broker.bootstrap == address, "a restart keeps the address clients know"
        assert topic not in topic_names(address)
    assert not broker.running


def test_open_broker_rejects_an_unknown_broker_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TONGBAN_KAFKA", raising=False)
    monkeypatch.setenv("TONGBAN_TEST_BROKER", "redpanda")
    with pytest.raises(ValueError, match="redpanda") as excinfo:
        open_broker()
    assert "'tansu'" in str(excinfo.value)
    assert "'apache'" in str(excinfo.value)
