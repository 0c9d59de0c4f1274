"""Hand-off use cases a service calls inside its own command transaction, the queries, and the
deadline reactions. Each command loads one side, lets the domain decide, appends with the
expected version, and keeps the tables and the limit deadlines in step in the same transaction.

    with store.transaction() as tx:
        ensure_owner(tx, case_id)                 # any write command of the service
        ...
        forward_case(tx, case_id=..., to_region="510000", accept_within=..., answer_within=...,
                     actor=current_actor())

Nothing here publishes: the relay carries HandoffSent and the receiver's replies to Kafka."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from google.protobuf.message import Message

from services.common.deadlines import Deadline, DeadlineHandler, cancel_deadline, schedule_deadline
from services.common.errors import NotFound, WrongOwner
from services.common.events import Actor, RecordedEvent, TraceContext
from services.common.handoff import adapters, projections
from services.common.handoff import domain as d
from services.common.kit.provenance import Provenance
from services.common.store import NO_STREAM, EventStore, StoreTransaction
from services.common.telemetry import current_trace_context

TxOrStore = StoreTransaction | EventStore

ACCEPTANCE_DEADLINE = "handoff.acceptance_overdue"
ANSWER_DEADLINE = "handoff.answer_overdue"
_DEADLINE_STAGE = {ACCEPTANCE_DEADLINE: d.Stage.ACCEPTANCE, ANSWER_DEADLINE: d.Stage.ANSWER}
_STAGE_RULE = {d.Stage.ACCEPTANCE: "HandoffAcceptanceLimit", d.Stage.ANSWER: "HandoffAnswerLimit"}
MAX_LIST = 1000


# --- ownership ---------------------------------------------------------------------------------


def owner_of(tx_or_store: TxOrStore, case_id: str, region: str | None = None) -> str:
    """The region owning `case_id` as this store knows it: the recorded owner of a case that was
    ever handed off, else this store's own region."""
    store = _store(tx_or_store)
    if isinstance(tx_or_store, StoreTransaction):
        owner = projections.recorded_owner(tx_or_store.connection, case_id)
    else:
        with store.engine.connect() as conn:
            owner = projections.recorded_owner(conn, case_id)
    return owner or region or store.region


def ensure_owner(tx_or_store: TxOrStore, case_id: str, region: str | None = None) -> None:
    """Raise WrongOwner naming the owner unless `region` (default: the store's) owns the case.
    Every write command on a case calls it first (architecture invariant 4)."""
    region = region or _store(tx_or_store).region
    if isinstance(tx_or_store, StoreTransaction):
        # Take the store head lock now, as the command's first append would: the ownership read
        # below then cannot interleave with an acceptance being recorded (on PostgreSQL, READ
        # COMMITTED would otherwise let a check pass on an owner that is changing).
        tx_or_store.lock_head()
    owner = owner_of(tx_or_store, case_id, region)
    if owner != region:
        raise WrongOwner(case_id, owner)


    if isinstance(tx_or_store, StoreTransaction):
        # Take the store head lock now, as the command's first append would: the ownership read
        # below then cannot interleave with an acceptance being recorded (on PostgreSQL, READ
        # COMMITTED would otherwise let a check pass on an owner that is changing).
        tx_or_store.lock_head()
# --- commands ----------------------------------------------------------------------------------


def forward_case(
    tx: StoreTransaction, *, case_id: str, to_region: str, accept_within: timedelta, answer_within: timedelta,
    actor: Actor, work: str = "", case_snapshot: Message | None = None, handoff_id: str | None = None,
    case_stream_id: str | None = None, occurred_at: datetime | None = None, causation_id: str = "",
    trace: TraceContext | None = None,
) -> d.Handoff:
    """异地代收代办: send `case_id` to `to_region`, which decides it once it accepts. Until then
    this region owns the case. Rules: only the owner forwards (WrongOwner), one forward at a time
    (OneForwardAtATime)."""
    handoff_id = handoff_id or uuid.uuid4().hex
    d.check_send_fields(handoff_id=handoff_id, kind=d.Kind.FORWARD_CASE, case_id=case_id, to_region=to_region,
                        work=work, accept_within=accept_within, answer_within=answer_within)
    ensure_owner(tx, case_id)  # also serialises this check with every other writer of the store
    pending = projections.pending_forward(tx.connection, case_id)
    if pending is not None:
        raise d.OneForwardAtATime().violation(f"hand-off {pending} to be accepted or refused first")
    return _send(tx, d.Kind.FORWARD_CASE, case_id=case_id, to_region=to_region, work=work,
                 accept_within=accept_within, answer_within=answer_within, actor=actor, case_snapshot=case_snapshot,
                 handoff_id=handoff_id, case_stream_id=case_stream_id, occurred_at=occurred_at,
                 causation_id=causation_id, trace=trace)


def request_work(
    tx: StoreTransaction, *, case_id: str, to_region: str, work: str, accept_within: timedelta,
    answer_within: timedelta, actor: Actor, case_snapshot: Message | None = None, handoff_id: str | None = None,
    case_stream_id: str | None = None, occurred_at: datetime | None = None, causation_id: str = "",
    trace: TraceContext | None = None,
) -> d.Handoff:
    """多地联办: ask `to_region` for part of the work on `case_id` (e.g. "家庭经济状况核对"). The
    case stays here; only its owner asks."""
    handoff_id = handoff_id or uuid.uuid4().hex
    d.check_send_fields(handoff_id=handoff_id, kind=d.Kind.REQUEST_WORK, case_id=case_id, to_region=to_region,
                        work=work, accept_within=accept_within, answer_within=answer_within)
    ensure_owner(tx, case_id)
    return _send(tx, d.Kind.REQUEST_WORK, case_id=case_id, to_region=to_region, work=work,
                 accept_within=accept_within, answer_within=answer_within, actor=actor, case_snapshot=case_snapshot,
                 handoff_id=handoff_id, case_stream_id=case_stream_id, occurred_at=occurred_at,
                 causation_id=causation_id, trace=trace)


def _send(tx: StoreTransaction, kind: d.Kind, *, case_id: str, to_region: str, work: str, accept_within: timedelta,
          answer_within: timedelta, actor: Actor, case_snapshot: Message | None, handoff_id: str,
          case_stream_id: str | None, occurred_at: datetime | None, causation_id: str,
          trace: TraceContext | None) -> d.Handoff:
    latest = _latest_case_event(tx, case_stream_id or case_id)
    if latest is None:
        raise NotFound("case", case_id)
    at = occurred_at or tx.store.clock.now()
    sent = d.send(
        handoff_id=handoff_id, kind=kind, case_id=case_id, from_region=tx.store.region,
        to_region=to_region, work=work,
        case_snapshot=None if case_snapshot is None else adapters.attachment_of(case_snapshot),
        origin_latest_hash=latest.hash, sent_at=at, accept_within=accept_within, answer_within=answer_within,
        sent_by=actor,
    )
    return append(tx, None, sent, Provenance(
        actor=actor, correlation_id=latest.correlation_id, causation_id=causation_id or latest.event_id,
        occurred_at=at, trace=trace or current_trace_context(),
    ))


def accept_handoff(tx: StoreTransaction, handoff_id: str, *, actor: Actor, occurred_at: datetime | None = None,
                   causation_id: str = "", trace: TraceContext | None = None) -> d.Handoff:
    """The receiver takes the hand-off on; a forwarded case becomes this region's, here at once and
    at the origin when it records the acceptance. Rules: OnlyTheReceiverDecides, ReceiverDecidesOnce."""
    handoff, last = _load_for_update(tx, handoff_id)
    at = occurred_at or tx.store.clock.now()
    event = d.accept(handoff, actor=actor, at=at)
    return append(tx, handoff, event, _command(handoff, last, actor, at, causation_id, trace))


def refuse_handoff(tx: StoreTransaction, handoff_id: str, reason: str, *, actor: Actor,
                   occurred_at: datetime | None = None, causation_id: str = "",
                   trace: TraceContext | None = None) -> d.Handoff:
    """The receiver declines with a reason; the origin keeps (a forwarded) case."""
    handoff, last = _load_for_update(tx, handoff_id)
    at = occurred_at or tx.store.clock.now()
    event = d.refuse(handoff, reason=reason, actor=actor, at=at)
    return append(tx, handoff, event, _command(handoff, last, actor, at, causation_id, trace))


def complete_handoff(tx: StoreTransaction, handoff_id: str, outcome: Message, *, actor: Actor,
                     occurred_at: datetime | None = None, causation_id: str = "",
                     trace: TraceContext | None = None) -> d.Handoff:
    """The receiver's result (a decision on a forwarded case, a completed check), sent back to the
    origin. Rules: AnswerOnlyAfterAcceptance, OneAnswerPerHandoff; deciding a forwarded case is a
    write on it, so this region must own it."""
    handoff, last = _load_for_update(tx, handoff_id)
    if handoff.kind is d.Kind.FORWARD_CASE and handoff.direction is d.Direction.INCOMING:
        ensure_owner(tx, handoff.case_id)
    at = occurred_at or tx.store.clock.now()
    event = d.complete(handoff, outcome=adapters.attachment_of(outcome), actor=actor, at=at)
    return append(tx, handoff, event, _command(handoff, last, actor, at, causation_id, trace))


def _command(handoff: d.Handoff, last: RecordedEvent, actor: Actor, at: datetime, causation_id: str,
             trace: TraceContext | None) -> Provenance:
    # The decision continues the hand-off's own trace (the journey that started at the origin's
    # window), not only the clerk's call: the origin then records it in that same trace
    # (invariant 8). Without a stored context, the current call's stands in.
    journey = last.trace if last.trace.traceparent else current_trace_context()
    return Provenance(actor=actor, correlation_id=handoff.correlation_id, causation_id=causation_id or last.event_id,
                      occurred_at=at, trace=trace or journey)


def append(tx: StoreTransaction, before: d.Handoff | None, event: d.Event, provenance: Provenance) -> d.Handoff:
    """Append one hand-off event to its side's stream with the expected version, then bring the
    tables and the limit deadlines in line, all in `tx`. Returns the new state."""
    new = provenance.new_event(adapters.to_proto(event))
    after = d.evolve(before, event, provenance.correlation_id)
    [recorded] = tx.append(after.stream_id, adapters.STREAM_TYPE, before.version if before else NO_STREAM, [new])
    projections.project(tx.connection, before, after, event, recorded.recorded_at)
    _keep_deadlines(tx, after, event, recorded)
    return after


def _keep_deadlines(tx: StoreTransaction, h: d.Handoff, event: d.Event, recorded: RecordedEvent) -> None:
    """Both sides watch both limits: each sees its hand-off on its overdue list on its own."""
    who = Provenance(Actor.system(tx.store.region, "handoff"), recorded.correlation_id, recorded.event_id,
                     recorded.occurred_at, recorded.trace)
    if isinstance(event, d.HandoffSent | d.HandoffReceived):
        for stage, kind in ((d.Stage.ACCEPTANCE, ACCEPTANCE_DEADLINE), (d.Stage.ANSWER, ANSWER_DEADLINE)):
            schedule_deadline(tx, deadline_id=_deadline_id(h.handoff_id, stage), kind=kind,
                              case_stream_id=h.stream_id, due_at=h.due_at(stage), rule=_STAGE_RULE[stage],
                              provenance=who)
        return
    closes: tuple[d.Stage, ...] = ()
    if isinstance(event, d.HandoffAccepted):
        closes = (d.Stage.ACCEPTANCE,)
    elif isinstance(event, d.HandoffRefused | d.HandoffOutcome | d.HandoffOutcomeReceived):
        closes = (d.Stage.ACCEPTANCE, d.Stage.ANSWER)
    for stage in closes:
        # Returns None for a deadline that already fired (or was cancelled): nothing to undo.
        cancel_deadline(tx, _deadline_id(h.handoff_id, stage), f"{type(event).__name__} recorded", provenance=who)


def _deadline_id(handoff_id: str, stage: d.Stage) -> str:
    return f"{handoff_id}.{stage.value}"


# --- deadline reactions -----------------------------------------------------------------------


def when_limit_passes_mark_overdue(tx: StoreTransaction, deadline: Deadline) -> None:
    """Deadline handler for both limits: record HandoffOverdue if the stage is still open."""
    stage = _DEADLINE_STAGE[deadline.kind]
    handoff_id = deadline.case_stream_id.removeprefix(d.STREAM_PREFIX)
    handoff, _ = _load_for_update(tx, handoff_id)
    event = d.mark_overdue(handoff, stage)
    if event is None:
        return
    append(tx, handoff, event, Provenance(
        actor=Actor.system(tx.store.region, "handoff"), correlation_id=deadline.correlation_id,
        causation_id=deadline.fired_event_id, occurred_at=deadline.fired_at or tx.store.clock.now(),
        trace=deadline.trace,
    ))


DEADLINE_HANDLERS: dict[str, DeadlineHandler] = {
    ACCEPTANCE_DEADLINE: when_limit_passes_mark_overdue,
    ANSWER_DEADLINE: when_limit_passes_mark_overdue,
}


# --- loading and queries ------------------------------------------------------------------------


def load(tx_or_store: TxOrStore, handoff_id: str) -> tuple[d.Handoff, RecordedEvent] | None:
    """This store's side of a hand-off and its latest event, or None."""
    recorded = tx_or_store.read_stream(d.stream_id(handoff_id))
    if not recorded:
        return None
    state = d.fold([(adapters.from_payload(e.type, e.payload), e.correlation_id) for e in recorded])
    assert state is not None
    return state, recorded[-1]


def _load_for_update(tx: StoreTransaction, handoff_id: str) -> tuple[d.Handoff, RecordedEvent]:
    loaded = load(tx, handoff_id)
    if loaded is None:
        raise NotFound("hand-off", handoff_id)
    return loaded


def get_handoff(tx_or_store: TxOrStore, handoff_id: str) -> d.Handoff:
    loaded = load(tx_or_store, handoff_id)
    if loaded is None:
        raise NotFound("hand-off", handoff_id)
    return loaded[0]


def list_handoffs(store: EventStore, direction: d.Direction | None = None,
                  state: d.State | Iterable[d.State] | None = None, *, limit: int = 100) -> list[d.Handoff]:
    """This region's hand-offs, newest first; `direction` and `state` narrow the list."""
    states = [state] if isinstance(state, d.State) else (None if state is None else list(state))
    with store.engine.connect() as conn:
        ids = projections.select_ids(conn, direction=direction, states=states, limit=_limit(limit))
    return [h for h in (_fold_or_none(store, i) for i in ids) if h is not None]


def list_overdue(store: EventStore, now: datetime | None = None, *, direction: d.Direction | None = None,
                 limit: int = 100) -> list[d.Handoff]:
    """Open hand-offs past a limit — recorded HandoffOverdue, or past it by the clock even if the
    scheduler has not fired yet — oldest first. `h.overdue_stages(now)` says which limits."""
    now = now or store.clock.now()
    with store.engine.connect() as conn:
        ids = projections.select_ids(conn, direction=direction, states=None, limit=None, newest_first=False,
                                     due_by=now)
    overdue: list[d.Handoff] = []
    for handoff_id in ids:
        h = _fold_or_none(store, handoff_id)
        if h is not None and h.overdue_stages(now):
            overdue.append(h)
            if len(overdue) == _limit(limit):
                break
    return overdue


def _fold_or_none(store: EventStore, handoff_id: str) -> d.Handoff | None:
    loaded = load(store, handoff_id)
    return None if loaded is None else loaded[0]


def _limit(limit: int) -> int:
    return max(1, min(limit, MAX_LIST))


def _latest_case_event(tx: StoreTransaction, stream_id: str) -> RecordedEvent | None:
    version = tx.stream_version(stream_id)
    if version == 0:
        return None
    return tx.read_stream(stream_id, after_version=version - 1)[0]


def _store(tx_or_store: TxOrStore) -> EventStore:
    return tx_or_store.store if isinstance(tx_or_store, StoreTransaction) else tx_or_store
