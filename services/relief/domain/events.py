"""The events of relief (past tense), one message of the same name and fields each in
proto/tongban/relief/v1/events.proto. Everything an event carries — dates, amounts, deadline ids —
is decided before it is made, so folding them is pure.

A household's members are one event each (HouseholdMemberDeclared) rather than a list inside the
application: the kit's codec maps flat messages, and a member corrected later is one more event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# -- relief.Dibao: one household's 低保 case ---------------------------------------------------


@dataclass(frozen=True)
class DibaoApplicationReceived:
    case_id: str
    office_code: str
    region: str
    place: str                 # the county code of the receiving township (its standard applies)
    area: str                  # "urban" | "rural"
    route: str                 # "hukou" | "residence_permit": why this place may take it (57号)
    applicant_citizen_id: str
    received_on: date
    special: bool              # a special case: 45 working days instead of 30
    unstable_income: bool      # declared unstable income (reviewed every 6 months)
    relatives_flagged: bool    # a member is on the region's staff/cadre relatives list
    household_size: int
    bank_account: str          # the payee account the allowance is paid to (validated digits)


@dataclass(frozen=True)
class HouseholdMemberDeclared:
    case_id: str
    citizen_id: str
    name: str
    relation: str              # to the applicant: "self", "spouse", "child", "parent", …
    hukou_region: str          # the member's current 户籍 county (not the ID's address code)
    residence_permit_region: str  # "" when none
    earned_income_fen: int     # monthly, counted
    other_income_fen: int      # monthly, counted (pensions, rent, support from relatives, …)
    disability_subsidy_fen: int  # 残疾人两项补贴: recorded, never counted as income
    assets_fen: int            # deposits and securities declared


@dataclass(frozen=True)
class DibaoApplicationAccepted:
    accepted_on: date
    investigation_due_on: date  # last day to start the family economic investigation
    decision_due_on: date       # last day for the county decision
    investigation_deadline_id: str
    decision_deadline_id: str


@dataclass(frozen=True)
class InvestigationStarted:
    started_on: date


@dataclass(frozen=True)
class HomeVisitRecorded:
    visited_on: date
    first_visitor: str
    second_visitor: str
    by_county: bool            # the county's own visit (mandatory for flagged households)
    findings: str


@dataclass(frozen=True)
class DemocraticReviewRecorded:
    held_on: date
    outcome: str


@dataclass(frozen=True)
class TownshipOpinionGiven:
    given_on: date
    recommends: bool
    reasons: str


@dataclass(frozen=True)
class PublicNoticeStarted:
    started_on: date
    last_day: date
    deadline_id: str


@dataclass(frozen=True)
class ObjectionRaised:
    objection_id: str
    raised_on: date
    objection: str


@dataclass(frozen=True)
class ObjectionAnswered:
    objection_id: str
    answered_on: date
    answer: str


@dataclass(frozen=True)
class PublicNoticeEnded:
    ended_on: date


@dataclass(frozen=True)
class DibaoGranted:
    decided_on: date
    standard_fen: int
    counted_income_fen: int    # the household's monthly income as counted (subsidies excluded)
    per_capita_income_fen: int  # counted income ÷ size, rounded down (shown; the amount is exact)
    household_size: int
    monthly_amount_fen: int
    first_month: str           # "YYYY-MM": the month after the decision
    review_due_on: date
    review_deadline_id: str


@dataclass(frozen=True)
class DibaoRefused:
    decided_on: date
    rule: str
    reasons: str
    notify_by: date
    notice_deadline_id: str


@dataclass(frozen=True)
class RefusalNotified:
    notified_on: date
    reference: str             # the written notice's number


@dataclass(frozen=True)
class MemberEnteredDibao:
    """Published for the disability service: this person now lives in a 低保 household."""

    citizen_id: str
    case_id: str
    first_month: str


@dataclass(frozen=True)
class MemberLeftDibao:
    """Published for the disability service: this person's household no longer receives 低保."""

    citizen_id: str
    case_id: str
    last_month: str
    reason: str


@dataclass(frozen=True)
class IncomeChangeRecorded:
    recorded_on: date
    citizen_id: str
    earned_income_fen: int
    other_income_fen: int
    counted_income_fen: int
    monthly_amount_fen: int    # the new amount (0: the household is above the standard)


@dataclass(frozen=True)
class ReviewRecorded:
    """定期核查 done: the household still qualifies as recorded; the next review is due then."""

    reviewed_on: date
    findings: str
    next_review_due_on: date
    next_review_deadline_id: str


@dataclass(frozen=True)
class HouseholdReviewTriggered:
    """A member married or divorced (in any region): the household changed, so it is reviewed."""

    citizen_id: str
    cause: str                 # "marriage" | "divorce"
    source_case_id: str        # the marriage or divorce case, in its region
    source_region: str
    triggered_on: date


@dataclass(frozen=True)
class TaperOffStarted:
    started_on: date
    last_month: str            # the last month paid (渐退期 end)
    deadline_id: str           # fires when the last month is over: the household leaves 低保


@dataclass(frozen=True)
class DibaoEnded:
    """The 渐退期 ran out: the household no longer receives 低保 (its members' places are released)."""

    ended_on: date
    last_month: str


@dataclass(frozen=True)
class EconomicCheckRequested:
    """家庭经济状况核对 of a member whose 户籍 is in another region: a recorded hand-off
    (REQUEST_WORK) to that region, answered with its findings (多地联办)."""

    handoff_id: str
    case_id: str
    citizen_id: str
    name: str
    hukou_region: str
    to_region: str
    requested_on: date


@dataclass(frozen=True)
class EconomicCheckAnswered:
    """The region of the member's 户籍 answered with what its records show (monthly amounts and
    counts); sent back as the hand-off's outcome and recorded in the case as it arrived."""

    handoff_id: str
    citizen_id: str
    from_region: str
    monthly_income_fen: int
    deposits_fen: int
    vehicles: int
    properties: int
    businesses: int
    note: str


@dataclass(frozen=True)
class EconomicCheckRefused:
    handoff_id: str
    citizen_id: str
    reason: str


@dataclass(frozen=True)
class MemberPlaceGranted:
    """The per-person registry holds this member's one 低保 place for this case."""

    citizen_id: str
    claim_id: str
    decision_id: str


@dataclass(frozen=True)
class MemberPlaceDenied:
    """The member already enjoys 低保 elsewhere (the holder named): one place only."""

    citizen_id: str
    claim_id: str
    decision_id: str
    holder_case_id: str
    holder_region: str


@dataclass(frozen=True)
class MemberPlacePending:
    """The registry answered PENDING (ARefusalRestsOnASettledHold): the member is held by a case not
    settled yet. No refusal: claimed again after `retry_after_ms` (services/common/registry/retry.py)."""

    citizen_id: str
    claim_id: str
    decision_id: str
    holder_case_id: str
    holder_region: str
    attempt: int
    retry_deadline_id: str  # "" once RetriesAreBounded gives up (a MemberPlaceDenied follows)
    retry_after_ms: int


@dataclass(frozen=True)
class MemberPlaceRetried:
    """The retry deadline fired: the member's place is claimed again as `attempt`."""

    citizen_id: str
    attempt: int
    deadline_id: str


@dataclass(frozen=True)
class TimeLimitOverrun:
    """A limit of the procedure passed with its step not done: listed as overdue for the office."""

    limit: str                 # "investigation" | "decision" | "refusal_notice" | "proof" | "review"
    due_on: date
    noted_on: date


# -- relief.Assistance: one 临时救助 case ---------------------------------------------------------


@dataclass(frozen=True)
class AssistanceApplicationReceived:
    case_id: str
    office_code: str
    region: str
    citizen_id: str
    name: str
    emergency_place: str       # the county where the emergency happened: it grants (47号)
    emergency_on: date
    cause: str                 # e.g. "fire", "medical", "traffic_accident"
    kind: str                  # "urgent" (先行救助) | "expenditure" (支出型, normal review)
    local_link: str            # "hukou" | "residence_permit" | "none"
    received_on: date
    decision_due_on: date
    decision_deadline_id: str


@dataclass(frozen=True)
class UrgentPaymentMade:
    amount_fen: int
    paid_on: date
    proof_due_on: date
    proof_deadline_id: str


@dataclass(frozen=True)
class ProofCompleted:
    completed_on: date
    documents: str


@dataclass(frozen=True)
class ReferredToRescueAgency:
    agency: str
    referred_on: date
    reason: str


@dataclass(frozen=True)
class AssistanceGranted:
    decided_on: date
    amount_fen: int


@dataclass(frozen=True)
class AssistanceRefused:
    decided_on: date
    rule: str
    reasons: str


DIBAO_EVENTS: tuple[type, ...] = (
    DibaoApplicationReceived, HouseholdMemberDeclared, DibaoApplicationAccepted, InvestigationStarted,
    HomeVisitRecorded, DemocraticReviewRecorded, TownshipOpinionGiven, PublicNoticeStarted, ObjectionRaised,
    ObjectionAnswered, PublicNoticeEnded, DibaoGranted, DibaoRefused, RefusalNotified, MemberEnteredDibao,
    MemberLeftDibao, IncomeChangeRecorded, ReviewRecorded, TaperOffStarted, MemberPlaceGranted, MemberPlaceDenied,
    MemberPlacePending, MemberPlaceRetried, TimeLimitOverrun, HouseholdReviewTriggered, DibaoEnded,
    EconomicCheckRequested, EconomicCheckAnswered, EconomicCheckRefused,
)
ASSISTANCE_EVENTS: tuple[type, ...] = (
    AssistanceApplicationReceived, UrgentPaymentMade, ProofCompleted, ReferredToRescueAgency, AssistanceGranted,
    AssistanceRefused,
)


@dataclass(frozen=True)
class HouseholdViewed:
    """A read of a person's relief cases (personal data), recorded with who asked and why."""

    read_id: str
    citizen_id: str
    reason: str
    viewer_role: str
    cases_shown: int
    viewed_on: date


ALL_EVENTS = DIBAO_EVENTS + ASSISTANCE_EVENTS + (HouseholdViewed,)
