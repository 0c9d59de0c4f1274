"""The relay's publish spans, made cheaply (invariant 11: one trace per journey).

Each event the relay publishes gets a PRODUCER span "publish <type>", child of the span the event was
recorded in (its stored traceparent), and the message's headers carry that publish span's context, so
the consumer continues the same trace. Hosts run with a recording tracer provider, so this is done for
every event the relay sends, and the textbook way cost ~45 µs an event on the relay's thread (a py-spy
profile of a marriage service: the relay at ~18% of the GIL, most of it here). What is left out:

- the tracer lookup per message: the tracer is looked up once per installed provider;
- the span as *current* span (`start_as_current_span`: a context attach and detach): the span is
  started with the stored parent given explicitly and ended at once;
- the propagator, both ways: a stored traceparent in the plain W3C form is read into the parent's
  SpanContext directly (telemetry.context_from_trace; anything else goes through the propagator,
  whose rules stay the rules), and the header is written from the publish span's context, as the
  propagator writes it;
- the signature inside the span: signing is the relay's business (signed on the signing threads,
  trust/signing.py), so the span no longer lasts as long as one Ed25519 signature.

The span's name, kind, attributes and parent are what they were, so a trace looks the same in the
collector; only its duration is shorter."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import Context

from services.common.events import TraceContext
from services.common.telemetry import context_from_trace

RELAY_TRACER = "tongban.relay"



class PublishSpans:
    """The publish spans of one relay (one topic)."""

    def __init__(self, topic: str) -> None:
        self._topic = topic
        self._provider: object | None = None
        self._tracer: trace.Tracer | None = None

    def tracer(self) -> trace.Tracer:
        """The relay's tracer from the provider installed now. Kept per provider rather than cached
        once for the process (telemetry.tracer): a benchmark installs a provider for one measure and
        restores the one before (bench_relay.py), and the relay must follow."""
        provider = trace.get_tracer_provider()
        if provider is not self._provider or self._tracer is None:
            self._provider, self._tracer = provider, provider.get_tracer(RELAY_TRACER)
        return self._tracer

    def publish(self, tracer: trace.Tracer, event_type: str, event_id: str,
                traceparent: str, tracestate: str) -> TraceContext:
        """Record the publish span of the event recorded in the trace context (`traceparent`,
        `tracestate`, not empty) and return the publish span's context, for the message's headers."""
        span = tracer.start_span(
            f"publish {event_type}", context=parent_context(traceparent, tracestate), kind=trace.SpanKind.PRODUCER,
            attributes={"messaging.destination.name": self._topic, "tongban.event_id": event_id})
        span.end()
        return trace_context_of(span.get_span_context())


def parent_context(traceparent: str, tracestate: str) -> Context:
    """The context whose parent is the span the stored trace context names (telemetry.context_from_trace
    reads the plain form without the propagator)."""
    return context_from_trace(TraceContext(traceparent, tracestate))


def trace_context_of(span_context: trace.SpanContext) -> TraceContext:
    """What the W3C propagator injects for a span with this context (telemetry.current_trace_context)."""
    if span_context == trace.INVALID_SPAN_CONTEXT:
        return TraceContext()
    traceparent = f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{span_context.trace_flags:02x}"
    return TraceContext(traceparent, span_context.trace_state.to_header() if span_context.trace_state else "")
