"""A region's side of the registry's decisions: what its service does with each message of the
decisions topic.

`decision_reaction(region, service, on_decision)` is what the service's agent calls for every raw
message it reads of the registry: its region's decisions topic and the national record (the host
subscribes a handler of DECISIONS_TOPIC to both, registry/topics.py). A confirmed or released
decision on its own claim comes on both; the inbox takes it once. In one transaction of the
region's store, through its inbox (keyed by the decision id, so a decision the worker sent again
after a crash has no second effect):
- every decision it reads, whoever it is addressed to, updates the `registry_entries` read model;
- a decision addressed to this region and service is also recorded as RegistryDecisionRecorded in
  the claim's stream ("registry-claim-<claim_id>"), and `on_decision(tx, decision)` runs: the
  service's reaction (marriage registers when both persons are granted, or releases and refuses)
  commits with the record of its cause, or neither does.
An exception from `on_decision` rolls all of it back and propagates, so the host redelivers the
message later; a message that is not a decision is logged and skipped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from google.protobuf.message import DecodeError
from opentelemetry import trace

from services.common.consumer import Headers
from services.common.events import Actor, NewEvent
from services.common.registry.adapters import decision_from_proto, decision_to_proto
from services.common.registry.claims import STREAM_TYPE, claim_stream_id, read_claim
from services.common.registry.domain import RegistryDecision
from services.common.registry.projection import apply_decision
from services.common.store import ANY_VERSION, AlreadyProcessed, EventStore, StoreTransaction
from services.common.telemetry import context_from_trace, current_trace_context, trace_from_kafka_headers, tracer
from tongban.registry.v1 import registry_pb2

log = logging.getLogger(__name__)

DecisionHandler = Callable[[StoreTransaction, RegistryDecision], None]
DecisionReaction = Callable[[EventStore, bytes, Headers], bool]

INBOX_CONSUMER = "registry-decisions"
_COMPONENT = "registry"


def decision_reaction(region: str, service: str, on_decision: DecisionHandler) -> DecisionReaction:
    """The reaction of `service` in `region` to one raw message of DECISIONS_TOPIC. It returns
    True when the decision took effect, False for a redelivery or an undecodable message."""

    def react(store: EventStore, raw: bytes, headers: Headers) -> bool:
        if (store.region, store.service) != (region, service):
            raise ValueError(f"decision reaction of {region}/{service} given the store of "
                             f"{store.region}/{store.service}")
        try:
            decision = decision_from_proto(registry_pb2.RegistryDecision.FromString(raw))
        except (DecodeError, ValueError) as exc:
            log.error("%s/%s: dropping a message of the decisions topic that is no decision: %s", region, service, exc)
            return False
        received = trace_from_kafka_headers(headers) if headers else decision.trace
        parent = received if received.traceparent else decision.trace
        with tracer("tongban.registry").start_as_current_span(
                f"registry decision {decision.outcome}", context=context_from_trace(parent),
                kind=trace.SpanKind.CONSUMER) as span:
            span.set_attribute("tongban.registry.decision_id", decision.decision_id)
            span.set_attribute("tongban.registry.claim_id", decision.claim_id)
            span.set_attribute("tongban.registry.outcome", str(decision.outcome))
            try:
                store.process_once(INBOX_CONSUMER, decision.decision_id,
                                   lambda tx: _take(tx, decision, region, service, on_decision))
            except AlreadyProcessed:
                span.set_attribute("tongban.duplicate", True)
                return False
        return True

    return react


def _take(tx: StoreTransaction, decision: RegistryDecision, region: str, service: str,
          on_decision: DecisionHandler) -> None:
    apply_decision(tx, decision)
    if (decision.region, decision.service) != (region, service):
        return
    claim = read_claim(tx, decision.claim_id)
    if claim is None or (claim.request.citizen_id, claim.request.case_id) != (decision.citizen_id, decision.case_id):
        # Addressed to us, about a claim we never made: a misconfigured region using our code, or a
        # store restored without its latest claims. Recording it would attach it to nothing.
        log.error("%s/%s: decision %s is about claim %s, which this store did not make; not recorded",
                  region, service, decision.decision_id, decision.claim_id)
        return
    recorded = NewEvent.from_message(
        registry_pb2.RegistryDecisionRecorded(decision=decision_to_proto(decision)),
        event_id=str(uuid.uuid4()), actor=Actor.system(region, _COMPONENT), correlation_id=decision.correlation_id,
        occurred_at=decision.decided_at, causation_id=decision.decision_id, trace=current_trace_context(),
    )
    tx.append(claim_stream_id(decision.claim_id), STREAM_TYPE, ANY_VERSION, [recorded])
    on_decision(tx, decision)
