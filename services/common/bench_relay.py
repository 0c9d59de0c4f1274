"""`tongban bench store`'s relay line: `OutboxRelay.publish_pending()` of the whole benchmark store
to a broker, unsigned (`relay_publish`, comparable with every earlier run) and signed with a
region key as every host's relay signs (`relay_publish_signed`)."""

from __future__ import annotations

import logging
import time

from services.common.bench_events import REGION
from services.common.bench_report import BenchError
from services.common.store import EventStore


def bench_relay_publish(store: EventStore, tag: str, bootstrap: str, backend: str,
                        signed: bool = False) -> tuple[float, int]:
    from services.common.kafka_settings import ensure_topics
    from services.common.relay import OutboxRelay, relay_producer
    from services.common.trust.keys import RegionKey
    from services.common.trust.signing import EnvelopeSigner

    if signed:
        tag = f"{tag}-signed"  # a topic and a cursor of its own
    topic = f"tongban.bench.{backend}.{tag}"
    ensure_topics(bootstrap, [topic])
    producer = relay_producer(bootstrap)
    # kafka-python warns whenever its I/O thread is held >100 ms; here that is the GIL-bound relay loop
    # in this very process, not a broker fault, and the warnings would break up the progress lines.
    # Left alone under -v (INFO), where someone asked to see everything.
    selector_log = logging.getLogger("kafka.net.selector")
    saved_level = selector_log.level
    if not selector_log.isEnabledFor(logging.INFO):
        selector_log.setLevel(logging.ERROR)
    try:
        signer = EnvelopeSigner(RegionKey.generate(REGION)) if signed else None
        relay = OutboxRelay(store, producer, topic, name=f"bench-relay-{tag}", signer=signer)
        # Publish one event untimed: the producer's first send waits for broker metadata and the
        # producer id, a one-off connection cost that is not the relay's steady rate.
        relay.publish_pending(max_events=1)
        started = time.perf_counter()
        sent = relay.publish_pending()
        elapsed = time.perf_counter() - started
    finally:
        producer.close(timeout=10)
        selector_log.setLevel(saved_level)
    if sent == 0:
        raise BenchError("the relay published nothing: the store has no events after the first")
    return (sent / elapsed if elapsed > 0 else float("inf")), sent
