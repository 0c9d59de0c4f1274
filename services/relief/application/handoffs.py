"""Relief's part in the hand-off protocol (docs/cross-region.md): the family economic check of a
member whose 户籍 lies in another region (多地联办, 民发〔2021〕57号: the 户籍 place assists).

* Region of the 户籍 (receives REQUEST_WORK "relief.family_economic_check"): takes the check on as it
  arrives (recorded acceptance); a clerk answers it with what its records show
  (`answer_economic_check`), which completes the hand-off with an EconomicCheckAnswered.
* Handling region (origin): the answer is recorded in the 低保 case as it arrived; a refusal too.
  The township's opinion waits for every answer (rule EconomicChecksAnswered).

Both sides see a check not taken on or not answered in time as overdue: the hand-off's own limits
(`list_overdue`, the hand-off API). Every hook runs in the transaction recording its hand-off
message; a redelivered message finds the check answered and records nothing."""

from __future__ import annotations

import logging

from google.protobuf.message import Message

from services.common.errors import InvalidArgument, NotFound
from services.common.events import Actor, decode_payload
from services.common.handoff import Direction, Handoff, HandoffHooks, accept_handoff, complete_handoff, get_handoff
from services.common.kit import Provenance, Request
from services.common.store import StoreTransaction
from services.common.telemetry import current_trace_context
from services.relief.adapters.payloads import CODEC
from services.relief.application.unit import Deps, clerk_here, command
from services.relief.domain import events as ev
from services.relief.domain.dibao import Dibao
from services.relief.domain.dibao_names import ECONOMIC_CHECK_WORK

log = logging.getLogger(__name__)

CHECK_DESK = "relief.economic_check"  # the system actor taking checks on, and recording answers


def when_asked_for_a_check_take_it_on(deps: Deps, tx: StoreTransaction, h: Handoff) -> None:
    """Region of the 户籍, on HandoffReceived: the check is taken on at once; a clerk answers it."""
    if h.work == ECONOMIC_CHECK_WORK:
        accept_handoff(tx, h.handoff_id, actor=Actor.system(deps.region, CHECK_DESK))


def answer_economic_check(deps: Deps, answer: ev.EconomicCheckAnswered, actor: Actor,
                          request: Request | None = None) -> str:
    """A clerk of the region of the 户籍 answers a check asked of it; returns the hand-off id."""
    for name in ("monthly_income_fen", "deposits_fen", "vehicles", "properties", "businesses"):
        if getattr(answer, name) < 0:
            raise InvalidArgument.single(name, "must not be negative")
    clerk_here(deps, actor)
    with deps.units.begin(command(deps, actor, answer.handoff_id), request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        h = get_handoff(uow.tx, answer.handoff_id)
        if h.work != ECONOMIC_CHECK_WORK or h.direction is not Direction.INCOMING:
            raise NotFound("family economic check asked of this region", answer.handoff_id)
        asked = _asked(h)
        completed = ev.EconomicCheckAnswered(
            handoff_id=h.handoff_id, citizen_id=asked.citizen_id if asked else "", from_region=deps.region,
            monthly_income_fen=answer.monthly_income_fen, deposits_fen=answer.deposits_fen, vehicles=answer.vehicles,
            properties=answer.properties, businesses=answer.businesses, note=answer.note.strip())
        complete_handoff(uow.tx, h.handoff_id, CODEC.to_message(completed), actor=actor)
        return uow.answer(h.handoff_id)


def when_the_check_is_answered_record_it(deps: Deps, tx: StoreTransaction, h: Handoff, outcome: Message) -> None:
    """Handling region, on HandoffOutcomeReceived: the findings go into the case."""
    if h.work != ECONOMIC_CHECK_WORK:
        return
    answer = CODEC.from_message(outcome)
    if not isinstance(answer, ev.EconomicCheckAnswered):
        log.error("hand-off %s answered with %s, not EconomicCheckAnswered", h.handoff_id,
                  outcome.DESCRIPTOR.full_name)
        return
    with deps.units.joining(tx, _provenance(deps, tx, h)) as uow:
        case = uow.find(Dibao, h.case_id)
        if case is not None:
            uow.record(case, case.record_check_answer(answer))


def when_the_check_is_refused_record_it(deps: Deps, tx: StoreTransaction, h: Handoff) -> None:
    if h.work != ECONOMIC_CHECK_WORK:
        return
    asked = _asked(h)
    with deps.units.joining(tx, _provenance(deps, tx, h)) as uow:
        case = uow.find(Dibao, h.case_id)
        if case is not None:
            uow.record(case, case.record_check_refusal(h.handoff_id, asked.citizen_id if asked else "",
                                                       h.refusal_reason))


def economic_check_hooks(deps: Deps) -> HandoffHooks:
    return HandoffHooks(
        on_received=lambda tx, h: when_asked_for_a_check_take_it_on(deps, tx, h),
        on_refused=lambda tx, h: when_the_check_is_refused_record_it(deps, tx, h),
        on_outcome=lambda tx, h, outcome: when_the_check_is_answered_record_it(deps, tx, h, outcome),
    )


def _asked(h: Handoff) -> ev.EconomicCheckRequested | None:
    if h.case_snapshot is None:
        return None
    try:
        asked = CODEC.from_message(decode_payload(h.case_snapshot.type, h.case_snapshot.data))
    except (LookupError, StopIteration):
        return None
    return asked if isinstance(asked, ev.EconomicCheckRequested) else None


def _provenance(deps: Deps, tx: StoreTransaction, h: Handoff) -> Provenance:
    [last] = tx.read_stream(h.stream_id, after_version=h.version - 1)
    return Provenance(actor=Actor.system(deps.region, CHECK_DESK), correlation_id=h.case_id,
                      causation_id=last.event_id, occurred_at=deps.clock.now(), trace=current_trace_context())
