"""OpenTelemetry for every Tongban process, set up in one place (architecture invariant 8: one
trace per case journey, across gRPC metadata and Kafka headers).

Nothing happens at import. A process calls `setup_tracing(...)` once from its composition root;
code everywhere else asks `trace.get_tracer(...)` (or `tracer()`) when it needs a span, so a
tracer obtained before setup still reaches the provider installed later (OTel's proxy tracer).

OpenTelemetry lets a process install its global TracerProvider only once. Hence:
- the first `setup_tracing` call wins; later calls return the installed `Telemetry` unchanged
  (and log that they did), so a bootstrap called by many tests in one pytest process is harmless;
- tests share one in-memory provider through `memory_tracing()`, which installs it on first use
  and clears the captured spans on every call.

Propagation uses the W3C trace-context format only (traceparent/tracestate), never whatever
OTEL_PROPAGATORS names: events store exactly those two fields (invariant 2), and every hop of a
case journey, gRPC or Kafka, must speak the same format for the trace to stay whole.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.common.events import TraceContext

log = logging.getLogger(__name__)

EXPORTERS: Final = ("none", "console", "otlp", "memory")
TRACING_ENV: Final = "TONGBAN_TRACING"
OTLP_ENDPOINT_ENV: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACER_NAME: Final = "tongban"

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"

# Stateless, so building it at import is no side effect; one instance keeps every hop identical.
_W3C: Final = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class Telemetry:
    """What `setup_tracing` installed: the process-wide provider and, for the "memory" exporter,
    the exporter whose finished spans tests read."""

    service_name: str
    region: str | None
    exporter: str
    provider: TracerProvider
    memory: InMemorySpanExporter | None = None

    def tracer(self, name: str = TRACER_NAME) -> trace.Tracer:
        return self.provider.get_tracer(name)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and stop exporting; call once when the process ends (never on the shared test
        provider: it cannot be replaced afterwards)."""
        self.provider.shutdown()


_lock = threading.Lock()
_installed: Telemetry | None = None


def setup_tracing(
    service_name: str,
    *,
    region: str | None = None,
    exporter: str | None = None,
    otlp_endpoint: str | None = None,
) -> Telemetry:
    """Install the process-wide TracerProvider and return it.

    `exporter` is one of "none", "console", "otlp", "memory"; when not given, the environment
    variable TONGBAN_TRACING chooses, else "none". "none" still installs a real SDK provider so
    spans get trace ids and the trace context reaches events and Kafka; it only exports nothing.
    The OTLP endpoint is `otlp_endpoint`, else OTEL_EXPORTER_OTLP_ENDPOINT, else the exporter's
    own default (localhost:4317).

    Only the first call in a process installs anything (OpenTelemetry's rule); later calls return
    what the first one installed."""
    kind = _exporter_kind(exporter)
    global _installed
    with _lock:
        if _installed is not None:
            if (_installed.service_name, _installed.exporter) != (service_name, kind):
                log.info(
                    "tracing already set up for %s with exporter %r; keeping it (wanted %s, %r)",
                    _installed.service_name,
                    _installed.exporter,
                    service_name,
                    kind,
                )
            return _installed
        telemetry = _build(service_name, region, kind, otlp_endpoint)
        trace.set_tracer_provider(telemetry.provider)
        if trace.get_tracer_provider() is not telemetry.provider:
            # Something outside this module installed a provider first; ours would never see a
            # span, and silently losing every trace is worse than failing the bootstrap.
            raise RuntimeError(
                "another TracerProvider was installed before setup_tracing(); "
                "install tracing only through services.common.telemetry"
            )
        _installed = telemetry
        return telemetry


def memory_tracing(service_name: str = "tongban-tests") -> Telemetry:
    """The in-memory provider tests share in one process: installed on first use, its captured
    spans cleared on every call. Returns the Telemetry; its `.memory` holds the spans.

    If something already set tracing up with another exporter (a bootstrap run by an earlier
    test), an in-memory exporter is added to that provider instead, so the order in which a
    pytest process runs its tests does not matter."""
    global _installed
    telemetry = setup_tracing(service_name, exporter="memory")
    with _lock:
        memory = telemetry.memory
        if memory is None:
            memory = InMemorySpanExporter()
            telemetry.provider.add_span_processor(SimpleSpanProcessor(memory))
            telemetry = _installed = dataclasses.replace(telemetry, memory=memory)
    memory.clear()
    return telemetry


def tracer(name: str = TRACER_NAME) -> trace.Tracer:
    """The tracer `name` of the global provider, looked up once per name: asking the provider costs
    more than the span (6 µs against 14), and hot paths (each RPC, each decision, each consumed
    message) start one every time. One obtained before setup is OTel's proxy tracer, which follows
    the provider installed later (and a process installs only one)."""
    found = _tracers.get(name)
    if found is None:
        found = _tracers[name] = trace.get_tracer(name)
    return found


_tracers: dict[str, trace.Tracer] = {}


def _exporter_kind(exporter: str | None) -> str:
    kind = (exporter or os.environ.get(TRACING_ENV) or "none").strip().lower()
    if kind not in EXPORTERS:
        raise ValueError(f"tracing exporter must be one of {EXPORTERS}, not {kind!r}")
    return kind


def _build(service_name: str, region: str | None, kind: str, otlp_endpoint: str | None) -> Telemetry:
    attributes: dict[str, str] = {"service.name": service_name, "service.namespace": "tongban"}
    if region:
        attributes["tongban.region"] = region
    provider = TracerProvider(resource=Resource.create(attributes))
    memory: InMemorySpanExporter | None = None
    if kind == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif kind == "memory":
        memory = InMemorySpanExporter()
        # Synchronous, so a span is readable the moment it ends: tests need no waiting.
        provider.add_span_processor(SimpleSpanProcessor(memory))
    elif kind == "otlp":
        # Imported here: the OTLP exporter pulls in a gRPC channel stack no other mode needs.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint or os.environ.get(OTLP_ENDPOINT_ENV) or None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return Telemetry(service_name=service_name, region=region, exporter=kind, provider=provider, memory=memory)


# --- W3C trace context ---------------------------------------------------------------------


def current_trace_context() -> TraceContext:
    """The traceparent/tracestate of the current span, to store in an event; empty when there
    is no valid span."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return TraceContext(carrier.get(TRACEPARENT, ""), carrier.get(TRACESTATE, ""))


# The traceparent every Tongban process writes: version 00, lowercase hex, nothing after the flags.
_PLAIN_TRACEPARENT: Final = re.compile("00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


def _plain(traceparent: str, tracestate: str) -> re.Match[str] | None:
    """The parts of a traceparent in the plain form with valid ids and no tracestate, which the
    propagator reads and writes back unchanged; None for anything else (the propagator's then)."""
    if tracestate:
        return None
    plain = _PLAIN_TRACEPARENT.fullmatch(traceparent)
    return plain if plain is not None and plain[1] != _ZERO_TRACE and plain[2] != _ZERO_SPAN else None


def context_from_trace(tc: TraceContext, context: Context | None = None) -> Context:
    """A Context whose parent span is the one `tc` names (based on `context`, else an empty
    one), for continuing a trace recorded in an event or received on Kafka. An empty or invalid
    `tc` gives the base context unchanged, so the work starts a new trace."""
    # The plain form read directly: the propagator's parsing was a third of this, and every
    # consumed message and published event asks for it.
    plain = _plain(tc.traceparent, tc.tracestate) if context is None else None
    if plain is not None:
        parent = trace.SpanContext(int(plain[1], 16), int(plain[2], 16), True, trace.TraceFlags(int(plain[3], 16)))
        return trace.set_span_in_context(trace.NonRecordingSpan(parent), Context())
    carrier = {TRACEPARENT: tc.traceparent, TRACESTATE: tc.tracestate}
    return _W3C.extract(carrier, context=context)


def _normalised(traceparent: str, tracestate: str) -> TraceContext:
    # Round-trip through the propagator: what it cannot parse becomes empty, so an event never
    # stores (and a consumer never forwards) a malformed traceparent. The plain form with valid ids
    # and no tracestate comes back unchanged, so it is let through as it is: the round trip was a
    # tenth of a registry decision's CPU (tests/unit/test_relay_trace.py holds the two to each other).
    if _plain(traceparent, tracestate) is not None:
        return TraceContext(traceparent, "")
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=context_from_trace(TraceContext(traceparent, tracestate)))
    return TraceContext(carrier.get(TRACEPARENT, ""), carrier.get(TRACESTATE, ""))


KafkaHeaders = Mapping[str, bytes | str | None] | Iterable[tuple[str, bytes | str | None]]


def kafka_headers(tc: TraceContext) -> list[tuple[str, bytes]]:
    """Kafka record headers carrying `tc` (empty fields are left out)."""
    headers: list[tuple[str, bytes]] = []
    if tc.traceparent:
        headers.append((TRACEPARENT, tc.traceparent.encode("ascii")))
        if tc.tracestate:
            headers.append((TRACESTATE, tc.tracestate.encode("ascii")))
    return headers


def trace_from_kafka_headers(headers: KafkaHeaders | None) -> TraceContext:
    """The trace context in Kafka headers as kafka-python or aiokafka hand them over (a
    sequence of (str, bytes) pairs), or as a mapping; empty when absent or malformed."""
    if not headers:
        return TraceContext()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    found: dict[str, str] = {}
    for key, value in pairs:
        name = key.lower()
        if name in (TRACEPARENT, TRACESTATE) and name not in found and value is not None:
            found[name] = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return _normalised(found.get(TRACEPARENT, ""), found.get(TRACESTATE, ""))


def grpc_metadata_inject(context: Context | None = None) -> list[tuple[str, str]]:
    """gRPC metadata carrying the current (or the given) trace context, for a client call."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=context)
    return [(key, carrier[key]) for key in (TRACEPARENT, TRACESTATE) if carrier.get(key)]


def context_from_grpc_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> Context:
    """The remote parent named by incoming gRPC metadata (an empty Context when none)."""
    carrier: dict[str, str] = {}
    for key, value in metadata or ():
        if key in (TRACEPARENT, TRACESTATE) and key not in carrier and isinstance(value, str):
            carrier[key] = value
    return _W3C.extract(carrier)


def grpc_span_name(method: str) -> str:
    """ "/pkg.Service/Method" → "pkg.Service/Method", the span name OTel's RPC conventions use."""
    return method.lstrip("/")


def grpc_rpc_attributes(method: str) -> dict[str, str]:
    service, _, name = grpc_span_name(method).rpartition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


# --- gRPC client interceptor -----------------------------------------------------------------


class _CallDetails(
    collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
    ),
    grpc.ClientCallDetails,
):
    """grpc.ClientCallDetails is abstract; grpc's own interceptor examples use this shape."""


class TracingClientInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Runs each outgoing call in a CLIENT span and sends that span's W3C context in the call's
    metadata, so the server's span joins the caller's trace.

    Use: `grpc.intercept_channel(grpc.insecure_channel(target), TracingClientInterceptor())`."""

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return self._intercept(continuation, details, request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return self._intercept(continuation, details, request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, request_iterator: Iterator[Any]
    ) -> Any:
        return self._intercept(continuation, details, request_iterator)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, request_iterator: Iterator[Any]
    ) -> Any:
        return self._intercept(continuation, details, request_iterator)

    def _intercept(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        span = tracer().start_span(grpc_span_name(method), kind=SpanKind.CLIENT, attributes=grpc_rpc_attributes(method))
        span_context = trace.set_span_in_context(span)
        metadata = [
            *_without_trace_keys(details.metadata),
            *grpc_metadata_inject(span_context),
        ]
        new_details = _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )
        token = otel_context.attach(span_context)
        try:
            call = continuation(new_details, request)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise
        finally:
            otel_context.detach(token)
        # The call object is also a grpc.Future (blocking calls come back already done): end the
        # span when the RPC finishes, however the caller consumes it.
        call.add_done_callback(lambda done: _end_client_span(span, done))
        return call


def _without_trace_keys(metadata: Sequence[tuple[str, Any]] | None) -> list[tuple[str, Any]]:
    # A caller's own traceparent would make the server see two; the span's is the right one.
    return [(k, v) for k, v in (metadata or ()) if k not in (TRACEPARENT, TRACESTATE)]


def _end_client_span(span: trace.Span, call: Any) -> None:
    try:
        code = call.code()
    except Exception:  # a cancelled future may refuse to say; the span must still end
        code = None
    if isinstance(code, grpc.StatusCode):
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code is not grpc.StatusCode.OK:
            span.set_status(Status(StatusCode.ERROR, code.name))
    span.end()
