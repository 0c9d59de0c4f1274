"""The broker's part of the trust model (architecture invariant 8, issue 10 "Brokers"): on Apache Kafka
with SASL/SCRAM over TLS and the deployment's ACLs (services/common/kafka_acls.py), a client must log
in, and a region writes only what is its own.

Runs when ``TONGBAN_TEST_BROKER=apache``. On the default broker it is skipped, and says why: tansu 0.6
(the development broker, /work/shared/notes/brokers.md) has no SASL, no TLS and no authoriser, so
there is nothing to test there -- the development stack runs PLAINTEXT and trusts envelope signatures.

One secured broker for the session (tests/fixtures/brokers.py, ~10-25 s to start on 2 cores); every
check is a single round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from infra.secured_kafka import SecuredKafka
from services import catalogue
from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.handoff.topics import handoff_route, handoffs_topic
from services.common.kafka_acls import (
    CHECKPOINT_TOPIC,
    CLAIMS_TOPIC,
    DECISIONS_TOPIC,
    REGISTRY_USER,
    region_user,
    service_app_id,
)
from services.common.kafka_security import KafkaSecurity
from services.common.kafka_settings import (
    aiokafka_producer_config,
    ensure_topics,
    events_topic,
    kafka_python_consumer_config,
    kafka_python_producer_config,
)
from services.common.registry.topics import region_decisions_topic
from services.common.relay import OutboxRelay
from services.common.store import EventStore, sqlite_url
from services.common.trust.keys import REGISTRY, keys_dir, provision_development_keys
from tests.fixtures.trust import install_idp, token_for
from tests.support import new_event, wait_until
from tongban.handoff.v1.events_pb2 import HANDOFF_KIND_FORWARD_CASE, HandoffSent

# Skipped unless TONGBAN_TEST_BROKER=apache, with the reason (the secured_kafka_broker fixture says why).
pytestmark = pytest.mark.kafka

NINGXIA, SICHUAN = "640000", "510000"
SERVICE = "marriage"
EVENTS = events_topic(SERVICE)
SEND_DEADLINE = 15.0
# What docker-compose.yml's kafka-setup makes, with its partitions (the registry's: its worker's --partitions, 8).
# Every catalogued service's events topic: the registry forwards the claims of each (it may not create them).
TOPICS = {**{events_topic(name): 4 for name in catalogue.names()}, CHECKPOINT_TOPIC: 4, CLAIMS_TOPIC: 8,
          DECISIONS_TOPIC: 8, region_decisions_topic(NINGXIA): 8,
          region_decisions_topic(SICHUAN): 8,
          # Each region's hand-off topic of each service (invariant 10).
          **{handoffs_topic(events_topic(name), region): 4
             for name in catalogue.names() for region in (NINGXIA, SICHUAN)}}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def secured(secured_kafka_broker: SecuredKafka) -> SecuredKafka:
    """The session's secured broker with this module's topics, made by the admin as in docker-compose.yml
    (services never create the exchange's topics)."""
    admin = KafkaAdminClient(bootstrap_servers=secured_kafka_broker.bootstrap, **secured_kafka_broker.client_config())
    try:
        existing = set(admin.list_topics())
        admin.create_topics([NewTopic(name, count, 1) for name, count in TOPICS.items() if name not in existing])
    finally:
        admin.close()
    return secured_kafka_broker


def region_security(broker: SecuredKafka, region: str, password: str | None = None) -> KafkaSecurity:
    name = region_user(region)
    return KafkaSecurity(
        protocol="SASL_SSL", username=name, password=password or broker.passwords[name], ca_file=str(broker.ca_file)
    )


def producer(broker: SecuredKafka, security: KafkaSecurity) -> KafkaProducer:
    # The relay's own producer settings (services/common/relay.py), logged in as the region.
    config = kafka_python_producer_config(broker.bootstrap, security=security)
    return KafkaProducer(**{**config, "max_block_ms": int(SEND_DEADLINE * 1000)})


def start_producer(broker: SecuredKafka, security: KafkaSecurity) -> None:
    """Start (and stop) an aiokafka producer -- the first thing any client does is log in."""
    from aiokafka import AIOKafkaProducer

    async def start() -> None:
        client = AIOKafkaProducer(**aiokafka_producer_config(broker.bootstrap, security=security))
        try:
            await client.start()
        finally:
            await client.stop()

    asyncio.run(start())


def test_a_client_without_credentials_cannot_produce(secured: SecuredKafka) -> None:
    """Invariant 8: no credentials, no connection -- a PLAINTEXT client is refused before any produce,
    at once rather than after a timeout."""
    from aiokafka.errors import KafkaConnectionError

    started = time.monotonic()
    with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
        start_producer(secured, KafkaSecurity())
    assert time.monotonic() - started < SEND_DEADLINE


def test_a_wrong_password_is_refused_naming_the_credentials(
    secured: SecuredKafka, caplog: pytest.LogCaptureFixture
) -> None:
    """Invariant 8: SCRAM refuses a wrong password, and the client's log says it was the credentials."""
    from aiokafka.errors import KafkaConnectionError

    with caplog.at_level(logging.ERROR), pytest.raises(KafkaConnectionError):
        start_producer(secured, region_security(secured, NINGXIA, "guessed"))
    assert "invalid credentials" in caplog.text


def test_a_region_cannot_join_another_regions_group(secured: SecuredKafka) -> None:
    """Invariant 8: 510000's principal cannot join 640000's consumer group (it would take 640000's
    partitions and commit its offsets)."""
    sichuan = region_security(secured, SICHUAN)
    group = service_app_id(SERVICE, NINGXIA)
    consumer = KafkaConsumer(EVENTS, **kafka_python_consumer_config(secured.bootstrap, group, security=sichuan))
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            consumer.poll(timeout_ms=int(SEND_DEADLINE * 1000))
    finally:
        consumer.close()


def test_only_the_registry_writes_decisions(secured: SecuredKafka) -> None:
    """Invariant 5/8 (issue 10: forged GRANTED/CONFIRMED): a region may read decisions, never write one."""
    client = producer(secured, region_security(secured, SICHUAN))
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            client.send(DECISIONS_TOPIC, b"GRANTED, says 510000").get(timeout=SEND_DEADLINE)
    finally:
        client.close(timeout=5)


def test_a_region_reads_its_own_decisions_and_never_another_regions(secured: SecuredKafka) -> None:
    """Invariant 10: the registry writes 640000's decisions to 640000's topic; 640000 reads them there,
    and 510000 may not read them at all."""
    mine = region_decisions_topic(NINGXIA)
    registry = producer(secured, KafkaSecurity(protocol="SASL_SSL", username=REGISTRY_USER,
                                               password=secured.passwords[REGISTRY_USER], ca_file=str(secured.ca_file)))
    try:
        registry.send(mine, key=b"640104199001010019", value=b"GRANTED to 640000").get(timeout=SEND_DEADLINE)
    finally:
        registry.close(timeout=5)
    _only_ningxia_reads(secured, mine, b"GRANTED to 640000")


def test_a_region_writes_a_hand_off_to_another_regions_topic_which_only_that_region_reads(
        secured: SecuredKafka) -> None:
    """Invariant 10 (and 4): 510000's relay sends a hand-off addressed to 640000 to 640000's hand-off topic;
    640000 reads it there, and 510000 may not read 640000's hand-offs."""
    ningxias = handoffs_topic(EVENTS, NINGXIA)
    client = producer(secured, region_security(secured, SICHUAN))
    try:
        client.send(ningxias, key=b"handoff-1", value=b"HandoffSent 510000 -> 640000").get(timeout=SEND_DEADLINE)
    finally:
        client.close(timeout=5)
    _only_ningxia_reads(secured, ningxias, b"HandoffSent 510000 -> 640000")


def test_a_relay_refused_a_hand_off_topic_by_the_acls_goes_on_and_delivers_once_the_admin_makes_it(
        secured: SecuredKafka, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Invariants 1 and 10: a region may write any region's hand-off topic but not create one, so a hand-off
    to a region the admin has not set up yet (500000) cannot get its topic. 640000's relay publishes every
    other event regardless, says which topic it cannot make, and sends the hand-off there once the admin
    made it -- nothing lost, nothing held back."""
    chongqing = handoffs_topic(EVENTS, "500000")
    ningxia = region_security(secured, NINGXIA)
    store = EventStore.open(sqlite_url(tmp_path / "marriage.db"), region=NINGXIA, service=SERVICE)
    sent = HandoffSent(handoff_id="h-1", kind=HANDOFF_KIND_FORWARD_CASE, case_id="case-1", from_region=NINGXIA,
                       to_region="500000")
    [handoff] = store.append("handoff-h-1", "handoff.Handoff", 0, [NewEvent.from_message(
        sent, event_id="e-handoff", actor=Actor.system(NINGXIA, "test"), correlation_id="case-1",
        occurred_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC), causation_id="cmd-1")])
    [other] = store.append("case-2", "t", 0, [new_event("after the hand-off")])
    client = producer(secured, ningxia)
    try:
        relay = OutboxRelay(store, client, EVENTS, extra_topics=handoff_route(EVENTS),
                            prepare_topics=lambda names: ensure_topics(secured.bootstrap, names, partitions=4,
                                                                       timeout=10, security=ningxia))
        with caplog.at_level(logging.WARNING, logger="services.common.relay"):
            assert relay.publish_pending() == 2, "the event after the refused hand-off topic went out too"
        assert f"cannot make topic {chongqing}" in caplog.text
        admin = KafkaAdminClient(bootstrap_servers=secured.bootstrap, **secured.client_config())
        try:
            admin.create_topics([NewTopic(chongqing, 4, 1)])
        finally:
            admin.close()
        wait_until(lambda: relay.publish_pending() >= 0 and _values(secured, chongqing, 1), timeout=60,
                   what="the hand-off on 500000's topic")
    finally:
        client.close(timeout=5)
        store.close()
    assert [RecordedEvent.from_bytes(v).event_id for v in _values(secured, chongqing, 1)] == [handoff.event_id]
    assert {RecordedEvent.from_bytes(v).event_id for v in _values(secured, EVENTS, 0)} >= {handoff.event_id,
                                                                                         other.event_id}


def _values(secured: SecuredKafka, topic: str, at_least: int) -> list[bytes]:
    """Every value on `topic`, read as the admin (empty while fewer than `at_least` arrived)."""
    consumer = KafkaConsumer(bootstrap_servers=secured.bootstrap, enable_auto_commit=False,
                             **secured.client_config())
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        values: list[bytes] = []
        deadline = time.monotonic() + SEND_DEADLINE
        while any(consumer.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            values += [r.value for batch in consumer.poll(timeout_ms=500).values() for r in batch]
        return values if len(values) >= at_least else []
    finally:
        consumer.close()


def _only_ningxia_reads(secured: SecuredKafka, topic: str, value: bytes) -> None:
    """640000 reads `value` from `topic`; 510000 never sees it."""
    for region, allowed in ((NINGXIA, True), (SICHUAN, False)):
        consumer = KafkaConsumer(**kafka_python_consumer_config(secured.bootstrap, None,
                                                                security=region_security(secured, region)))
        try:
            consumer.assign([TopicPartition(topic, p) for p in range(TOPICS[topic])])
            consumer.seek_to_beginning()
            if allowed:
                deadline = time.monotonic() + SEND_DEADLINE
                values: list[bytes] = []
                while value not in values and time.monotonic() < deadline:
                    values += [r.value for batch in consumer.poll(timeout_ms=500).values() for r in batch]
                assert value in values
            else:
                # Refused outright or handed nothing (kafka-python may only log the refusal of an assigned
                # topic): either way 510000 never sees what 640000 just read.
                seen: list[bytes] = []
                with contextlib.suppress(TopicAuthorizationFailedError):
                    deadline = time.monotonic() + 5.0
                    while time.monotonic() < deadline:
                        seen += [r.value for batch in consumer.poll(timeout_ms=500).values() for r in batch]
                assert seen == []
        finally:
            consumer.close()


def test_a_region_writes_its_topics_and_its_consumer_reads_them_back(secured: SecuredKafka, tmp_path: Path) -> None:
    """Invariant 8: with its own credentials 640000 writes its service topic, and its consumer group
    reads the event back."""
    ningxia = region_security(secured, NINGXIA)
    client = producer(secured, ningxia)
    try:
        sent = client.send(EVENTS, key=b"case-1", value=b"event of 640000").get(timeout=SEND_DEADLINE)
    finally:
        client.close(timeout=5)
    group = service_app_id(SERVICE, NINGXIA)
    consumer = KafkaConsumer(EVENTS, **kafka_python_consumer_config(secured.bootstrap, group, security=ningxia))
    try:
        deadline = time.monotonic() + 30.0
        seen: list[bytes] = []
        while b"event of 640000" not in seen and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1_000).values():
                seen += [r.value for r in records if (r.partition, r.offset) == (sent.partition, sent.offset)]
    finally:
        consumer.close()
    assert b"event of 640000" in seen


def test_a_marriage_is_registered_through_the_secured_exchange_with_each_principals_own_credentials(
    secured: SecuredKafka, tmp_path: Path
) -> None:
    """Invariants 5 and 8 end to end, as docker-compose.yml runs them: 640000's marriage service (logged in as
    region-640000) and the registry worker (as registry), each with only its own password and the deployment's
    ACLs, carry a registration from claim to decision (民法典 第1049条: registered once the registry grants)."""
    ids = ("640104199001010018", "640104199202020028")  # a man born 1990 and a woman born 1992, valid check digits
    logs = {name: tmp_path / f"{name}.log" for name in ("registry", "serve")}
    # Keys as `tongban up` lays them out: the region's and the registry's signing keys, the data directory as
    # everyone's key directory, and the region's identity provider (a test one) for the window's token.
    data = tmp_path / "data"
    key_directory = provision_development_keys(data, [NINGXIA])
    install_idp(data, NINGXIA)
    commands = {
        "registry": (REGISTRY_USER, ["registry", "--datadir", str(tmp_path / "registry"),
                                     "--keys", str(keys_dir(data, REGISTRY)), "--key-directory", str(key_directory)]),
        "serve": (region_user(NINGXIA), ["serve", "--service", SERVICE, "--region", NINGXIA,
                                         "--data-dir", str(data), "--grpc", "127.0.0.1:0"]),
    }
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for name, (user, argv) in commands.items():
            password_file = tmp_path / f"{user}.password"
            password_file.write_text(secured.passwords[user])
            env = {**os.environ, "TONGBAN_KAFKA": secured.bootstrap, "TONGBAN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                   "TONGBAN_KAFKA_USERNAME": user, "TONGBAN_KAFKA_PASSWORD_FILE": str(password_file),
                   "TONGBAN_KAFKA_CA_FILE": str(secured.ca_file)}
            with logs[name].open("wb") as log:
                workers.append(subprocess.Popen([sys.executable, "-m", "services.cli", *argv], cwd=ROOT, env=env,
                                                stdout=log, stderr=subprocess.STDOUT))
        address = _wait_for_grpc(logs["serve"], workers)
        window = [sys.executable, "-m", "services.cli", "window", "marriage", "register", "--address", address,
                  "--region", NINGXIA, "--clerk", "c-07", "--wait", "60", ids[0], "张三", ids[1], "李四"]
        clerk = token_for(Actor("clerk", "c-07", "640104-MRO-01", NINGXIA, "registrar"))
        answer = subprocess.run(window, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                                env={**os.environ, "TONGBAN_TOKEN": clerk})
        registry_log = logs["registry"].read_text(errors="replace")
        assert "REGISTERED" in answer.stdout, f"{answer.stdout}{answer.stderr}\nregistry:\n{registry_log[-3000:]}"
        for name, path in logs.items():
            assert "AuthorizationFailed" not in path.read_text(errors="replace"), f"{name} was refused something"
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def _wait_for_grpc(log_path: Path, workers: list[subprocess.Popen[bytes]]) -> str:
    """The address the service prints once it serves ("gRPC on HOST:PORT")."""
    deadline = time.monotonic() + 120.0
    while True:
        text = log_path.read_text(errors="replace")
        if "gRPC on " in text:
            return text.split("gRPC on ", 1)[1].split()[0]
        assert all(w.poll() is None for w in workers), f"a worker died:\n{text[-3000:]}"
        assert time.monotonic() < deadline, f"the service did not start:\n{text[-3000:]}"
        time.sleep(0.2)  # polling a child's log file: there is nothing else to wait on
