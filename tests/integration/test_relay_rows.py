"""The relay writes its messages straight from the stored rows (envelope_wire.stored_envelope_bytes):
on both databases, every message is the one its RecordedEvent gives -- the same signed envelope
bytes, key and headers -- so consumers verify and read it exactly as before."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

from services.common import relay as relay_module
from services.common.events import RecordedEvent, TraceContext
from services.common.relay import OutboxRelay, event_headers
from services.common.store import EventStore
from services.common.telemetry import memory_tracing
from services.common.trust.keys import KeyDirectory, RegionKey
from services.common.trust.signing import EnvelopeSigner, envelope_problem, parse_envelope
from tests.support import new_event, unique_id


class RecordingBatchProducer:
    """A producer that sends batches and acknowledges at once, keeping what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []

    def submit_batch(self, topic: str, messages: list[Any]) -> Future[None]:
        self.sent.append((topic, list(messages)))
        done: Future[None] = Future()
        done.set_result(None)
        return done

    def send(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a batch producer is sent batches")

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


def _varied(store: EventStore) -> list[RecordedEvent]:
    traces = [TraceContext(), TraceContext(f"00-{'a' * 32}-{'b' * 16}-01"),
              TraceContext(f"00-{'c' * 32}-{'d' * 16}-01", "vendor=1"),
              TraceContext("", "a state without a parent")]
    out: list[RecordedEvent] = []
    for i, trace in enumerate(traces * 3):
        out += store.append(unique_id(), "t", 0, [
            new_event(f"event {i} 结婚登记", trace=trace, correlation_id=f"corr-{i}",
                      occurred_at=datetime(1969 + i, 12, 31, 23, 59, 59, i * 77_777 % 1_000_000, tzinfo=UTC))])
    return out


def test_messages_written_from_rows_are_the_events_signed_envelopes_and_headers(
        store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # The rows are written straight into messages when no tracer records publish spans, as in a host
    # without an exporter; other tests of the session install a recording one, whose spans would put
    # their own span ids into the traceparent headers (test_one_trace.py covers that path).
    monkeypatch.setattr(relay_module, "_tracing_records", lambda: False)
    stored = _varied(store)
    key = RegionKey.generate(stored[0].region)
    signer = EnvelopeSigner(key)
    producer = RecordingBatchProducer()
    after_send: list[RecordedEvent] = []
    relay = OutboxRelay(store, producer, "events", signer=signer, batch_size=5, after_send=after_send.extend,
                        extra_topics=lambda e: ["handoffs"] if e.correlation_id == "corr-3" else [])
    assert relay.publish_pending() == len(stored)
    assert after_send == stored, "after_send still sees the recorded events"
    main = [m for topic, batch in producer.sent if topic == "events" for m in batch]
    assert [k for k, _, _ in main] == [e.stream_id.encode() for e in stored]
    for (_, value, headers), event in zip(main, stored, strict=True):
        assert value == signer.sign(event), "the same signed envelope bytes"
        assert headers == event_headers(event, event.trace)
        received = parse_envelope(value)
        assert received.event == event
        assert envelope_problem(received, KeyDirectory(None, own=key)) is None
    extra = [m for topic, batch in producer.sent if topic == "handoffs" for m in batch]
    assert [parse_envelope(v).event.correlation_id for _, v, _ in extra] == ["corr-3"]


def test_a_batch_signed_on_the_signing_threads_keeps_each_signature_with_its_envelope(store: EventStore) -> None:
    # 130 events in batches of 100: the first batch is signed in parts on other threads (signing.py).
    stored = store.append(unique_id(), "t", 0, [new_event(f"event {i}") for i in range(130)])
    signer = EnvelopeSigner(RegionKey.generate(stored[0].region))
    producer = RecordingBatchProducer()
    assert OutboxRelay(store, producer, "events", signer=signer, batch_size=100).publish_pending() == 130
    assert [len(batch) for _, batch in producer.sent] == [100, 30]
    assert [value for _, batch in producer.sent for _, value, _ in batch] == [signer.sign(e) for e in stored]


def test_with_a_recording_tracer_only_the_traceparent_changes_to_the_publish_span(
        store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # Hosts run with a recording tracer: the traced messages are written from the rows and signed on the
    # signing threads like the untraced ones, and carry their publish span's context (relay_trace.py).
    stored = _varied(store) + store.append(unique_id(), "t", 0, [
        new_event(f"event {i}", trace=TraceContext(f"00-{'e' * 32}-{i + 1:016x}-01")) for i in range(70)])
    key = RegionKey.generate(stored[0].region)
    signer = EnvelopeSigner(key)

    def publish(name: str, traced: bool) -> list[Any]:
        monkeypatch.setattr(relay_module, "_tracing_records", lambda: traced)
        producer = RecordingBatchProducer()
        relay = OutboxRelay(store, producer, "events", name=name, signer=signer, batch_size=100,
                            extra_topics=lambda e: ["handoffs"] if e.correlation_id == "corr-3" else [])
        assert relay.publish_pending() == len(stored)
        relay.publish_again(stored[:4])  # a resend: the same messages, from the events
        return [(topic, m) for topic, batch in producer.sent for m in batch]

    memory = memory_tracing().memory
    assert memory is not None
    plain, traced = publish("plain", False), publish("traced", True)
    spans = {s.context.span_id: s for s in memory.get_finished_spans()}
    by_id = {e.event_id: e for e in stored}
    assert [topic for topic, _ in traced] == [topic for topic, _ in plain]
    assert len(traced) == len(stored) + 1 + 4 + 1, "the extra topic's and the resend's messages too"
    for (_, (key_bytes, value, headers)), (_, untraced) in zip(traced, plain, strict=True):
        event = by_id[dict(headers)["tongban-event-id"].decode()]
        assert (key_bytes, value) == untraced[:2], "the same key and signed envelope"
        assert envelope_problem(parse_envelope(value), KeyDirectory(None, own=key)) is None
        others = [h for h in headers if h[0] != "traceparent"]
        assert others == [h for h in untraced[2] if h[0] != "traceparent"], "every other header, tracestate kept"
        if not event.trace.traceparent:
            assert headers == untraced[2] == event_headers(event, event.trace)
            continue
        _, trace_id, span_id, flags = dict(headers)["traceparent"].decode().split("-")
        _, stored_trace_id, stored_span_id, _ = event.trace.traceparent.split("-")
        assert (trace_id, flags) == (stored_trace_id, "01"), "the journey's trace goes on"
        span = spans[int(span_id, 16)]
        assert (span.name, span.kind) == (f"publish {event.type}", SpanKind.PRODUCER)
        assert span.parent is not None and span.parent.span_id == int(stored_span_id, 16)
        assert span.context.trace_id == int(stored_trace_id, 16)
        assert span.attributes == {"messaging.destination.name": "events", "tongban.event_id": event.event_id}
