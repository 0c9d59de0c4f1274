"""The decider's work on one claims-topic message, without a broker: the input it holds, the
person's new record and the decisions (step 2 of the flow in the package docstring), and the
expiry inputs the timer puts on the claims topic (step 3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry import trace

from services.common.consumer import CorruptEnvelope, Headers, decode
from services.common.events import TraceContext
from services.common.registry.adapters import NotAClaim, claim_message, decision_to_proto, instant, timestamp
from services.common.registry.domain import (
    DEFAULT_RELEASE_WAIT,
    ExpiryCheck,
    PersonRecord,
    RegistryDecision,
    RegistryInput,
    decide,
    next_due,
    record_from_json,
    record_to_json,
)
from services.common.registry.worker.forwarder import Outgoing
from services.common.registry.worker.trust import WorkerTrust
from services.common.telemetry import (
    context_from_trace,
    current_trace_context,
    kafka_headers,
    trace_from_kafka_headers,
    tracer,
)
from services.common.trust.signing import DECISION_PURPOSE, HEADER_SIGNATURE, INPUT_PURPOSE, header
from tongban.registry.v1 import worker_pb2

HEADER_DECISION_ID = "tongban-decision-id"


def expiry_input(citizen_id: str, claim_key: str, *, now: datetime, trust: WorkerTrust | None = None) -> Outgoing:
    value = worker_pb2.RegistryInput(
        expiry_due=worker_pb2.ExpiryDue(citizen_id=citizen_id, claim_id=claim_key), received_at=timestamp(now)
    ).SerializeToString()
    # Signed: a forged expiry check on the claims topic would release a live hold.
    return Outgoing(citizen_id.encode(), value, trust.sign(INPUT_PURPOSE, value) if trust is not None else [])


@dataclass(frozen=True)
class Taken:
    record: dict[str, Any] | None  # the person's new record (JSON); None when it did not change
    decisions: tuple[RegistryDecision, ...]
    note: str = ""
    due: datetime | None = None  # when the new record needs the timer (domain.next_due)


def take(current: Mapping[str, Any] | None, key: bytes, raw: bytes, headers: Headers, *,
         claim_ttl: timedelta, release_wait: timedelta = DEFAULT_RELEASE_WAIT,
         trust: WorkerTrust | None = None) -> Taken:
    """Decide one claims-topic message against the person's stored record; only an input the
    registry itself signed decides anything."""
    citizen_id = key.decode("utf-8", "replace")
    if trust is not None:
        problem = trust.registry_problem(INPUT_PURPOSE, raw, headers)
        if problem is not None:
            trust.refuse("the claims topic", "an input", problem, raw=raw,
                         signature=header(headers, HEADER_SIGNATURE) or b"")
            return Taken(None, (), note=f"rejected: {problem}")
    try:
        registry_input, parent = _registry_input(raw, headers)
    except (NotAClaim, CorruptEnvelope, DecodeError, ValueError, LookupError) as exc:
        return Taken(None, (), note=f"not an input: {exc}")
    with tracer("tongban.registry").start_as_current_span("registry decide", context=context_from_trace(parent),
                                                          kind=trace.SpanKind.CONSUMER) as span:
        if isinstance(registry_input, ExpiryCheck):
            message: RegistryInput = registry_input
        else:
            # The decisions carry this span's context: the claimant continues the journey from here.
            message = registry_input(current_trace_context())
        if message.citizen_id != citizen_id:
            return Taken(None, (), note=f"keyed by another person than the input names ({message.citizen_id})")
        record: PersonRecord | None = record_from_json(current) if current is not None else None
        result = decide(record, message, claim_ttl=claim_ttl, release_wait=release_wait)
        span.set_attribute("tongban.registry.decisions", len(result.decisions))
        span.set_attribute("tongban.registry.repeated", result.repeated)
        changed = result.record is not record and not result.repeated
        return Taken(record_to_json(result.record) if changed else None, result.decisions, note=result.note,
                     due=next_due(result.record))


def decision_message(decision: RegistryDecision, trust: WorkerTrust | None = None) -> Outgoing:
    """The decision as published: signed by the registry (only the registry decides)."""
    value = decision_to_proto(decision).SerializeToString(deterministic=True)
    headers = [(HEADER_DECISION_ID, decision.decision_id.encode()), *kafka_headers(decision.trace)]
    if trust is not None:
        headers += trust.sign(DECISION_PURPOSE, value)
    return Outgoing(decision.citizen_id.encode(), value, headers)


def _registry_input(
    raw: bytes, headers: Headers
) -> tuple[ExpiryCheck | Callable[[TraceContext], RegistryInput], TraceContext]:
    """The input in a claims-topic message, and the trace it continues. A claim's trace is only
    known once the decide span exists, hence a function of it."""
    wrapper = worker_pb2.RegistryInput.FromString(raw)
    at = instant(wrapper.received_at)
    which = wrapper.WhichOneof("input")
    if which == "expiry_due":
        due = wrapper.expiry_due
        return ExpiryCheck(claim_key=due.claim_id, citizen_id=due.citizen_id, at=at), TraceContext()
    if which != "claim_event":
        raise ValueError("empty registry input")
    event = decode(wrapper.claim_event)
    claim_message(event, at=at, trace=event.trace)  # validates now, before the span opens
    received = trace_from_kafka_headers(headers)
    return (lambda tc: claim_message(event, at=at, trace=tc)), (received if received.traceparent else event.trace)
