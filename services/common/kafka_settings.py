"""Kafka client settings for every service, in one place, tuned so groups join in seconds on tansu and Kafka.

Why these numbers: the client defaults (10 s sessions, 3 s heartbeats, and for kafka-python a 5 min
max-poll interval that doubles as the rebalance timeout) made a consumer group take 20-30 s to form on the
development broker; with a 6 s session, 1 s heartbeats and a short rebalance timeout aiokafka's consumers
join in about 3-4 s on both brokers (see /work/shared/notes/brokers.md). A 6 s session still tolerates a
GC pause or a slow event-loop tick; a dead worker's partitions move within 6 s.

Producers use acks=all. The kafka-python producer is idempotent, which both brokers accept (proved by
tests/integration/test_brokers.py): the outbox relay retries after errors, and idempotence keeps a retried
batch from being written twice. The aiokafka producer cannot be idempotent on tansu (see below).

Security (SASL_SSL with SCRAM, the CA) comes from ``kafka_security``: each function takes a
``security`` and, when none is given, reads the environment, so every client is built the same way.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

from services.common.kafka_security import KafkaSecurity, current

SESSION_TIMEOUT_MS = 6_000
HEARTBEAT_INTERVAL_MS = 1_000
# How long the coordinator waits for known members to rejoin during a rebalance. Equal to the session
# timeout: short enough that a group re-forms quickly, long enough for a member busy in its handler.
REBALANCE_TIMEOUT_MS = 6_000
# kafka-python has no separate rebalance timeout: it sends max.poll.interval.ms in JoinGroup. A handler
# (one event, one store append) is far below this; exceeding it means the consumer is stuck.
KAFKA_PYTHON_MAX_POLL_INTERVAL_MS = 60_000

# How long a consumer's fetch may wait for records (aiokafka's default 500 ms; faust, which the hosts
# and the registry ran on until issue 15's seventh and eighth passes, hard-coded 1,500 ms): tansu
# answers a fetch over several partitions only when this is up (docs/registry-performance.md), so
# every hop of a message paid up to that. 100 ms: an idle consumer asks the broker ten times a second.
FETCH_MAX_WAIT_MS = 100

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")


def events_topic(service: str) -> str:
    """The topic a service publishes its domain events to: ``tongban.<service>.events.v1``."""
    # Topic names allow [a-zA-Z0-9._-], but "." and "_" collide in Kafka's metric names and upper case
    # invites near-duplicates, so service names are kept to lower case, digits and "-".
    if not _SERVICE_NAME.match(service):
        raise ValueError(f"service name {service!r} must match {_SERVICE_NAME.pattern}")
    return f"tongban.{service}.events.v1"


def kafka_python_producer_config(bootstrap: str, *, security: KafkaSecurity | None = None) -> dict[str, Any]:
    """kwargs for ``kafka.KafkaProducer``."""
    return {
        **current(security).kafka_python(),
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        # Idempotence needs retries and at most 5 in-flight requests; say so explicitly rather than rely on
        # defaults that have changed between kafka-python releases.
        "retries": 2_147_483_647,
        "max_in_flight_requests_per_connection": 5,
        # Bounded by time instead of by count: give up (and let the outbox retry later) after 2 minutes.
        "delivery_timeout_ms": 120_000,
        "request_timeout_ms": 30_000,
        "linger_ms": 5,
    }


def aiokafka_producer_config(bootstrap: str, *, security: KafkaSecurity | None = None) -> dict[str, Any]:
    """kwargs for ``aiokafka.AIOKafkaProducer`` (aiokafka retries until request_timeout_ms; no ``retries``)."""
    return {
        **current(security).aiokafka(),
        "bootstrap_servers": bootstrap,
        "acks": "all",
        # Not idempotent: aiokafka 0.14 only speaks InitProducerId v0, which tansu 0.6.0 answers with
        # UNKNOWN_SERVER_ERROR, so the producer would not start on the development broker (a test pins this
        # down). aiokafka keeps one in-flight batch per partition, so order holds anyway; a retried batch
        # may arrive twice, which the consumers' inboxes absorb.
        "enable_idempotence": False,
        "request_timeout_ms": 30_000,
        "linger_ms": 5,
    }


def _consumer_common(bootstrap: str, group_id: str | None) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "session_timeout_ms": SESSION_TIMEOUT_MS,
        "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
        # A new group reads a topic from its beginning: events published before a consumer first started
        # must still be processed (consumers are idempotent, so re-reading is harmless).
        "auto_offset_reset": "earliest",
        # Offsets are committed after the inbox records the event, never on a timer behind the handler's back.
        "enable_auto_commit": False,
    }


def aiokafka_consumer_config(
    bootstrap: str, group_id: str | None, *, security: KafkaSecurity | None = None
) -> dict[str, Any]:
    """kwargs for ``aiokafka.AIOKafkaConsumer``."""
    return {
        **current(security).aiokafka(),
        **_consumer_common(bootstrap, group_id),
        "rebalance_timeout_ms": REBALANCE_TIMEOUT_MS,
        "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
    }


def kafka_python_consumer_config(
    bootstrap: str, group_id: str | None, *, security: KafkaSecurity | None = None
) -> dict[str, Any]:
    """kwargs for ``kafka.KafkaConsumer``."""
    return {
        **current(security).kafka_python(),
        **_consumer_common(bootstrap, group_id),
        "max_poll_interval_ms": KAFKA_PYTHON_MAX_POLL_INTERVAL_MS,
    }


def kafka_python_admin_config(
    bootstrap: str, client_id: str, *, security: KafkaSecurity | None = None
) -> dict[str, Any]:
    """kwargs for ``kafka.KafkaAdminClient`` (and for a bare ``kafka.KafkaConsumer`` used to read offsets)."""
    return {**current(security).kafka_python(), "bootstrap_servers": bootstrap, "client_id": client_id}


def ensure_topics(
    bootstrap: str,
    names: list[str],
    partitions: int = 4,
    *,
    timeout: float = 30.0,
    security: KafkaSecurity | None = None,
) -> None:
    """Create the topics in ``names`` that do not exist yet, and return once all of them are usable.

    Idempotent and safe to race: an existing topic (or one another process creates meanwhile) is left as
    it is, including its partition count -- adding partitions would move keys to other partitions and
    break per-case ordering, so that is a deliberate operation, never a side effect. The replication
    factor is the broker's default, so the same call suits a one-node test broker and a production cluster.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    deadline = time.monotonic() + timeout
    admin = KafkaAdminClient(
        **kafka_python_admin_config(bootstrap, "tongban-ensure-topics", security=security),
        request_timeout_ms=int(timeout * 1000),
        bootstrap_timeout_ms=int(timeout * 1000),
    )
    try:
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        for name in missing:
            # One request per topic: a batch fails as a whole on TopicAlreadyExists in kafka-python, which
            # would hide whether the other topics were created.
            # Already exists means another process created it meanwhile: the state we want.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=-1)])
        _wait_until_led(admin, wanted, deadline)
    finally:
        admin.close()


def _wait_until_led(admin: Any, names: list[str], deadline: float) -> None:
    # Kafka answers CreateTopics when the controller has committed the topic, slightly before the broker
    # serves it; returning only once every partition has a leader spares callers a first-produce error.
    from kafka.errors import KafkaError

    pending = list(names)
    while True:
        try:
            described = admin.describe_topics(pending)
        except KafkaError:
            described = []
        ready = {
            topic["name"]
            for topic in described
            if topic.get("error_code", 0) == 0
            and topic["partitions"]
            and all(p["error_code"] == 0 and p["leader_id"] >= 0 for p in topic["partitions"])
        }
        pending = [name for name in pending if name not in ready]
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"topics not ready before the deadline: {pending}")
        time.sleep(0.05)  # metadata propagation has nothing to wait on but another describe
