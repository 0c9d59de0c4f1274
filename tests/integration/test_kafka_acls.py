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
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from infra.secured_kafka import SecuredKafka
from services.common.kafka_acls import DECISIONS_TOPIC, region_user, service_app_id
from services.common.kafka_security import KafkaSecurity
from services.common.kafka_settings import (
    aiokafka_producer_config,
    events_topic,
    kafka_python_consumer_config,
    kafka_python_producer_config,
)

# Skipped unless TONGBAN_TEST_BROKER=apache, with the reason (the secured_kafka_broker fixture says why).
pytestmark = pytest.mark.kafka

NINGXIA, SICHUAN = "640000", "510000"
SERVICE = "marriage"
EVENTS = events_topic(SERVICE)
# A region's own topic: one of its faust app's internal topics (here the leader topic faust makes).
NINGXIA_OWN_TOPIC = f"{service_app_id(SERVICE, NINGXIA)}-__assignor-__leader"
SEND_DEADLINE = 15.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def secured(secured_kafka_broker: SecuredKafka) -> SecuredKafka:
    """The session's secured broker with this module's topics, made by the admin as in docker-compose.yml
    (services never create the exchange's topics)."""
    admin = KafkaAdminClient(bootstrap_servers=secured_kafka_broker.bootstrap, **secured_kafka_broker.client_config())
    try:
        existing = set(admin.list_topics())
        wanted = [name for name in (EVENTS, DECISIONS_TOPIC, NINGXIA_OWN_TOPIC) if name not in existing]
        admin.create_topics([NewTopic(name, 1, 1) for name in wanted])
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


def test_a_region_cannot_write_another_regions_topic(secured: SecuredKafka) -> None:
    """Invariant 8: 510000's principal is refused on 640000's own topic and cannot join 640000's group."""
    sichuan = region_security(secured, SICHUAN)
    client = producer(secured, sichuan)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            client.send(NINGXIA_OWN_TOPIC, b"forged by 510000").get(timeout=SEND_DEADLINE)
    finally:
        client.close(timeout=5)
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


def test_a_region_writes_its_topics_and_its_consumer_reads_them_back(secured: SecuredKafka, tmp_path: Path) -> None:
    """Invariant 8: with its own credentials 640000 writes its service topic and its own topic, and its
    consumer group reads the event back."""
    ningxia = region_security(secured, NINGXIA)
    client = producer(secured, ningxia)
    try:
        client.send(NINGXIA_OWN_TOPIC, b"own").get(timeout=SEND_DEADLINE)
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
                seen += [record.value for record in records if record.offset == sent.offset]
    finally:
        consumer.close()
    assert b"event of 640000" in seen


def test_a_regions_faust_app_logs_in_from_the_environment_and_reads_its_topic(
    secured: SecuredKafka, tmp_path: Path
) -> None:
    """Invariant 8: a service's faust app, configured only by the TONGBAN_KAFKA_* environment as in
    docker-compose.yml, joins its region's group, makes its own internal topics and reads the service topic."""
    client = producer(secured, region_security(secured, NINGXIA))
    try:
        client.send(EVENTS, b"for the faust app").get(timeout=SEND_DEADLINE)
    finally:
        client.close(timeout=5)
    password_file = tmp_path / "password"
    password_file.write_text(secured.passwords[region_user(NINGXIA)] + "\n")
    env = {
        **os.environ,
        "TONGBAN_KAFKA": secured.bootstrap,
        "TONGBAN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TONGBAN_KAFKA_USERNAME": region_user(NINGXIA),
        "TONGBAN_KAFKA_PASSWORD_FILE": str(password_file),
        "TONGBAN_KAFKA_CA_FILE": str(secured.ca_file),
        "READER_APP_ID": service_app_id(SERVICE, NINGXIA),
        "READER_TOPIC": EVENTS,
        "READER_DATADIR": str(tmp_path / "faust"),
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        argv = [sys.executable, "-m", "tests.faust_region_reader", "worker", "--without-web", "--loglevel=warn"]
        worker = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90.0
        while "read for the faust app" not in log_path.read_text(errors="replace"):
            assert worker.poll() is None, f"worker died:\n{log_path.read_text(errors='replace')[-3000:]}"
            assert time.monotonic() < deadline, f"nothing read:\n{log_path.read_text(errors='replace')[-3000:]}"
            time.sleep(0.2)  # polling a child's log file: there is nothing else to wait on
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
