"""Mapping between the registry's domain types and its protobuf messages (tongban.registry.v1)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from services.common.events import RecordedEvent, TraceContext, from_micros, micros_of_timestamp, to_micros
from services.common.identity import CitizenId
from services.common.registry.domain import Claimant, ClaimKind, ClaimMessage, Outcome, RegistryDecision
from tongban.common.v1 import envelope_pb2, types_pb2
from tongban.registry.v1 import registry_pb2

_KINDS: dict[ClaimKind, int] = {
    ClaimKind.LIVE_MARRIAGE: registry_pb2.CLAIM_KIND_LIVE_MARRIAGE,
    ClaimKind.DIBAO: registry_pb2.CLAIM_KIND_DIBAO,
    ClaimKind.LIVING_SUBSIDY: registry_pb2.CLAIM_KIND_LIVING_SUBSIDY,
    ClaimKind.NURSING_SUBSIDY: registry_pb2.CLAIM_KIND_NURSING_SUBSIDY,
}
_KINDS_BACK = {number: kind for kind, number in _KINDS.items()}

_OUTCOMES: dict[Outcome, int] = {
    Outcome.GRANTED: registry_pb2.DECISION_OUTCOME_GRANTED,
    Outcome.DENIED: registry_pb2.DECISION_OUTCOME_DENIED,
    Outcome.CONFIRMED: registry_pb2.DECISION_OUTCOME_CONFIRMED,
    Outcome.RELEASED: registry_pb2.DECISION_OUTCOME_RELEASED,
    Outcome.EXPIRED: registry_pb2.DECISION_OUTCOME_EXPIRED,
    Outcome.PENDING: registry_pb2.DECISION_OUTCOME_PENDING,
}
_OUTCOMES_BACK = {number: outcome for outcome, number in _OUTCOMES.items()}

CLAIM_EVENT_TYPES: dict[str, str] = {
    registry_pb2.ClaimRequested.DESCRIPTOR.full_name: "request",
    registry_pb2.ClaimConfirmed.DESCRIPTOR.full_name: "confirm",
    registry_pb2.ClaimReleased.DESCRIPTOR.full_name: "release",
}


class NotAClaim(ValueError):
    """A message the registry cannot take as a claim; the reason says why."""


def kind_to_proto(kind: ClaimKind) -> int:
    return _KINDS[ClaimKind(kind)]


def kind_from_proto(number: int) -> ClaimKind:
    try:
        return _KINDS_BACK[number]
    except KeyError:
        raise ValueError(f"unknown claim kind {number}") from None


def outcome_to_proto(outcome: str) -> int:
    return _OUTCOMES[Outcome(outcome)]


def outcome_from_proto(number: int) -> Outcome:
    try:
        return _OUTCOMES_BACK[number]
    except KeyError:
        raise ValueError(f"unknown decision outcome {number}") from None


def timestamp(instant: datetime) -> Timestamp:
    micros = to_micros(instant)
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)


def instant(ts: Timestamp) -> datetime:
    return from_micros(micros_of_timestamp(ts))


def decision_to_proto(d: RegistryDecision) -> registry_pb2.RegistryDecision:
    return registry_pb2.RegistryDecision(
        decision_id=d.decision_id, claim_id=d.claim_id, citizen_id=d.citizen_id, kind=kind_to_proto(d.kind),
        case_id=d.case_id, region=d.region, service=d.service, outcome=outcome_to_proto(d.outcome),
        holder_case_id=d.holder_case_id, holder_region=d.holder_region, holder_service=d.holder_service,
        decided_at=timestamp(d.decided_at), correlation_id=d.correlation_id,
        trace=envelope_pb2.TraceContext(traceparent=d.trace.traceparent, tracestate=d.trace.tracestate),
        release_reason=d.release_reason, released_on=date_to_proto(d.released_on),
    )


def decision_from_proto(m: registry_pb2.RegistryDecision) -> RegistryDecision:
    """Raises ValueError for a message that is not a complete decision."""
    for name in ("decision_id", "claim_id", "citizen_id", "case_id", "region", "service"):
        if not getattr(m, name):
            raise ValueError(f"decision without {name}")
    return RegistryDecision(
        decision_id=m.decision_id, claim_id=m.claim_id, citizen_id=m.citizen_id, kind=kind_from_proto(m.kind),
        case_id=m.case_id, region=m.region, service=m.service, outcome=outcome_from_proto(m.outcome),
        holder_case_id=m.holder_case_id, holder_region=m.holder_region, holder_service=m.holder_service,
        decided_at=instant(m.decided_at), correlation_id=m.correlation_id,
        trace=TraceContext(m.trace.traceparent, m.trace.tracestate),
        release_reason=m.release_reason, released_on=date_from_proto(m.released_on),
    )


def claim_message(event: RecordedEvent, *, at: datetime, trace: TraceContext) -> ClaimMessage:
    """The registry's view of a stored claim event (ClaimRequested, ClaimConfirmed, ClaimReleased).

    Raises NotAClaim for any other event, and for a claim that is malformed or whose declared
    claimant is not the region and service whose store recorded it (docs/cross-region.md: the
    envelope's region is the sender)."""
    action = CLAIM_EVENT_TYPES.get(event.type)
    if action is None:
        raise NotAClaim(f"{event.type} is not a claim event")
    message = event.message()
    assert isinstance(message, registry_pb2.ClaimRequested | registry_pb2.ClaimConfirmed | registry_pb2.ClaimReleased)
    if (message.region, message.service) != (event.region, event.service):
        raise NotAClaim(f"claim {message.claim_id} declares {message.region}/{message.service} but was recorded by "
                        f"{event.region}/{event.service}")
    if not message.claim_id or not message.case_id:
        raise NotAClaim(f"claim event {event.event_id} without claim id or case id")
    try:
        CitizenId(message.citizen_id)
        kind = kind_from_proto(message.kind)
    except ValueError as exc:
        raise NotAClaim(f"claim {message.claim_id}: {exc}") from None
    if action == "release":
        # AReleaseCountsFromItsRecording (domain.py): the hold ended when the holder's store
        # recorded the release, not when an outage let it reach the registry; never later than
        # it was taken in (a region's clock running ahead moves nothing).
        at = min(at, event.recorded_at)
    return ClaimMessage(
        action=action,  # type: ignore[arg-type]  # one of the three Action literals, by CLAIM_EVENT_TYPES
        claim_id=message.claim_id, citizen_id=message.citizen_id, kind=kind,
        claimant=Claimant(message.case_id, event.region, event.service),
        correlation_id=event.correlation_id, trace=trace, at=at,
        **_release_of(message),
    )


def _release_of(message: registry_pb2.ClaimRequested | registry_pb2.ClaimConfirmed | registry_pb2.ClaimReleased,
                ) -> dict[str, Any]:
    if not isinstance(message, registry_pb2.ClaimReleased):
        return {}
    return {"release_reason": message.release_reason, "released_on": date_from_proto(message.released_on)}


def date_to_proto(day: date | None) -> types_pb2.Date | None:
    return None if day is None else types_pb2.Date(year=day.year, month=day.month, day=day.day)


def date_from_proto(day: types_pb2.Date) -> date | None:
    return date(day.year, day.month, day.day) if day.year else None
