"""The proto mapping of the hand-off domain: domain events ↔ tongban.handoff.v1 messages, and the
API's Handoff view. The only module of the package that knows the wire types besides the
servicer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.events import Actor, from_micros, micros_of_timestamp, to_micros
from services.common.handoff import domain as d
from tongban.common.v1 import types_pb2
from tongban.handoff.v1 import events_pb2 as pb
from tongban.handoff.v1 import handoff_service_pb2 as api

STREAM_TYPE = "handoff.Handoff"

_KIND_TO_PB = {d.Kind.FORWARD_CASE: pb.HANDOFF_KIND_FORWARD_CASE, d.Kind.REQUEST_WORK: pb.HANDOFF_KIND_REQUEST_WORK}
_KIND_FROM_PB = {v: k for k, v in _KIND_TO_PB.items()}
_STAGE_TO_PB = {d.Stage.ACCEPTANCE: pb.HANDOFF_STAGE_ACCEPTANCE, d.Stage.ANSWER: pb.HANDOFF_STAGE_ANSWER}
_STAGE_FROM_PB = {v: k for k, v in _STAGE_TO_PB.items()}
DIRECTION_TO_PB = {d.Direction.OUTGOING: api.DIRECTION_OUTGOING, d.Direction.INCOMING: api.DIRECTION_INCOMING}
DIRECTION_FROM_PB = {v: k for k, v in DIRECTION_TO_PB.items()}
STATE_TO_PB = {d.State.PENDING: api.HANDOFF_STATE_PENDING, d.State.ACCEPTED: api.HANDOFF_STATE_ACCEPTED,
               d.State.REFUSED: api.HANDOFF_STATE_REFUSED, d.State.ANSWERED: api.HANDOFF_STATE_ANSWERED}
STATE_FROM_PB = {v: k for k, v in STATE_TO_PB.items()}

SENT = pb.HandoffSent.DESCRIPTOR.full_name
RECEIVED = pb.HandoffReceived.DESCRIPTOR.full_name
ACCEPTED = pb.HandoffAccepted.DESCRIPTOR.full_name
REFUSED = pb.HandoffRefused.DESCRIPTOR.full_name
OUTCOME = pb.HandoffOutcome.DESCRIPTOR.full_name
OUTCOME_RECEIVED = pb.HandoffOutcomeReceived.DESCRIPTOR.full_name
OVERDUE = pb.HandoffOverdue.DESCRIPTOR.full_name
# The event types that travel to the other region: what the reaction looks at.
MESSAGE_TYPES = frozenset({SENT, ACCEPTED, REFUSED, OUTCOME})
EVENT_TYPES = frozenset({SENT, RECEIVED, ACCEPTED, REFUSED, OUTCOME, OUTCOME_RECEIVED, OVERDUE})


# --- small values -------------------------------------------------------------------------------


def timestamp(instant: datetime) -> Timestamp:
    micros = to_micros(instant)
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)


def instant(ts: Timestamp) -> datetime:
    return from_micros(micros_of_timestamp(ts))


def duration(delta: timedelta) -> Duration:
    message = Duration()
    message.FromTimedelta(delta)
    return message


def attachment_of(message: Message) -> d.Attachment:
    return d.Attachment(type=message.DESCRIPTOR.full_name, data=message.SerializeToString(deterministic=True))


def _typed(a: d.Attachment | None) -> pb.TypedMessage | None:
    return None if a is None else pb.TypedMessage(type=a.type, data=a.data)


def _attachment(message: pb.TypedMessage) -> d.Attachment | None:
    return d.Attachment(type=message.type, data=message.data) if message.type else None


def _actor(message: types_pb2.Actor) -> Actor:
    return Actor.from_proto(message)


# --- domain event → proto ----------------------------------------------------------------------


def to_proto(event: d.Event) -> Message:
    match event:
        case d.HandoffSent():
            return pb.HandoffSent(
                handoff_id=event.handoff_id, kind=_KIND_TO_PB[event.kind], case_id=event.case_id,
                from_region=event.from_region, to_region=event.to_region, work=event.work,
                case_snapshot=_typed(event.case_snapshot), origin_latest_hash=event.origin_latest_hash,
                sent_at=timestamp(event.sent_at), accept_within=duration(event.accept_within),
                answer_within=duration(event.answer_within), sent_by=event.sent_by.to_proto(),
            )
        case d.HandoffReceived():
            return pb.HandoffReceived(request=to_proto(event.request), sent_event_id=event.sent_event_id,
                                      sent_event_hash=event.sent_event_hash)
        case d.HandoffAccepted():
            return pb.HandoffAccepted(
                handoff_id=event.handoff_id, kind=_KIND_TO_PB[event.kind], case_id=event.case_id,
                from_region=event.from_region, to_region=event.to_region,
                accepted_by=event.accepted_by.to_proto(), accepted_at=timestamp(event.accepted_at),
            )
        case d.HandoffRefused():
            return pb.HandoffRefused(
                handoff_id=event.handoff_id, kind=_KIND_TO_PB[event.kind], case_id=event.case_id,
                from_region=event.from_region, to_region=event.to_region, reason=event.reason,
                refused_by=event.refused_by.to_proto(), refused_at=timestamp(event.refused_at),
            )
        case d.HandoffOutcome():
            return pb.HandoffOutcome(
                handoff_id=event.handoff_id, kind=_KIND_TO_PB[event.kind], case_id=event.case_id,
                from_region=event.from_region, to_region=event.to_region, outcome=_typed(event.outcome),
                decided_by=event.decided_by.to_proto(), decided_at=timestamp(event.decided_at),
            )
        case d.HandoffOutcomeReceived():
            return pb.HandoffOutcomeReceived(outcome=to_proto(event.outcome), outcome_event_id=event.outcome_event_id,
                                             outcome_event_hash=event.outcome_event_hash)
        case d.HandoffOverdue():
            return pb.HandoffOverdue(handoff_id=event.handoff_id, stage=_STAGE_TO_PB[event.stage],
                                     due_at=timestamp(event.due_at))
    raise TypeError(f"not a hand-off event: {event!r}")


# --- proto → domain event ----------------------------------------------------------------------


def from_payload(type_name: str, payload: bytes) -> d.Event:
    """The domain event stored as (`type_name`, `payload`); ValueError for other types."""
    decoder = _DECODERS.get(type_name)
    if decoder is None:
        raise ValueError(f"{type_name!r} is not a hand-off event type")
    return decoder(payload)


def _received(payload: bytes) -> d.HandoffReceived:
    m = pb.HandoffReceived.FromString(payload)
    return d.HandoffReceived(request=_sent(m.request), sent_event_id=m.sent_event_id,
                             sent_event_hash=m.sent_event_hash)


def _accepted(payload: bytes) -> d.HandoffAccepted:
    m = pb.HandoffAccepted.FromString(payload)
    return d.HandoffAccepted(
        handoff_id=m.handoff_id, kind=_kind(m.kind), case_id=m.case_id, from_region=m.from_region,
        to_region=m.to_region, accepted_by=_actor(m.accepted_by), accepted_at=instant(m.accepted_at),
    )


def _refused(payload: bytes) -> d.HandoffRefused:
    m = pb.HandoffRefused.FromString(payload)
    return d.HandoffRefused(
        handoff_id=m.handoff_id, kind=_kind(m.kind), case_id=m.case_id, from_region=m.from_region,
        to_region=m.to_region, reason=m.reason, refused_by=_actor(m.refused_by), refused_at=instant(m.refused_at),
    )


def _outcome_received(payload: bytes) -> d.HandoffOutcomeReceived:
    m = pb.HandoffOutcomeReceived.FromString(payload)
    return d.HandoffOutcomeReceived(outcome=_outcome(m.outcome), outcome_event_id=m.outcome_event_id,
                                    outcome_event_hash=m.outcome_event_hash)


def _overdue(payload: bytes) -> d.HandoffOverdue:
    m = pb.HandoffOverdue.FromString(payload)
    return d.HandoffOverdue(handoff_id=m.handoff_id, stage=_STAGE_FROM_PB[m.stage], due_at=instant(m.due_at))


def _kind(value: int) -> d.Kind:
    try:
        return _KIND_FROM_PB[value]
    except KeyError:
        raise ValueError(f"unknown hand-off kind {value}") from None


def _sent(m: pb.HandoffSent) -> d.HandoffSent:
    return d.HandoffSent(
        handoff_id=m.handoff_id, kind=_kind(m.kind), case_id=m.case_id, from_region=m.from_region,
        to_region=m.to_region, work=m.work, case_snapshot=_attachment(m.case_snapshot),
        origin_latest_hash=m.origin_latest_hash, sent_at=instant(m.sent_at),
        accept_within=m.accept_within.ToTimedelta(), answer_within=m.answer_within.ToTimedelta(),
        sent_by=_actor(m.sent_by),
    )


def _outcome(m: pb.HandoffOutcome) -> d.HandoffOutcome:
    """An outcome message (stand-alone, or embedded in HandoffOutcomeReceived)."""
    outcome = _attachment(m.outcome)
    if outcome is None:
        raise ValueError(f"outcome of hand-off {m.handoff_id} has no type")
    return d.HandoffOutcome(
        handoff_id=m.handoff_id, kind=_kind(m.kind), case_id=m.case_id, from_region=m.from_region,
        to_region=m.to_region, outcome=outcome, decided_by=_actor(m.decided_by), decided_at=instant(m.decided_at),
    )


_DECODERS: dict[str, Callable[[bytes], d.Event]] = {
    SENT: lambda payload: _sent(pb.HandoffSent.FromString(payload)),
    RECEIVED: _received,
    ACCEPTED: _accepted,
    REFUSED: _refused,
    OUTCOME: lambda payload: _outcome(pb.HandoffOutcome.FromString(payload)),
    OUTCOME_RECEIVED: _outcome_received,
    OVERDUE: _overdue,
}


# --- routing -----------------------------------------------------------------------------------

_MESSAGES: dict[str, type[pb.HandoffSent | pb.HandoffAccepted | pb.HandoffRefused | pb.HandoffOutcome]] = {
    SENT: pb.HandoffSent, ACCEPTED: pb.HandoffAccepted, REFUSED: pb.HandoffRefused, OUTCOME: pb.HandoffOutcome}


def addressed_to(type_name: str, payload: bytes) -> str | None:
    """The region a hand-off message is addressed to, read from its wire form alone (a request to
    its receiver, a reply to the origin); None for another type or bytes that do not parse. The
    relay routes with it; the receiver still checks the whole message (domain.check_route)."""
    message_type = _MESSAGES.get(type_name)
    if message_type is None:
        return None
    try:
        message = message_type.FromString(payload)
    except DecodeError:
        return None
    return message.to_region if type_name == SENT else message.from_region


# --- the API view ----------------------------------------------------------------------------


def to_view(h: d.Handoff, now: datetime) -> api.Handoff:
    view = api.Handoff(
        handoff_id=h.handoff_id, kind=_KIND_TO_PB[h.kind], direction=DIRECTION_TO_PB[h.direction],
        state=STATE_TO_PB[h.state], case_id=h.case_id, from_region=h.from_region, to_region=h.to_region,
        work=h.work, origin_latest_hash=h.origin_latest_hash, sent_at=timestamp(h.sent_at),
        accept_by=timestamp(h.accept_by), answer_by=timestamp(h.answer_by), refusal_reason=h.refusal_reason,
        overdue=[_STAGE_TO_PB[s] for s in h.overdue_stages(now)], sent_by=h.sent_by.to_proto(),
        correlation_id=h.correlation_id, version=h.version,
    )
    if h.case_snapshot is not None:
        view.case_snapshot.CopyFrom(_typed(h.case_snapshot))
    if h.outcome is not None:
        view.outcome.CopyFrom(_typed(h.outcome))
    if h.accepted_at is not None:
        view.accepted_at.CopyFrom(timestamp(h.accepted_at))
    if h.closed_at is not None:
        view.closed_at.CopyFrom(timestamp(h.closed_at))
    if h.decided_by is not None:
        view.decided_by.CopyFrom(h.decided_by.to_proto())
    return view


def stage_name(stage: int) -> d.Stage:
    return _STAGE_FROM_PB[stage]
