"""relief.Dibao: one household's 低保 case, from application to decision and through dynamic
management (民发〔2021〕57号). Command methods decide and return events; `when` only assigns.

States: received → accepted → investigating → reviewed (township opinion given) → in_notice →
awaiting_decision → granted | refused (→ refusal_notified); a granted household may be tapering
(渐退) and then ended. Dates come in as arguments: the aggregate never reads a clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, ClassVar

from services.common.kit.aggregate import Aggregate
from services.relief.domain import dibao_places as places
from services.relief.domain import events as ev
from services.relief.domain.dibao_names import (
    ACCEPTED,
    AWAITING_DECISION,
    CHECK_ANSWERED,
    CHECK_REFUSED,
    CHECK_REQUESTED,
    ENDED,
    GRANTED,
    IN_NOTICE,
    INVESTIGATING,
    PLACE_GRANTED,
    PLACE_REQUESTED,
    RECEIVED,
    REFUSAL_NOTIFIED,
    REFUSED,
    REVIEWED,
    TAPERING,
    check_handoff_id,
    claim_id_for,
    deadline_id,
    region_of_hukou,
)
from services.relief.domain.household import (
    Member,
    add_calendar_months,
    add_months,
    allowance,
    has_working_age_member,
    month_after,
    month_of,
)
from services.relief.domain.rules import (
    CountyVisitsFlaggedHousehold,
    EconomicChecksAnswered,
    HomeVisitByTwoStaff,
    IncomeBelowStandard,
    NoticeRunsItsDays,
    ObjectionsAnswered,
    OnePlacePerMember,
    RefusalGivesReasons,
    RegistryAnswersFirst,
    StepInOrder,
    check,
    first_broken,
)
from services.relief.domain.settings import Area, ReliefSettings, contains


@dataclass
class Dibao(Aggregate):
    stream_type: ClassVar[str] = "relief.Dibao"
    what: ClassVar[str] = "低保 case"

    case_id: str = ""
    office_code: str = ""
    region: str = ""
    place: str = ""
    area: str = ""
    route: str = ""
    applicant_citizen_id: str = ""
    received_on: date | None = None
    special: bool = False
    unstable_income: bool = False
    relatives_flagged: bool = False
    state: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    accepted_on: date | None = None
    investigation_due_on: date | None = None
    decision_due_on: date | None = None
    investigation_started_on: date | None = None
    visitors: list[tuple[str, str]] = field(default_factory=list)
    county_visited: bool = False
    democratic_review: str = ""
    recommends: bool = False
    notice_last_day: date | None = None
    notice_deadline_id: str = ""
    objections: dict[str, str] = field(default_factory=dict)  # id → answer ("" while open)
    decided_on: date | None = None
    monthly_amount_fen: int = 0
    standard_fen: int = 0
    first_month: str = ""
    last_month: str = ""  # "" while paid without end
    refusal: str = ""
    review_due_on: date | None = None
    review_deadline_id: str = ""
    overdue: list[str] = field(default_factory=list)  # limits overrun, not yet done
    # citizen → "requested" | "granted" | the holder that denied it: each member's one 低保 place
    places: dict[str, str] = field(default_factory=dict)
    # hand-off id → "requested" | "answered" | "refused": checks asked of other regions (多地联办)
    checks: dict[str, str] = field(default_factory=dict)
    bank_account: str = ""
    # (first month, monthly fen) in force from that month on: the grant, then each income change
    amounts: list[tuple[str, int]] = field(default_factory=list)
    review_triggers: list[str] = field(default_factory=list)  # marriages/divorces awaiting the review
    place_attempts: dict[str, int] = field(default_factory=dict)  # citizen → attempt, after a PENDING answer
    place_retries: dict[str, str] = field(default_factory=dict)  # citizen → the retry deadline scheduled

    # -- deciding --------------------------------------------------------------------------------

    def accept(self, today: date, settings: ReliefSettings) -> list[Any]:
        """受理: the investigation must start within 3 working days; the decision within 30 (45)."""
        check(StepInOrder(self.state, (RECEIVED,), "accept"))
        limit = settings.decision_within_special if self.special else settings.decision_within
        return [ev.DibaoApplicationAccepted(
            accepted_on=today,
            investigation_due_on=settings.calendar.add_working_days(today, settings.investigation_start_within),
            decision_due_on=settings.calendar.add_working_days(today, limit),
            investigation_deadline_id=deadline_id(self.case_id, "investigation"),
            decision_deadline_id=deadline_id(self.case_id, "decision"))]

    def start_investigation(self, today: date, region: str = "") -> list[Any]:
        """The investigation starts; a member whose 户籍 lies outside `region` is checked by the
        region of their 户籍, on request (多地联办: that region assists with the check)."""
        check(StepInOrder(self.state, (ACCEPTED,), "start the family economic investigation of"))
        elsewhere = [m for m in self.members.values() if region and not contains(region, m.hukou_region)]
        return [ev.InvestigationStarted(started_on=today)] + [ev.EconomicCheckRequested(
            handoff_id=check_handoff_id(self.case_id, m.citizen_id), case_id=self.case_id, citizen_id=m.citizen_id,
            name=m.name, hukou_region=m.hukou_region, to_region=region_of_hukou(m.hukou_region), requested_on=today)
            for m in sorted(elsewhere, key=lambda m: m.citizen_id)]

    def record_check_answer(self, answer: ev.EconomicCheckAnswered) -> list[Any]:
        """The other region's findings, recorded as they arrived (once; a redelivery adds nothing)."""
        return [answer] if self.checks.get(answer.handoff_id) == CHECK_REQUESTED else []

    def record_check_refusal(self, handoff_id: str, citizen_id: str, reason: str) -> list[Any]:
        if self.checks.get(handoff_id) != CHECK_REQUESTED:
            return []
        return [ev.EconomicCheckRefused(handoff_id=handoff_id, citizen_id=citizen_id, reason=reason)]

    def record_home_visit(self, today: date, first_visitor: str, second_visitor: str, *, by_county: bool,
                          findings: str) -> list[Any]:
        check(StepInOrder(self.state, (INVESTIGATING,), "record a home visit on"),
              HomeVisitByTwoStaff(first_visitor, second_visitor))
        return [ev.HomeVisitRecorded(visited_on=today, first_visitor=first_visitor.strip(),
                                     second_visitor=second_visitor.strip(), by_county=by_county,
                                     findings=findings.strip())]

    def record_democratic_review(self, today: date, outcome: str) -> list[Any]:
        check(StepInOrder(self.state, (INVESTIGATING,), "record a democratic review on"))
        return [ev.DemocraticReviewRecorded(held_on=today, outcome=outcome.strip())]

    def give_township_opinion(self, today: date, *, recommends: bool, reasons: str) -> list[Any]:
        check(StepInOrder(self.state, (INVESTIGATING,), "give the township's opinion on"),
              StepInOrder("visited" if self.visitors else "not visited", ("visited",),
                          "give an opinion (no home visit recorded) on"),
              CountyVisitsFlaggedHousehold(self.relatives_flagged, self.county_visited),
              EconomicChecksAnswered(tuple(h for h, state in sorted(self.checks.items()) if state == CHECK_REQUESTED)))
        return [ev.TownshipOpinionGiven(given_on=today, recommends=recommends, reasons=reasons.strip())]

    def start_public_notice(self, today: date, settings: ReliefSettings) -> list[Any]:
        """公示 for 7 days in the village or community; the deadline ends it."""
        check(StepInOrder(self.state, (REVIEWED,), "publish the notice of"))
        # A period of days starts the day after (民法典 第二百零一条) and a last day on a holiday rolls to
        # the next working day (第二百零三条), as the calendar in force says.
        last_day = settings.calendar.calendar_period_end(today, settings.public_notice_days)
        return [ev.PublicNoticeStarted(started_on=today, last_day=last_day,
                                       deadline_id=deadline_id(self.case_id, "notice"))]

    def raise_objection(self, today: date, objection_id: str, objection: str) -> list[Any]:
        check(StepInOrder(self.state, (IN_NOTICE,), "record an objection to"))
        return [ev.ObjectionRaised(objection_id=objection_id, raised_on=today, objection=objection.strip())]

    def answer_objection(self, today: date, objection_id: str, answer: str) -> list[Any]:
        check(StepInOrder(self.state, (IN_NOTICE, AWAITING_DECISION), "answer an objection to"),
              StepInOrder("open" if self.objections.get(objection_id) == "" else "not open", ("open",),
                          f"answer objection {objection_id} (unknown or answered) on"))
        return [ev.ObjectionAnswered(objection_id=objection_id, answered_on=today, answer=answer.strip())]

    def end_public_notice(self, today: date) -> list[Any]:
        """Fired by the notice deadline (or a clerk once it has run)."""
        if self.state != IN_NOTICE:
            return []
        assert self.notice_last_day is not None
        check(NoticeRunsItsDays(today, self.notice_last_day))
        return [ev.PublicNoticeEnded(ended_on=today)]

    def decide(self, today: date, settings: ReliefSettings, *, approve: bool, reasons: str) -> list[Any]:
        """县级确认: grant the 补差 from the month after, or refuse in writing within 3 working days."""
        check(StepInOrder(self.state, (AWAITING_DECISION,), "decide"),
              ObjectionsAnswered(tuple(k for k, v in self.objections.items() if not v)))
        members = list(self.members.values())
        computed = allowance(members, settings.standard(self.place, Area(self.area)) or 0)
        denied = tuple(f"{c} ({held})" for c, held in sorted(self.places.items())
                       if held not in (PLACE_REQUESTED, PLACE_GRANTED))
        if approve and not denied:
            check(RegistryAnswersFirst(tuple(c for c, p in self.places.items() if p == PLACE_REQUESTED)))
        broken = first_broken(OnePlacePerMember(denied), IncomeBelowStandard(computed)) if approve else None
        if approve and broken is None:
            unstable = self.unstable_income or has_working_age_member(members, today)
            months = settings.review_months_unstable if unstable else settings.review_months_stable
            first_month = month_after(today)
            granted: list[Any] = [ev.DibaoGranted(
                decided_on=today, standard_fen=computed.standard_fen, counted_income_fen=computed.counted_income_fen,
                per_capita_income_fen=computed.per_capita_income_fen, household_size=computed.household_size,
                monthly_amount_fen=computed.monthly_amount_fen, first_month=first_month,
                review_due_on=add_calendar_months(today, months),
                review_deadline_id=deadline_id(self.case_id, f"review-{first_month}"))]
            return granted + [ev.MemberEnteredDibao(citizen_id=c, case_id=self.case_id, first_month=first_month)
                              for c in sorted(self.members)]
        if broken is not None:
            rule, why = broken.name, broken.violation().message
        else:
            check(RefusalGivesReasons(reasons))
            rule, why = "CountyRefusal", reasons.strip()
        return [ev.DibaoRefused(decided_on=today, rule=rule, reasons=why,
                                notify_by=settings.calendar.add_working_days(today, settings.refusal_notice_within),
                                notice_deadline_id=deadline_id(self.case_id, "refusal-notice"))]

    def notify_refusal(self, today: date, reference: str) -> list[Any]:
        check(StepInOrder(self.state, (REFUSED,), "notify the refusal of"))
        return [ev.RefusalNotified(notified_on=today, reference=reference.strip())]

    def change_income(self, today: date, settings: ReliefSettings, citizen_id: str, *, earned_income_fen: int,
                      other_income_fen: int) -> list[Any]:
        """Dynamic management: a member's income changed. The amount is recomputed; a household now
        at or above the standard is paid through the region's 渐退期, then leaves."""
        check(StepInOrder(self.state, (GRANTED,), "record an income change on"),
              StepInOrder("member" if citizen_id in self.members else "not a member", ("member",),
                          f"change the income of {citizen_id} (not in the household) on"))
        changed = {**self.members, citizen_id: replace(self.members[citizen_id], earned_income_fen=earned_income_fen,
                                                       other_income_fen=other_income_fen)}
        computed = allowance(list(changed.values()), self.standard_fen)
        out: list[Any] = [ev.IncomeChangeRecorded(
            recorded_on=today, citizen_id=citizen_id, earned_income_fen=earned_income_fen,
            other_income_fen=other_income_fen, counted_income_fen=computed.counted_income_fen,
            monthly_amount_fen=computed.monthly_amount_fen)]
        if not computed.below_standard:
            last = add_months(month_of(today), settings.taper_off_months)
            out.append(ev.TaperOffStarted(started_on=today, last_month=last,
                                          deadline_id=deadline_id(self.case_id, "taper-end")))
        return out

    def end(self, today: date) -> list[Any]:
        """The 渐退期 has run out (its deadline): the household leaves 低保, every member with it — and
        only now is each member's place given back to the registry."""
        if self.state != TAPERING:
            return []
        return [ev.DibaoEnded(ended_on=today, last_month=self.last_month)] + [
            ev.MemberLeftDibao(citizen_id=c, case_id=self.case_id, last_month=self.last_month,
                               reason="income above the standard: 渐退期 ended") for c in sorted(self.members)]

    def place_claim_id(self, citizen_id: str) -> str:
        return claim_id_for(self.case_id, citizen_id, self.place_attempts.get(citizen_id, 1))

    def record_registry_decision(self, citizen_id: str, claim_id: str, decision_id: str, *, outcome: str,
                                 holder_case_id: str = "", holder_region: str = "") -> list[Any]:
        """The registry's answer on a member's place (dibao_places.py: PENDING is no refusal)."""
        return places.record_answer(self, citizen_id, claim_id, decision_id, outcome=outcome,
                                    holder_case_id=holder_case_id, holder_region=holder_region)

    def retry_place(self, citizen_id: str, deadline_id: str) -> list[Any]:
        return places.retry_place(self, citizen_id, deadline_id)

    def trigger_review(self, today: date, citizen_id: str, cause: str, source_case_id: str,
                       source_region: str) -> list[Any]:
        """A member's marriage or divorce changes the household: a review is due (once per event)."""
        if self.state != GRANTED or citizen_id not in self.members or source_case_id in self.review_triggers:
            return []
        return [ev.HouseholdReviewTriggered(citizen_id=citizen_id, cause=cause, source_case_id=source_case_id,
                                            source_region=source_region, triggered_on=today)]

    def record_review(self, today: date, settings: ReliefSettings, findings: str) -> list[Any]:
        """定期核查: every 12 months, or 6 with unstable income or working-age members; an income
        found changed is recorded with RecordIncomeChange (which recomputes the amount)."""
        check(StepInOrder(self.state, (GRANTED,), "record a review of"))
        unstable = self.unstable_income or has_working_age_member(list(self.members.values()), today)
        next_due = add_calendar_months(today, settings.review_months_unstable if unstable
                                       else settings.review_months_stable)
        return [ev.ReviewRecorded(reviewed_on=today, findings=findings.strip(), next_review_due_on=next_due,
                                  next_review_deadline_id=deadline_id(self.case_id, f"review-{today.isoformat()}"))]

    def note_overrun(self, today: date, limit: str, due_on: date) -> list[Any]:
        """A limit's deadline fired: recorded only when its step is still not done."""
        waiting = {"investigation": (ACCEPTED,), "decision": (ACCEPTED, INVESTIGATING, REVIEWED, IN_NOTICE,
                                                               AWAITING_DECISION),
                   "refusal_notice": (REFUSED,), "review": (GRANTED,)}
        if self.state not in waiting.get(limit, ()):
            return []
        return [ev.TimeLimitOverrun(limit=limit, due_on=due_on, noted_on=today)]

    # -- folding ---------------------------------------------------------------------------------

    def when(self, event: Any) -> None:
        match event:
            case ev.DibaoApplicationReceived():
                self.case_id, self.office_code, self.region = event.case_id, event.office_code, event.region
                self.place, self.area, self.route = event.place, event.area, event.route
                self.applicant_citizen_id, self.received_on = event.applicant_citizen_id, event.received_on
                self.special, self.unstable_income = event.special, event.unstable_income
                self.relatives_flagged, self.state = event.relatives_flagged, RECEIVED
                self.bank_account = event.bank_account
            case ev.HouseholdMemberDeclared():
                self.members[event.citizen_id] = Member(
                    event.citizen_id, event.name, event.relation, event.hukou_region, event.residence_permit_region,
                    event.earned_income_fen, event.other_income_fen, event.disability_subsidy_fen, event.assets_fen)
            case ev.DibaoApplicationAccepted():
                self.state, self.accepted_on, self.decision_due_on = ACCEPTED, event.accepted_on, event.decision_due_on
                self.investigation_due_on = event.investigation_due_on
                self.places = dict.fromkeys(self.members, PLACE_REQUESTED)  # claimed as it is accepted
            case ev.EconomicCheckRequested():
                self.checks[event.handoff_id] = CHECK_REQUESTED
            case ev.EconomicCheckAnswered():
                self.checks[event.handoff_id] = CHECK_ANSWERED
            case ev.EconomicCheckRefused():
                self.checks[event.handoff_id] = CHECK_REFUSED
            case ev.MemberPlaceGranted():
                self.places[event.citizen_id] = PLACE_GRANTED
            case ev.MemberPlaceDenied():
                self.places[event.citizen_id] = f"held by {event.holder_case_id or '?'} in {event.holder_region or '?'}"
            case ev.MemberPlacePending() if event.retry_deadline_id:
                self.place_retries[event.citizen_id] = event.retry_deadline_id
            case ev.MemberPlacePending():
                pass
            case ev.MemberPlaceRetried():
                self.place_attempts[event.citizen_id] = event.attempt
                self.place_retries.pop(event.citizen_id, None)
            case ev.InvestigationStarted():
                self.state, self.investigation_started_on = INVESTIGATING, event.started_on
                self._done("investigation")
            case ev.HomeVisitRecorded():
                self.visitors.append((event.first_visitor, event.second_visitor))
                self.county_visited = self.county_visited or event.by_county
            case ev.DemocraticReviewRecorded():
                self.democratic_review = event.outcome
            case ev.TownshipOpinionGiven():
                self.state, self.recommends = REVIEWED, event.recommends
            case ev.PublicNoticeStarted():
                self.state, self.notice_last_day, self.notice_deadline_id = IN_NOTICE, event.last_day, event.deadline_id
            case ev.ObjectionRaised():
                self.objections[event.objection_id] = ""
            case ev.ObjectionAnswered():
                self.objections[event.objection_id] = event.answer
            case ev.PublicNoticeEnded():
                self.state = AWAITING_DECISION
            case ev.DibaoGranted():
                self.state, self.decided_on, self.first_month = GRANTED, event.decided_on, event.first_month
                self.monthly_amount_fen, self.standard_fen = event.monthly_amount_fen, event.standard_fen
                self.review_due_on, self.review_deadline_id = event.review_due_on, event.review_deadline_id
                self.amounts = [(event.first_month, event.monthly_amount_fen)]
                self._done("decision")
            case ev.DibaoRefused():
                self.state, self.decided_on, self.refusal = REFUSED, event.decided_on, event.reasons
                self._done("decision")
            case ev.RefusalNotified():
                self.state = REFUSAL_NOTIFIED
                self._done("refusal_notice")
            case ev.IncomeChangeRecorded():
                self.members[event.citizen_id] = replace(self.members[event.citizen_id],
                                                         earned_income_fen=event.earned_income_fen,
                                                         other_income_fen=event.other_income_fen)
                if event.monthly_amount_fen:
                    # A recomputed amount is paid from the month after the change; a household now
                    # above the standard keeps its amount through the 渐退期 (TaperOffStarted).
                    self.monthly_amount_fen = event.monthly_amount_fen
                    self.amounts.append((month_after(event.recorded_on), event.monthly_amount_fen))
            case ev.ReviewRecorded():
                self.review_due_on, self.review_deadline_id = event.next_review_due_on, event.next_review_deadline_id
                self._done("review")
                self.review_triggers = []
            case ev.HouseholdReviewTriggered():
                self.review_triggers.append(event.source_case_id)
            case ev.TaperOffStarted():
                self.state, self.last_month = TAPERING, event.last_month
            case ev.DibaoEnded():
                self.state = ENDED
            case ev.TimeLimitOverrun():
                self.overdue.append(event.limit)
            case ev.MemberEnteredDibao() | ev.MemberLeftDibao():
                pass  # published for other services; the case's state changed with its companion event

    def amount_for(self, month: str) -> int:
        """What the household is owed for `month` ("YYYY-MM"), in fen: from the month after the
        decision, the amount in force that month, through the last month of a taper-off; 0 outside."""
        if not self.amounts or month < self.amounts[0][0] or (self.last_month and month > self.last_month):
            return 0
        return [fen for first, fen in self.amounts if first <= month][-1]

    @property
    def applicant_name(self) -> str:
        applicant = self.members.get(self.applicant_citizen_id)
        return applicant.name if applicant else ""

    def _done(self, limit: str) -> None:
        self.overdue = [o for o in self.overdue if o != limit]
