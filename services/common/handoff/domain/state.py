"""The state of one side of a hand-off, folded from its stream. Only assigns: every check
happened when the event was decided (commands.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from services.common.events import Actor
from services.common.handoff.domain.events import (
    OPEN_STATES,
    STREAM_PREFIX,
    Attachment,
    Direction,
    Event,
    HandoffAccepted,
    HandoffOutcome,
    HandoffOutcomeReceived,
    HandoffOverdue,
    HandoffReceived,
    HandoffRefused,
    HandoffSent,
    Kind,
    Stage,
    State,
)


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
