"""What travels with the disability service's events, registered once on its units of work
(bootstrap.py) and run in the recording transaction — never called by a handler:

* each review stage's working-day limit as a deadline: scheduled when the stage starts, cancelled
  when the stage ends (completed, refused, approved); a deadline that fires first marks the stage
  overdue (reactions.py);
* registry claims, one per subsidy (one place only): requested as the application is received,
  confirmed as soon as granted (a review outlasts an unconfirmed hold's lifetime; the hold is
  given back if the application or the subsidy is refused), released when refused or stopped;
  after a PENDING answer, a retry as a deadline (registry_retry_due) that claims it again under
  a new claim id (domain/registry_answers.py);
* an application forwarded here by another province's window (异地代收代办): its decision is sent
  back as the hand-off's outcome when it is recorded;
* the read models of every application touched."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from services.common.clock import china_date, end_of_china_day
from services.common.deadlines import cancel_deadline, schedule_deadline
from services.common.handoff import complete_handoff
from services.common.kit import Change, Subscribers, UnitOfWork
from services.common.registry.claims import confirm_claim, release_claim, request_claim
from services.common.registry.domain import ClaimKind
from services.common.registry.retry import PENDING_CLAIMS_ARE_RETRIED, REGISTRY_RETRY_DUE
from services.disability.adapters.payloads import CODEC
from services.disability.domain import events as ev
from services.disability.domain.application import Application
from services.disability.domain.forwarding import decision_of
from services.disability.domain.values import ApplicationState, Subsidy
from services.disability.projections.read_models import refresh

STAGE_DUE = "disability.stage_due"
STAGE_LIMIT_RULE = "国发〔2015〕52号 三 (regional working-day limits)"
CLAIM_KINDS = {Subsidy.LIVING: ClaimKind.LIVING_SUBSIDY, Subsidy.NURSING: ClaimKind.NURSING_SUBSIDY}


def when_an_application_changes_keep_its_stage_deadline(uow: UnitOfWork, change: Change) -> None:
    before = change.before
    assert isinstance(before, Application) and isinstance(change.after, Application)
    pending = before.stage_deadline_id
    for event in change.events:
        match event:
            case ev.StageCompleted() | ev.ApplicationRefused() if pending:
                cancel_deadline(uow.tx, pending, type(event).__name__, provenance=change.provenance)
                pending = ""
            case ev.StageDueRescheduled():
                if pending:
                    cancel_deadline(uow.tx, pending, type(event).__name__, provenance=change.provenance)
                schedule_deadline(uow.tx, deadline_id=event.deadline_id, kind=STAGE_DUE,
                                  case_stream_id=change.stream_id, due_at=end_of_china_day(event.due_on),
                                  rule=STAGE_LIMIT_RULE, provenance=change.provenance)
                pending = event.deadline_id
            case ev.StageStarted():
                schedule_deadline(uow.tx, deadline_id=event.deadline_id, kind=STAGE_DUE,
                                  case_stream_id=change.stream_id, due_at=end_of_china_day(event.due_on),
                                  rule=STAGE_LIMIT_RULE, provenance=change.provenance)
                pending = event.deadline_id
            case _:
                pass


def when_an_application_changes_keep_the_registry_in_step(uow: UnitOfWork, change: Change) -> None:
    app = change.after
    assert isinstance(app, Application) and app.applicant is not None
    citizen_id = app.applicant.citizen_id
    for event, recorded in zip(change.events, change.recorded, strict=True):
        who = change.provenance.correlated_with(app.case_id).caused_by(recorded.event_id)
        match event:
            case ev.ApplicationReceived() if app.state is ApplicationState.UNDER_REVIEW:
                for subsidy in app.still_asked:
                    request_claim(uow.tx, claim_id=app.claim_id(subsidy), citizen_id=citizen_id,
                                  kind=CLAIM_KINDS[subsidy], case_id=app.case_id, provenance=who)
            case ev.EntitlementResumed() if Subsidy(event.subsidy) not in app.claims_granted:
                subsidy = Subsidy(event.subsidy)  # its place was given up with the stop: claimed anew
                request_claim(uow.tx, claim_id=app.claim_id(subsidy), citizen_id=citizen_id,
                              kind=CLAIM_KINDS[subsidy], case_id=app.case_id, provenance=who)
            case ev.SubsidyClaimGranted() if Subsidy(event.subsidy) not in app.claims_released:
                confirm_claim(uow.tx, claim_id=event.claim_id, citizen_id=citizen_id,
                              kind=CLAIM_KINDS[Subsidy(event.subsidy)], case_id=app.case_id, provenance=who)
            case ev.SubsidyClaimPending() if event.retry_deadline_id:
                schedule_deadline(uow.tx, deadline_id=event.retry_deadline_id, kind=REGISTRY_RETRY_DUE,
                                  case_stream_id=app.case_id, rule=PENDING_CLAIMS_ARE_RETRIED,
                                  due_at=change.provenance.occurred_at + timedelta(milliseconds=event.retry_after_ms),
                                  data=event.subsidy.encode(), provenance=who)
            case ev.SubsidyClaimRetried():
                subsidy = Subsidy(event.subsidy)
                request_claim(uow.tx, claim_id=app.claim_id(subsidy), citizen_id=citizen_id,
                              kind=CLAIM_KINDS[subsidy], case_id=app.case_id, provenance=who)
            case ev.SubsidyClaimReleased():
                release_claim(uow.tx, claim_id=event.claim_id, citizen_id=citizen_id,
                              kind=CLAIM_KINDS[Subsidy(event.subsidy)], case_id=app.case_id, reason=event.reason,
                              provenance=who)
            case _:
                pass


def when_a_forwarded_application_is_decided_answer_the_window(uow: UnitOfWork, change: Change) -> None:
    app = change.after
    assert isinstance(app, Application)
    if not app.from_region or not any(isinstance(e, ev.ApplicationApproved | ev.ApplicationRefused)
                                      for e in change.events):
        return
    decided = decision_of(app, on=china_date(change.provenance.occurred_at))
    complete_handoff(uow.tx, app.handoff_id, CODEC.to_message(decided), actor=change.provenance.actor,
                     occurred_at=change.provenance.occurred_at, causation_id=change.last_event_id,
                     trace=change.provenance.trace)


def when_applications_change_refresh_the_read_models(uow: UnitOfWork, changes: Sequence[Change]) -> None:
    latest = {c.stream_id: c.after for c in changes if isinstance(c.after, Application)}
    refresh(uow.tx, latest.values())


def disability_subscribers() -> Subscribers:
    return (Subscribers()
            .on(Application, when_an_application_changes_keep_its_stage_deadline)
            .on(Application, when_an_application_changes_keep_the_registry_in_step)
            .on(Application, when_a_forwarded_application_is_decided_answer_the_window)
            .on_commit(when_applications_change_refresh_the_read_models))
