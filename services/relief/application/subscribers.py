"""What travels with relief's events, registered once on its units of work (bootstrap.py) and run in
the recording transaction — never called by a handler, so none can forget one:

* each member's one 低保 place in the per-person registry (claim kind DIBAO): claimed when the
  application is accepted, confirmed when it is granted, released when it is refused or the
  household tapers off (the registry then lets another region take the person); claimed again
  under a new claim id when a retry after a PENDING answer falls due (dibao_places.py);

* a family economic check of a member whose 户籍 is elsewhere as a recorded hand-off to that region
  (REQUEST_WORK, 多地联办), sent as the request is recorded (handoffs.py records the answer);
* every limit of the procedure as a deadline (services/common/deadlines.py): scheduled when its
  period starts, cancelled when its step is done; one that fires first is noted as overrun;
* the read models of every case touched."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from services.common.clock import end_of_china_day
from services.common.deadlines import cancel_deadline, schedule_deadline
from services.common.handoff import request_work
from services.common.kit import Change, Subscribers, UnitOfWork
from services.common.kit.unit_of_work import ChangeSubscriber
from services.common.registry.claims import confirm_claim, release_claim, request_claim
from services.common.registry.domain import ClaimKind
from services.common.registry.retry import PENDING_CLAIMS_ARE_RETRIED, REGISTRY_RETRY_DUE
from services.relief.adapters.payloads import CODEC
from services.relief.domain import assistance as a
from services.relief.domain import dibao as d
from services.relief.domain import dibao_names as case_names
from services.relief.domain import events as ev
from services.relief.domain.household import add_months
from services.relief.domain.rules import ASSISTANCE, DIBAO
from services.relief.domain.settings import ReliefSettings
from services.relief.projections.read_models import refresh


def _schedule(uow: UnitOfWork, change: Change, deadline_id: str, kind: str, last_day: date, rule: str) -> None:
    schedule_deadline(uow.tx, deadline_id=deadline_id, kind=kind, case_stream_id=change.stream_id,
                      due_at=end_of_china_day(last_day), rule=rule, data=last_day.isoformat().encode(),
                      provenance=change.provenance)


def _cancel(uow: UnitOfWork, change: Change, deadline_id: str, why: object) -> None:
    cancel_deadline(uow.tx, deadline_id, type(why).__name__, provenance=change.provenance)


def when_a_dibao_case_changes_keep_its_deadlines(uow: UnitOfWork, change: Change) -> None:
    case_id = change.stream_id
    for event in change.events:
        match event:
            case ev.DibaoApplicationAccepted():
                _schedule(uow, change, event.investigation_deadline_id, case_names.INVESTIGATION_DUE,
                          event.investigation_due_on, f"{DIBAO} 3个工作日内启动调查")
                _schedule(uow, change, event.decision_deadline_id, case_names.DECISION_DUE, event.decision_due_on,
                          f"{DIBAO} 审核确认时限")
            case ev.InvestigationStarted():
                _cancel(uow, change, case_names.deadline_id(case_id, "investigation"), event)
            case ev.PublicNoticeStarted():
                _schedule(uow, change, event.deadline_id, case_names.NOTICE_ENDS, event.last_day, f"{DIBAO} 公示7天")
            case ev.DibaoGranted():
                _cancel(uow, change, case_names.deadline_id(case_id, "decision"), event)
                _schedule(uow, change, event.review_deadline_id, case_names.REVIEW_DUE, event.review_due_on,
                          f"{DIBAO} 动态管理 定期核查")
            case ev.DibaoRefused():
                _cancel(uow, change, case_names.deadline_id(case_id, "decision"), event)
                _schedule(uow, change, event.notice_deadline_id, case_names.REFUSAL_NOTICE_DUE, event.notify_by,
                          f"{DIBAO} 3个工作日内书面告知")
            case ev.ReviewRecorded():
                # The review done (early or late): the pending one is cancelled, the next scheduled.
                before = change.before
                assert isinstance(before, d.Dibao)
                if before.review_deadline_id:
                    _cancel(uow, change, before.review_deadline_id, event)
                _schedule(uow, change, event.next_review_deadline_id, case_names.REVIEW_DUE, event.next_review_due_on,
                          f"{DIBAO} 动态管理 定期核查")
            case ev.TaperOffStarted():
                # The last month paid is over at 00:00 on the 1st of the month after it.
                year, month = (int(part) for part in add_months(event.last_month, 1).split("-"))
                _schedule(uow, change, event.deadline_id, case_names.TAPER_ENDS,
                          date(year, month, 1) - timedelta(days=1), f"{DIBAO} 动态管理 渐退期")
            case ev.RefusalNotified():
                _cancel(uow, change, case_names.deadline_id(case_id, "refusal-notice"), event)
            case _:
                pass


def when_a_dibao_case_changes_keep_the_registry_in_step(uow: UnitOfWork, change: Change) -> None:
    case = change.after
    assert isinstance(case, d.Dibao)
    for event, recorded in zip(change.events, change.recorded, strict=True):
        who = change.provenance.correlated_with(case.case_id).caused_by(recorded.event_id)
        match event:
            case ev.DibaoApplicationAccepted():
                for citizen in sorted(case.members):
                    request_claim(uow.tx, claim_id=case_names.claim_id_for(case.case_id, citizen), citizen_id=citizen,
                                  kind=ClaimKind.DIBAO, case_id=case.case_id, provenance=who)
            case ev.MemberPlacePending() if event.retry_deadline_id:
                schedule_deadline(uow.tx, deadline_id=event.retry_deadline_id, kind=REGISTRY_RETRY_DUE,
                                  case_stream_id=case.case_id, rule=PENDING_CLAIMS_ARE_RETRIED,
                                  due_at=change.provenance.occurred_at + timedelta(milliseconds=event.retry_after_ms),
                                  data=event.citizen_id.encode(), provenance=who)
            case ev.MemberPlaceRetried():
                request_claim(uow.tx, claim_id=case.place_claim_id(event.citizen_id), citizen_id=event.citizen_id,
                              kind=ClaimKind.DIBAO, case_id=case.case_id, provenance=who)
            case ev.DibaoGranted():
                for citizen in sorted(case.members):
                    confirm_claim(uow.tx, claim_id=case.place_claim_id(citizen), citizen_id=citizen,
                                  kind=ClaimKind.DIBAO, case_id=case.case_id, provenance=who)
            case ev.DibaoRefused() | ev.DibaoEnded():
                for citizen in sorted(case.places):
                    release_claim(uow.tx, claim_id=case.place_claim_id(citizen), citizen_id=citizen,
                                  kind=ClaimKind.DIBAO, case_id=case.case_id, reason=type(event).__name__,
                                  provenance=who)
            case _:
                pass


def when_an_assistance_case_changes_keep_its_deadlines(uow: UnitOfWork, change: Change) -> None:
    case_id = change.stream_id
    for event in change.events:
        match event:
            case ev.AssistanceApplicationReceived():
                _schedule(uow, change, event.decision_deadline_id, a.ASSISTANCE_DECISION_DUE, event.decision_due_on,
                          f"{ASSISTANCE} 15个工作日内审批")
            case ev.UrgentPaymentMade():
                _schedule(uow, change, event.proof_deadline_id, a.PROOF_DUE, event.proof_due_on,
                          f"{ASSISTANCE} 10个工作日内补齐手续")
            case ev.ProofCompleted():
                _cancel(uow, change, f"{case_id}-proof", event)
            case ev.AssistanceGranted() | ev.AssistanceRefused() | ev.ReferredToRescueAgency():
                _cancel(uow, change, f"{case_id}-decision", event)
            case _:
                pass


def when_cases_change_refresh_the_read_models(uow: UnitOfWork, changes: Sequence[Change]) -> None:
    latest = {change.stream_id: change.after for change in changes}
    refresh(uow.tx.connection, [case for case in latest.values() if isinstance(case, d.Dibao | a.Assistance)])


def when_a_check_is_requested_hand_it_to_the_hukou_region(settings: ReliefSettings) -> ChangeSubscriber:
    """多地联办: each EconomicCheckRequested is sent as a REQUEST_WORK hand-off, in its transaction."""

    def send(uow: UnitOfWork, change: Change) -> None:
        for event, recorded in zip(change.events, change.recorded, strict=True):
            if isinstance(event, ev.EconomicCheckRequested):
                request_work(uow.tx, case_id=change.stream_id, to_region=event.to_region,
                             work=case_names.ECONOMIC_CHECK_WORK,
                             accept_within=settings.economic_check_accept_within,
                             answer_within=settings.economic_check_answer_within, actor=change.provenance.actor,
                             case_snapshot=CODEC.to_message(event), handoff_id=event.handoff_id,
                             occurred_at=change.provenance.occurred_at, causation_id=recorded.event_id,
                             trace=change.provenance.trace)
    return send


def relief_subscribers(settings: ReliefSettings | None = None) -> Subscribers:
    return (Subscribers()
            .on(d.Dibao, when_a_check_is_requested_hand_it_to_the_hukou_region(settings or ReliefSettings()))
            .on(d.Dibao, when_a_dibao_case_changes_keep_the_registry_in_step)
            .on(d.Dibao, when_a_dibao_case_changes_keep_its_deadlines)
            .on(a.Assistance, when_an_assistance_case_changes_keep_its_deadlines)
            .on_commit(when_cases_change_refresh_the_read_models))
