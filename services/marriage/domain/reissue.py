"""Certificate reissue (补领) and marital-status queries: one-shot cases, decided from the archive
(the marriage or divorce record) as it stands."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from services.marriage.domain.divorce import Divorce, DivorceState
from services.marriage.domain.events import CertificateReissued, MaritalStatusQueried
from services.marriage.domain.marriage import Marriage, MarriageState
from services.marriage.domain.rules import ApplicantIsParty, AuthorisedStatusQuery, RegisteredRecord, check
from services.marriage.domain.values import Document, MaritalStatus

REISSUE_STREAM_TYPE = "marriage.CertificateReissue"
STATUS_QUERY_STREAM_TYPE = "marriage.StatusQuery"


@dataclass(frozen=True)
class ReissueDecision:
    requested: Document
    issued: Document
    original_certificate_number: str
    status_change: str  # "" when the certificate itself is reissued


def decide_reissue(record: Marriage | Divorce, *, applicant: str, applicant_remarried: bool) -> ReissueDecision:
    """Which document the applicant gets. The certificate again if the status it certifies still
    holds; otherwise a registration record certificate (婚姻登记记录证明), naming what changed.

    `applicant_remarried` (for a divorce certificate): the applicant has a live marriage since."""
    if isinstance(record, Marriage):
        check(RegisteredRecord(bool(record.certificate_number)),
              ApplicantIsParty(applicant, frozenset(p.citizen_id for p in record.parties)))
        if record.state is MarriageState.REGISTERED:
            return ReissueDecision(Document.MARRIAGE_CERTIFICATE, Document.REISSUED_MARRIAGE_CERTIFICATE,
                                   record.certificate_number, "")
        return ReissueDecision(Document.MARRIAGE_CERTIFICATE, Document.REGISTRATION_RECORD_CERTIFICATE,
                               record.certificate_number, _marriage_change(record))
    check(RegisteredRecord(record.state is DivorceState.REGISTERED),
          ApplicantIsParty(applicant, frozenset(s.citizen_id for s in record.spouses)))
    if applicant_remarried:
        return ReissueDecision(Document.DIVORCE_CERTIFICATE, Document.REGISTRATION_RECORD_CERTIFICATE,
                               record.certificate_number, "the applicant has married again since the divorce")
    return ReissueDecision(Document.DIVORCE_CERTIFICATE, Document.REISSUED_DIVORCE_CERTIFICATE,
                           record.certificate_number, "")


def _marriage_change(marriage: Marriage) -> str:
    if marriage.dissolution is not None:
        return f"the marriage was dissolved by divorce on {marriage.dissolution.dissolved_on.isoformat()}"
    if marriage.judgment is not None:
        return (f"the marriage was declared {marriage.judgment.judgment} by {marriage.judgment.court} "
                f"on {marriage.judgment.judgment_date.isoformat()}")
    return f"the marriage is {marriage.state}"


def reissued(*, case_id: str, office_code: str, region: str, record_case_id: str, applicant: str,
             decision: ReissueDecision, certificate_number: str, issued_on: date, reason: str) -> CertificateReissued:
    return CertificateReissued(
        case_id=case_id, office_code=office_code, region=region, record_case_id=record_case_id,
        applicant_citizen_id=applicant, requested_document=decision.requested.value,
        issued_document=decision.issued.value, certificate_number=certificate_number,
        original_certificate_number=decision.original_certificate_number, status_change=decision.status_change,
        issued_on=issued_on, reason=reason,
    )


@dataclass(frozen=True)
class StatusOnRecord:
    """A person's status as the region's records show it (from the person-status read model)."""

    status: MaritalStatus
    marriage_case_id: str = ""
    since: date | None = None
    source_region: str = ""  # "" for this region's own records


def answer_status_query(*, case_id: str, citizen_id: str, reason: str, requesting_body: str, role: str,
                        authorised_roles: Collection[str], on_record: StatusOnRecord, queried_on: date,
                        office_code: str, region: str) -> MaritalStatusQueried:
    """The answer, recorded with the question: who asked (the event's actor), why, and what they
    were told."""
    check(AuthorisedStatusQuery(role, authorised_roles))
    return MaritalStatusQueried(
        case_id=case_id, citizen_id=citizen_id, reason=reason, requesting_body=requesting_body,
        queried_on=queried_on, status=on_record.status.value, marriage_case_id=on_record.marriage_case_id,
        since=on_record.since, office_code=office_code, region=region,
        source_region=on_record.source_region or region,
    )
