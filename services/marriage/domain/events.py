"""The events of the marriage service, past tense. Each field is decided before the event is made
(ids, dates, numbers), so folding it only assigns. The stored form is the protobuf message of the
same name in proto/tongban/marriage/v1/events.proto, field for field (adapters/payloads.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.marriage.domain.values import DivorceAgreement, PartyRecord, Spouse

# -- marriage.Marriage ----------------------------------------------------------------------


@dataclass(frozen=True)
class MarriageApplicationReceived:
    case_id: str
    office_code: str
    region: str
    application_date: date
    party_a: PartyRecord
    party_b: PartyRecord


@dataclass(frozen=True)
class PartyClaimGranted:
    claim_id: str
    citizen_id: str
    decision_id: str


@dataclass(frozen=True)
class ClaimHolder:
    """Who holds a person in the registry (empty when a claim expired rather than lost)."""

    case_id: str
    region: str
    service: str


@dataclass(frozen=True)
class PartyClaimDenied:
    """Schema version 2: the holder as one value (version 1 had three flat holder_* fields)."""

    claim_id: str
    citizen_id: str
    decision_id: str
    outcome: str  # "denied" | "expired"
    holder: ClaimHolder


@dataclass(frozen=True)
class PartyClaimReleased:
    claim_id: str
    citizen_id: str
    reason: str


@dataclass(frozen=True)
class PartyClaimPending:
    """The registry answered PENDING (ARefusalRestsOnASettledHold): no refusal; the case retries."""

    claim_id: str
    citizen_id: str
    decision_id: str
    holder: ClaimHolder
    attempt: int
    retry_deadline_id: str  # "" when this attempt's retry is already scheduled (or the case gave up)
    retry_after_ms: int


@dataclass(frozen=True)
class PartyClaimsRetried:
    attempt: int  # the attempt now running
    deadline_id: str


@dataclass(frozen=True)
class MarriageRegistered:
    certificate_number: str
    registered_on: date
    office_code: str


@dataclass(frozen=True)
class MarriageRefused:
    rule: str
    article: str
    reason: str
    citizen_id: str
    holder_case_id: str
    holder_region: str


@dataclass(frozen=True)
class DivorceProceedingOpened:
    divorce_case_id: str
    office_code: str


@dataclass(frozen=True)
class DivorceProceedingClosed:
    divorce_case_id: str
    outcome: str  # "withdrawn" | "deemed_withdrawn" | "terminated"


@dataclass(frozen=True)
class MarriageDissolvedByDivorce:
    divorce_case_id: str
    divorce_certificate_number: str
    dissolved_on: date


@dataclass(frozen=True)
class CourtJudgmentRecorded:
    judgment: str  # JudgmentKind value
    court: str
    judgment_number: str
    judgment_date: date
    ground: str
    recorded_on: date


# -- marriage.Divorce -------------------------------------------------------------------------


@dataclass(frozen=True)
class DivorceApplicationReceived:
    case_id: str
    marriage_case_id: str
    office_code: str
    region: str
    spouse_a: Spouse
    spouse_b: Spouse
    agreement: DivorceAgreement
    received_on: date
    cooling_off_last_day: date
    expected_window_last_day: date
    cooling_off_deadline_id: str
    provisional_calendar: bool
    record_region: str = ""  # the region recording the marriage, when not this one (多地联办)


@dataclass(frozen=True)
class DivorceWithdrawn:
    citizen_id: str
    withdrawn_on: date
    reason: str


@dataclass(frozen=True)
class CoolingOffEnded:
    cooling_off_last_day: date
    window_last_day: date
    window_deadline_id: str
    provisional_calendar: bool


@dataclass(frozen=True)
class DivorcePeriodEndRescheduled:
    period: str  # "cooling_off" | "certificate_window"
    last_day: date
    due_on: date
    provisional_calendar: bool
    deadline_id: str


@dataclass(frozen=True)
class DivorceCertificateRequested:
    requested_on: date


@dataclass(frozen=True)
class DivorceRegistered:
    certificate_number: str
    registered_on: date


@dataclass(frozen=True)
class DivorceDeemedWithdrawn:
    window_last_day: date


@dataclass(frozen=True)
class DivorceTerminated:
    reason: str
    judgment_number: str


# -- a divorce received here for a marriage another region records (国务院令第804号, 多地联办) --


@dataclass(frozen=True)
class DivorceRecordConfirmed:
    handoff_id: str
    record_region: str


@dataclass(frozen=True)
class DivorceRefusedByRecord:
    handoff_id: str
    record_region: str
    reason: str


@dataclass(frozen=True)
class DivorceDissolutionRequested:
    case_id: str
    marriage_case_id: str
    certificate_number: str
    requested_on: date
    handoff_id: str


@dataclass(frozen=True)
class ProceedingToClose:
    """Sent to the record region (not an event of this service's streams): close the proceeding.
    Sent by the record region, with the judgment, when a court ended the marriage first."""

    divorce_case_id: str
    marriage_case_id: str
    outcome: str
    reason: str = ""
    judgment_number: str = ""


# -- marriage.CertificateReissue, marriage.StatusQuery, marriage.CertificateNumbers -----------


@dataclass(frozen=True)
class CertificateReissued:
    case_id: str
    office_code: str
    region: str
    record_case_id: str
    applicant_citizen_id: str
    requested_document: str
    issued_document: str
    certificate_number: str
    original_certificate_number: str
    status_change: str
    issued_on: date
    reason: str


@dataclass(frozen=True)
class ReissueRequested:
    """A reissue asked here for a record `record_region` holds: the case waits for its archive."""

    case_id: str
    office_code: str
    region: str
    record_case_id: str
    record_region: str
    applicant_citizen_id: str
    reason: str
    requested_on: date
    handoff_id: str


@dataclass(frozen=True)
class ArchiveExtract:
    """The record as the holding region's archive shows it, and what the asking office is to issue."""

    record_case_id: str
    record_region: str
    requested_document: str
    issued_document: str
    original_certificate_number: str
    status_change: str
    registered_on: date | None
    party_a_citizen_id: str
    party_a_name: str
    party_b_citizen_id: str
    party_b_name: str


@dataclass(frozen=True)
class ArchiveExtractReceived:
    case_id: str
    handoff_id: str
    extract: ArchiveExtract


@dataclass(frozen=True)
class ReissueRefused:
    case_id: str
    handoff_id: str
    reason: str


@dataclass(frozen=True)
class MaritalStatusQueried:
    case_id: str
    citizen_id: str
    reason: str
    requesting_body: str
    queried_on: date
    status: str
    marriage_case_id: str
    since: date | None
    office_code: str
    region: str
    source_region: str


@dataclass(frozen=True)
class CertificateNumberIssued:
    certificate_number: str
    office_code: str
    year: int
    sequence: int
    document: str
    case_id: str


MarriageEvent = (
    MarriageApplicationReceived
    | PartyClaimGranted
    | PartyClaimDenied
    | PartyClaimReleased
    | PartyClaimPending
    | PartyClaimsRetried
    | MarriageRegistered
    | MarriageRefused
    | DivorceProceedingOpened
    | DivorceProceedingClosed
    | MarriageDissolvedByDivorce
    | CourtJudgmentRecorded
)

DivorceEvent = (
    DivorceApplicationReceived
    | DivorceWithdrawn
    | CoolingOffEnded
    | DivorcePeriodEndRescheduled
    | DivorceCertificateRequested
    | DivorceRegistered
    | DivorceDeemedWithdrawn
    | DivorceTerminated
    | DivorceRecordConfirmed
    | DivorceRefusedByRecord
    | DivorceDissolutionRequested
)

ReissueEvent = ReissueRequested | ArchiveExtractReceived | ReissueRefused | CertificateReissued

DomainEvent = MarriageEvent | DivorceEvent | ReissueEvent | MaritalStatusQueried | CertificateNumberIssued
