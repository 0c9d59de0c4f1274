"""Refilling a broker that lost its data (architecture invariant 1).

Kafka gives every topic a UUID when it is created; a broker that lost its data (the memory-only
local one restarted, a wiped cluster) recreates the topic under a new id. The store records the id
of the topic its relay cursor counts for. On start, and every `refill_check_interval` seconds, the
host recreates the topic if it is missing and compares ids: a different id with a cursor past 0
moves the cursor back to 0, so the relay publishes the whole log again (consumers shrug off what
they already processed). The cursor is moved before the new id is saved, so a crash in between
only refills twice."""

from __future__ import annotations

import logging

from sqlalchemy import BigInteger, Column, MetaData, String, Table, insert, select, update

from services.common.events import to_micros
from services.common.kafka_settings import ensure_topics
from services.common.relay import OutboxRelay
from services.common.store import EventStore
from services.common.store.engine import WRITE

log = logging.getLogger(__name__)

TABLES = MetaData()  # the host's own table

# Which incarnation of a topic each relay cursor counts for.
relay_topics = Table(
    "relay_topics",
    TABLES,
    Column("relay", String(100), primary_key=True),
    Column("topic_id", String(64), nullable=False),
    Column("checked_at_us", BigInteger, nullable=False),
)


def topic_id(bootstrap: str, topic: str) -> str | None:
    """The UUID the broker gave `topic` when it created it; None if the broker does not say."""
    from kafka import KafkaAdminClient

    from services.common.kafka_settings import kafka_python_admin_config

    admin = KafkaAdminClient(**kafka_python_admin_config(bootstrap, "tongban-topic-id"))
    try:
        [described] = admin.describe_topics([topic])
    finally:
        admin.close()
    value = str(described.get("topic_id") or "")
    return None if not value or set(value) <= {"0", "-"} else value


def refill_if_broker_lost(store: EventStore, relay: OutboxRelay, bootstrap: str, *, partitions: int = 4) -> bool:
    """Recreate the relay's topic if it is missing; if the topic is not the one the relay's cursor
    counts for (a new topic id), publish the whole log again. Returns True when it moved the
    cursor back."""
    ensure_topics(bootstrap, [relay.topic], partitions=partitions)
    current = topic_id(bootstrap, relay.topic)
    if current is None:
        log.warning("broker gives no topic id for %s: cannot tell whether it lost its data", relay.topic)
        return False
    with store.engine.connect() as conn:
        recorded = conn.execute(select(relay_topics.c.topic_id).where(relay_topics.c.relay == relay.name)).scalar()
    if recorded == current:
        return False
    cursor = relay.cursor()
    if cursor > 0:
        log.warning("topic %s is new to relay %s (id %s, cursor counted for %s): republishing from position 0 "
                    "(%d events)", relay.topic, relay.name, current, recorded or "an unrecorded topic", cursor)
        relay.republish_from(0)
    now = to_micros(store.clock.now())
    with store.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        if recorded is None:
            conn.execute(insert(relay_topics).values(relay=relay.name, topic_id=current, checked_at_us=now))
        else:
            conn.execute(update(relay_topics).where(relay_topics.c.relay == relay.name)
                         .values(topic_id=current, checked_at_us=now))
    return cursor > 0
