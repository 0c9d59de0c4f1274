"""The Divorce aggregate: divorce by agreement (协议离婚, 民法典 第1076-1078条).

Receipt (受理) → cooling-off of thirty days from the day after receipt, during which either spouse
may withdraw → a window of the following thirty days in which both must request the certificate
at the receiving office, else the application is deemed withdrawn → review → registration.

The periods' ends are deadlines (architecture invariant 6). When one fires, the period's last day
is computed again with the calendar then in force: a newer calendar (an official notice, a regional
day off) may have moved it later, and then the deadline is rescheduled to the new end. Otherwise
the deadline is enforced on that calendar — provisional or official — and never left pending:
第1077条第2款 deems the application withdrawn when neither spouse came within the window. When a
year's notice is recorded, `recompute_period_end` moves a pending period's end at once, earlier as
well as later (docs/calendar.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from services.common.kit.aggregate import Aggregate
from services.common.working_days import Calendar
from services.marriage.domain.divorce_rules import (
    ApplicantsAreTheSpouses,
    AtReceivingOffice,
    BothSpousesInPerson,
    CertificateRequested,
    CertificateRequestWithinWindow,
    CoolingOffPeriod,
    MarriageSubsists,
    OneDivorceApplicationAtATime,
    RecordRegionConfirmed,
    SpousesNamedAsOnRecord,
    WithdrawalWithinCoolingOff,
    WithdrawingPartyIsSpouse,
    WrittenDivorceAgreement,
)
from services.marriage.domain.events import (
    CoolingOffEnded,
    DivorceApplicationReceived,
    DivorceCertificateRequested,
    DivorceDeemedWithdrawn,
    DivorceDissolutionRequested,
    DivorceEvent,
    DivorcePeriodEndRescheduled,
    DivorceRecordConfirmed,
    DivorceRefusedByRecord,
    DivorceRegistered,
    DivorceTerminated,
    DivorceWithdrawn,
)
from services.marriage.domain.marriage import Marriage
from services.marriage.domain.periods import (
    CERTIFICATE_WINDOW,
    COOLING_OFF,
    DivorcePeriods,
    cooling_off_last_day,
    window_last_day,
)
from services.marriage.domain.rules import check
from services.marriage.domain.values import DivorceAgreement, DivorceState, RecordStep, Spouse, day_after

STREAM_TYPE = "marriage.Divorce"


OPEN_STATES = frozenset({DivorceState.COOLING_OFF, DivorceState.AWAITING_CERTIFICATE_REQUEST,
                         DivorceState.CERTIFICATE_REQUESTED, DivorceState.AWAITING_DISSOLUTION})
# Ended without registration: a proceeding the record region opened must be closed there.
ENDED_UNREGISTERED = frozenset({DivorceState.WITHDRAWN, DivorceState.DEEMED_WITHDRAWN, DivorceState.TERMINATED})

# The hand-off work a receiving office asks of the region recording the marriage (多地联办,
# docs/cross-region.md): check the spouses and open the proceeding; close it; dissolve the marriage.
RECORD_CHECK_WORK = "marriage.divorce_record_check"
PROCEEDING_CLOSE_WORK = "marriage.divorce_proceeding_close"
DISSOLUTION_WORK = "marriage.divorce_dissolution"
RECORD_WORKS = frozenset({RECORD_CHECK_WORK, PROCEEDING_CLOSE_WORK, DISSOLUTION_WORK})
# The other way: the record region tells the receiving office that a judgment ended the marriage.
JUDGMENT_ENDED_WORK = "marriage.divorce_ended_by_judgment"


def record_handoff_id(case_id: str, work: str) -> str:
    """Hand-off ids derived from the case and the step: each step is asked once, and a retried
    or replayed step names the same hand-off."""
    return f"{case_id}.{work.rsplit('_', 1)[-1]}"


def deadline_id_for(case_id: str, number: int, period: str) -> str:
    """Deadline ids derived from the case: a retried command or handler names the same deadline,
    and the deadline store refuses a second one."""
    return f"{case_id}-{number}-{period.replace('_', '-')}"


def check_against_record(marriage: Marriage, spouse_a: Spouse, spouse_b: Spouse) -> None:
    """What the marriage record must bear out (民法典 第1076条): it subsists, no other divorce is
    open on it, and the applicants are its two parties under the names it records. Checked where
    the record is: by the receiving office when its region records the marriage, else by the
    record region when asked (多地联办)."""
    check(
        MarriageSubsists(marriage.state),
        OneDivorceApplicationAtATime(marriage.open_divorce_case_id),
        ApplicantsAreTheSpouses(frozenset({spouse_a.citizen_id, spouse_b.citizen_id}),
                                frozenset(p.citizen_id for p in marriage.parties)),
        SpousesNamedAsOnRecord((("spouse_a", spouse_a.citizen_id, spouse_a.name),
                                ("spouse_b", spouse_b.citizen_id, spouse_b.name)),
                               tuple((p.citizen_id, p.name) for p in marriage.parties)),
    )


def receive(*, case_id: str, marriage: Marriage | None, spouse_a: Spouse, spouse_b: Spouse,
            agreement: DivorceAgreement, both_present: bool, office_code: str, region: str, periods: DivorcePeriods,
            marriage_case_id: str = "", record_region: str = "") -> list[DivorceEvent]:
    """受理: the office records receipt of the application and the signed agreement. `marriage` is
    the record when this region holds it; None when `record_region` does (国务院令第804号: any
    office receives), which then checks it against its record on request."""
    if marriage is not None:
        check_against_record(marriage, spouse_a, spouse_b)
    check(BothSpousesInPerson(both_present), WrittenDivorceAgreement(agreement.signed_by_both))
    return [DivorceApplicationReceived(
        case_id=case_id, marriage_case_id=marriage.case_id if marriage is not None else marriage_case_id,
        office_code=office_code, region=region, spouse_a=spouse_a, spouse_b=spouse_b, agreement=agreement,
        received_on=periods.received_on,
        cooling_off_last_day=periods.cooling_off_last_day, expected_window_last_day=periods.window_last_day,
        cooling_off_deadline_id=deadline_id_for(case_id, 1, COOLING_OFF), provisional_calendar=periods.provisional,
        record_region="" if marriage is not None else record_region,
    )]


@dataclass
class Divorce(Aggregate):
    stream_type: ClassVar[str] = STREAM_TYPE
    what: ClassVar[str] = "divorce"

    case_id: str = ""
    state: DivorceState | None = None
    marriage_case_id: str = ""
    office_code: str = ""
    region: str = ""
    spouse_a: Spouse | None = None
    spouse_b: Spouse | None = None
    agreement: DivorceAgreement | None = None
    received_on: date | None = None
    cooling_off_last_day: date | None = None
    window_last_day: date | None = None
    provisional_calendar: bool = False
    pending_deadline_id: str = ""
    deadlines_scheduled: int = 0
    due_on: date | None = None  # when the pending deadline fires
    certificate_number: str = ""
    registered_on: date | None = None
    withdrawn_by: str = ""
    closing_reason: str = ""
    record_region: str = ""  # the region recording the marriage when it is not this one
    record_step: RecordStep | None = None
    dissolution_handoff_id: str = ""
    judgment_number: str = ""  # of the judgment that terminated it

    @property
    def spouses(self) -> tuple[Spouse, Spouse]:
        assert self.spouse_a is not None and self.spouse_b is not None, "an empty divorce has no spouses"
        return self.spouse_a, self.spouse_b

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def proceeding_to_close_elsewhere(self) -> bool:
        """Ended without registration after the record region opened the proceeding there (not by
        a judgment the record region recorded: it closed the proceeding itself)."""
        return (self.record_step is RecordStep.RECORD_CONFIRMED and self.state in ENDED_UNREGISTERED
                and not self.judgment_number)

    def _next_deadline_id(self, period: str) -> str:
        return deadline_id_for(self.case_id, self.deadlines_scheduled + 1, period)

    # -- commands -----------------------------------------------------------------------------

    def withdraw(self, *, citizen_id: str, office_code: str, today: date, reason: str) -> list[DivorceEvent]:
        check(
            WithdrawingPartyIsSpouse(citizen_id, self.spouses),
            WithdrawalWithinCoolingOff(self.state),
            AtReceivingOffice(office_code, self.office_code),
        )
        return [DivorceWithdrawn(citizen_id, today, reason)]

    def request_certificate(self, *, office_code: str, both_present: bool, today: date) -> list[DivorceEvent]:
        assert self.cooling_off_last_day is not None
        check(
            CoolingOffPeriod(self.state is DivorceState.COOLING_OFF, self.cooling_off_last_day),
            CertificateRequestWithinWindow(self.state),
            AtReceivingOffice(office_code, self.office_code),
            BothSpousesInPerson(both_present),
            RecordRegionConfirmed(self.record_region, self.record_step),
        )
        return [DivorceCertificateRequested(today)]

    def check_can_register(self, office_code: str) -> None:
        check(CertificateRequested(self.state), AtReceivingOffice(office_code, self.office_code))

    def register(self, *, office_code: str, certificate_number: str, today: date) -> list[DivorceEvent]:
        self.check_can_register(office_code)
        return [DivorceRegistered(certificate_number, today)]

    def terminate(self, *, reason: str, judgment_number: str) -> list[DivorceEvent]:
        if not self.is_open:
            return []
        return [DivorceTerminated(reason, judgment_number)]

    # -- the record region's part (多地联办) ----------------------------------------------------

    def request_dissolution(self, *, office_code: str, certificate_number: str,
                            today: date) -> list[DivorceEvent]:
        """Registration of a divorce whose marriage another region records: the number is taken
        here, and that region is asked to dissolve the marriage."""
        self.check_can_register(office_code)
        return [DivorceDissolutionRequested(self.case_id, self.marriage_case_id, certificate_number, today,
                                            record_handoff_id(self.case_id, DISSOLUTION_WORK))]

    def record_confirmed(self, *, handoff_id: str) -> list[DivorceEvent]:
        """The record region opened the proceeding. Recorded even on a divorce withdrawn meanwhile:
        the proceeding it opened must then be closed there (proceeding_to_close_elsewhere)."""
        if self.record_step is not RecordStep.AWAITING_RECORD_CHECK:
            return []
        return [DivorceRecordConfirmed(handoff_id, self.record_region)]

    def refused_by_record(self, *, handoff_id: str, reason: str) -> list[DivorceEvent]:
        """The record region refused (不予登记, naming the rule): an open application ends refused."""
        if self.record_step is not RecordStep.AWAITING_RECORD_CHECK:
            return []
        return [DivorceRefusedByRecord(handoff_id, self.record_region, reason)]

    def dissolved(self, *, handoff_id: str, certificate_number: str, dissolved_on: date) -> list[DivorceEvent]:
        """The record region dissolved the marriage: the divorce is registered with the number."""
        if self.state is not DivorceState.AWAITING_DISSOLUTION or handoff_id != self.dissolution_handoff_id:
            return []
        return [DivorceRegistered(certificate_number, dissolved_on)]

    # -- deadlines ----------------------------------------------------------------------------

    def end_cooling_off(self, *, deadline_id: str, calendar: Calendar) -> list[DivorceEvent]:
        """The cooling-off deadline fired. Stale firings (the case moved on, or the deadline was
        replaced) change nothing."""
        if self.state is not DivorceState.COOLING_OFF or deadline_id != self.pending_deadline_id:
            return []
        assert self.received_on is not None and self.cooling_off_last_day is not None
        last = cooling_off_last_day(self.received_on, calendar)
        if last > self.cooling_off_last_day:  # a newer official calendar ends it later
            return [DivorcePeriodEndRescheduled(COOLING_OFF, last, day_after(last), not calendar.is_official(last),
                                                self._next_deadline_id(COOLING_OFF))]
        window = window_last_day(self.cooling_off_last_day, calendar)
        return [CoolingOffEnded(self.cooling_off_last_day, window, self._next_deadline_id(CERTIFICATE_WINDOW),
                                not calendar.is_official(window))]

    def end_certificate_window(self, *, deadline_id: str, calendar: Calendar) -> list[DivorceEvent]:
        """The window deadline fired: deemed withdrawn (第1077条第2款), unless the window's end is
        later on the calendar in force now (then the deadline moves there). A provisional calendar
        is the calendar in force until a notice replaces it: the withdrawal is not suspended."""
        if self.state is not DivorceState.AWAITING_CERTIFICATE_REQUEST or deadline_id != self.pending_deadline_id:
            return []
        assert self.cooling_off_last_day is not None and self.window_last_day is not None
        last = window_last_day(self.cooling_off_last_day, calendar)
        provisional = not calendar.is_official(last)
        if last > self.window_last_day:
            return [DivorcePeriodEndRescheduled(CERTIFICATE_WINDOW, last, day_after(last), provisional,
                                                self._next_deadline_id(CERTIFICATE_WINDOW))]
        return [DivorceDeemedWithdrawn(self.window_last_day)]

    def recompute_period_end(self, *, calendar: Calendar) -> list[DivorceEvent]:
        """A calendar notice was recorded: the pending period's last day on the calendar now in
        force (民法典 第二百零三条). When it moved — later, or earlier than the day a provisional
        calendar gave — the deadline moves to it; otherwise nothing changes."""
        if self.state is DivorceState.COOLING_OFF:
            assert self.received_on is not None
            period, current = COOLING_OFF, self.cooling_off_last_day
            last = cooling_off_last_day(self.received_on, calendar)
        elif self.state is DivorceState.AWAITING_CERTIFICATE_REQUEST:
            assert self.cooling_off_last_day is not None
            period, current = CERTIFICATE_WINDOW, self.window_last_day
            last = window_last_day(self.cooling_off_last_day, calendar)
        else:
            return []
        if last == current:
            return []
        return [DivorcePeriodEndRescheduled(period, last, day_after(last), not calendar.is_official(last),
                                            self._next_deadline_id(period))]

    # -- folding ------------------------------------------------------------------------------

    def when(self, event: DivorceEvent) -> None:
        match event:
            case DivorceApplicationReceived():
                self.case_id = event.case_id
                self.marriage_case_id = event.marriage_case_id
                self.office_code = event.office_code
                self.region = event.region
                self.spouse_a, self.spouse_b = event.spouse_a, event.spouse_b
                self.agreement = event.agreement
                self.received_on = event.received_on
                self.cooling_off_last_day = event.cooling_off_last_day
                self.window_last_day = event.expected_window_last_day
                self.provisional_calendar = event.provisional_calendar
                self.pending_deadline_id = event.cooling_off_deadline_id
                self.deadlines_scheduled = 1
                self.due_on = day_after(event.cooling_off_last_day)
                self.state = DivorceState.COOLING_OFF
                self.record_region = event.record_region
                self.record_step = RecordStep.AWAITING_RECORD_CHECK if event.record_region else None
            case DivorceWithdrawn():
                self.state = DivorceState.WITHDRAWN
                self.withdrawn_by = event.citizen_id
                self.closing_reason = event.reason
                self._no_deadline()
            case CoolingOffEnded():
                self.state = DivorceState.AWAITING_CERTIFICATE_REQUEST
                self.cooling_off_last_day = event.cooling_off_last_day
                self.window_last_day = event.window_last_day
                self.provisional_calendar = event.provisional_calendar
                self.pending_deadline_id = event.window_deadline_id
                self.deadlines_scheduled += 1
                self.due_on = day_after(event.window_last_day)
            case DivorcePeriodEndRescheduled():
                if event.period == COOLING_OFF:
                    self.cooling_off_last_day = event.last_day
                else:
                    self.window_last_day = event.last_day
                self.provisional_calendar = event.provisional_calendar
                self.pending_deadline_id = event.deadline_id
                self.deadlines_scheduled += 1
                self.due_on = event.due_on
            case DivorceCertificateRequested():
                self.state = DivorceState.CERTIFICATE_REQUESTED
                self._no_deadline()
            case DivorceRegistered():
                self.state = DivorceState.REGISTERED
                self.certificate_number = event.certificate_number
                self.registered_on = event.registered_on
            case DivorceDeemedWithdrawn():
                self.state = DivorceState.DEEMED_WITHDRAWN
                self.closing_reason = "no certificate request within the window (民法典 第1077条第2款)"
                self._no_deadline()
            case DivorceTerminated():
                self.state = DivorceState.TERMINATED
                self.closing_reason = event.reason
                self.judgment_number = event.judgment_number
                self._no_deadline()
            case DivorceRecordConfirmed():
                self.record_step = RecordStep.RECORD_CONFIRMED
            case DivorceRefusedByRecord():
                self.record_step = RecordStep.REFUSED
                if self.is_open:
                    self.state = DivorceState.REFUSED
                    self.closing_reason = event.reason
                    self._no_deadline()
            case DivorceDissolutionRequested():
                self.state = DivorceState.AWAITING_DISSOLUTION
                self.certificate_number = event.certificate_number
                self.dissolution_handoff_id = event.handoff_id
            case _:
                raise TypeError(f"not a divorce event: {type(event).__name__}")

    def _no_deadline(self) -> None:
        self.pending_deadline_id = ""
        self.due_on = None
