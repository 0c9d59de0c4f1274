"""Claiming a person: what a service records in its own store, inside its command's transaction.

A claim is the stream "registry-claim-<claim_id>" (type "registry.Claim") of the claiming store:
ClaimRequested (version 1), then ClaimConfirmed / ClaimReleased as the case goes on, and the
registry's decisions on it as RegistryDecisionRecorded (written by `decision_reaction`). The relay
publishes the claim events on the service's topic; the registry worker decides on them
(docs/cross-region.md). Nothing here talks to Kafka: no dual writes.

Claim ids are the service's to choose; a deterministic one (e.g. "<case>-<citizen>-marriage")
makes a retried command conflict instead of claiming twice. They only need to be unique within
one region's service: the registry qualifies them with region and service.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import ClassVar

from services.common.errors import FieldViolation, InvalidArgument, NotFound
from services.common.events import NewEvent, RecordedEvent
from services.common.identity import CitizenId
from services.common.kit.provenance import Provenance
from services.common.kit.rules import Rule, check
from services.common.registry.adapters import date_to_proto, kind_from_proto, kind_to_proto, outcome_from_proto
from services.common.registry.domain import ClaimKind, Outcome
from services.common.store import ANY_VERSION, NO_STREAM, StoreTransaction
from services.common.telemetry import current_trace_context
from tongban.registry.v1 import registry_pb2

STREAM_TYPE = "registry.Claim"
STREAM_PREFIX = "registry-claim-"
# So that "registry-claim-<id>" fits the events table's 200-character stream id.
MAX_CLAIM_ID = 150
MAX_CASE_ID = 150



@dataclass(frozen=True)
class RegistryClaimMustBeGranted(Rule):
    """A hold is confirmed only once the registry granted it (architecture invariant 5: the
    registry, the single writer per person, decides; a service never assumes its answer)."""

    article: ClassVar[str] = "Tongban invariant 5 (one writer per person)"
    claim_id: str
    outcome: Outcome | None

    def is_broken(self) -> bool:
        return self.outcome not in (Outcome.GRANTED, Outcome.CONFIRMED)

    @property
    def message(self) -> str:
        state = "not decided yet" if self.outcome is None else f"{self.outcome}"
        return f"registry claim {self.claim_id} is {state}; only a granted claim can be confirmed"


CLAIM_MUST_BE_GRANTED = RegistryClaimMustBeGranted.name

_REQUESTED = registry_pb2.ClaimRequested.DESCRIPTOR.full_name
_RELEASED = registry_pb2.ClaimReleased.DESCRIPTOR.full_name
_DECISION_RECORDED = registry_pb2.RegistryDecisionRecorded.DESCRIPTOR.full_name


def claim_stream_id(claim_id: str) -> str:
    return f"{STREAM_PREFIX}{claim_id}"


@dataclass(frozen=True)
class LocalClaim:
    """A claim as the claiming store knows it."""

    request: registry_pb2.ClaimRequested
    request_event: RecordedEvent
    last_outcome: Outcome | None  # of the latest decision recorded here; None before the first
    released: RecordedEvent | None  # this store's own ClaimReleased, once recorded


def request_claim(
    tx: StoreTransaction,
    *,
    claim_id: str,
    citizen_id: str,
    kind: ClaimKind,
    case_id: str,
    provenance: Provenance,
) -> RecordedEvent:
    """Ask the registry for `kind` on the person, for `case_id` of this store's region and service.

    The decision comes back later through `decision_reaction`. A claim id already used in this
    store raises ConcurrencyConflict (the first claim stands); bad input raises InvalidArgument
    naming the field, and nothing is appended."""
    citizen, kind = _validated(tx, claim_id=claim_id, citizen_id=citizen_id, kind=kind, case_id=case_id)
    message = registry_pb2.ClaimRequested(
        claim_id=claim_id, citizen_id=citizen.value, kind=kind_to_proto(kind), case_id=case_id,
        region=tx.store.region, service=tx.store.service,
    )
    event = _event(message, provenance)
    [recorded] = tx.append(claim_stream_id(claim_id), STREAM_TYPE, NO_STREAM, [event])
    return recorded


def confirm_claim(
    tx: StoreTransaction,
    *,
    claim_id: str,
    citizen_id: str,
    kind: ClaimKind,
    case_id: str,
    provenance: Provenance,
) -> RecordedEvent:
    """Confirm a granted claim (the marriage is registered, the benefit approved): the hold then
    no longer expires. Raises NotFound for a claim this store never made, and RuleViolation
    (RegistryClaimMustBeGranted) unless the latest decision recorded on it is a grant."""
    citizen, kind = _validated(tx, claim_id=claim_id, citizen_id=citizen_id, kind=kind, case_id=case_id)
    claim = _matching_claim(tx, claim_id=claim_id, citizen=citizen, kind=kind, case_id=case_id)
    check(RegistryClaimMustBeGranted(claim_id, claim.last_outcome))
    message = registry_pb2.ClaimConfirmed(
        claim_id=claim_id, citizen_id=citizen.value, kind=kind_to_proto(kind), case_id=case_id,
        region=tx.store.region, service=tx.store.service,
    )
    event = _event(message, provenance)
    [recorded] = tx.append(claim_stream_id(claim_id), STREAM_TYPE, ANY_VERSION, [event])
    return recorded


def release_claim(
    tx: StoreTransaction,
    *,
    claim_id: str,
    citizen_id: str,
    kind: ClaimKind,
    case_id: str,
    reason: str,
    provenance: Provenance,
    release_reason: str = "",
    released_on: date | None = None,
) -> RecordedEvent:
    """Give the person up for `kind` (the case was refused, withdrawn, ended: a divorce, a 低保
    termination). Allowed in any state, also before the decision arrived: the registry releases
    the hold if the claim has one and ignores the release otherwise. Releasing again returns the
    first ClaimReleased, so a retried command appends nothing."""
    citizen, kind = _validated(tx, claim_id=claim_id, citizen_id=citizen_id, kind=kind, case_id=case_id)
    if not reason.strip():
        raise InvalidArgument.single("reason", "a release must say why")
    claim = _matching_claim(tx, claim_id=claim_id, citizen=citizen, kind=kind, case_id=case_id)
    if claim.released is not None:
        return claim.released
    message = registry_pb2.ClaimReleased(
        claim_id=claim_id, citizen_id=citizen.value, kind=kind_to_proto(kind), case_id=case_id,
        region=tx.store.region, service=tx.store.service, reason=reason, release_reason=release_reason,
        released_on=date_to_proto(released_on),
    )
    event = _event(message, provenance)
    [recorded] = tx.append(claim_stream_id(claim_id), STREAM_TYPE, ANY_VERSION, [event])
    return recorded


def read_claim(tx: StoreTransaction, claim_id: str) -> LocalClaim | None:
    """The claim as this store recorded it (None if it never made it), read inside `tx` so it
    sees what the transaction itself appended."""
    events = tx.read_stream(claim_stream_id(claim_id))
    if not events or events[0].type != _REQUESTED:
        return None
    request = registry_pb2.ClaimRequested.FromString(events[0].payload)
    last_outcome: Outcome | None = None
    released: RecordedEvent | None = None
    for event in events[1:]:
        if event.type == _DECISION_RECORDED:
            decision = registry_pb2.RegistryDecisionRecorded.FromString(event.payload).decision
            last_outcome = outcome_from_proto(decision.outcome)
        elif event.type == _RELEASED and released is None:
            released = event
    return LocalClaim(request=request, request_event=events[0], last_outcome=last_outcome, released=released)


def _matching_claim(tx: StoreTransaction, *, claim_id: str, citizen: CitizenId, kind: ClaimKind,
                    case_id: str) -> LocalClaim:
    claim = read_claim(tx, claim_id)
    if claim is None:
        raise NotFound("registry claim", claim_id)
    violations = []
    if claim.request.citizen_id != citizen.value:
        violations.append(FieldViolation("citizen_id", "is not the person the claim was made on"))
    if kind_from_proto(claim.request.kind) != kind:
        violations.append(FieldViolation("kind", f"the claim was made for {kind_from_proto(claim.request.kind)}"))
    if claim.request.case_id != case_id:
        violations.append(FieldViolation("case_id", "is not the case that made the claim"))
    if violations:
        raise InvalidArgument(violations)
    return claim


def _validated(tx: StoreTransaction, *, claim_id: str, citizen_id: str, kind: ClaimKind | str,
               case_id: str) -> tuple[CitizenId, ClaimKind]:
    violations: list[FieldViolation] = []
    if not claim_id or len(claim_id) > MAX_CLAIM_ID:
        violations.append(FieldViolation("claim_id", f"must have 1 to {MAX_CLAIM_ID} characters"))
    if not case_id or len(case_id) > MAX_CASE_ID:
        violations.append(FieldViolation("case_id", f"must have 1 to {MAX_CASE_ID} characters"))
    claim_kind: ClaimKind | None = None
    try:
        claim_kind = ClaimKind(kind)
    except ValueError:
        violations.append(FieldViolation("kind", f"must be one of {', '.join(k.value for k in ClaimKind)}"))
    citizen: CitizenId | None = None
    try:
        citizen = CitizenId.parse(citizen_id, today=tx.store.clock.now().date())
    except InvalidArgument as exc:
        violations.extend(exc.violations)
    if violations:
        raise InvalidArgument(violations)
    assert citizen is not None and claim_kind is not None  # no violations means both parsed
    return citizen, claim_kind


def _event(message: registry_pb2.ClaimRequested | registry_pb2.ClaimConfirmed | registry_pb2.ClaimReleased,
           provenance: Provenance) -> NewEvent:
    # Without an explicit trace the claim joins the caller's current span (a gRPC call, a
    # consumer): the registry's decision then continues the same journey (invariant 8).
    if not provenance.trace.traceparent:
        provenance = replace(provenance, trace=current_trace_context())
    return provenance.new_event(message)
