"""Consuming stored events from Kafka: verify the message (`MessageGate`: intact, and signed by the
region it names, invariant 8), decode the envelope, continue its trace, and apply the handler's
effect exactly once through the consumer's inbox (invariant 1)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry import trace

from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.hashing import event_hash
from services.common.store import AlreadyProcessed, EventStore, StoreTransaction
from services.common.telemetry import context_from_trace, trace_from_kafka_headers, tracer
from services.common.trust.keys import KeyDirectory
from services.common.trust.signing import (
    HEADER_KEY_ID,
    HEADER_SIGNATURE,
    envelope_problem,
    header,
    message_problem,
    parse_envelope,
)
from tongban.common.v1 import trust_pb2

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


def consume(store: EventStore, consumer: str, raw: bytes, headers: Headers, handler: Handler, *,
            verified: RecordedEvent | None = None) -> bool:
    """Apply `handler` to one delivered message. Returns False for a redelivery (no effect) and
    for a corrupt message (logged and skipped: the store that published it still holds the truth).
    `verified`: the event a `MessageGate` already decoded and checked from `raw` (not again)."""
    if verified is not None:
        event = verified
    else:
        try:
            event = decode(raw)
        except (CorruptEnvelope, ValueError, DecodeError) as exc:
            log.error("%s: dropping undecodable message: %s", consumer, exc)
            return False
    tc = trace_from_kafka_headers(headers) if headers else event.trace
    if not tc.traceparent:
        tc = event.trace
    with tracer("tongban.consumer").start_as_current_span(f"consume {event.type}", context=context_from_trace(tc),
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


# -- verify before acting (architecture invariant 8) --------------------------------------------

REJECTED_STREAM_TYPE = "trust.RejectedMessage"


class MessageGate:
    """What every consumer of a store passes a message through before acting on it: an envelope
    must be intact and signed by a key of the region it names; a non-envelope message (a registry
    decision) must be signed by the one speaker allowed to send it. A message that fails is not
    acted on: it is recorded in the consumer's own store as MessageRejected with the reason (once,
    however often it is delivered), counted, and the consumer goes on with the next message.

    Without a key directory (`keys=None`) signatures are not checked (pure unit tests and tools
    that read their own data only); every host and worker has one."""

    def __init__(self, store: EventStore, keys: KeyDirectory | None, *, consumer: str = "dispatch") -> None:
        self.store = store
        self.keys = keys
        self.consumer = consumer
        self.rejected = 0  # since start; the recorded MessageRejected events are the lasting count

    def envelope(self, topic: str, raw: bytes, *, partition: int = -1, offset: int = -1) -> RecordedEvent | None:
        """The event to act on, or None (recorded as rejected when it is not to be believed)."""
        try:
            signed = parse_envelope(raw)
        except (ValueError, DecodeError) as exc:
            self.reject(topic, raw, f"not an event envelope: {exc}", partition=partition, offset=offset)
            return None
        if self.keys is None:
            if event_hash(signed.event.prev_hash, signed.event) != signed.event.hash:
                self.reject(topic, raw, "the hash does not match the content", event=signed.event,
                            partition=partition, offset=offset)
                return None
            return signed.event
        problem = envelope_problem(signed, self.keys)
        if problem is not None:
            self.reject(topic, raw, problem, event=signed.event, key_id=signed.key_id, partition=partition,
                        offset=offset)
            return None
        return signed.event

    def message(self, topic: str, raw: bytes, headers: Headers, *, speaker: str, purpose: str,
                partition: int = -1, offset: int = -1) -> bool:
        """Whether `raw` is `speaker`'s own message for `purpose` (recorded as rejected if not)."""
        if self.keys is None:
            return True
        problem = message_problem(self.keys, speaker, purpose, raw, headers)
        if problem is None:
            return True
        key_id = (header(headers, HEADER_KEY_ID) or b"").decode("utf-8", "replace")
        self.reject(topic, raw, problem, claimed_region=speaker, claimed_type=purpose, key_id=key_id,
                    partition=partition, offset=offset,
                    signature=(header(headers, HEADER_SIGNATURE) or b"") + key_id.encode())
        return False

    def reject(self, topic: str, raw: bytes, reason: str, *, event: RecordedEvent | None = None,
               key_id: str = "", claimed_region: str = "", claimed_type: str = "", partition: int = -1,
               offset: int = -1, signature: bytes = b"") -> None:
        """Record `raw` as not acted on, with `reason`. `signature`: what signs it from outside the
        value (headers), so two copies with different signatures are two records."""
        self.rejected += 1
        event_id = event.event_id if event is not None else ""
        region = event.region if event is not None else claimed_region
        type_ = event.type if event is not None else claimed_type
        # The words the hosts' logs have always used for a refused message, so operators' greps work.
        log.warning("rejected %s %s from region %s on %s: %s", type_, event_id, region or "?", topic, reason)
        digest = hashlib.sha256(raw).digest()
        record = trust_pb2.MessageRejected(
            consumer=self.consumer, topic=topic, partition=partition, offset=offset, message_sha256=digest,
            claimed_event_id=event_id, claimed_type=type_, claimed_region=region, signing_key_id=key_id,
            reason=reason)
        new = NewEvent.from_message(record, event_id=str(uuid.uuid4()),
                                    actor=Actor.system(self.store.region, self.consumer),
                                    correlation_id=event.correlation_id if event is not None else "",
                                    occurred_at=self.store.clock.now())
        identity = hashlib.sha256(digest + signature).hexdigest() if signature else digest.hex()
        stream = f"rejected-message-{identity[:32]}"
        # Once per message and consumer: a forgery delivered again is not recorded again.
        with contextlib.suppress(AlreadyProcessed):
            self.store.process_once(f"rejected:{self.consumer}", identity,
                                    lambda tx: tx.append(stream, REJECTED_STREAM_TYPE, None, [new]))


def rejected_messages(store: EventStore) -> list[trust_pb2.MessageRejected]:
    """Every message this store's consumers refused, oldest first."""
    return [e.message() for e in store.iter_log()  # type: ignore[misc]
            if e.type == trust_pb2.MessageRejected.DESCRIPTOR.full_name]
