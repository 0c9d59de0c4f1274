"""The marriage service's part in the hand-off protocol (docs/cross-region.md): a certificate
reissue (补领) asked at an office of one region for a record another region holds. Since
2025-05-10 (国务院令第804号) any registration office in the country reissues, but only the region
holding the record knows what it says now.

* Holding region (receives REQUEST_WORK "marriage.certificate_reissue"): its archive answers at
  once, by machine: accept and complete with an ArchiveExtract (names, IDs, registration date and
  number, and what is to be issued: the certificate again, or a registration record certificate
  when the status changed since), or refuse naming why (no such record, the applicant is not a
  party). A divorce or judgment it recorded is in the record itself; a remarriage recorded
  elsewhere comes from its `registry_entries` view (handlers.decide_from_archive).
* Asking region (origin): the answer issues the document at the asking office, with that office's
  number counter, and closes the reissue case "issued"; a refusal closes it "refused".

Every hook runs inside the transaction recording the hand-off message it is about (hooks.py), so
the case and the hand-off never disagree; a redelivered message finds the case closed and does
nothing."""

from __future__ import annotations

import logging

from google.protobuf.message import Message

from services.common.clock import china_date
from services.common.errors import NotFound, RuleViolation
from services.common.events import Actor, decode_payload
from services.common.handoff import (
    Handoff,
    HandoffHooks,
    accept_handoff,
    complete_handoff,
    refuse_handoff,
)
from services.common.kit import Provenance, UnitOfWork
from services.common.store import StoreTransaction
from services.common.telemetry import current_trace_context
from services.marriage.adapters.payloads import from_message, to_message
from services.marriage.application.handlers import decide_from_archive
from services.marriage.application.unit import Deps, issue_certificate_number
from services.marriage.domain.events import ArchiveExtract, ReissueRequested
from services.marriage.domain.reissue import REISSUE_WORK, RemoteReissue, archive_extract
from services.marriage.domain.values import Document

log = logging.getLogger(__name__)

ARCHIVE = "marriage.archive"  # the system actor answering for the holding region's archive
REISSUE_DESK = "marriage.reissue"  # the system actor issuing at the asking office on the answer


def when_asked_for_a_record_answer_from_the_archive(deps: Deps, tx: StoreTransaction, h: Handoff) -> None:
    """Holding region, on HandoffReceived: answer a reissue asked elsewhere from this archive."""
    if h.work != REISSUE_WORK:
        return
    actor = Actor.system(deps.region, ARCHIVE)
    asked = _snapshot(h)
    if asked is None:
        refuse_handoff(tx, h.handoff_id, "the request names no reissue case", actor=actor)
        return
    try:
        with deps.units.joining(tx, hook_provenance(deps, tx, h, ARCHIVE)) as uow:  # reads only
            record, decision = decide_from_archive(uow, asked.record_case_id, asked.applicant_citizen_id)
    except (NotFound, RuleViolation) as refusal:
        # Nothing was appended yet: refusing is the whole answer, and the asking case ends refused.
        refuse_handoff(tx, h.handoff_id, str(refusal), actor=actor)
        return
    accept_handoff(tx, h.handoff_id, actor=actor)
    complete_handoff(tx, h.handoff_id, to_message(archive_extract(record, decision, region=deps.region)), actor=actor)


def when_archive_answers_issue_here(deps: Deps, tx: StoreTransaction, h: Handoff, outcome: Message) -> None:
    """Asking region, on HandoffOutcomeReceived: issue what the archive says, at the asking office."""
    if h.work != REISSUE_WORK:
        return
    extract = from_message(outcome)
    if not isinstance(extract, ArchiveExtract):
        log.error("hand-off %s answered with %s, not an ArchiveExtract", h.handoff_id, outcome.DESCRIPTOR.full_name)
        return
    with deps.units.joining(tx, hook_provenance(deps, tx, h, REISSUE_DESK)) as uow:
        case = _open_case(uow, h)
        if case is None or case.requested is None:
            return
        today = china_date(uow.provenance.occurred_at)
        number = issue_certificate_number(uow, document=Document(extract.issued_document),
                                          office_code=case.requested.office_code, on=today, case_id=case.case_id)
        uow.record(case, case.issue(handoff_id=h.handoff_id, extract=extract, certificate_number=number,
                                    issued_on=today))


def when_archive_refuses_close_refused(deps: Deps, tx: StoreTransaction, h: Handoff) -> None:
    """Asking region, on HandoffRefused: the case ends refused with the holding region's reason."""
    if h.work != REISSUE_WORK:
        return
    with deps.units.joining(tx, hook_provenance(deps, tx, h, REISSUE_DESK)) as uow:
        case = _open_case(uow, h)
        if case is not None:
            uow.record(case, case.refuse(handoff_id=h.handoff_id, reason=h.refusal_reason))


def reissue_hooks(deps: Deps) -> HandoffHooks:
    """The HandoffHooks of one region's marriage service."""
    return HandoffHooks(
        on_received=lambda tx, h: when_asked_for_a_record_answer_from_the_archive(deps, tx, h),
        on_refused=lambda tx, h: when_archive_refuses_close_refused(deps, tx, h),
        on_outcome=lambda tx, h, outcome: when_archive_answers_issue_here(deps, tx, h, outcome),
    )


def _snapshot(h: Handoff) -> ReissueRequested | None:
    asked = snapshot_of(h)
    return asked if isinstance(asked, ReissueRequested) else None


def snapshot_of(h: Handoff) -> object | None:
    """The domain value a hand-off carries as its case snapshot, or None when it carries none this
    service can read."""
    if h.case_snapshot is None:
        return None
    try:
        return from_message(decode_payload(h.case_snapshot.type, h.case_snapshot.data))
    except (LookupError, StopIteration):
        return None


def _open_case(uow: UnitOfWork, h: Handoff) -> RemoteReissue | None:
    case = uow.find(RemoteReissue, h.case_id)
    if case is None or case.requested is None:
        log.error("hand-off %s names %s, which is no reissue case asked here", h.handoff_id, h.case_id)
        return None
    return case if case.is_open and case.requested.handoff_id == h.handoff_id else None


def hook_provenance(deps: Deps, tx: StoreTransaction, h: Handoff, component: str) -> Provenance:
    # Caused by the hand-off message just recorded, in the trace of the journey that started at
    # the asking window (the consumer's span continues it).
    [last] = tx.read_stream(h.stream_id, after_version=h.version - 1)
    return Provenance(actor=Actor.system(deps.region, component), correlation_id=h.case_id,
                      causation_id=last.event_id, occurred_at=deps.clock.now(), trace=current_trace_context())
