"""`tongban audit verify --kafka`: the topics are a second witness of the stores (invariant 1:
"the event store is the source of truth; Kafka distributes"). Every stored event is published,
nothing is on a topic that no store holds, and the bytes are identical; every record is signed by
the region it names, and every decision by the registry (invariant 8), or it is named as forged."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from services.common.audit.datadir import discover_stores, open_store, store_path
from services.common.audit.kafka_log import read_topic, topic_template
from services.common.events import NewEvent
from services.common.handoff.topics import handoff_route, handoffs_topic
from services.common.kafka_settings import ensure_topics, kafka_python_producer_config
from services.common.relay import OutboxRelay
from services.common.relay_producer import kafka_producer, relay_producer
from services.common.store import EventStore, sqlite_url
from services.common.trust.keys import (
    REGISTRY,
    keys_dir,
    load_key_from,
    load_region_key,
    provision_development_keys,
)
from services.common.trust.signing import DECISION_PURPOSE, EnvelopeSigner, sign_message
from tests.integration.test_audit_helpers import dataset, run
from tests.support import CLERK, new_event
from tongban.handoff.v1 import events_pb2 as handoff_pb
from tongban.registry.v1 import registry_pb2

pytestmark = pytest.mark.kafka


def test_the_topics_are_checked_against_the_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   kafka_broker: Any, kafka_topic_prefix: str) -> None:
    data = tmp_path / "data"
    dataset(data, regions=("640000", "510000"), services=("marriage",), cases_per_store=2)
    template = f"{kafka_topic_prefix}.{{service}}"
    topic = topic_template(template)("marriage")
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=2)
    relay_producer = kafka_producer(kafka_broker.bootstrap)
    provision_development_keys(data, ("640000", "510000"))  # the data directory is the key directory
    signers = {code: EnvelopeSigner(load_region_key(data, code)) for code in ("640000", "510000")}
    for ref in discover_stores(data):
        store = open_store(ref)
        OutboxRelay(store, relay_producer, topic, signer=signers[ref.region]).publish_pending()
        store.close()
    # A redelivery (the relay crashed before saving its cursor) is harmless: same bytes twice.
    store = EventStore.open(sqlite_url(store_path(data, "510000", "marriage")), region="510000", service="marriage")
    relay = OutboxRelay(store, relay_producer, topic, signer=signers["510000"])
    relay.republish_from(store.head()[0] - 2)
    relay.publish_pending()
    decisions = f"{kafka_topic_prefix}.decisions"
    ningxia_decisions = f"{decisions}.640000"  # invariant 10: 640000's own decisions (registry/topics.py)
    ensure_topics(kafka_broker.bootstrap, [decisions, ningxia_decisions], partitions=1)
    registry = load_key_from(keys_dir(data, REGISTRY), REGISTRY)
    genuine_decision = _decision("d-genuine", "GRANTED")
    raw = KafkaProducer(**kafka_python_producer_config(kafka_broker.bootstrap))
    for where in (decisions, ningxia_decisions):
        raw.send(where, value=genuine_decision, headers=sign_message(registry, DECISION_PURPOSE, genuine_decision))
    raw.flush()
    args = ["verify", "--data", data, "--kafka", kafka_broker.bootstrap, "--topic-template", template, "--idle", "1",
            "--decisions-topic", decisions]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert f"topic {topic}: " in out and "2 redelivered copies" in out and "every one signed by the region" in out
    assert f"topic {decisions}: 1 decisions, every one signed by the registry" in out
    assert f"topic {ningxia_decisions}: 1 decisions, every one signed by the registry" in out, "every region's too"

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
    # ... re-sent under the key of a region that did not record it: a region speaks for itself only.
    other = "510000" if genuine.region == "640000" else "640000"
    altered = signers[other].envelope(replace(genuine, region=other))
    altered.region.code = genuine.region
    for value, key in ((forged.to_bytes(), forged.stream_id), (altered.SerializeToString(), genuine.stream_id)):
        raw.send(topic, value=value, key=key.encode())
    # 4. Decisions nobody but the registry may send: one unsigned, one signed by a region's key.
    unsigned, by_a_region = _decision("d-forged-1", "CONFIRMED"), _decision("d-forged-2", "GRANTED")
    raw.send(decisions, value=unsigned)
    raw.send(decisions, value=by_a_region, headers=sign_message(load_region_key(data, "510000"), DECISION_PURPOSE,
                                                                 by_a_region))
    raw.flush()
    raw.close()
    relay_producer.close()

    code, out, err = run(capsys, *args)
    assert code == 1
    assert f"TOPIC {topic}: 3 problem(s)" in err, err
    assert (f"510000/marriage position {unpublished.position}, stream late-case version 1 "
            f"(event {unpublished.event_id}): stored but not on the topic") in err
    assert f"(event {forged.event_id}): FORGED" in err and "unsigned" in err, "named as forged"
    assert (f"{genuine.region}/marriage position {genuine.position}, stream {genuine.stream_id} version "
            f"{genuine.version} (event {genuine.event_id}): FORGED") in err
    assert f"belongs to region {other}, not to {genuine.region}" in err
    assert f"TOPIC {decisions}: 2 problem(s)" in err
    assert "FORGED decision d-forged-1 (CONFIRMED on claim claim-d-forged-1 of 640000/marriage" in err
    assert "FORGED decision d-forged-2 (GRANTED" in err and "belongs to region 510000, not to registry" in err
    assert "intact 640000/marriage" in out and "intact 510000/marriage" in out, "the stores themselves are fine"


def test_every_regions_hand_off_topic_is_checked_like_the_events_topics(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kafka_broker: Any, kafka_topic_prefix: str) -> None:
    """Invariants 1, 8 and 10: a hand-off message is read by its addressee from that region's hand-off
    topic only, so the audit checks those topics too: a message stored but missing from its addressee's
    topic, a forged record on it, and a genuine message on another region's topic are each named."""
    data = tmp_path / "data"
    dataset(data, regions=("640000", "510000"), services=("marriage",), cases_per_store=1)
    provision_development_keys(data, ("640000", "510000"))
    template = f"{kafka_topic_prefix}.{{service}}"
    topic = topic_template(template)("marriage")
    sichuan, shaanxi = handoffs_topic(topic, "510000"), handoffs_topic(topic, "610000")
    ensure_topics(kafka_broker.bootstrap, [topic, shaanxi], partitions=2)
    producer = relay_producer(kafka_broker.bootstrap)  # the one a service's relay uses
    signer = EnvelopeSigner(load_region_key(data, "640000"))
    store = EventStore.open(sqlite_url(store_path(data, "640000", "marriage")), region="640000", service="marriage")
    store.append("handoff-h-1", "handoff.Handoff", 0, [_handoff_sent("h-1", to_region="510000")])
    for ref in discover_stores(data):
        other = open_store(ref)
        relay = OutboxRelay(other, producer, topic, signer=EnvelopeSigner(load_region_key(data, ref.region)),
                            extra_topics=handoff_route(topic),
                            prepare_topics=lambda names: ensure_topics(kafka_broker.bootstrap, names, partitions=2))
        relay.publish_pending()
        other.close()
    args = ["verify", "--data", data, "--kafka", kafka_broker.bootstrap, "--topic-template", template, "--idle", "1",
            "--decisions-topic", f"{kafka_topic_prefix}.decisions"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert f"topic {sichuan}: 1 records match the stores' 1 events" in out, out
    assert f"topic {shaanxi}: 0 records match the stores' 0 events" in out, "an empty hand-off topic is read too"

    # 1. A hand-off stored and published to the events topic, but never to its addressee's topic.
    [undelivered] = store.append("handoff-h-2", "handoff.Handoff", 0, [_handoff_sent("h-2", to_region="510000")])
    OutboxRelay(store, producer, topic, signer=signer).publish_pending()
    # 2. A forged (unsigned) hand-off on 510000's topic; 3. the genuine h-1 on 610000's topic.
    scratch = EventStore.open(sqlite_url(tmp_path / "forger.db"), region="640000", service="marriage")
    [forged] = scratch.append("handoff-h-9", "handoff.Handoff", 0, [_handoff_sent("h-9", to_region="510000")])
    scratch.close()
    [genuine] = read_topic(kafka_broker.bootstrap, sichuan, idle=1)
    raw = KafkaProducer(**kafka_python_producer_config(kafka_broker.bootstrap))
    raw.send(sichuan, value=forged.to_bytes(), key=forged.stream_id.encode())
    raw.send(shaanxi, value=genuine.value, key=genuine.key, headers=list(genuine.headers))
    raw.flush()
    raw.close()
    producer.close()
    store.close()

    code, out, err = run(capsys, *args)
    assert code == 1
    assert f"topic {topic}: " in out, "the events topic holds every event: only the hand-off topics disagree"
    assert f"TOPIC {sichuan}: 2 problem(s)" in err, err
    assert (f"640000/marriage position {undelivered.position}, stream handoff-h-2 version 1 "
            f"(event {undelivered.event_id}): stored but not on the topic") in err
    assert f"(event {forged.event_id}): FORGED" in err
    assert f"TOPIC {shaanxi}: 1 problem(s)" in err
    assert "stream handoff-h-1 version 1" in err and "MISROUTED" in err


def _handoff_sent(handoff_id: str, *, to_region: str) -> NewEvent:
    message = handoff_pb.HandoffSent(handoff_id=handoff_id, kind=handoff_pb.HANDOFF_KIND_FORWARD_CASE,
                                     case_id=f"case-{handoff_id}", from_region="640000", to_region=to_region)
    return NewEvent.from_message(message, event_id=str(uuid.uuid4()), actor=CLERK, correlation_id=f"case-{handoff_id}",
                                 occurred_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC), causation_id="cmd-1")


def _decision(decision_id: str, outcome: str) -> bytes:
    return registry_pb2.RegistryDecision(
        decision_id=decision_id, claim_id=f"claim-{decision_id}", citizen_id="110101199003077777",
        kind=registry_pb2.CLAIM_KIND_LIVE_MARRIAGE, case_id="case-1", region="640000", service="marriage",
        outcome=registry_pb2.DecisionOutcome.Value(f"DECISION_OUTCOME_{outcome}")).SerializeToString()
