"""The disability service's part in the hand-off protocol (docs/cross-region.md, FORWARD_CASE):
异地代收代办 between a receiving window and the 户籍 region (domain/forwarding.py).

* Window (origin): `forward_application` sends the case with its application as the snapshot;
  the answer — the 户籍 region's decision, or its refusal to take the case — is recorded and
  starts the 3-working-day limit to inform the applicant (`inform_applicant`). After acceptance the
  case belongs to the 户籍 region (invariant 4), so the window records its own part on its
  record of the case without the owner check.
* 户籍 region (receiver): a forwarded application is taken on at once by machine — the right to
  decide is the 户籍 region's by law — and opened as a local application that goes through the
  domestic flow; its decision is sent back (subscribers.py), and it pays.

Every hook runs inside the transaction recording the hand-off message it is about (hooks.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from google.protobuf.message import Message

from services.common.clock import china_date, end_of_china_day
from services.common.events import Actor, decode_payload
from services.common.handoff import Handoff, HandoffHooks, Kind, accept_handoff, forward_case, refuse_handoff
from services.common.kit import Provenance, Request
from services.common.store import StoreTransaction
from services.common.telemetry import current_trace_context
from services.disability.adapters.payloads import CODEC
from services.disability.application.unit import Deps
from services.disability.domain import events as ev
from services.disability.domain.application import Application
from services.disability.domain.commands import WindowStep
from services.disability.domain.forwarding import forward, inform, record_answer, take_over
from services.disability.domain.rules import ClerkOfThisRegion, check
from services.disability.domain.settings import DECIDE_WITHIN_WORKING_DAYS
from services.disability.domain.values import Subsidy

log = logging.getLogger(__name__)

FORWARD_WORK = "disability.two_subsidies"
DESK = "disability.handoff"  # the system actor answering hand-offs


def _within(deps: Deps, tx: StoreTransaction, now: datetime, working_days: int) -> timedelta:
    """From `now` to the end of the n-th working day after today, on the calendar in force."""
    last_day = deps.calendar(tx).add_working_days(china_date(now), working_days)
    return end_of_china_day(last_day) - now


def forward_application(deps: Deps, cmd: WindowStep, actor: Actor, request: Request | None = None) -> str:
    """The window forwards an application for another province's 户籍 region: the hand-off carries
    the application; that region has 10 working days to decide."""
    cmd.validate()
    check(ClerkOfThisRegion(actor.kind, actor.region, actor.office_code, deps.region))
    provenance = Provenance.of_command(actor, cmd.case_id, deps.clock.now())
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        app = uow.load(Application, cmd.case_id)
        handoff_id = f"{app.case_id}-forward"
        app = uow.record(app, forward(app, handoff_id=handoff_id, office_code=actor.office_code,
                                      on=china_date(provenance.occurred_at)))
        assert app.applicant and app.certificate and app.circumstances and app.received_on
        snapshot = ev.ApplicationReceived(
            app.case_id, app.office_code, app.region, app.received_on, app.applicant, app.certificate,
            app.household.value, "declared", app.circumstances, app.bank_account,
            Subsidy.LIVING in app.requested, Subsidy.NURSING in app.requested)
        now = provenance.occurred_at
        own = deps.settings.regional  # a window of a region without standards still forwards
        decide_within = own.decide_within_working_days if own else DECIDE_WITHIN_WORKING_DAYS
        forward_case(uow.tx, case_id=app.case_id, to_region=app.forwarded_to, work=FORWARD_WORK,
                     accept_within=_within(deps, uow.tx, now, 3),
                     answer_within=_within(deps, uow.tx, now, decide_within),
                     actor=actor, case_snapshot=CODEC.to_message(snapshot), handoff_id=handoff_id,
                     occurred_at=now, causation_id=uow.changes[-1].last_event_id, trace=provenance.trace)
        return uow.answer(app.case_id)


def inform_applicant(deps: Deps, cmd: WindowStep, actor: Actor, request: Request | None = None) -> str:
    """The window told the applicant the 户籍 region's result. The case belongs to that region now;
    the window records its own part on its record of the case."""
    cmd.validate()
    check(ClerkOfThisRegion(actor.kind, actor.region, actor.office_code, deps.region))
    provenance = Provenance.of_command(actor, cmd.case_id, deps.clock.now())
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        app = uow.load(Application, cmd.case_id, for_write=False)
        uow.record(app, inform(app, office_code=actor.office_code, on=china_date(provenance.occurred_at),
                               note=cmd.note.strip()))
        return uow.answer(app.case_id)


# -- the hooks ------------------------------------------------------------------------------------


def when_an_application_is_forwarded_here_take_it_on(deps: Deps, tx: StoreTransaction, h: Handoff) -> None:
    """户籍 region, on HandoffReceived: accept, and open the application here."""
    if h.kind is not Kind.FORWARD_CASE or h.work != FORWARD_WORK:
        return
    actor = Actor.system(deps.region, DESK)
    received = _snapshot(h)
    if received is None or deps.settings.regional is None:
        refuse_handoff(tx, h.handoff_id, "no application attached" if received is None else
                       f"region {deps.region} has no disability-subsidy standards configured", actor=actor)
        return
    accept_handoff(tx, h.handoff_id, actor=actor)
    with deps.units.joining(tx, _provenance(deps, tx, h)) as uow:
        if uow.find(Application, h.case_id) is None:
            uow.start(Application, h.case_id, take_over(
                received, handoff_id=h.handoff_id, from_region=h.from_region, region=deps.region,
                on=china_date(uow.provenance.occurred_at), settings=deps.regional, calendar=deps.calendar(tx)))


def when_the_hukou_region_answers_record_it(deps: Deps, tx: StoreTransaction, h: Handoff,
                                            outcome: Message | None) -> None:
    """Window, on HandoffOutcomeReceived or HandoffRefused: record the answer; informing starts."""
    if h.kind is not Kind.FORWARD_CASE or h.work != FORWARD_WORK:
        return
    with deps.units.joining(tx, _provenance(deps, tx, h)) as uow:
        app = uow.find(Application, h.case_id, for_write=False)
        if app is None:
            log.error("hand-off %s names %s, which is no application received here", h.handoff_id, h.case_id)
            return
        today = china_date(uow.provenance.occurred_at)
        answer = ev.ForwardRefused(h.handoff_id, h.refusal_reason, today) if outcome is None else \
            CODEC.from_message(outcome)
        if not isinstance(answer, ev.HukouRegionDecided | ev.ForwardRefused):
            log.error("hand-off %s answered with %s", h.handoff_id, type(answer).__name__)
            return
        uow.record(app, record_answer(app, answer, on=today, settings=deps.settings.regional,
                                      calendar=deps.calendar(tx)))


def forwarding_hooks(deps: Deps) -> HandoffHooks:
    return HandoffHooks(
        on_received=lambda tx, h: when_an_application_is_forwarded_here_take_it_on(deps, tx, h),
        on_refused=lambda tx, h: when_the_hukou_region_answers_record_it(deps, tx, h, None),
        on_outcome=lambda tx, h, outcome: when_the_hukou_region_answers_record_it(deps, tx, h, outcome),
    )


def _snapshot(h: Handoff) -> ev.ApplicationReceived | None:
    if h.case_snapshot is None:
        return None
    try:
        received = CODEC.from_message(decode_payload(h.case_snapshot.type, h.case_snapshot.data))
    except (LookupError, StopIteration):
        return None
    return received if isinstance(received, ev.ApplicationReceived) else None


def _provenance(deps: Deps, tx: StoreTransaction, h: Handoff) -> Provenance:
    # Caused by the latest hand-off event recorded (the message, or the acceptance that followed it),
    # in the trace of the journey from the window.
    last = tx.read_stream(h.stream_id, after_version=h.version - 1)[-1]
    return Provenance(actor=Actor.system(deps.region, DESK), correlation_id=h.case_id, causation_id=last.event_id,
                      occurred_at=deps.clock.now(), trace=current_trace_context())
