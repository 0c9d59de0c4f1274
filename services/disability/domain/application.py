"""The Application aggregate: one person's application for one or both subsidies, its review
through the three stages, and then the entitlements it granted for their whole life (stops,
resumptions, certificate renewals).

Command methods check the rules and return new events; `when` only assigns. Dates, months,
deadline ids and amounts are decided by the command methods from what the handler passes in (the
day, the region's settings, the calendar), so replay is pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from services.common.identity.disability_certificate import DisabilityCategory, DisabilityGrade
from services.common.kit.aggregate import Aggregate
from services.common.registry.retry import claim_id_of_attempt
from services.common.working_days import Calendar
from services.disability.domain import events as ev
from services.disability.domain import registry_answers as answers
from services.disability.domain.entitlements import Cover, Entitlement, OwedMonth
from services.disability.domain.rules import (
    AtLeastOneSubsidy,
    CertificateValidOnApplication,
    EntitlementIsPaid,
    RefusalGivesReasons,
    RegistryAnswered,
    Rule,
    StageInTurn,
    check,
    first_broken,
    living_rules,
    nursing_rules,
)
from services.disability.domain.settings import RegionalSettings, default_stage_limit
from services.disability.domain.values import (
    Applicant,
    ApplicationState,
    Certificate,
    Circumstances,
    HouseholdStatus,
    Stage,
    StopReason,
    Subsidy,
    WindowStage,
    add_months,
    month_of,
    next_month,
    stage_of,
)

STREAM_TYPE = "disability.Application"


def claim_id_for(case_id: str, subsidy: Subsidy, generation: int = 0) -> str:
    """A subsidy's registry claim id, derived from the case: a retried command names the same claim.
    A place given up (a stop) and claimed again (the stop found wrong) is the next generation."""
    return f"{case_id}-{subsidy.value}" + (f"-{generation}" if generation else "")


def deadline_id_for(case_id: str, stage: Stage | WindowStage) -> str:
    """A stage's deadline id, derived from the case: a retried command names the same deadline."""
    return f"{case_id}-{stage.value}"


def start_stage(case_id: str, stage: Stage | WindowStage, on: date, settings: RegionalSettings | None,
                calendar: Calendar) -> ev.StageStarted:
    """A stage and its last working day. `settings` None: a region that has configured nothing of
    its own (it may still receive and forward for other provinces): the national limits."""
    limit = settings.stage_limit(stage) if settings is not None else default_stage_limit(stage)
    return ev.StageStarted(stage.value, on, calendar.add_working_days(on, limit), limit,
                           deadline_id_for(case_id, stage))


def _refusal(subsidy: Subsidy, stage: Stage, rule: Rule) -> ev.SubsidyRefused:
    return ev.SubsidyRefused(subsidy.value, stage.value, rule.name, rule.article, rule.message)


def receive_application(*, case_id: str, office_code: str, region: str, received_on: date,
                        applicant: Applicant, certificate: Certificate, household: HouseholdStatus,
                        household_source: str, circumstances: Circumstances, bank_account: str,
                        living: bool, nursing: bool, settings: RegionalSettings,
                        calendar: Calendar) -> list[Any]:
    """受理: what the window can judge itself, on the day of application. A subsidy the person
    cannot have is refused with its rule and article (the other goes on); if neither is left the
    application is refused as a whole, in writing. Malformed input never gets this far."""
    check(AtLeastOneSubsidy(living, nursing))
    received = ev.ApplicationReceived(case_id, office_code, region, received_on, applicant, certificate,
                                      household.value, household_source, circumstances, bank_account,
                                      living, nursing)
    expired = CertificateValidOnApplication(certificate.valid_until, received_on)
    if expired.is_broken():
        return [received, ev.ApplicationRefused(Stage.TOWNSHIP_REVIEW.value, office_code, received_on,
                                                expired.name, expired.article, expired.message)]
    events: list[Any] = [received]
    asked = [s for s, wanted in ((Subsidy.LIVING, living), (Subsidy.NURSING, nursing)) if wanted]
    refused = []
    for subsidy in asked:
        broken = first_broken(*_rules_of(subsidy, certificate, household, circumstances, settings))
        if broken is not None:
            events.append(_refusal(subsidy, Stage.TOWNSHIP_REVIEW, broken))
            refused.append(broken)
    if len(refused) == len(asked):
        first = refused[0]
        events.append(ev.ApplicationRefused(Stage.TOWNSHIP_REVIEW.value, office_code, received_on,
                                            first.name, first.article, "; ".join(r.message for r in refused)))
        return events
    events.append(start_stage(case_id, Stage.TOWNSHIP_REVIEW, received_on, settings, calendar))
    return events


def _rules_of(subsidy: Subsidy, certificate: Certificate, household: HouseholdStatus,
              circumstances: Circumstances, settings: RegionalSettings) -> tuple[Rule, ...]:
    if subsidy is Subsidy.LIVING:
        return living_rules(household, circumstances, settings)
    return nursing_rules(DisabilityCategory(certificate.category), DisabilityGrade(certificate.grade),
                         circumstances, settings)


@dataclass
class Application(Aggregate):
    stream_type: ClassVar[str] = STREAM_TYPE
    what: ClassVar[str] = "disability application"

    case_id: str = ""
    office_code: str = ""
    region: str = ""
    received_on: date | None = None
    applicant: Applicant | None = None
    certificate: Certificate | None = None
    household: HouseholdStatus = HouseholdStatus.NONE
    household_source: str = ""  # "declared", "relief" (verified by its record) or "county" (at approval)
    circumstances: Circumstances | None = None
    bank_account: str = ""
    state: ApplicationState | None = None
    requested: list[Subsidy] = field(default_factory=list)
    refused: dict[Subsidy, ev.SubsidyRefused] = field(default_factory=dict)
    stage: Stage | WindowStage | None = None  # the stage at work, if any
    stage_due_on: date | None = None
    stage_started: ev.StageStarted | None = None
    stage_deadline_id: str = ""
    overdue: bool = False
    refusal: ev.ApplicationRefused | None = None
    approved_on: date | None = None
    entitlements: dict[Subsidy, Entitlement] = field(default_factory=dict)
    claims_granted: dict[Subsidy, str] = field(default_factory=dict)  # subsidy → decision id
    claims_lost: dict[Subsidy, str] = field(default_factory=dict)
    claims_released: set[Subsidy] = field(default_factory=set)
    claim_generation: dict[Subsidy, int] = field(default_factory=dict)
    claim_attempts: dict[Subsidy, int] = field(default_factory=dict)  # after a PENDING answer (retry.py)
    claim_retries: dict[Subsidy, str] = field(default_factory=dict)  # subsidy → its retry deadline, scheduled
    handoff_id: str = ""  # the hand-off that forwarded it (window side) or brought it here (户籍 side)
    forwarded_to: str = ""  # window side: the 户籍 region deciding it
    from_region: str = ""  # 户籍 side: the region whose window received it
    decided_elsewhere: ev.HukouRegionDecided | None = None
    forward_refusal: str = ""
    informed_on: date | None = None

    # -- reading ----------------------------------------------------------------------------------

    @property
    def still_asked(self) -> list[Subsidy]:
        return [s for s in self.requested if s not in self.refused]

    def subsidy_of_claim(self, claim_id: str) -> Subsidy | None:
        return next((s for s in self.requested if self.claim_id(s) == claim_id), None)

    def claim_id(self, subsidy: Subsidy) -> str:
        return claim_id_of_attempt(claim_id_for(self.case_id, subsidy, self.claim_generation.get(subsidy, 0)),
                                   self.claim_attempts.get(subsidy, 1))

    def _releases(self, reason: str, only: Subsidy | None = None) -> list[Any]:
        return [ev.SubsidyClaimReleased(s.value, self.claim_id(s), reason)
                for s in self.claims_granted if s not in self.claims_released and only in (None, s)]

    def owed_in_run(self, run_month: str) -> list[OwedMonth]:
        return [line for subsidy in Subsidy if subsidy in self.entitlements
                for line in self.entitlements[subsidy].owed_in_run(run_month)]

    # -- the stages -------------------------------------------------------------------------------

    def complete_stage(self, stage: Stage, *, office_code: str, on: date, note: str,
                       settings: RegionalSettings, calendar: Calendar) -> list[Any]:
        """Township review passed, or the county 残联 confirmed certificate and grade: the next
        stage starts with its own limit."""
        check(StageInTurn(self.state, self.stage, stage))
        following = stage.next
        if following is None:
            raise ValueError("the last stage ends by approve() or refuse()")
        return [ev.StageCompleted(stage.value, office_code, on, note),
                start_stage(self.case_id, following, on, settings, calendar)]

    def refuse(self, stage: Stage, *, office_code: str, on: date, rule: str, article: str,
               reason: str) -> list[Any]:
        """A refusal at any stage, with its reasons (and the rule it rests on when there is one)."""
        check(StageInTurn(self.state, self.stage, stage), RefusalGivesReasons(reason))
        return [ev.ApplicationRefused(stage.value, office_code, on, rule or "ReviewFindings",
                                      article or "国发〔2015〕52号 三", reason),
                *self._releases("the application was refused")]

    def approve(self, *, office_code: str, on: date, household: HouseholdStatus, household_source: str,
                settings: RegionalSettings) -> list[Any]:
        """县级民政 审定, with the household's economic status as confirmed: a living subsidy whose
        household does not qualify is refused, the rest granted from the month of application."""
        check(StageInTurn(self.state, self.stage, Stage.APPROVAL),
              *(RegistryAnswered(s, s in self.claims_granted) for s in self.still_asked))
        assert self.received_on is not None and self.certificate is not None and self.circumstances is not None
        events: list[Any] = [ev.HouseholdStatusConfirmed(household.value, household_source)]
        granted = []
        for subsidy in self.still_asked:
            broken = first_broken(*_rules_of(subsidy, self.certificate, household, self.circumstances, settings))
            if broken is not None:
                events += [_refusal(subsidy, Stage.APPROVAL, broken), *self._releases(broken.message, subsidy)]
            else:
                granted.append(subsidy)
        if not granted:
            reasons = "; ".join(e.reason for e in events if isinstance(e, ev.SubsidyRefused))
            events.append(ev.ApplicationRefused(Stage.APPROVAL.value, office_code, on, "NoSubsidyLeft",
                                                "国发〔2015〕52号 二(一)", reasons))
            return events
        events += [ev.StageCompleted(Stage.APPROVAL.value, office_code, on, ""),
                   ev.ApplicationApproved(office_code, on)]
        events += [ev.EntitlementGranted(s.value, month_of(self.received_on), settings.amount_fen(s), month_of(on))
                   for s in granted]
        return events

    def recompute_stage_due(self, calendar: Calendar) -> list[Any]:
        """A holiday notice was recorded: the open stage's last working day on the calendar now in
        force. When it moved — later, or earlier than a provisional calendar gave — so does its
        deadline (a stage already overdue stays so)."""
        started = self.stage_started
        if self.stage is None or started is None or self.overdue:
            return []
        due_on = calendar.add_working_days(started.started_on, started.limit_working_days)
        if due_on == self.stage_due_on:
            return []
        return [ev.StageDueRescheduled(started.stage, due_on, f"{started.deadline_id}-v{self.version + 1}")]

    def mark_overdue(self, deadline_id: str) -> list[Any]:
        """The stage's deadline fired: recorded, so the overdue list shows it (a stage finished
        meanwhile cancelled its deadline; a late firing for it changes nothing)."""
        if self.stage is None or deadline_id != self.stage_deadline_id or self.overdue:
            return []
        assert self.stage is not None and self.stage_due_on is not None
        return [ev.StageWentOverdue(self.stage.value, self.stage_due_on, deadline_id)]

    # -- entitlements -----------------------------------------------------------------------------

    def stop(self, subsidy: Subsidy, *, reason: StopReason, effective_on: date, found_on: date, source: str,
             note: str, settings: RegionalSettings) -> list[Any]:
        """Stops from the month after the event (death, move, false materials, failed review, 低保
        lost, own request), or the month found where the region says so."""
        entitlement = self.entitlements.get(subsidy)
        check(EntitlementIsPaid(subsidy, entitlement is not None,
                                entitlement is not None and entitlement.stopped, must_be_stopped=False))
        stop_month = month_of(found_on) if settings.stop_in_month_found else next_month(month_of(effective_on))
        return [ev.EntitlementStopped(subsidy.value, reason.value, stop_month, found_on, source, note),
                *self._releases(f"stopped: {reason.value}", subsidy)]

    def stop_all(self, *, reason: StopReason, effective_on: date, found_on: date, source: str, note: str,
                 settings: RegionalSettings, only: Subsidy | None = None) -> list[Any]:
        """Every entitlement still paid (or `only` that one): what data matching acts on."""
        return [event for subsidy, entitlement in self.entitlements.items()
                if not entitlement.stopped and only in (None, subsidy)
                for event in self.stop(subsidy, reason=reason, effective_on=effective_on, found_on=found_on,
                                       source=source, note=note, settings=settings)]

    def resume(self, subsidy: Subsidy, *, reviewed_on: date, reason: str) -> list[Any]:
        """A stop found wrong on review: owed again from the stop month, the gap back-paid."""
        entitlement = self.entitlements.get(subsidy)
        check(EntitlementIsPaid(subsidy, entitlement is not None,
                                entitlement is not None and entitlement.stopped, must_be_stopped=True),
              RefusalGivesReasons(reason))
        assert entitlement is not None
        return [ev.EntitlementResumed(subsidy.value, entitlement.stop_month, month_of(reviewed_on), reviewed_on,
                                      reason)]

    def renew_certificate(self, certificate: Certificate, *, issued_on: date, recorded_on: date,
                          settings: RegionalSettings) -> list[Any]:
        """A renewed certificate: owed again from the month of issue, and up to the region's number
        of months of the gap since the old one ran out."""
        check(CertificateValidOnApplication(certificate.valid_until, recorded_on))
        covered = [e.covered_until for e in self.entitlements.values() if e.covered_until]
        gap_start = next_month(max(covered)) if covered else month_of(issued_on)
        covered_from = max(gap_start, add_months(month_of(issued_on), -settings.renewal_back_pay_months))
        return [ev.CertificateRenewed(certificate, issued_on, min(covered_from, month_of(issued_on)),
                                      month_of(recorded_on))]

    # -- registry decisions -------------------------------------------------------------------------

    def record_grant(self, claim_id: str, decision_id: str) -> list[Any]:
        return answers.record_grant(self, claim_id, decision_id)

    def record_loss(self, claim_id: str, decision_id: str, *, outcome: str, holder_case_id: str,
                    holder_region: str, holder_service: str, on: date) -> list[Any]:
        return answers.record_loss(self, claim_id, decision_id, outcome=outcome, holder_case_id=holder_case_id,
                                   holder_region=holder_region, holder_service=holder_service, on=on)

    def record_pending(self, claim_id: str, decision_id: str, *, holder_case_id: str, holder_region: str,
                       holder_service: str, on: date) -> list[Any]:
        return answers.record_pending(self, claim_id, decision_id, holder_case_id=holder_case_id,
                                      holder_region=holder_region, holder_service=holder_service, on=on)

    def retry_claim(self, subsidy: Subsidy, deadline_id: str) -> list[Any]:
        return answers.retry_claim(self, subsidy, deadline_id)

    # -- folding ----------------------------------------------------------------------------------

    def when(self, event: Any) -> None:
        match event:
            case ev.ApplicationReceived():
                self.case_id, self.office_code, self.region = event.case_id, event.office_code, event.region
                self.received_on, self.applicant = event.received_on, event.applicant
                self.certificate = event.certificate
                self.household, self.household_source = HouseholdStatus(event.household), event.household_source
                self.circumstances, self.bank_account = event.circumstances, event.bank_account
                self.requested = [s for s, asked in ((Subsidy.LIVING, event.living_requested),
                                                     (Subsidy.NURSING, event.nursing_requested)) if asked]
                self.state = ApplicationState.UNDER_REVIEW
            case ev.StageStarted() if event.stage == WindowStage.FORWARDING.value:
                self.state, self.stage, self.stage_due_on = ApplicationState.FORWARDING, WindowStage.FORWARDING, \
                    event.due_on
                self.stage_deadline_id, self.overdue, self.stage_started = event.deadline_id, False, event
            case ev.SubsidyRefused():
                self.refused[Subsidy(event.subsidy)] = event
            case ev.StageStarted():
                self.stage, self.stage_due_on, self.stage_started = stage_of(event.stage), event.due_on, event
                self.stage_deadline_id, self.overdue = event.deadline_id, False
            case ev.StageWentOverdue():
                self.overdue = True
            case ev.StageDueRescheduled():
                self.stage_due_on, self.stage_deadline_id = event.due_on, event.deadline_id
            case ev.StageCompleted():
                self.stage, self.stage_due_on, self.stage_deadline_id, self.overdue = None, None, "", False
            case ev.HouseholdStatusConfirmed():
                self.household, self.household_source = HouseholdStatus(event.household), event.source
            case ev.ApplicationRefused():
                self.state, self.refusal = ApplicationState.REFUSED, event
                self.stage, self.stage_due_on, self.stage_deadline_id = None, None, ""
            case ev.ApplicationApproved():
                self.state, self.approved_on = ApplicationState.APPROVED, event.approved_on
            case ev.EntitlementGranted():
                assert self.certificate is not None
                cover = Cover(event.start_month, month_of(self.certificate.valid_until), event.decided_month)
                self.entitlements[Subsidy(event.subsidy)] = Entitlement(
                    Subsidy(event.subsidy), event.amount_fen, event.start_month, event.decided_month, [cover])
            case ev.EntitlementStopped():
                entitlement = self.entitlements[Subsidy(event.subsidy)]
                entitlement.stop_month, entitlement.stop_reason = event.stop_month, event.reason
            case ev.EntitlementResumed():
                subsidy = Subsidy(event.subsidy)
                entitlement = self.entitlements[subsidy]
                entitlement.stop_month, entitlement.stop_reason = "", ""
                entitlement.resumes.append((event.resume_month, event.decided_month))
                if subsidy in self.claims_released:  # the place was given up: claimed anew (subscribers.py)
                    self.claim_generation[subsidy] = self.claim_generation.get(subsidy, 0) + 1
                    self.claims_granted.pop(subsidy, None)
                    self.claims_lost.pop(subsidy, None)
                    self.claims_released.discard(subsidy)
                    self.claim_attempts.pop(subsidy, None)
            case ev.CertificateRenewed():
                self.certificate = event.certificate
                for entitlement in self.entitlements.values():
                    entitlement.covers.append(Cover(event.covered_from, month_of(event.certificate.valid_until),
                                                    event.decided_month))
            case ev.SubsidyClaimGranted():
                self.claims_granted[Subsidy(event.subsidy)] = event.decision_id
            case ev.SubsidyClaimDenied():
                self.claims_lost[Subsidy(event.subsidy)] = event.decision_id
            case ev.SubsidyClaimReleased():
                self.claims_released.add(Subsidy(event.subsidy))
            case ev.SubsidyClaimPending():
                if event.retry_deadline_id:
                    self.claim_retries[Subsidy(event.subsidy)] = event.retry_deadline_id
            case ev.SubsidyClaimRetried():
                self.claim_attempts[Subsidy(event.subsidy)] = event.attempt
                self.claim_retries.pop(Subsidy(event.subsidy), None)
            case ev.ApplicationForwarded():
                self.handoff_id, self.forwarded_to = event.handoff_id, event.to_region
            case ev.ReceivedByHandoff():
                self.handoff_id, self.from_region = event.handoff_id, event.from_region
            case ev.HukouRegionDecided():
                self.decided_elsewhere = event
                self.state = ApplicationState.APPROVED if event.approved else ApplicationState.REFUSED
            case ev.ForwardRefused():
                self.forward_refusal, self.state = event.reason, ApplicationState.REFUSED
            case ev.ApplicantInformed():
                self.informed_on = event.informed_on
            case _:
                raise TypeError(f"not a disability application event: {type(event).__name__}")
