"""`tongban audit verify --kafka`: the topics are a second witness of the stores (invariant 1:
"the event store is the source of truth; Kafka distributes"). Every stored event is published,
nothing is on a topic that no store holds, and the bytes are identical."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from services.common.audit.datadir import discover_stores, open_store, store_path
from services.common.audit.kafka_log import topic_template
from services.common.kafka_settings import ensure_topics, kafka_python_producer_config
from services.common.relay import OutboxRelay, kafka_producer
from services.common.store import EventStore, sqlite_url
from tests.integration.test_audit_helpers import dataset, run
from tests.support import new_event

pytestmark = pytest.mark.kafka


def test_the_topics_are_checked_against_the_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   kafka_broker: Any, kafka_topic_prefix: str) -> None:
    data = tmp_path / "data"
    dataset(data, regions=("640000", "510000"), services=("marriage",), cases_per_store=2)
    template = f"{kafka_topic_prefix}.{{service}}"
    topic = topic_template(template)("marriage")
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=2)
    relay_producer = kafka_producer(kafka_broker.bootstrap)
    for ref in discover_stores(data):
        store = open_store(ref)
        OutboxRelay(store, relay_producer, topic).publish_pending()
        store.close()
    # A redelivery (the relay crashed before saving its cursor) is harmless: same bytes twice.
    store = EventStore.open(sqlite_url(store_path(data, "510000", "marriage")), region="510000", service="marriage")
    relay = OutboxRelay(store, relay_producer, topic)
    relay.republish_from(store.head()[0] - 2)
    relay.publish_pending()
    args = ["verify", "--data", data, "--kafka", kafka_broker.bootstrap, "--topic-template", template, "--idle", "1"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert f"topic {topic}: " in out and "2 redelivered copies" in out

    # 1. Stored but never published (the relay has not run since).
    [unpublished] = store.append("late-case", "t", 0, [new_event("after the relay ran")])
    store.close()
    # 2. On the topic, but in no store: an envelope forged for 640000/marriage.
    scratch = EventStore.open(sqlite_url(tmp_path / "forger.db"), region="640000", service="marriage")
    [forged] = scratch.append(f"case-{uuid.uuid4().hex[:6]}", "t", 0, [new_event("never happened")])
    scratch.close()
    # 3. A stored event whose bytes on the topic differ (a field outside the hash, re-sent).
    first = open_store(discover_stores(data)[0])
    genuine = first.read_log(limit=1)[0]
    first.close()
    altered = genuine.to_envelope()
    altered.signing_key_id = "640000/forged"
    raw = KafkaProducer(**kafka_python_producer_config(kafka_broker.bootstrap))
    for value, key in ((forged.to_bytes(), forged.stream_id), (altered.SerializeToString(), genuine.stream_id)):
        raw.send(topic, value=value, key=key.encode())
    raw.flush()
    raw.close()
    relay_producer.close()

    code, out, err = run(capsys, *args)
    assert code == 1
    assert f"TOPIC {topic}: 3 problem(s)" in err
    assert (f"510000/marriage position {unpublished.position}, stream late-case version 1 "
            f"(event {unpublished.event_id}): stored but not on the topic") in err
    assert f"640000/marriage position 1, stream {forged.stream_id} version 1 (event {forged.event_id}): " \
           "on the topic" in err and "no store holds this event" in err
    assert (f"{genuine.region}/marriage position {genuine.position}, stream {genuine.stream_id} version "
            f"{genuine.version} (event {genuine.event_id}): the bytes on the topic") in err
    assert "intact 640000/marriage" in out and "intact 510000/marriage" in out, "the stores themselves are fine"
