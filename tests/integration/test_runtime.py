"""The service host (services.host) without its consumer: refilling a broker that
lost its data (invariant 1: the stores are the truth, Kafka can be refilled from them), and how
one message is dispatched to a service's reactions. The whole host with its worker, two regions
at once, is exercised by test_handoff_regions.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.wrappers_pb2 import StringValue
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from infra.local_broker import LocalBroker
from services.common.consumer import rejected_messages
from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.handoff import adapters as handoff_adapters
from services.common.handoff.topics import handoffs_topic
from services.common.kafka_settings import ensure_topics
from services.common.relay import OutboxRelay
from services.common.relay_producer import kafka_producer
from services.common.store import EventStore, StoreTransaction, sqlite_url
from services.common.trust.keys import REGISTRY, ensure_key_in, ensure_region_key, keys_dir
from services.common.trust.signing import DECISION_PURPOSE, EnvelopeSigner, sign_message
from services.host import HostConfig, Reaction, ServiceDefinition, ServiceHost, Wiring, refill_if_broker_lost
from tests.fixtures.stores import COMPONENT_TABLES
from tests.fixtures.trust import install_idp
from tests.support import new_event, unique_id, wait_until
from tongban.handoff.v1 import events_pb2

pytestmark = pytest.mark.kafka
STRING = StringValue.DESCRIPTOR.full_name


def _populate(store: EventStore, count: int) -> list[RecordedEvent]:
    return [e for i in range(count) for e in store.append(unique_id(), "t", 0, [new_event(f"event {i}")])]


def _event_ids_on(bootstrap: str, topic: str, expected: set[str], timeout: float = 30.0) -> set[str]:
    """Read `topic` from its beginning until every id in `expected` was seen; returns all ids."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=500)
    seen: set[str] = set()
    try:
        partitions = wait_until(lambda: consumer.partitions_for_topic(topic), what=f"partitions of {topic}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)

        def complete() -> bool:
            for batch in consumer.poll(timeout_ms=200).values():
                seen.update(RecordedEvent.from_bytes(r.value).event_id for r in batch)
            return expected <= seen

        wait_until(complete, timeout=timeout, what=f"{len(expected)} events on {topic}")
        return seen
    finally:
        consumer.close()


def test_a_wiped_topic_is_refilled_even_when_another_region_recreated_it_first(
        tmp_path: Path, kafka_broker: Any, kafka_topic_prefix: str) -> None:
    """Every region publishes to the same service topic, so "the topic is empty" cannot tell a
    region that the broker lost its events: another region may already have refilled its own.
    The topic's id can: a recreated topic has a new one."""
    bootstrap, topic = kafka_broker.bootstrap, f"{kafka_topic_prefix}.events"
    ningxia = EventStore.open(sqlite_url(tmp_path / "ningxia.db"), region="640000", service="relief",
                              tables=COMPONENT_TABLES)
    sichuan = EventStore.open(sqlite_url(tmp_path / "sichuan.db"), region="510000", service="relief",
                              tables=COMPONENT_TABLES)
    producer = kafka_producer(bootstrap)
    try:
        ours = _populate(ningxia, 6)
        relay = OutboxRelay(ningxia, producer, topic)
        assert refill_if_broker_lost(ningxia, relay, bootstrap) is False, "a first start has nothing to refill"
        assert relay.publish_pending() == 6
        assert refill_if_broker_lost(ningxia, relay, bootstrap) is False, "same topic: the cursor stands"

        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            admin.delete_topics([topic])
            wait_until(lambda: topic not in admin.list_topics(), what="the topic to be gone")
        finally:
            admin.close()
        # Sichuan's host comes back first: the topic exists again and holds Sichuan's events only.
        ensure_topics(bootstrap, [topic])
        _populate(sichuan, 2)
        assert OutboxRelay(sichuan, producer, topic).publish_pending() == 2

        assert refill_if_broker_lost(ningxia, relay, bootstrap) is True
        assert relay.cursor() == 0
        assert relay.publish_pending() == 6
        assert {e.event_id for e in ours} <= _event_ids_on(bootstrap, topic, {e.event_id for e in ours})
    finally:
        producer.close()
        ningxia.close()
        sichuan.close()


def _handoff_sent(store: EventStore, to_region: str) -> RecordedEvent:
    """A hand-off request from `store`'s region to `to_region`, as ForwardCase records it."""
    actor = Actor.system(store.region, "test")
    now = store.clock.now()
    message = events_pb2.HandoffSent(
        handoff_id=unique_id("h"), kind=events_pb2.HANDOFF_KIND_FORWARD_CASE, case_id=unique_id("case"),
        from_region=store.region, to_region=to_region, sent_at=handoff_adapters.timestamp(now),
        accept_within=Duration(seconds=60), answer_within=Duration(seconds=60), sent_by=actor.to_proto())
    [event] = store.append(f"handoff-{message.handoff_id}", handoff_adapters.STREAM_TYPE, None, [NewEvent.from_message(
        message, event_id=unique_id("e"), actor=actor, correlation_id=message.case_id, occurred_at=now)])
    return event


def test_the_host_refills_a_restarted_memory_only_broker_on_start_and_while_running(tmp_path: Path) -> None:
    """The embedded broker keeps nothing across a restart; a host started afterwards, and a host
    running through it, both publish their whole store again -- a hand-off request to its
    addressee's own hand-off topic again too (invariant 10), so the addressee still receives it."""
    with LocalBroker(log_dir=tmp_path) as broker:
        config = HostConfig(region="640000", kafka=broker.bootstrap, data_dir=tmp_path / "data",
                            relay_interval=0.05, refill_check_interval=0.3, scheduler_interval=0.2)
        definition = ServiceDefinition(name="relief", wire=lambda _infrastructure: Wiring(handoff_hooks=None))
        install_idp(config.data_dir, config.region)
        first = ServiceHost(definition, config)
        first.prepare()
        assert first.store is not None
        stored = {e.event_id for e in _populate(first.store, 5)}
        handoff = {_handoff_sent(first.store, "510000").event_id}
        stored |= handoff
        sichuans = handoffs_topic(first.events_topic, "510000")
        first.start_background()
        try:
            _event_ids_on(broker.bootstrap, first.events_topic, stored)
            assert _event_ids_on(broker.bootstrap, sichuans, handoff) == handoff, "only the hand-off goes there"
        finally:
            first.stop_background()
            first.close()

        broker.stop()
        broker.start()  # same port, empty
        second = ServiceHost(definition, config)
        second.prepare()
        second.start_background()
        try:
            _event_ids_on(broker.bootstrap, second.events_topic, stored)  # refilled on start
            _event_ids_on(broker.bootstrap, sichuans, handoff)
            broker.stop()
            broker.start()
            _event_ids_on(broker.bootstrap, second.events_topic, stored)  # refilled while running
            _event_ids_on(broker.bootstrap, sichuans, handoff)
        finally:
            second.stop_background()
            second.close()


# --- dispatch --------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.seen: list[str] = []

    def react(self, tx: StoreTransaction, event: RecordedEvent) -> None:
        if event.message().value == "explode":  # type: ignore[attr-defined]
            raise RuntimeError("a bug in the reaction")
        self.seen.append(event.event_id)

    def on_decision(self, key: bytes | None, value: bytes, headers: Any) -> None:
        self.raw.append(value)


@pytest.fixture
def host(tmp_path: Path, kafka_broker: Any, kafka_topic_prefix: str) -> Iterator[tuple[ServiceHost, Recorder]]:
    recorder = Recorder()
    wiring = Wiring(
        reactions=[Reaction(name="echo", event_types=frozenset({STRING}), handle=recorder.react,
                            topic="tongban.marriage.events.v1",
                            wants=lambda e: e.message().value != "not for us")],  # type: ignore[attr-defined]
        raw_handlers={"tongban.registry.decisions.v1": recorder.on_decision},
        handoff_hooks=None,
    )
    definition = ServiceDefinition(name="relief", wire=lambda _infrastructure: wiring)
    config = HostConfig(region="510000", kafka=kafka_broker.bootstrap, data_dir=tmp_path,
                        topic_prefix=kafka_topic_prefix)
    install_idp(tmp_path, "510000")
    service_host = ServiceHost(definition, config)
    service_host.prepare()
    try:
        yield service_host, recorder
    finally:
        service_host.close()


def test_a_message_reaches_its_reaction_once_and_a_bad_one_never_stops_the_consumer(
        host: tuple[ServiceHost, Recorder], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    service_host, recorder = host
    store = service_host.store
    assert store is not None
    marriage = service_host.topic("tongban.marriage.events.v1")
    decisions = service_host.topic("tongban.registry.decisions.v1")
    # Invariant 10: a handler of the decisions topic hears this region's own decisions and the national record.
    own = service_host.topic(f"tongban.registry.decisions.{service_host.region}.v1")
    assert service_host.topics() == [marriage, own, decisions]  # not its own events topic: no hand-off reaction here
    assert service_host.group_id.endswith("tongban-relief-510000")

    source = EventStore.open(sqlite_url(tmp_path / "marriage.db"), region="640000", service="marriage",
                             tables=COMPONENT_TABLES)
    try:
        wanted, unwanted, explodes = (source.append(unique_id(), "t", 0, [new_event(text)])[0]
                                      for text in ("married", "not for us", "explode"))
    finally:
        source.close()
    # Signed as Ningxia's relay and the registry sign (the data directory is the key directory).
    ningxia = EnvelopeSigner(ensure_region_key(tmp_path, "640000"))
    registry_key = ensure_key_in(keys_dir(tmp_path, REGISTRY), REGISTRY)
    decision = b"a registry decision"
    with caplog.at_level(logging.INFO, logger="services"):
        for event in (wanted, wanted, unwanted, explodes):
            service_host.dispatch(marriage, None, ningxia.sign(event), [])
        service_host.dispatch(marriage, None, b"\x00 not an envelope", [])
        service_host.dispatch(service_host.events_topic, None, ningxia.sign(wanted), [])  # no reaction here
        service_host.dispatch(decisions, b"110101199003077777", decision,
                              sign_message(registry_key, DECISION_PURPOSE, decision))
        service_host.dispatch(decisions, b"110101199003077777", b"an unsigned decision", [])
    assert recorder.seen == [wanted.event_id], "applied once; filtered and failing ones not at all"
    assert store.is_processed("echo", wanted.event_id)
    assert not store.is_processed("echo", unwanted.event_id), "a filtered message leaves no inbox row"
    assert not store.is_processed("echo", explodes.event_id), "a failed one stays unprocessed for a republish"
    assert recorder.raw == [decision], "the unsigned decision never reached the service"
    log = caplog.text
    assert f"applied {STRING} {wanted.event_id} (echo)" in log
    assert f"duplicate {STRING} {wanted.event_id} (echo)" in log
    assert f"skipping {STRING} {explodes.event_id} (echo): unexpected error" in log
    assert "not an event envelope" in log
    reasons = [r.reason for r in rejected_messages(store)]
    assert len(reasons) == 2 and "not an event envelope" in reasons[0] and "unsigned" in reasons[1], reasons
