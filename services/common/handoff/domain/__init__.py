"""The hand-off protocol as pure code: what each side records, and the rules that refuse a command
or reject a message. No I/O, no clock, no ids made here: callers pass times and ids in, so
folding the same events always gives the same state (style: decide in the command, assign in the
fold).

One hand-off has two sides, each a stream "handoff-<id>" in its own region's store:

    origin (OUTGOING)                          receiver (INCOMING)
    HandoffSent        ── message ─────────▶   HandoffReceived
    HandoffAccepted    ◀── message (mirror) ─  HandoffAccepted    or
    HandoffRefused     ◀── message (mirror) ─  HandoffRefused
    HandoffOutcomeReceived ◀── message ─────   HandoffOutcome
    HandoffOverdue (local, either side, when a limit passes with the stage open)

A message is addressed by its payload: HandoffSent to `to_region`, the receiver's replies to
`from_region`. The declared sender (from_region of HandoffSent, to_region of a reply) must be the
region whose store published it; anything else is rejected and nothing is recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.common.errors import FieldViolation, InvalidArgument, RuleViolation, TongbanError
from services.common.events import Actor
from services.common.identity import RegionCode

HANDOFF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
STREAM_PREFIX = "handoff-"


class Kind(StrEnum):
    FORWARD_CASE = "forward_case"  # 异地代收代办: the case moves to the receiver on acceptance
    REQUEST_WORK = "request_work"  # 多地联办: part of the work; the case stays with the origin


class Direction(StrEnum):
    OUTGOING = "outgoing"  # this region is the origin
    INCOMING = "incoming"  # this region is the receiver


class State(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    ANSWERED = "answered"


OPEN_STATES = (State.PENDING, State.ACCEPTED)


class Stage(StrEnum):
    ACCEPTANCE = "acceptance"
    ANSWER = "answer"


class RejectedMessage(TongbanError):
    """A hand-off message this region must not act on (forged sender, wrong counterpart, a reply
    contradicting what is recorded). The reaction records nothing for it."""


class OutOfOrder(TongbanError):
    """A reply that needs an earlier one not recorded yet (an outcome before the acceptance).
    Replies of one hand-off share a Kafka key, so this means a delivery bug: nothing is recorded,
    and a later redelivery (relay republish) still finds the message unprocessed."""


@dataclass(frozen=True)
class Attachment:
    """A protobuf message as its full type name and bytes (a case snapshot, an outcome)."""

    type: str
    data: bytes


# --- events (the domain's view; the proto mapping is in adapters.py) -------------------------


@dataclass(frozen=True)
class HandoffSent:
    handoff_id: str
    kind: Kind
    case_id: str
    from_region: str
    to_region: str
    work: str
    case_snapshot: Attachment | None
    origin_latest_hash: bytes
    sent_at: datetime
    accept_within: timedelta
    answer_within: timedelta
    sent_by: Actor


@dataclass(frozen=True)
class HandoffReceived:
    request: HandoffSent
    sent_event_id: str
    sent_event_hash: bytes


@dataclass(frozen=True)
class HandoffAccepted:
    handoff_id: str
    kind: Kind
    case_id: str
    from_region: str
    to_region: str
    accepted_by: Actor
    accepted_at: datetime


@dataclass(frozen=True)
class HandoffRefused:
    handoff_id: str
    kind: Kind
    case_id: str
    from_region: str
    to_region: str
    reason: str
    refused_by: Actor
    refused_at: datetime


@dataclass(frozen=True)
class HandoffOutcome:
    handoff_id: str
    kind: Kind
    case_id: str
    from_region: str
    to_region: str
    outcome: Attachment
    decided_by: Actor
    decided_at: datetime


@dataclass(frozen=True)
class HandoffOutcomeReceived:
    outcome: HandoffOutcome
    outcome_event_id: str
    outcome_event_hash: bytes


@dataclass(frozen=True)
class HandoffOverdue:
    handoff_id: str
    stage: Stage
    due_at: datetime


Reply = HandoffAccepted | HandoffRefused | HandoffOutcome
Event = HandoffSent | HandoffReceived | HandoffAccepted | HandoffRefused | HandoffOutcome | HandoffOutcomeReceived \
    | HandoffOverdue


@dataclass(frozen=True)
class Route:
    """Who declares to send a message and to whom it is addressed."""

    sender: str
    addressee: str


def route_of(message: HandoffSent | Reply) -> Route:
    if isinstance(message, HandoffSent):
        return Route(sender=message.from_region, addressee=message.to_region)
    return Route(sender=message.to_region, addressee=message.from_region)


# --- the state of one side -------------------------------------------------------------------


@dataclass(frozen=True)
class Handoff:
    """One side of a hand-off, folded from its stream in this region's store."""

    handoff_id: str
    direction: Direction
    kind: Kind
    case_id: str
    from_region: str
    to_region: str
    work: str
    case_snapshot: Attachment | None
    origin_latest_hash: bytes
    sent_at: datetime
    accept_by: datetime
    answer_by: datetime
    sent_by: Actor
    correlation_id: str
    state: State = State.PENDING
    accepted_at: datetime | None = None
    closed_at: datetime | None = None
    refusal_reason: str = ""
    outcome: Attachment | None = None
    decided_by: Actor | None = None
    recorded_overdue: frozenset[Stage] = field(default_factory=frozenset)
    version: int = 0

    @property
    def stream_id(self) -> str:
        return stream_id(self.handoff_id)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def counterpart(self) -> str:
        return self.to_region if self.direction is Direction.OUTGOING else self.from_region

    def due_at(self, stage: Stage) -> datetime:
        return self.accept_by if stage is Stage.ACCEPTANCE else self.answer_by

    def stage_open(self, stage: Stage) -> bool:
        """Whether the work `stage` limits is still to be done."""
        if stage is Stage.ACCEPTANCE:
            return self.state is State.PENDING
        return self.is_open

    def overdue_stages(self, now: datetime) -> tuple[Stage, ...]:
        """The open stages past their limit: recorded as HandoffOverdue, or past it by `now`
        (the scheduler may not have fired yet). Nothing is overdue once closed."""
        return tuple(
            stage for stage in Stage
            if self.stage_open(stage) and (stage in self.recorded_overdue or now >= self.due_at(stage))
        )


def stream_id(handoff_id: str) -> str:
    return f"{STREAM_PREFIX}{handoff_id}"


def fold(events: list[tuple[Event, str]]) -> Handoff | None:
    """The state of one side from its events in version order, each with its correlation id."""
    state: Handoff | None = None
    for event, correlation_id in events:
        state = evolve(state, event, correlation_id)
    return state


def evolve(state: Handoff | None, event: Event, correlation_id: str = "") -> Handoff:
    """Apply one event. Only assigns: every check happened when the event was decided."""
    if isinstance(event, HandoffSent | HandoffReceived):
        if state is not None:
            raise ValueError("a hand-off stream starts with HandoffSent or HandoffReceived, once")
        sent = event if isinstance(event, HandoffSent) else event.request
        return Handoff(
            handoff_id=sent.handoff_id,
            direction=Direction.OUTGOING if isinstance(event, HandoffSent) else Direction.INCOMING,
            kind=sent.kind, case_id=sent.case_id, from_region=sent.from_region, to_region=sent.to_region,
            work=sent.work, case_snapshot=sent.case_snapshot, origin_latest_hash=sent.origin_latest_hash,
            sent_at=sent.sent_at, accept_by=sent.sent_at + sent.accept_within,
            answer_by=sent.sent_at + sent.answer_within, sent_by=sent.sent_by,
            correlation_id=correlation_id, version=1,
        )
    if state is None:
        raise ValueError(f"{type(event).__name__} before the hand-off was sent or received")
    version = state.version + 1
    match event:
        case HandoffAccepted():
            return replace(state, state=State.ACCEPTED, accepted_at=event.accepted_at,
                           decided_by=event.accepted_by, version=version)
        case HandoffRefused():
            return replace(state, state=State.REFUSED, closed_at=event.refused_at, refusal_reason=event.reason,
                           decided_by=event.refused_by, version=version)
        case HandoffOutcome():
            return _answered(state, event, version)
        case HandoffOutcomeReceived():
            return _answered(state, event.outcome, version)
        case HandoffOverdue():
            return replace(state, recorded_overdue=state.recorded_overdue | {event.stage}, version=version)
    raise TypeError(f"not a hand-off event: {event!r}")


def _answered(state: Handoff, outcome: HandoffOutcome, version: int) -> Handoff:
    return replace(state, state=State.ANSWERED, closed_at=outcome.decided_at, outcome=outcome.outcome,
                   decided_by=outcome.decided_by, version=version)


# --- rules (named, so a refusal says which one) ---------------------------------------------


class Rule:
    name: str = ""
    message: str = ""

    def violation(self, detail: str = "") -> RuleViolation:
        return RuleViolation(self.name, f"{self.message}{': ' + detail if detail else ''}")


class NoHandoffToOwnRegion(Rule):
    name = "NoHandoffToOwnRegion"
    message = "a hand-off goes to another region"


class OneForwardAtATime(Rule):
    name = "OneForwardAtATime"
    message = "the case already has a forward waiting for acceptance; one owner at a time"


class OnlyTheReceiverDecides(Rule):
    name = "OnlyTheReceiverDecides"
    message = "only the region a hand-off was sent to accepts, refuses or answers it"


class ReceiverDecidesOnce(Rule):
    name = "ReceiverDecidesOnce"
    message = "the hand-off was already accepted or refused"


class AnswerOnlyAfterAcceptance(Rule):
    name = "AnswerOnlyAfterAcceptance"
    message = "accept the hand-off before sending its outcome"


class OneAnswerPerHandoff(Rule):
    name = "OneAnswerPerHandoff"
    message = "the hand-off was already answered"


# --- deciding commands ------------------------------------------------------------------------


def send(
    *, handoff_id: str, kind: Kind, case_id: str, from_region: str, to_region: str, work: str,
    case_snapshot: Attachment | None, origin_latest_hash: bytes, sent_at: datetime,
    accept_within: timedelta, answer_within: timedelta, sent_by: Actor,
) -> HandoffSent:
    """The origin sends a hand-off. (That the origin owns the case, and that no other forward of
    it is pending, is checked by the caller against its tables.)"""
    check_send_fields(handoff_id=handoff_id, kind=kind, case_id=case_id, to_region=to_region, work=work,
                      accept_within=accept_within, answer_within=answer_within)
    if to_region == from_region:
        raise NoHandoffToOwnRegion().violation(f"{to_region} is this region")
    return HandoffSent(
        handoff_id=handoff_id, kind=kind, case_id=case_id, from_region=from_region, to_region=to_region,
        work=work, case_snapshot=case_snapshot, origin_latest_hash=origin_latest_hash, sent_at=sent_at,
        accept_within=accept_within, answer_within=answer_within, sent_by=sent_by,
    )


def check_send_fields(*, handoff_id: str, kind: Kind, case_id: str, to_region: str, work: str,
                      accept_within: timedelta, answer_within: timedelta) -> None:
    """InvalidArgument naming every field of a hand-off request that can never be valid. Runs
    before any rule or ownership check (invariant 7: bad input is told as such first)."""
    violations: list[FieldViolation] = []
    if not HANDOFF_ID.match(handoff_id):
        violations.append(FieldViolation("handoff_id", "1 to 100 characters: letters, digits, '.', '_', '-'"))
    if not case_id:
        violations.append(FieldViolation("case_id", "must not be empty"))
    try:
        RegionCode.parse(to_region, "to_region")
    except InvalidArgument as bad:
        violations.extend(bad.violations)
    if kind is Kind.REQUEST_WORK and not work.strip():
        violations.append(FieldViolation("work", "say what is asked of the other region"))
    if accept_within <= timedelta(0):
        violations.append(FieldViolation("accept_within", "must be a positive duration"))
    if answer_within < accept_within:
        violations.append(FieldViolation("answer_within", "must be at least accept_within"))
    if violations:
        raise InvalidArgument(violations)


def _receiver_may_decide(handoff: Handoff) -> None:
    if handoff.direction is not Direction.INCOMING:
        raise OnlyTheReceiverDecides().violation(f"{handoff.handoff_id} was sent by this region")
    if handoff.state is not State.PENDING:
        raise ReceiverDecidesOnce().violation(f"{handoff.handoff_id} is {handoff.state}")


def accept(handoff: Handoff, *, actor: Actor, at: datetime) -> HandoffAccepted:
    _receiver_may_decide(handoff)
    return HandoffAccepted(
        handoff_id=handoff.handoff_id, kind=handoff.kind, case_id=handoff.case_id,
        from_region=handoff.from_region, to_region=handoff.to_region, accepted_by=actor, accepted_at=at,
    )


def refuse(handoff: Handoff, *, reason: str, actor: Actor, at: datetime) -> HandoffRefused:
    if not reason.strip():
        raise InvalidArgument.single("reason", "a refusal gives its reason to the origin region")
    _receiver_may_decide(handoff)
    return HandoffRefused(
        handoff_id=handoff.handoff_id, kind=handoff.kind, case_id=handoff.case_id,
        from_region=handoff.from_region, to_region=handoff.to_region, reason=reason.strip(),
        refused_by=actor, refused_at=at,
    )


def complete(handoff: Handoff, *, outcome: Attachment, actor: Actor, at: datetime) -> HandoffOutcome:
    if handoff.direction is not Direction.INCOMING:
        raise OnlyTheReceiverDecides().violation(f"{handoff.handoff_id} was sent by this region")
    if handoff.state is State.ANSWERED:
        raise OneAnswerPerHandoff().violation(handoff.handoff_id)
    if handoff.state is not State.ACCEPTED:
        raise AnswerOnlyAfterAcceptance().violation(f"{handoff.handoff_id} is {handoff.state}")
    return HandoffOutcome(
        handoff_id=handoff.handoff_id, kind=handoff.kind, case_id=handoff.case_id,
        from_region=handoff.from_region, to_region=handoff.to_region, outcome=outcome,
        decided_by=actor, decided_at=at,
    )


def mark_overdue(handoff: Handoff, stage: Stage) -> HandoffOverdue | None:
    """A limit's deadline fired: recorded only if its stage is still open (an acceptance that
    raced the deadline wins quietly) and not recorded before."""
    if not handoff.stage_open(stage) or stage in handoff.recorded_overdue:
        return None
    return HandoffOverdue(handoff_id=handoff.handoff_id, stage=stage, due_at=handoff.due_at(stage))


# --- deciding what an incoming message means ---------------------------------------------------


def check_route(message: HandoffSent | Reply, *, envelope_region: str, me: str) -> bool:
    """Whether `message`, published from `envelope_region`'s store, is for this region `me`.
    False: addressed to someone else (ignore). Raises RejectedMessage when it is addressed here
    but its declared sender is not the region that published it."""
    route = route_of(message)
    if route.addressee != me or envelope_region == me:
        return False
    if route.sender != envelope_region:
        raise RejectedMessage(
            f"{type(message).__name__} of hand-off {message.handoff_id} declares sender {route.sender} "
            f"but was published by region {envelope_region}"
        )
    return True


def receive(existing: Handoff | None, sent: HandoffSent, *, sent_event_id: str,
            sent_event_hash: bytes) -> HandoffReceived | None:
    """The receiver records a request; None when it already has (a redelivery)."""
    if existing is None:
        return HandoffReceived(request=sent, sent_event_id=sent_event_id, sent_event_hash=sent_event_hash)
    if existing.direction is not Direction.INCOMING or existing.from_region != sent.from_region \
            or existing.case_id != sent.case_id:
        raise RejectedMessage(f"hand-off {sent.handoff_id} is already recorded here as a different hand-off")
    return None


def record_reply(handoff: Handoff | None, reply: Reply, *, reply_event_id: str = "",
                 reply_event_hash: bytes = b"") -> HandoffAccepted | HandoffRefused | HandoffOutcomeReceived | None:
    """The origin records the receiver's reply: the event to append, or None for a reply already
    recorded (a redelivery). Rejects a reply about a hand-off this region never sent, from a region
    it was not sent to, or contradicting what is recorded."""
    if handoff is None:
        raise RejectedMessage(f"reply about hand-off {reply.handoff_id}, which this region never sent")
    if handoff.direction is not Direction.OUTGOING:
        raise RejectedMessage(f"reply about hand-off {reply.handoff_id}, which this region received")
    if (reply.to_region, reply.case_id, reply.kind) != (handoff.to_region, handoff.case_id, handoff.kind):
        raise RejectedMessage(
            f"reply about hand-off {reply.handoff_id} names region {reply.to_region}, case {reply.case_id}; "
            f"it was sent to {handoff.to_region} for case {handoff.case_id}"
        )
    state = handoff.state
    match reply:
        case HandoffAccepted():
            if state is State.PENDING:
                return reply
            if state in (State.ACCEPTED, State.ANSWERED):
                return None
        case HandoffRefused():
            if state is State.PENDING:
                return reply
            if state is State.REFUSED:
                return None
        case HandoffOutcome():
            if state is State.ACCEPTED:
                return HandoffOutcomeReceived(outcome=reply, outcome_event_id=reply_event_id,
                                              outcome_event_hash=reply_event_hash)
            if state is State.ANSWERED:
                return None
            if state is State.PENDING:
                raise OutOfOrder(f"outcome of hand-off {reply.handoff_id} arrived before its acceptance")
    raise RejectedMessage(f"{type(reply).__name__} contradicts hand-off {reply.handoff_id}, which is {state}")
