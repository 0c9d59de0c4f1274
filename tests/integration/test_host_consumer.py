"""The host's consumer (services/host/consuming.py) on a real broker: at least once, in order per
partition, never committing past what it handled (invariant 1), and reading on from there after a
restart."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from kafka import KafkaProducer

from services.common.kafka_settings import aiokafka_consumer_config, ensure_topics
from services.host.consuming import HostConsumer

pytestmark = pytest.mark.kafka

DEADLINE = 60.0  # seconds a consumer may take to see what the test is waiting for


def _produce(bootstrap: str, topic: str, values: Sequence[str], partitions: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        for i, value in enumerate(values):
            producer.send(topic, value=value.encode(), partition=i % partitions, headers=[("n", str(i).encode())])
        producer.flush(timeout=30)
    finally:
        producer.close()


class Recorder:
    """A dispatch_batch that records (topic, value) and can fail its first `failures` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.handled: list[tuple[str, str]] = []

    def __call__(self, topic: str, messages: Sequence[tuple[bytes | None, bytes, Any]]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("the store is away (a test's failure)")
        self.handled.extend((topic, value.decode()) for _, value, _ in messages)


async def _consume_until(consumer: HostConsumer, done: Any) -> None:
    """Run `consumer` until `done()` holds, then stop it and wait for it to return."""
    running = asyncio.ensure_future(consumer.run())
    try:
        deadline = asyncio.get_running_loop().time() + DEADLINE
        while not done():
            assert not running.done(), f"the consumer stopped by itself: {running.exception()!r}"
            assert asyncio.get_running_loop().time() < deadline, "the consumer did not get there in time"
            await asyncio.sleep(0.05)  # polling a condition with a deadline, not synchronisation
    finally:
        consumer.stop()
        await asyncio.wait_for(running, DEADLINE)


def test_a_batch_whose_dispatch_fails_is_read_again_and_every_partition_keeps_its_order(
        kafka_broker: Any, kafka_topic_prefix: str) -> None:
    topics = [f"{kafka_topic_prefix}.decisions", f"{kafka_topic_prefix}.handoffs"]
    ensure_topics(kafka_broker.bootstrap, topics, partitions=2)
    sent = {topic: [f"{topic[-9:]}-{i}" for i in range(40)] for topic in topics}
    for topic, values in sent.items():
        _produce(kafka_broker.bootstrap, topic, values, partitions=2)
    recorder = Recorder(failures=1)
    assigned: list[bool] = []
    consumer = HostConsumer(aiokafka_consumer_config(kafka_broker.bootstrap, f"{kafka_topic_prefix}.group"), topics,
                            recorder, batch=8, on_assigned=lambda: assigned.append(True))

    def all_handled() -> bool:
        return {value for _, value in recorder.handled} >= {v for values in sent.values() for v in values}

    asyncio.run(_consume_until(consumer, all_handled))

    assert recorder.calls > 1 and assigned, "the failed batch was tried again; readiness was signalled"
    for topic, values in sent.items():
        for partition in (0, 1):
            expected = values[partition::2]
            seen = [v for t, v in recorder.handled if t == topic and v in set(expected)]
            # At least once: a repeat is allowed, a gap or a step back within a partition is not.
            firsts = list(dict.fromkeys(seen))
            assert firsts == expected, f"{topic} partition {partition} out of order or incomplete: {seen}"


def test_a_restarted_consumer_reads_on_after_the_last_batch_it_handled(kafka_broker: Any,
                                                                       kafka_topic_prefix: str) -> None:
    topic = f"{kafka_topic_prefix}.decisions"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=2)
    config = aiokafka_consumer_config(kafka_broker.bootstrap, f"{kafka_topic_prefix}.group")
    before = [f"before-{i}" for i in range(20)]
    _produce(kafka_broker.bootstrap, topic, before, partitions=2)
    first = Recorder()
    asyncio.run(_consume_until(HostConsumer(config, [topic], first, batch=64),
                               lambda: {v for _, v in first.handled} >= set(before)))

    after = [f"after-{i}" for i in range(20)]
    _produce(kafka_broker.bootstrap, topic, after, partitions=2)
    second = Recorder()
    asyncio.run(_consume_until(HostConsumer(config, [topic], second, batch=64),
                               lambda: {v for _, v in second.handled} >= set(after)))

    assert sorted(v for _, v in second.handled) == sorted(after), \
        "after a restart the group reads on from its last committed batch: nothing handled before comes again"


def test_a_consumer_with_nothing_to_read_stops_when_asked(kafka_broker: Any, kafka_topic_prefix: str) -> None:
    topic = f"{kafka_topic_prefix}.quiet"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=1)
    recorder = Recorder()
    assigned: list[bool] = []
    consumer = HostConsumer(aiokafka_consumer_config(kafka_broker.bootstrap, f"{kafka_topic_prefix}.group"), [topic],
                            recorder, batch=64, on_assigned=lambda: assigned.append(True))
    asyncio.run(_consume_until(consumer, lambda: bool(assigned)))  # fails unless it returns after stop()
    assert recorder.handled == []
