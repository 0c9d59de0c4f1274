"""What travels with the marriage service's events, registered once on its units of work
(bootstrap.py) and run by the unit of work in the recording transaction — never called by a
handler, so none can forget one:

* registry effects of a marriage: both persons claimed when the application is received (and
  again, under new claim ids, when a retry after a PENDING answer starts), confirmed once it is
  registered, released when the marriage no longer needs them; a PENDING answer's retry as a
  deadline;
* a divorce's periods as deadlines: scheduled when a period starts, cancelled when the case
  leaves the state that was waiting for it;
* a divorce whose marriage another region records: that region asked for its part as each step
  is recorded (divorce_elsewhere.py);
* the read models of every case touched."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from services.common.deadlines import cancel_deadline, schedule_deadline
from services.common.kit import Change, Subscribers, UnitOfWork
from services.common.registry.claims import confirm_claim, release_claim, request_claim
from services.common.registry.domain import ClaimKind, ReleaseReason
from services.common.registry.retry import PENDING_CLAIMS_ARE_RETRIED, REGISTRY_RETRY_DUE
from services.marriage.adapters.cases import CASE_STREAM_TYPES
from services.marriage.application.divorce_elsewhere import (
    when_a_divorce_held_elsewhere_changes_ask_the_record_region,
    when_a_judgment_ends_a_divorce_received_elsewhere_tell_its_region,
)
from services.marriage.application.unit import MarriageSettings
from services.marriage.domain.divorce import Divorce
from services.marriage.domain.events import (
    CoolingOffEnded,
    DivorceApplicationReceived,
    DivorceCertificateRequested,
    DivorcePeriodEndRescheduled,
    DivorceRefusedByRecord,
    DivorceTerminated,
    DivorceWithdrawn,
    MarriageApplicationReceived,
    MarriageRegistered,
    PartyClaimPending,
    PartyClaimReleased,
    PartyClaimsRetried,
)
from services.marriage.domain.marriage import Marriage
from services.marriage.domain.periods import (
    CERTIFICATE_WINDOW_ENDS,
    COOLING_OFF,
    COOLING_OFF_ENDS,
    DIVORCE_PERIOD_RULE,
    period_runs_out_at,
)
from services.marriage.domain.values import MarriageState, start_of_china_day
from services.marriage.projections.read_models import refresh


def when_a_marriage_changes_keep_the_registry_in_step(uow: UnitOfWork, change: Change) -> None:
    marriage = change.after
    assert isinstance(marriage, Marriage)
    for event, recorded in zip(change.events, change.recorded, strict=True):
        # The claims belong to the marriage's thread, caused by the event that needs them.
        who = change.provenance.correlated_with(marriage.case_id).caused_by(recorded.event_id)
        if isinstance(event, MarriageApplicationReceived):
            if marriage.state is not MarriageState.AWAITING_REGISTRY:
                continue  # refused at the window (recorded with its reasons): nobody to claim
            for party in (event.party_a, event.party_b):
                request_claim(uow.tx, claim_id=party.claim_id, citizen_id=party.citizen_id,
                              kind=ClaimKind.LIVE_MARRIAGE, case_id=marriage.case_id, provenance=who)
        elif isinstance(event, PartyClaimsRetried):
            for party in marriage.parties:
                request_claim(uow.tx, claim_id=marriage.current_claim_id(party), citizen_id=party.citizen_id,
                              kind=ClaimKind.LIVE_MARRIAGE, case_id=marriage.case_id, provenance=who)
        elif isinstance(event, PartyClaimPending) and event.retry_deadline_id:
            schedule_deadline(uow.tx, deadline_id=event.retry_deadline_id, kind=REGISTRY_RETRY_DUE,
                              case_stream_id=marriage.case_id,
                              due_at=change.provenance.occurred_at + timedelta(milliseconds=event.retry_after_ms),
                              rule=PENDING_CLAIMS_ARE_RETRIED, provenance=who)
        elif isinstance(event, MarriageRegistered):
            for party in marriage.parties:
                confirm_claim(uow.tx, claim_id=marriage.current_claim_id(party), citizen_id=party.citizen_id,
                              kind=ClaimKind.LIVE_MARRIAGE, case_id=marriage.case_id, provenance=who)
        elif isinstance(event, PartyClaimReleased):
            release_reason, released_on = _why_released(marriage)
            release_claim(uow.tx, claim_id=event.claim_id, citizen_id=event.citizen_id,
                          kind=ClaimKind.LIVE_MARRIAGE, case_id=marriage.case_id, reason=event.reason,
                          provenance=who, release_reason=release_reason, released_on=released_on)


def _why_released(marriage: Marriage) -> tuple[str, date | None]:
    """What the release tells the national record (every region's status answer): the marriage
    ended by divorce or a judgment, on which day; nothing when only an application ended."""
    if marriage.dissolution is not None:
        return ReleaseReason.DIVORCE, marriage.dissolution.dissolved_on
    if marriage.judgment is not None:
        return ReleaseReason(marriage.judgment.judgment), marriage.judgment.judgment_date
    return "", None


def when_a_divorce_changes_keep_its_deadlines(uow: UnitOfWork, change: Change) -> None:
    before = change.before
    assert isinstance(before, Divorce) and isinstance(change.after, Divorce)
    case_id = change.after.case_id
    who = change.provenance
    for event in change.events:
        match event:
            case DivorceApplicationReceived():
                schedule_deadline(uow.tx, deadline_id=event.cooling_off_deadline_id, kind=COOLING_OFF_ENDS,
                                  case_stream_id=case_id, due_at=period_runs_out_at(event.cooling_off_last_day),
                                  rule=DIVORCE_PERIOD_RULE, provenance=who)
            case CoolingOffEnded():
                schedule_deadline(uow.tx, deadline_id=event.window_deadline_id, kind=CERTIFICATE_WINDOW_ENDS,
                                  case_stream_id=case_id, due_at=period_runs_out_at(event.window_last_day),
                                  rule=DIVORCE_PERIOD_RULE, provenance=who)
            case DivorcePeriodEndRescheduled():
                # Rescheduled when its deadline fired (already closed: nothing to cancel) or when a
                # calendar notice moved it (the old deadline is still pending: it must not fire).
                if before.pending_deadline_id:
                    cancel_deadline(uow.tx, before.pending_deadline_id, type(event).__name__, provenance=who)
                kind = COOLING_OFF_ENDS if event.period == COOLING_OFF else CERTIFICATE_WINDOW_ENDS
                schedule_deadline(uow.tx, deadline_id=event.deadline_id, kind=kind, case_stream_id=case_id,
                                  due_at=start_of_china_day(event.due_on), rule=DIVORCE_PERIOD_RULE,
                                  provenance=who)
            case (DivorceWithdrawn() | DivorceCertificateRequested() | DivorceTerminated()
                  | DivorceRefusedByRecord()):
                if before.pending_deadline_id:
                    cancel_deadline(uow.tx, before.pending_deadline_id, type(event).__name__,
                                    provenance=who)
            case _:
                pass


def when_cases_change_refresh_the_read_models(uow: UnitOfWork, changes: Sequence[Change]) -> None:
    # Each marriage and divorce as the unit of work holds it after its last change in this
    # transaction. Reissues and status queries are read back: their case is decided by the first
    # event of the stream (cases.fold_case), not by the aggregate the handler recorded them with.
    latest = {c.stream_id: c for c in changes if c.recorded[0].stream_type in CASE_STREAM_TYPES}
    in_hand = {stream_id: c.after for stream_id, c in latest.items() if isinstance(c.after, Marriage | Divorce)}
    started = {c.stream_id for c in changes if c.before.version == 0}
    refresh(uow.tx, latest, in_hand=in_hand, started=started)


def marriage_subscribers(settings: MarriageSettings | None = None) -> Subscribers:
    settings = settings or MarriageSettings()
    return (Subscribers()
            .on(Marriage, when_a_marriage_changes_keep_the_registry_in_step)
            .on(Marriage, when_a_judgment_ends_a_divorce_received_elsewhere_tell_its_region(settings))
            .on(Divorce, when_a_divorce_changes_keep_its_deadlines)
            .on(Divorce, when_a_divorce_held_elsewhere_changes_ask_the_record_region(settings))
            .on_commit(when_cases_change_refresh_the_read_models))
