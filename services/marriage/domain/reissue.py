"""Certificate reissue (补领) and marital-status queries: one-shot cases, decided from the archive
(the marriage or divorce record) as it stands."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import ClassVar

from services.common.identity.case_ids import region_of_case
from services.common.kit.aggregate import Aggregate
from services.marriage.domain.divorce import Divorce, DivorceState
from services.marriage.domain.events import (
    ArchiveExtract,
    ArchiveExtractReceived,
    CertificateReissued,
    MaritalStatusQueried,
    ReissueEvent,
    ReissueRefused,
    ReissueRequested,
)
from services.marriage.domain.marriage import Marriage, MarriageState
from services.marriage.domain.record_rules import ApplicantIsParty, AuthorisedStatusQuery, RegisteredRecord
from services.marriage.domain.rules import check
from services.marriage.domain.values import Document, MaritalStatus


class ReissueState(StrEnum):
    AWAITING_ARCHIVE = "awaiting_archive"  # asked of the region holding the record
    ISSUED = "issued"
    REFUSED = "refused"


REISSUE_STREAM_TYPE = "marriage.CertificateReissue"
STATUS_QUERY_STREAM_TYPE = "marriage.StatusQuery"
# The hand-off work name of a reissue asked in one region for a record another region holds.
REISSUE_WORK = "marriage.certificate_reissue"

# Record case ids carry their region: "marriage-<GB/T 2260 code>-<id>", "divorce-<code>-<id>".
def record_region_of(record_case_id: str) -> str:
    """The region holding a marriage or divorce record, from its case id; "" if the id names none
    (the handler then looks the id up here and answers NOT_FOUND as before)."""
    return region_of_case(record_case_id, kinds=frozenset({"marriage", "divorce"}))


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


# -- a reissue asked here for a record another region holds -------------------------------------


def archive_extract(record: Marriage | Divorce, decision: ReissueDecision, *, region: str) -> ArchiveExtract:
    """The holding region's answer: the record as its archive shows it, and what to issue."""
    if isinstance(record, Marriage):
        a, b = record.parties
        people = (a.citizen_id, a.name, b.citizen_id, b.name)
    else:
        sa, sb = record.spouses
        people = (sa.citizen_id, sa.name, sb.citizen_id, sb.name)
    registered_on = record.registered_on
    return ArchiveExtract(
        record_case_id=record.case_id, record_region=region, requested_document=decision.requested.value,
        issued_document=decision.issued.value, original_certificate_number=decision.original_certificate_number,
        status_change=decision.status_change, registered_on=registered_on, party_a_citizen_id=people[0],
        party_a_name=people[1], party_b_citizen_id=people[2], party_b_name=people[3],
    )


@dataclass
class RemoteReissue(Aggregate):
    """A reissue case. One asked here for a record another region holds waits for its archive
    (ReissueRequested), then is issued here (with this office's number) or refused; one whose
    record this region holds is issued at once (its stream is CertificateReissued alone)."""

    stream_type: ClassVar[str] = REISSUE_STREAM_TYPE
    what: ClassVar[str] = "reissue"

    requested: ReissueRequested | None = None
    archive: ArchiveExtract | None = None
    issued: CertificateReissued | None = None
    refusal_reason: str = ""

    @property
    def case_id(self) -> str:
        if self.requested is not None:
            return self.requested.case_id
        return self.issued.case_id if self.issued is not None else ""

    @property
    def state(self) -> ReissueState:
        if self.issued is not None:
            return ReissueState.ISSUED
        return ReissueState.REFUSED if self.refusal_reason else ReissueState.AWAITING_ARCHIVE

    @property
    def is_open(self) -> bool:
        return self.requested is not None and self.state is ReissueState.AWAITING_ARCHIVE

    def when(self, event: ReissueEvent) -> None:
        match event:
            case ReissueRequested():
                self.requested = event
            case ArchiveExtractReceived():
                self.archive = event.extract
            case CertificateReissued():
                self.issued = event
            case ReissueRefused():
                self.refusal_reason = event.reason or "refused by the holding region"
            case _:
                raise TypeError(f"not a reissue event: {type(event).__name__}")

    def issue(self, *, handoff_id: str, extract: ArchiveExtract, certificate_number: str,
              issued_on: date) -> list[ReissueEvent]:
        """The archive answered: record it and issue, here, the document it says. Nothing once the
        case is closed (a redelivered answer)."""
        if not self.is_open or self.requested is None or handoff_id != self.requested.handoff_id:
            return []
        r = self.requested
        return [
            ArchiveExtractReceived(case_id=r.case_id, handoff_id=handoff_id, extract=extract),
            CertificateReissued(
                case_id=r.case_id, office_code=r.office_code, region=r.region, record_case_id=r.record_case_id,
                applicant_citizen_id=r.applicant_citizen_id, requested_document=extract.requested_document,
                issued_document=extract.issued_document, certificate_number=certificate_number,
                original_certificate_number=extract.original_certificate_number,
                status_change=extract.status_change, issued_on=issued_on, reason=r.reason,
            ),
        ]

    def refuse(self, *, handoff_id: str, reason: str) -> list[ReissueEvent]:
        if not self.is_open or self.requested is None or handoff_id != self.requested.handoff_id:
            return []
        return [ReissueRefused(case_id=self.case_id, handoff_id=handoff_id, reason=reason)]


@dataclass
class StatusQuery(Aggregate):
    """A recorded marital-status query: the question, the asker and the answer, in one event."""

    stream_type: ClassVar[str] = STATUS_QUERY_STREAM_TYPE
    what: ClassVar[str] = "status query"

    answer: MaritalStatusQueried | None = None

    def when(self, event: MaritalStatusQueried) -> None:
        self.answer = event
