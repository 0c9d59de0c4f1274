"""Deciding: the commands one side may give and what an incoming message means, each refusal
naming its rule (named, so a refusal says which one)."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.common.errors import FieldViolation, InvalidArgument
from services.common.events import Actor
from services.common.handoff.domain.events import (
    HANDOFF_ID,
    Attachment,
    Direction,
    HandoffAccepted,
    HandoffOutcome,
    HandoffOutcomeReceived,
    HandoffOverdue,
    HandoffReceived,
    HandoffRefused,
    HandoffSent,
    Kind,
    OutOfOrder,
    RejectedMessage,
    Reply,
    Stage,
    State,
    route_of,
)
from services.common.handoff.domain.state import Handoff
from services.common.identity import RegionCode
from services.common.kit.rules import Rule

# The protocol's rules (docs/cross-region.md), in the kit's shape: a refusal names the rule and
# the text it rests on, like every other refusal. A forward is 异地代收代办 / 多地联办 under the
# State Council's 跨省通办 guidance; "one owner at a time" is architecture invariant 4.
HANDOFF_BASIS = "国办发〔2020〕35号 跨省通办"


class NoHandoffToOwnRegion(Rule):
    article = HANDOFF_BASIS
    message = "a hand-off goes to another region"


class OneForwardAtATime(Rule):
    article = "Tongban invariant 4 (one owner at a time)"
    message = "the case already has a forward waiting for acceptance; one owner at a time"


class OnlyTheReceiverDecides(Rule):
    article = HANDOFF_BASIS
    message = "only the region a hand-off was sent to accepts, refuses or answers it"


class ReceiverDecidesOnce(Rule):
    article = HANDOFF_BASIS
    message = "the hand-off was already accepted or refused"


class AnswerOnlyAfterAcceptance(Rule):
    article = HANDOFF_BASIS
    message = "accept the hand-off before sending its outcome"


class OneAnswerPerHandoff(Rule):
    article = HANDOFF_BASIS
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
