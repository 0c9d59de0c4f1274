"""The events of the disability service, past tense. Every field is decided before the event is
made (ids, dates, months, amounts), so folding it only assigns. The stored form is the protobuf
message of the same name in proto/tongban/disability/v1/events.proto, field for field
(adapters/payloads.py). Enumerations travel as their string values; months as "YYYY-MM"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.disability.domain.values import Applicant, Certificate, Circumstances

# -- disability.Application: the application, then the entitlements it grants --------------------


@dataclass(frozen=True)
class ApplicationReceived:
    case_id: str
    office_code: str
    region: str
    received_on: date  # payment starts from this month (国发〔2015〕52号 三)
    applicant: Applicant
    certificate: Certificate
    household: str  # HouseholdStatus
    household_source: str  # "declared" (verified at approval) or "relief" (the relief service's record)
    circumstances: Circumstances
    bank_account: str  # digits as validated; shown masked
    living_requested: bool
    nursing_requested: bool


@dataclass(frozen=True)
class SubsidyRefused:
    """One of the two subsidies refused, with the rule and its article (the other may go on)."""

    subsidy: str
    stage: str
    rule: str
    article: str
    reason: str


@dataclass(frozen=True)
class StageStarted:
    stage: str
    started_on: date
    due_on: date  # the last working day of the stage's limit
    limit_working_days: int
    deadline_id: str


@dataclass(frozen=True)
class StageWentOverdue:
    stage: str
    due_on: date
    deadline_id: str


@dataclass(frozen=True)
class StageCompleted:
    stage: str
    office_code: str
    completed_on: date
    note: str


@dataclass(frozen=True)
class HouseholdStatusConfirmed:
    """At approval, the county confirms the household's economic status (it may differ from the
    declaration)."""

    household: str
    source: str


@dataclass(frozen=True)
class ApplicationRefused:
    """The whole application refused, at `stage`, with reasons (written refusal)."""

    stage: str
    office_code: str
    refused_on: date
    rule: str
    article: str
    reason: str


@dataclass(frozen=True)
class ApplicationApproved:
    office_code: str
    approved_on: date


@dataclass(frozen=True)
class EntitlementGranted:
    subsidy: str
    start_month: str  # the month of application
    amount_fen: int  # the region's monthly standard on approval
    decided_month: str  # months before it are back-pay, payable from this month


@dataclass(frozen=True)
class EntitlementStopped:
    subsidy: str
    reason: str  # StopReason
    stop_month: str  # the first month no longer owed
    found_on: date
    source: str  # who found it: "window", "public_security: <record>", "relief", ...
    note: str


@dataclass(frozen=True)
class EntitlementResumed:
    """A stop found wrong after review: owed again from `resume_month` (the old stop month), the
    months in between back-paid from `decided_month`."""

    subsidy: str
    resume_month: str
    decided_month: str
    reviewed_on: date
    reason: str


@dataclass(frozen=True)
class CertificateRenewed:
    """A renewed certificate: payment resumes from the month of issue, with back-pay of up to the
    region's number of months of the gap (`covered_from` is the first month owed again)."""

    certificate: Certificate
    issued_on: date
    covered_from: str
    decided_month: str


@dataclass(frozen=True)
class SubsidyClaimGranted:
    """The national registry holds the person for this subsidy in this case (one place only)."""

    subsidy: str
    claim_id: str
    decision_id: str


@dataclass(frozen=True)
class SubsidyClaimDenied:
    """The registry denied (or let expire) the claim: another region's case holds the person."""

    subsidy: str
    claim_id: str
    decision_id: str
    outcome: str  # "denied" | "expired"
    holder_case_id: str
    holder_region: str
    holder_service: str


@dataclass(frozen=True)
class SubsidyClaimReleased:
    subsidy: str
    claim_id: str
    reason: str


@dataclass(frozen=True)
class SubsidyClaimPending:
    """The registry answered PENDING (ARefusalRestsOnASettledHold): the person is held for the
    subsidy by a case not settled yet. No refusal: claimed again after `retry_after_ms`."""

    subsidy: str
    claim_id: str
    decision_id: str
    holder_case_id: str
    holder_region: str
    holder_service: str
    attempt: int
    retry_deadline_id: str  # "" once RetriesAreBounded gives up (the denial's events follow)
    retry_after_ms: int


@dataclass(frozen=True)
class SubsidyClaimRetried:
    """The retry deadline fired: the subsidy is claimed again under the claim id of `attempt`."""

    subsidy: str
    attempt: int
    deadline_id: str


# -- 异地代收代办: the receiving window's part, and the 户籍 region's -----------------------------


@dataclass(frozen=True)
class ApplicationForwarded:
    """The receiving window checked form and identity and forwarded the application (a hand-off)."""

    handoff_id: str
    to_region: str
    office_code: str
    forwarded_on: date


@dataclass(frozen=True)
class ReceivedByHandoff:
    """In the 户籍 region: the application came from another province's window by a hand-off."""

    handoff_id: str
    from_region: str
    from_office_code: str


@dataclass(frozen=True)
class HukouRegionDecided:
    """The 户籍 region's decision, sent back as the hand-off's outcome and recorded at the window."""

    handoff_id: str
    region: str
    decided_on: date
    approved: bool
    reason: str  # the refusal's reasons; "" when approved
    living_fen: int  # monthly amounts granted (0: not granted)
    nursing_fen: int
    start_month: str


@dataclass(frozen=True)
class ForwardRefused:
    """The 户籍 region refused to take the hand-off on (e.g. it is not the person's 户籍 region)."""

    handoff_id: str
    reason: str
    refused_on: date


@dataclass(frozen=True)
class ApplicantInformed:
    office_code: str
    informed_on: date
    note: str


@dataclass(frozen=True)
class StageDueRescheduled:
    """A year's holiday notice moved the stage's last working day: its deadline moves there."""

    stage: str
    due_on: date
    deadline_id: str
