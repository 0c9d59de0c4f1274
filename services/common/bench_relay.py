"""`tongban bench store`'s relay line: `OutboxRelay.publish_pending()` of the whole benchmark store
to a broker, unsigned (`relay_publish`, comparable with every earlier run), signed with a region key
as every host's relay signs (`relay_publish_signed`), and signed while a tracer provider records the
publish spans (`relay_publish_traced`): every host runs OpenTelemetry, so that is the relay it runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from services.common.bench_events import REGION
from services.common.bench_report import BenchError
from services.common.store import EventStore


def bench_relay_publish(store: EventStore, tag: str, bootstrap: str, backend: str,
                        signed: bool = False, traced: bool = False) -> tuple[float, int]:
    """With `traced` (implies `signed`), a recording SDK tracer provider is installed for the measure."""
    from services.common.kafka_settings import ensure_topics
    from services.common.relay import OutboxRelay
    from services.common.relay_producer import relay_producer
    from services.common.trust.keys import RegionKey
    from services.common.trust.signing import EnvelopeSigner

    signed = signed or traced
    if signed:
        tag = f"{tag}-{'traced' if traced else 'signed'}"  # a topic and a cursor of its own
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
        with recording_tracer_provider() if traced else _nothing():
            started = time.perf_counter()
            sent = relay.publish_pending()
            elapsed = time.perf_counter() - started
    finally:
        producer.close(timeout=10)
        selector_log.setLevel(saved_level)
    if sent == 0:
        raise BenchError("the relay published nothing: the store has no events after the first")
    return (sent / elapsed if elapsed > 0 else float("inf")), sent


@contextmanager
def recording_tracer_provider() -> Iterator[None]:
    """An SDK TracerProvider as the process's global one while the block runs, then the one before
    restored. Its spans are made, sampled and ended like a host's, and handed to a processor that
    drops them: what the measure counts is the relay's cost, not an exporter's.

    OpenTelemetry lets a process set its provider once (telemetry.py); a benchmark that must leave the
    process as it found it swaps the global itself, which nothing else may do."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    class Discard(SpanProcessor):
        pass  # every hook a no-op: the span is recorded and ended, then forgotten

    provider = TracerProvider()
    provider.add_span_processor(Discard())
    saved = trace._TRACER_PROVIDER  # private: see above
    trace._TRACER_PROVIDER = provider
    try:
        yield
    finally:
        trace._TRACER_PROVIDER = saved
        provider.shutdown()


@contextmanager
def _nothing() -> Iterator[None]:
    yield
