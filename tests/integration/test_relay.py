"""The outbox relay on real brokers and both databases: order, headers, crashes, refill, and the
hosts' consumer taking the relay's topic end to end through an idempotent inbox."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import select

from infra.local_broker import LocalBroker
from services.common.consumer import consume
from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.handoff.topics import handoff_route, handoffs_topic
from services.common.kafka_settings import aiokafka_consumer_config, ensure_topics
from services.common.relay import HEADER_EVENT_ID, HEADER_EVENT_TYPE, OutboxRelay
from services.common.relay_backlog import relay_backlogs
from services.common.relay_producer import kafka_producer, relay_producer
from services.common.store import EventStore, StoreTransaction, sqlite_url
from services.common.telemetry import current_trace_context
from services.common.trust.signing import parse_envelope
from services.host.consuming import HostConsumer
from tests.hosted_region import HostConsumerThread
from tests.support import CLERK, new_event, unique_id, wait_until
from tongban.handoff.v1 import events_pb2 as handoff_pb

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]

# The relay's own producer (whole batches, relay_producer.py) and kafka-python's one-send-per-event
# (what other callers hand the relay): the same guarantees with both.
PRODUCERS = pytest.mark.parametrize("new_producer", [relay_producer, kafka_producer], ids=["batches", "per-event"])


def _populate(store: EventStore, streams: int = 3, per_stream: int = 4) -> list[RecordedEvent]:
    ids = [unique_id() for _ in range(streams)]
    out: list[RecordedEvent] = []
    for v in range(per_stream):
        for s in ids:
            out += store.append(s, "t", v, [new_event(f"{s}:{v}")])
    return out


def _read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
    """Read a topic from the beginning until at least `expected` records arrived."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=500)
    try:
        partitions = wait_until(lambda: consumer.partitions_for_topic(topic), what=f"partitions of {topic}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Any] = []

        def enough() -> bool:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            return len(records) >= expected

        wait_until(enough, timeout=timeout, what=f"{expected} records on {topic}")
        return records
    finally:
        consumer.close()


def _by_stream(records: list[Any]) -> dict[str, list[int]]:
    versions: dict[str, list[int]] = defaultdict(list)
    for r in records:
        e = RecordedEvent.from_bytes(r.value)
        versions[e.stream_id].append(e.version)
    return versions


@PRODUCERS
def test_relay_publishes_every_event_in_stream_order_with_its_headers(
        new_producer: Any, store: EventStore, kafka_broker: Any, kafka_topic_prefix: str) -> None:
    topic = f"{kafka_topic_prefix}.events"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=4)
    stored = _populate(store)
    producer = new_producer(kafka_broker.bootstrap)
    try:
        relay = OutboxRelay(store, producer, topic, batch_size=5)
        assert relay.publish_pending() == len(stored)
        assert relay.cursor() == stored[-1].position
        assert relay.publish_pending() == 0
    finally:
        producer.close()
    records = _read_topic(kafka_broker.bootstrap, topic, len(stored))
    assert len(records) == len(stored)
    by_id = {e.event_id: e for e in stored}
    for r in records:
        event = RecordedEvent.from_bytes(r.value)
        assert r.value == by_id[event.event_id].to_bytes(), "identical bytes on the topic"
        assert r.key == event.stream_id.encode()
        headers = dict(r.headers)
        assert headers[HEADER_EVENT_ID] == event.event_id.encode()
        assert headers[HEADER_EVENT_TYPE] == b"google.protobuf.StringValue"
    assert all(v == sorted(v) for v in _by_stream(records).values()), "per-stream order kept"


def test_a_batch_spread_over_several_record_batches_per_partition_keeps_each_streams_order(
        store: EventStore, kafka_broker: Any, kafka_topic_prefix: str) -> None:
    from services.common.relay_producer import BatchProducer

    topic = f"{kafka_topic_prefix}.events"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=2)
    stored = _populate(store, streams=5, per_stream=6)
    # Record batches of 1 KiB hold one or two envelopes: each partition's share of the relay batch
    # goes as several record batches, handed over in turns (relay_producer.py).
    producer = BatchProducer(kafka_broker.bootstrap, config={"max_batch_size": 1024})
    try:
        relay = OutboxRelay(store, producer, topic, batch_size=100)
        assert relay.publish_pending() == len(stored)
    finally:
        producer.close()
    records = _read_topic(kafka_broker.bootstrap, topic, len(stored))
    assert sorted(RecordedEvent.from_bytes(r.value).event_id for r in records) == sorted(e.event_id for e in stored)
    assert all(v == list(range(1, 7)) for v in _by_stream(records).values()), "per-stream order kept"


class SimulatedCrash(Exception):
    pass


@PRODUCERS
def test_a_crash_after_publish_before_the_cursor_is_saved_loses_nothing(
        new_producer: Any, store: EventStore, kafka_broker: Any, kafka_topic_prefix: str) -> None:
    topic = f"{kafka_topic_prefix}.events"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=2)
    stored = _populate(store)

    def crash(batch: list[RecordedEvent]) -> None:
        raise SimulatedCrash

    producer = new_producer(kafka_broker.bootstrap)
    try:
        with pytest.raises(SimulatedCrash):
            OutboxRelay(store, producer, topic, batch_size=4, after_send=crash).publish_pending()
        restarted = OutboxRelay(store, producer, topic, batch_size=4)
        assert restarted.cursor() == 0, "the crash came before the cursor was saved"
        assert restarted.publish_pending() == len(stored)
    finally:
        producer.close()
    records = _read_topic(kafka_broker.bootstrap, topic, len(stored) + 4)
    ids = [RecordedEvent.from_bytes(r.value).event_id for r in records]
    assert set(ids) == {e.event_id for e in stored}, "every event published"
    assert len(ids) == len(stored) + 4, "the first batch twice: a harmless duplicate"
    for versions in _by_stream(records).values():
        firsts = list(dict.fromkeys(versions))
        assert firsts == sorted(firsts)


def test_a_killed_relay_process_resumes_without_losing_events(tmp_path: Path, kafka_broker: Any,
                                                              kafka_topic_prefix: str) -> None:
    """Appends keep coming while the relay process is killed with SIGKILL and restarted."""
    url = sqlite_url(tmp_path / "marriage.db")
    store = EventStore.open(url, region="640000", service="marriage")
    topic = f"{kafka_topic_prefix}.events"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=2)
    argv = [sys.executable, "-m", "services.cli", "relay", "--db", url, "--service", "marriage",
            "--region", "640000", "--kafka", kafka_broker.bootstrap, "--topic", topic, "--keys", str(tmp_path / "keys")]
    first = _populate(store, streams=4, per_stream=10)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    relay_view = OutboxRelay.__new__(OutboxRelay)  # only to read its cursor row
    relay_view.store, relay_view.name = store, f"relay:{topic}"
    wait_until(lambda: _cursor_or_zero(relay_view) > 0, what="the relay to publish something")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    second = _populate(store, streams=2, per_stream=5)  # appended while no relay runs
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        head = store.head()[0]
        wait_until(lambda: _cursor_or_zero(relay_view) == head, what="the restarted relay to catch up")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        store.close()
    all_events = first + second
    records = _read_topic(kafka_broker.bootstrap, topic, len(all_events))
    assert {RecordedEvent.from_bytes(r.value).event_id for r in records} == {e.event_id for e in all_events}
    assert all(parse_envelope(r.value).key_id.startswith("640000/") for r in records), "signed by the region"


def test_the_relay_command_sends_a_hand_off_to_its_addressees_topic_too(tmp_path: Path, kafka_broker: Any,
                                                                        kafka_topic_prefix: str) -> None:
    """Invariant 10: `tongban relay` (a refill, a relay run beside a service) publishes as the service's
    own relay does: a hand-off message also reaches its addressee's hand-off topic, the only copy that
    region reads."""
    url = sqlite_url(tmp_path / "marriage.db")
    store = EventStore.open(url, region="640000", service="marriage")
    topic = f"{kafka_topic_prefix}.events"
    [handoff] = store.append(unique_id("handoff"), "handoff.Handoff", 0, [_handoff_sent("h-1", "510000")])
    store.close()
    argv = [sys.executable, "-m", "services.cli", "relay", "--db", url, "--service", "marriage", "--region",
            "640000", "--kafka", kafka_broker.bootstrap, "--topic", topic, "--keys", str(tmp_path / "keys"), "--once"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    [record] = _read_topic(kafka_broker.bootstrap, handoffs_topic(topic, "510000"), 1)
    assert RecordedEvent.from_bytes(record.value).event_id == handoff.event_id


def _cursor_or_zero(relay: OutboxRelay) -> int:
    try:
        return relay.cursor()
    except Exception:  # the row does not exist until the relay process created it
        return 0


def test_a_broker_that_lost_its_data_is_refilled_from_the_store(tmp_path: Path) -> None:
    """The local broker is memory-only: after a restart its topics are gone, and republishing
    from position 0 brings every event back."""
    store = EventStore.open(sqlite_url(tmp_path / "relief.db"), region="510000", service="relief")
    stored = _populate(store)
    topic = "tongban.relief.events.v1"
    with LocalBroker(log_dir=tmp_path) as broker:
        producer = kafka_producer(broker.bootstrap)
        OutboxRelay(store, producer, topic).publish_pending()
        producer.close()
    with LocalBroker(log_dir=tmp_path) as fresh:  # a new, empty broker
        producer = kafka_producer(fresh.bootstrap)
        relay = OutboxRelay(store, producer, topic)
        assert relay.publish_pending() == 0, "the cursor says all was published..."
        relay.republish_from(0)
        assert relay.publish_pending() == len(stored), "...so the refill starts from position 0"
        producer.close()
        records = _read_topic(fresh.bootstrap, topic, len(stored))
        assert sorted(RecordedEvent.from_bytes(r.value).position for r in records) == [e.position for e in stored]
    store.close()


def test_a_hosts_consumer_takes_the_relay_topic_once_despite_redelivery(
        store: EventStore, kafka_broker: Any, kafka_topic_prefix: str, tmp_path: Path) -> None:
    """Invariants 1 and 2 end to end: what the relay publishes, the host's consumer (consuming.py)
    hands to an inbox-guarded handler, which records a "seen" event per event in its own store;
    when the relay publishes everything a second time, the inbox takes none of it again."""
    topic = f"{kafka_topic_prefix}.events"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=4)
    stored = _populate(store, streams=5, per_stream=4)
    producer = kafka_producer(kafka_broker.bootstrap)
    relay = OutboxRelay(store, producer, topic)
    relay.publish_pending()

    consumer_store = EventStore.open(sqlite_url(tmp_path / "echo.db"), region="510000", service="echo")
    outcomes: list[bool] = []  # consume()'s answer for each message handed over: applied or a repeat

    def dispatch(_topic: str, messages: Sequence[tuple[bytes | None, bytes, Any]]) -> None:
        for _key, value, headers in messages:
            outcomes.append(consume(consumer_store, "echo", value, headers, _record_seen))

    config = aiokafka_consumer_config(kafka_broker.bootstrap, f"{kafka_topic_prefix}.echo")
    reader = HostConsumerThread(HostConsumer(config, [topic], dispatch, batch=64), name="echo-consumer")
    try:
        def seen_count() -> int:
            return sum(consumer_store.stream_version(f"seen-{s}") for s in {e.stream_id for e in stored})

        wait_until(lambda: reader.check() or seen_count() == len(stored), timeout=90,
                   what="the consumer to take every event")
        # Deliberate redelivery of everything: the broker gets every event a second time.
        relay.republish_from(0)
        relay.publish_pending()
        wait_until(lambda: reader.check() or len(outcomes) >= 2 * len(stored), timeout=60,
                   what="the consumer to be handed the redelivered events")
        assert outcomes.count(True) == len(stored) and seen_count() == len(stored), "redelivery had an effect"
        for e in stored:
            [seen] = [s for s in consumer_store.read_stream(f"seen-{e.stream_id}") if s.causation_id == e.event_id]
            assert seen.message().value == e.event_id
            assert seen.correlation_id == e.correlation_id
    finally:
        reader.stop()
        producer.close()
        consumer_store.close()


def _record_seen(tx: StoreTransaction, event: RecordedEvent) -> None:
    seen = NewEvent.from_message(
        StringValue(value=event.event_id), event_id=str(uuid.uuid4()),
        actor=Actor.system("510000", "echo"), correlation_id=event.correlation_id,
        occurred_at=event.recorded_at, causation_id=event.event_id, trace=current_trace_context(),
    )
    tx.append(f"seen-{event.stream_id}", "test.Seen", None, [seen])


@PRODUCERS
def test_a_rewind_during_a_batch_is_honoured_not_overwritten(
        new_producer: Any, store: EventStore, kafka_broker: Any, kafka_topic_prefix: str) -> None:
    """A refill (republish_from) decided while a batch is in flight must not be undone by that
    batch's cursor save: the relay goes back and publishes from the rewound position."""
    topic = f"{kafka_topic_prefix}.events"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=2)
    stored = _populate(store)
    producer = new_producer(kafka_broker.bootstrap)
    batches: list[int] = []

    def rewind_once(batch: list[RecordedEvent]) -> None:
        batches.append(batch[0].position)
        if len(batches) == 2:  # the cursor is at 5 and this batch (6..10) is in flight
            relay.republish_from(0)

    try:
        relay = OutboxRelay(store, producer, topic, batch_size=5, after_send=rewind_once)
        sent = relay.publish_pending()
    finally:
        producer.close()
    assert batches[:3] == [1, 6, 1], "after the rewind the relay went back to the start"
    assert sent == len(stored) + 10
    assert relay.cursor() == stored[-1].position


def test_a_hand_off_topic_that_cannot_be_made_holds_back_nothing_and_gets_its_messages_once_made(
        store: EventStore, kafka_broker: Any, kafka_topic_prefix: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """Invariants 1 and 10: when the broker refuses to make a region's hand-off topic (ACLs without
    CREATE on Apache Kafka, a controller that does not answer), every other event still goes out; the
    refused topic's messages are owed in the store, survive a restart of the relay, and reach the topic
    in log order once it can be made."""
    events = f"{kafka_topic_prefix}.events"
    refused, allowed = handoffs_topic(events, "510000"), handoffs_topic(events, "610000")
    ensure_topics(kafka_broker.bootstrap, [events], partitions=2)
    refusing = {"yes": True}

    def prepare(names: list[str]) -> None:
        if refusing["yes"] and refused in names:
            # What ensure_topics raises when the ACLs refuse CREATE (a controller too slow to answer
            # raises TimeoutError, handled the same way).
            raise PermissionError(f"TopicAuthorizationFailedError: CREATE on {refused} is not allowed")
        ensure_topics(kafka_broker.bootstrap, names, partitions=2)

    stream = unique_id("handoff")
    owed = [store.append(stream, "handoff.Handoff", 0, [_handoff_sent("h-1", "510000")])[0]]
    plain = _populate(store, streams=2, per_stream=2)
    other = store.append(unique_id("handoff"), "handoff.Handoff", 0, [_handoff_sent("h-2", "610000")])
    owed += store.append(stream, "handoff.Handoff", 1, [_handoff_sent("h-3", "510000")])
    # The batch producer every host's relay uses: kafka-python's one-send-per-event producer was seen
    # to stall for its whole 120 s delivery timeout on the local broker in this test, under load.
    producer = relay_producer(kafka_broker.bootstrap)
    try:
        relay = OutboxRelay(store, producer, events, batch_size=3, extra_topics=handoff_route(events),
                            prepare_topics=prepare)
        with caplog.at_level(logging.WARNING, logger="services.common.relay"):
            assert relay.publish_pending() == len(owed) + len(plain) + len(other), "nothing held back"
        assert any(refused in r.getMessage() and "every other topic goes on" in r.getMessage()
                   for r in caplog.records), "the refusal is logged, naming the topic"
        assert len(_read_topic(kafka_broker.bootstrap, events, 7)) == 7
        assert [RecordedEvent.from_bytes(r.value).event_id
                for r in _read_topic(kafka_broker.bootstrap, allowed, 1)] == [other[0].event_id]
        # Later events still go out while the topic is refused; a restarted relay still owes it.
        later = store.append(stream, "handoff.Handoff", 2, [_handoff_sent("h-4", "510000")])
        assert relay.publish_pending() == 1
        owed += later
        restarted = OutboxRelay(store, producer, events, batch_size=3, extra_topics=handoff_route(events),
                                prepare_topics=prepare)
        assert restarted.publish_pending() == 0
        refusing["yes"] = False  # the admin grants CREATE (or makes the topic)
        assert _owed_topics(store) == [refused], "what is owed is recorded in the store"
        wait_until(lambda: restarted.publish_pending() >= 0 and not _owed_topics(store), timeout=30,
                   what="the owed messages sent")
        after = store.append(stream, "handoff.Handoff", 3, [_handoff_sent("h-5", "510000")])
        assert restarted.publish_pending() == 1
        owed += after
    finally:
        producer.close()
    records = _read_topic(kafka_broker.bootstrap, refused, len(owed))
    assert [RecordedEvent.from_bytes(r.value).event_id for r in records] == [e.event_id for e in owed], \
        "every owed message once, in log order, then the new ones"


def _owed_topics(store: EventStore) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(relay_backlogs.c.topic)).scalars())


def _handoff_sent(handoff_id: str, to_region: str) -> NewEvent:
    message = handoff_pb.HandoffSent(handoff_id=handoff_id, kind=handoff_pb.HANDOFF_KIND_FORWARD_CASE,
                                     case_id=f"case-{handoff_id}", from_region="640000", to_region=to_region)
    return NewEvent.from_message(message, event_id=str(uuid.uuid4()), actor=CLERK, correlation_id="case-1",
                                 occurred_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC), causation_id="cmd-1")
