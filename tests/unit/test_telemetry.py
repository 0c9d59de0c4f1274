"""Trace context survives every hop a case journey takes (architecture invariant 8): stored in an
event, carried in Kafka headers, sent in gRPC metadata, and continued on the other side."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common.events import TraceContext
from services.common.telemetry import (
    context_from_grpc_metadata,
    context_from_trace,
    current_trace_context,
    grpc_metadata_inject,
    kafka_headers,
    memory_tracing,
    setup_tracing,
    trace_from_kafka_headers,
    tracer,
)

ROOT = Path(__file__).resolve().parents[2]
PARENT = TraceContext(
    traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    tracestate="tongban=640000,vendor=x",
)


def ids_of(span: trace.Span) -> str:
    """Version, trace id and span id of a traceparent; the flags vary (sampled, random)."""
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    telemetry = memory_tracing()
    assert telemetry.memory is not None
    yield telemetry.memory


def test_no_span_means_empty_trace_context(spans: InMemorySpanExporter) -> None:
    assert current_trace_context() == TraceContext()
    assert kafka_headers(TraceContext()) == []
    assert grpc_metadata_inject() == []


def test_current_trace_context_names_the_current_span(spans: InMemorySpanExporter) -> None:
    with tracer().start_as_current_span("decide") as span:
        tc = current_trace_context()
    assert tc.traceparent.startswith(ids_of(span))


def test_kafka_headers_roundtrip_continues_the_trace(spans: InMemorySpanExporter) -> None:
    with tracer().start_as_current_span("relay", context=context_from_trace(PARENT)):
        sent = current_trace_context()
    headers = kafka_headers(sent)
    assert headers == [("traceparent", sent.traceparent.encode()), ("tracestate", PARENT.tracestate.encode())]

    # kafka-python and aiokafka give a list or tuple of pairs; a mapping is taken too.
    assert trace_from_kafka_headers(headers) == sent
    assert trace_from_kafka_headers(tuple(headers)) == sent
    assert trace_from_kafka_headers(dict(headers)) == sent
    assert trace_from_kafka_headers([("other", b"x"), *headers]) == sent

    received = trace_from_kafka_headers(headers)
    with tracer().start_as_current_span("consume", context=context_from_trace(received)) as consumer:
        pass
    relay, consume = spans.get_finished_spans()
    assert consume.context.trace_id == relay.context.trace_id == int(PARENT.traceparent[3:35], 16)
    assert consume.parent is not None and consume.parent.span_id == relay.context.span_id
    assert consumer.get_span_context().trace_state.get("tongban") == "640000"


@pytest.mark.parametrize(
    "headers",
    [None, [], {}, [("traceparent", b"garbage")], {"traceparent": b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01"}],
)
def test_missing_or_malformed_kafka_headers_give_empty_context(spans: InMemorySpanExporter, headers: object) -> None:
    assert trace_from_kafka_headers(headers) == TraceContext()  # type: ignore[arg-type]


def test_grpc_metadata_roundtrip(spans: InMemorySpanExporter) -> None:
    with tracer().start_as_current_span("window", context=context_from_trace(PARENT)) as span:
        metadata = grpc_metadata_inject()
    carried = dict(metadata)
    assert carried.keys() == {"traceparent", "tracestate"}
    assert carried["traceparent"].startswith(ids_of(span))
    assert carried["tracestate"] == PARENT.tracestate
    remote = trace.get_current_span(context_from_grpc_metadata([*metadata, ("x-other", "1")]))
    assert remote.get_span_context().trace_id == span.get_span_context().trace_id
    assert remote.get_span_context().span_id == span.get_span_context().span_id
    assert remote.get_span_context().is_remote


def test_memory_exporter_captures_spans_and_is_cleared_per_call(spans: InMemorySpanExporter) -> None:
    with tracer("tongban.test").start_as_current_span("outer"), tracer().start_as_current_span("inner"):
        pass
    assert [s.name for s in spans.get_finished_spans()] == ["inner", "outer"]
    assert memory_tracing().memory is spans
    assert spans.get_finished_spans() == ()


def test_tracing_is_set_up_once_per_process(spans: InMemorySpanExporter) -> None:
    first = memory_tracing()
    again = setup_tracing("marriage", region="640000", exporter="none")
    assert again is first
    assert trace.get_tracer_provider() is first.provider


def test_unknown_exporter_is_refused(spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="exporter"):
        setup_tracing("marriage", exporter="zipkin")
    monkeypatch.setenv("TONGBAN_TRACING", "jaeger")
    with pytest.raises(ValueError, match="jaeger"):
        setup_tracing("marriage")


def test_memory_tracing_joins_a_provider_set_up_earlier() -> None:
    # The global provider is set once per process, so this order needs a process of its own.
    script = textwrap.dedent(
        """
        from services.common.telemetry import memory_tracing, setup_tracing, tracer

        installed = setup_tracing("marriage", region="640000", exporter="none")
        telemetry = memory_tracing()
        assert telemetry.provider is installed.provider
        with tracer().start_as_current_span("after"):
            pass
        assert [s.name for s in telemetry.memory.get_finished_spans()] == ["after"]
        assert memory_tracing().memory is telemetry.memory
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "TONGBAN_TRACING"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
