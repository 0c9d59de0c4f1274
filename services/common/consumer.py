"""Consuming stored events from Kafka: decode the envelope, continue its trace, check its hash,
and apply the handler's effect exactly once through the consumer's inbox (invariant 1)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry import trace

from services.common.events import RecordedEvent
from services.common.hashing import event_hash
from services.common.store import AlreadyProcessed, EventStore, StoreTransaction
from services.common.telemetry import context_from_trace, trace_from_kafka_headers

log = logging.getLogger(__name__)

Handler = Callable[[StoreTransaction, RecordedEvent], Any]
Headers = Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None


class CorruptEnvelope(ValueError):
    """A message whose hash does not match its content: altered in transit or at the source."""


def decode(raw: bytes) -> RecordedEvent:
    event = RecordedEvent.from_bytes(raw)
    if event_hash(event.prev_hash, event) != event.hash:
        raise CorruptEnvelope(f"event {event.event_id} of {event.stream_id} v{event.version}: hash mismatch")
    return event


def consume(store: EventStore, consumer: str, raw: bytes, headers: Headers, handler: Handler) -> bool:
    """Apply `handler` to one delivered message. Returns False for a redelivery (no effect) and
    for a corrupt message (logged and skipped: the store that published it still holds the truth)."""
    try:
        event = decode(raw)
    except (CorruptEnvelope, ValueError, DecodeError) as exc:
        log.error("%s: dropping undecodable message: %s", consumer, exc)
        return False
    tc = trace_from_kafka_headers(headers) if headers else event.trace
    if not tc.traceparent:
        tc = event.trace
    tracer = trace.get_tracer("tongban.consumer")
    with tracer.start_as_current_span(f"consume {event.type}", context=context_from_trace(tc),
                                      kind=trace.SpanKind.CONSUMER) as span:
        span.set_attribute("tongban.consumer", consumer)
        span.set_attribute("tongban.event_id", event.event_id)
        span.set_attribute("tongban.stream_id", event.stream_id)
        try:
            store.process_once(consumer, event.event_id, lambda tx: handler(tx, event))
        except AlreadyProcessed:
            span.set_attribute("tongban.duplicate", True)
            return False
    return True
