"""The outbox relay: publishes a store's events to Kafka, in log order, from a persisted cursor.

Events reach Kafka only from the store (never from a handler: no dual writes). The relay reads
the global log after its cursor, sends each event to the service's topic with key = stream id (so
a stream's events share a partition and keep their order) and headers carrying the event id, type
and W3C trace context, waits until the broker acknowledged all of them, and only then saves the
cursor. A crash at any point therefore loses nothing: events after the saved cursor are sent again
(duplicates are harmless: every consumer has an inbox). A broker that lost its data is refilled by
`republish_from(0)`.

A batch (up to `batch_size` events of the log) goes out as one produce request per partition when
the producer can send batches (`relay_producer()`, services/common/relay_producer.py): every
envelope still signed on its own, the cursor saved only once the broker acknowledged the whole batch.

With a signer (every host has one), each envelope is signed with the region's key as it is sent
(services/common/trust/signing.py): the consumers of other regions act only on what verifies.

With a batch producer, the messages are written straight from the stored rows (the envelope bytes,
their signature and the headers, byte for byte what the RecordedEvent would give): decoding every
row into an event first cost as much as writing its envelope. The events are decoded only when
something needs them (extra topics, `after_send`). When a tracer provider records (every host), each
message's trace headers are those of its publish span instead of the stored ones (relay_trace.py).

With `extra_topics`, an event also goes, as the same signed message with the same headers, to the
topics it names (a hand-off message to its addressee's hand-off topic, handoff/topics.py); the
cursor moves only once every topic acknowledged, so a re-publication (`republish_from`, a refill)
reaches the same topics again. `prepare_topics` is called with a destination before the relay first
sends to it (and again after a failure: a broker that lost its data lost its topics too). A topic it
cannot make is set aside rather than waited for: every other topic goes on, and the messages owed
to it follow once it exists (relay_backlog.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from sqlalchemy import insert, select, update

from services.common.envelope_wire import stored_envelope_bytes
from services.common.events import RecordedEvent, TraceContext, to_micros
from services.common.relay_backlog import TopicBacklog
from services.common.relay_producer import Message, Producer
from services.common.relay_trace import PublishSpans
from services.common.store import EventStore
from services.common.store.decode import events_from_tuples
from services.common.store.engine import WRITE
from services.common.store.schema import relay_cursors
from services.common.telemetry import TRACEPARENT, TRACESTATE, kafka_headers
from services.common.trust.signing import EnvelopeSigner

log = logging.getLogger(__name__)

HEADER_EVENT_ID = "tongban-event-id"
HEADER_EVENT_TYPE = "tongban-event-type"
HEADER_REGION = "tongban-region"
HEADER_SERVICE = "tongban-service"
_ACK_TIMEOUT = 60.0  # seconds a batch may take to be acknowledged before the relay tries again
# Columns of a stored row (every `events` column, table order: EventStore.read_log_rows) the relay reads.
_POSITION, _EVENT_ID, _STREAM_ID, _TYPE, _REGION, _SERVICE = 0, 1, 2, 5, 10, 11
_TRACEPARENT, _TRACESTATE, _HASH, _GLOBAL_HASH = 19, 20, 22, 23

def event_headers(event: RecordedEvent, trace_context: TraceContext) -> list[tuple[str, bytes]]:
    return [
        (HEADER_EVENT_ID, event.event_id.encode()),
        (HEADER_EVENT_TYPE, event.type.encode()),
        (HEADER_REGION, event.region.encode()),
        (HEADER_SERVICE, event.service.encode()),
        *kafka_headers(trace_context),
    ]


class OutboxRelay:
    def __init__(self, store: EventStore, producer: Producer, topic: str, *, name: str | None = None,
                 batch_size: int = 500,
                 after_send: Callable[[list[RecordedEvent]], None] | None = None,
                 signer: EnvelopeSigner | None = None,
                 extra_topics: Callable[[RecordedEvent], Sequence[str]] | None = None,
                 prepare_topics: Callable[[list[str]], None] | None = None) -> None:
        self.store = store
        self._extra_topics = extra_topics
        self._prepare_topics = prepare_topics
        self._prepared: set[str] = set()  # destinations known to exist since the last failure
        self.signer = signer  # None: unsigned envelopes, which every verifying consumer refuses
        self.producer = producer
        self.topic = topic
        self.name = name or f"relay:{topic}"
        self.batch_size = batch_size
        self._fixed_headers: dict[tuple[str, str, str], list[tuple[str, bytes]]] = {}
        self._spans = PublishSpans(topic)
        self._backlog = TopicBacklog(store, self.name, prepare_topics) if prepare_topics is not None else None
        # Called after a batch is acknowledged and before the cursor is saved: lets tests crash
        # the relay at the one moment that produces duplicates.
        self._after_send = after_send
        self._ensure_cursor()

    def cursor(self) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(relay_cursors.c.position)
                                    .where(relay_cursors.c.name == self.name)).scalar_one())

    def republish_from(self, position: int = 0) -> None:
        """Move the cursor back so events after `position` are published again (refill a broker
        that lost its data; consumers shrug off what they already processed)."""
        now = to_micros(self.store.clock.now())
        self._prepared.clear()  # a refill: the extra topics may be new as well
        if self._backlog is not None:
            self._backlog.rewind(position)
        with self.store.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            conn.execute(update(relay_cursors).where(relay_cursors.c.name == self.name)
                         .values(position=position, updated_at_us=now))

    def publish_pending(self, max_events: int | None = None) -> int:
        """Publish everything after the cursor (up to `max_events`); returns how many were sent."""
        try:
            self._catch_up()
            return self._publish_pending(max_events)
        except Exception:
            self._prepared.clear()
            raise

    def _publish_pending(self, max_events: int | None) -> int:
        sent = 0
        cursor = self.cursor()
        batch = self._next(cursor, max_events, sent)
        while batch.size:
            acknowledged = self._start(batch)
            # While the broker acknowledges, read and sign the next batch. It is sent only after this
            # one is acknowledged and the cursor saved: a crash still repeats at most one batch.
            ahead = self._next(batch.last, max_events, sent + batch.size)
            acknowledged()
            if self._after_send is not None:
                self._after_send(batch.events)
            sent += batch.size
            if not self._advance_cursor(cursor, batch.last):
                # republish_from() moved the cursor while this batch was in flight: honour the
                # rewind (a concurrent refill) instead of overwriting it.
                cursor = self.cursor()
                batch = self._next(cursor, max_events, sent)
                continue
            cursor = batch.last
            batch = ahead
        return sent

    def publish_again(self, events: list[RecordedEvent]) -> None:
        """Publish `events` once more, leaving the cursor where it is, and wait for the broker's
        acknowledgement (a claim whose answer never came: services/common/registry/resend.py).
        Consumers are idempotent: a repeat is one more redelivery."""
        if not events:
            return
        batch = _Batch(events=events)
        if getattr(self.producer, "submit_batch", None) is not None:
            batch.messages = self._messages(events)
        self._start(batch)()

    def _next(self, after: int, max_events: int | None, sent: int) -> _Batch:
        """The batch after `after` and, for a producer that sends batches, its messages (signed).
        Those are written straight from the stored rows (envelope_wire.stored_envelope_bytes), traced or
        not: the events are decoded only for what needs them (extra topics, after_send)."""
        limit = self.batch_size if max_events is None else min(self.batch_size, max_events - sent)
        if limit <= 0:
            return _Batch(events=[])
        if getattr(self.producer, "submit_batch", None) is None:
            return _Batch(events=self.store.read_log(after=after, limit=limit))
        batch = _Batch(rows=self.store.read_log_rows(after=after, limit=limit))
        if batch.size:
            tracer = self._publish_tracer()
            batch.messages = self._signed(
                [self._stored_message(row, tracer) for row in batch.rows],
                [(row[_REGION], row[_HASH], row[_POSITION], row[_GLOBAL_HASH]) for row in batch.rows])
        return batch

    def _messages(self, events: Sequence[RecordedEvent]) -> list[Message]:
        """The messages of `events` (signed), as `_next` writes them from their stored rows."""
        tracer = self._publish_tracer()
        return self._signed([(e.stream_id.encode(), e.to_bytes(), event_headers(e, self._trace(e, tracer)))
                             for e in events],
                            [(e.region, e.hash, e.position, e.global_hash) for e in events])

    def _signed(self, unsigned: list[Message], signed: list[tuple[str, bytes, int, bytes]]) -> list[Message]:
        """`unsigned` with each envelope's signature fields appended (what `signed` gives of it: region,
        hash, position, global hash), signed on other threads while this one waits (signing.py)."""
        if self.signer is None:
            return unsigned
        signatures = self.signer.sign_stored(signed)
        return [(key, value + signature, headers)
                for (key, value, headers), signature in zip(unsigned, signatures(), strict=True)]

    def _publish_tracer(self) -> trace.Tracer | None:
        """The tracer of the publish spans, or None when nobody records them."""
        return self._spans.tracer() if _tracing_records() else None

    def _trace(self, event: RecordedEvent, tracer: trace.Tracer | None) -> TraceContext:
        """The trace context `event`'s message carries: its publish span's, or (nobody records spans, or
        it was recorded outside any trace) the one it was recorded in."""
        if tracer is None or not event.trace.traceparent:
            return event.trace
        return self._spans.publish(tracer, event.type, event.event_id, event.trace.traceparent,
                                   event.trace.tracestate)

    def run(self, stop: threading.Event, poll_interval: float = 0.2,
            new_producer: Callable[[], Producer] | None = None) -> None:
        """Publish until `stop` is set, polling the log when idle. Errors are logged and retried:
        the cursor only moves after the broker acknowledged, so a retry never loses an event.
        With `new_producer`, a failed publish also replaces the producer: an idempotent producer
        whose broker restarted empty can stay in a fatal state for good."""
        while not stop.is_set():
            try:
                if self.publish_pending():
                    continue
            except Exception:
                log.exception("relay %s failed to publish; retrying", self.name)
                if new_producer is not None:
                    self._renew_producer(new_producer)
            stop.wait(poll_interval)

    def _renew_producer(self, new_producer: Callable[[], Producer]) -> None:
        old = self.producer
        try:
            self.producer = new_producer()
        except Exception:
            log.exception("relay %s: cannot create a producer yet", self.name)
            return
        try:
            old.close(timeout=0)
        except Exception:
            log.debug("closing the failed producer failed", exc_info=True)

    def _start(self, batch: _Batch) -> Callable[[], None]:
        """Send `batch`; the returned call waits until the broker acknowledged all of it, and raises
        if it refused any: the cursor then stays put."""
        extra: list[list[str]] = ([list(self._extra_topics(e)) for e in batch.events]
                                  if self._extra_topics is not None else [[]] * batch.size)
        aside = self._prepare([topic for topics in extra for topic in topics], batch.first - 1)
        if aside:
            extra = [[t for t in topics if t not in aside] for topics in extra]
        messages = batch.messages
        if messages is not None:
            by_topic: dict[str, list[Message]] = {self.topic: messages}
            if self._extra_topics is not None:
                for message, topics in zip(messages, extra, strict=True):
                    for topic in topics:
                        by_topic.setdefault(topic, []).append(message)
            # One record batch per partition and topic, acknowledged as a whole (relay_producer.py).
            pending = [self.producer.submit_batch(topic, mine)  # type: ignore[attr-defined]
                       for topic, mine in by_topic.items()]

            def all_acknowledged() -> None:
                for p in pending:
                    p.result(timeout=_ACK_TIMEOUT)

            return all_acknowledged
        tracer = self._publish_tracer()
        futures = [f for e, topics in zip(batch.events, extra, strict=True) for f in self._send_one(e, topics, tracer)]

        def acknowledged() -> None:
            self.producer.flush()
            for f in futures:
                f.get(timeout=30)

        return acknowledged

    def _prepare(self, topics: list[str], after: int) -> set[str]:
        """Make the batch's new destinations; returns those it leaves out: set aside, owed their
        messages after log position `after` (relay_backlog.py)."""
        new = [t for t in dict.fromkeys(topics) if t not in self._prepared]
        if not new or self._backlog is None:
            self._prepared.update(new)
            return set()
        ready = self._backlog.prepare(new, after)
        self._prepared.update(ready)
        return set(new) - ready

    def _catch_up(self) -> None:
        """Send the set-aside topics that exist by now what they are owed, up to the saved cursor."""
        if self._backlog is None or not self._backlog.owed() or self._extra_topics is None:
            return
        self._prepared.update(self._backlog.catch_up(self.cursor(), self._send_to, self._extra_topics,
                                                     self.batch_size))

    def _send_to(self, topic: str, events: list[RecordedEvent]) -> None:
        """`events` to `topic` alone, returning once acknowledged (a set-aside topic's owed messages)."""
        if getattr(self.producer, "submit_batch", None) is not None:
            pending = self.producer.submit_batch(topic, self._messages(events))  # type: ignore[attr-defined]
            pending.result(timeout=_ACK_TIMEOUT)
            return
        tracer = self._publish_tracer()
        futures = [self.producer.send(topic, value=self._value(e), key=e.stream_id.encode(),
                                      headers=event_headers(e, self._trace(e, tracer))) for e in events]
        self.producer.flush()
        for f in futures:
            f.get(timeout=30)

    def _value(self, event: RecordedEvent) -> bytes:
        return self.signer.sign(event) if self.signer is not None else event.to_bytes()

    def _stored_message(self, row: Sequence[Any], tracer: trace.Tracer | None = None) -> Message:
        """The message of the event stored as `row`, unsigned: the bytes and headers `_messages` gives
        its RecordedEvent (tests/integration/test_relay_rows.py)."""
        return row[_STREAM_ID].encode(), stored_envelope_bytes(row), self._headers(row, tracer)

    def _headers(self, row: Sequence[Any], tracer: trace.Tracer | None = None) -> list[tuple[str, bytes]]:
        """`event_headers(event, self._trace(event, tracer))` from the stored row; the type, region and
        service headers are shared by most of a store's events, so they are encoded once."""
        fixed_key = (row[_TYPE], row[_REGION], row[_SERVICE])
        fixed = self._fixed_headers.get(fixed_key)
        if fixed is None:
            fixed = [(HEADER_EVENT_TYPE, fixed_key[0].encode()), (HEADER_REGION, fixed_key[1].encode()),
                     (HEADER_SERVICE, fixed_key[2].encode())]
            if len(self._fixed_headers) < 10_000:
                self._fixed_headers[fixed_key] = fixed
        headers = [(HEADER_EVENT_ID, row[_EVENT_ID].encode()), *fixed]
        traceparent, tracestate = row[_TRACEPARENT], row[_TRACESTATE]
        if traceparent and tracer is not None:  # the consumer continues from the publish span
            published = self._spans.publish(tracer, fixed_key[0], row[_EVENT_ID], traceparent, tracestate)
            traceparent, tracestate = published.traceparent, published.tracestate
        if traceparent:
            headers.append((TRACEPARENT, traceparent.encode("ascii")))
            if tracestate:
                headers.append((TRACESTATE, tracestate.encode("ascii")))
        return headers

    def _send_one(self, event: RecordedEvent, extra: list[str], tracer: trace.Tracer | None) -> list[Any]:
        """The same message to the service's topic and to `extra`: one value, one set of headers."""
        key, value = event.stream_id.encode(), self._value(event)
        # The publish is a span of the trace the event was recorded in, so the consumer that
        # continues from these headers stays in the same journey (invariant 11).
        headers = event_headers(event, self._trace(event, tracer))
        return [self.producer.send(t, value=value, key=key, headers=headers) for t in [self.topic, *extra]]

    def _ensure_cursor(self) -> None:
        with self.store.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            exists = conn.execute(select(relay_cursors.c.name).where(relay_cursors.c.name == self.name)).first()
            if exists is None:
                conn.execute(insert(relay_cursors).values(name=self.name, position=0, updated_at_us=0))

    def _advance_cursor(self, expected: int, position: int) -> bool:
        """Move the cursor from `expected` to `position`; False if someone else moved it."""
        now = to_micros(self.store.clock.now())
        with self.store.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            result = conn.execute(
                update(relay_cursors)
                .where(relay_cursors.c.name == self.name, relay_cursors.c.position == expected)
                .values(position=position, updated_at_us=now)
            )
            return result.rowcount == 1


class _Batch:
    """A page of the log on its way out: the stored rows (or the events, for a producer that sends
    one event at a time and for `publish_again`), the messages written from them, and the events
    decoded from the rows only when something asks for them."""

    def __init__(self, *, rows: list[tuple[Any, ...]] | None = None, events: list[RecordedEvent] | None = None) -> None:
        self.rows = rows if rows is not None else []
        self._events = events
        self.messages: list[Message] | None = None
        self.size = len(events) if events is not None else len(self.rows)

    @property
    def events(self) -> list[RecordedEvent]:
        if self._events is None:
            self._events = events_from_tuples(self.rows)
        return self._events

    @property
    def first(self) -> int:
        return int(self.rows[0][_POSITION]) if self._events is None else self._events[0].position

    @property
    def last(self) -> int:
        return int(self.rows[-1][_POSITION]) if self._events is None else self._events[-1].position


def _tracing_records() -> bool:
    """Whether a tracer provider that records spans is installed (setup_tracing, memory_tracing):
    without one a publish span would cost time and show nowhere."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
