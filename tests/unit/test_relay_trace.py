"""The relay's publish spans skip the W3C propagator where the plain form allows (relay_trace.py): what
they read and write must be what the propagator reads and writes, for every traceparent."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.common.events import TraceContext
from services.common.relay_trace import parent_context, trace_context_of
from services.common.telemetry import _normalised, context_from_trace, current_trace_context

TRACES = [
    (f"00-{'a' * 32}-{'b' * 16}-01", ""),
    (f"00-{'a' * 32}-{'b' * 16}-00", ""),
    (f"00-{'0123456789abcdef' * 2}-{'fedcba9876543210'}-01", "vendor=1,other=x"),
    (f"00-{'A' * 32}-{'B' * 16}-01", ""),  # uppercase: the propagator refuses it
    (f"00-{'0' * 32}-{'b' * 16}-01", ""),  # a zero trace id
    (f"00-{'a' * 32}-{'0' * 16}-01", ""),
    (f"ff-{'a' * 32}-{'b' * 16}-01", ""),
    (f"00-{'a' * 32}-{'b' * 16}-01-extra", ""),
    (f"01-{'a' * 32}-{'b' * 16}-01-extra", ""),
    (f" 00-{'a' * 32}-{'b' * 16}-01 ", ""),
    ("garbage", ""),
    (f"00-{'a' * 32}-{'b' * 16}-0_", ""),
]


@pytest.mark.parametrize(("traceparent", "tracestate"), TRACES)
def test_the_parent_is_the_one_the_propagator_reads(traceparent: str, tracestate: str) -> None:
    ours = trace.get_current_span(parent_context(traceparent, tracestate)).get_span_context()
    carrier = {"traceparent": traceparent, "tracestate": tracestate}
    theirs = trace.get_current_span(TraceContextTextMapPropagator().extract(carrier)).get_span_context()
    assert ours == theirs
    assert ours.trace_state == theirs.trace_state


@pytest.mark.parametrize(("traceparent", "tracestate"), TRACES)
def test_the_headers_are_the_ones_the_propagator_writes(traceparent: str, tracestate: str) -> None:
    context = context_from_trace(TraceContext(traceparent, tracestate))
    with trace.use_span(trace.get_current_span(context)):
        assert trace_context_of(trace.get_current_span(context).get_span_context()) == current_trace_context()


@pytest.mark.parametrize(("traceparent", "tracestate"), TRACES)
def test_a_received_trace_is_normalised_as_the_propagators_round_trip_gives_it(traceparent: str,
                                                                               tracestate: str) -> None:
    """telemetry._normalised lets the plain form through without the round trip: the same result."""
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=context_from_trace(TraceContext(traceparent, tracestate)))
    assert _normalised(traceparent, tracestate) == TraceContext(carrier.get("traceparent", ""),
                                                                carrier.get("tracestate", ""))
