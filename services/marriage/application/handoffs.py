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

from services.common.errors import NotFound, RuleViolation
from services.common.events import Actor, decode_payload
from services.common.handoff import (
    Handoff,
    HandoffHooks,
    accept_handoff,
    complete_handoff,
    refuse_handoff,
)
from services.common.store import StoreTransaction
from services.common.telemetry import current_trace_context
from services.marriage.adapters.cases import fold_remote_reissue
from services.marriage.adapters.payloads import from_message, to_message, type_name
from services.marriage.application.handlers import decide_from_archive
from services.marriage.application.unit import Cause, Deps, append, issue_certificate_number, refresh_read_models
from services.marriage.domain.events import ArchiveExtract, ReissueRequested
from services.marriage.domain.reissue import REISSUE_STREAM_TYPE, REISSUE_WORK, RemoteReissue, archive_extract
from services.marriage.domain.values import Document, china_date

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
        record, decision = decide_from_archive(tx, asked.record_case_id, asked.applicant_citizen_id)
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
    case = _open_case(tx, h)
    if case is None:
        return
    cause = _cause(deps, tx, h)
    today = china_date(cause.occurred_at)
    number = issue_certificate_number(tx, document=Document(extract.issued_document),
                                      office_code=case.requested.office_code, on=today, case_id=case.case_id,
                                      cause=cause)
    events = case.issue(handoff_id=h.handoff_id, extract=extract, certificate_number=number, issued_on=today)
    append(tx, case.case_id, REISSUE_STREAM_TYPE, case.version, events, cause)
    refresh_read_models(tx, case.case_id)


def when_archive_refuses_close_refused(deps: Deps, tx: StoreTransaction, h: Handoff) -> None:
    """Asking region, on HandoffRefused: the case ends refused with the holding region's reason."""
    if h.work != REISSUE_WORK:
        return
    case = _open_case(tx, h)
    if case is None:
        return
    events = case.refuse(handoff_id=h.handoff_id, reason=h.refusal_reason)
    append(tx, case.case_id, REISSUE_STREAM_TYPE, case.version, events, _cause(deps, tx, h))
    refresh_read_models(tx, case.case_id)


def reissue_hooks(deps: Deps) -> HandoffHooks:
    """The HandoffHooks of one region's marriage service."""
    return HandoffHooks(
        on_received=lambda tx, h: when_asked_for_a_record_answer_from_the_archive(deps, tx, h),
        on_refused=lambda tx, h: when_archive_refuses_close_refused(deps, tx, h),
        on_outcome=lambda tx, h, outcome: when_archive_answers_issue_here(deps, tx, h, outcome),
    )


def _snapshot(h: Handoff) -> ReissueRequested | None:
    if h.case_snapshot is None:
        return None
    try:
        asked = from_message(decode_payload(h.case_snapshot.type, h.case_snapshot.data))
    except (LookupError, StopIteration):
        return None
    return asked if isinstance(asked, ReissueRequested) else None


def _open_case(tx: StoreTransaction, h: Handoff) -> RemoteReissue | None:
    stream = tx.read_stream(h.case_id)
    if not stream or stream[0].type != type_name(ReissueRequested):
        log.error("hand-off %s names %s, which is no reissue case here", h.handoff_id, h.case_id)
        return None
    case = fold_remote_reissue(stream)
    return case if case.is_open and case.requested.handoff_id == h.handoff_id else None


def _cause(deps: Deps, tx: StoreTransaction, h: Handoff) -> Cause:
    # Caused by the hand-off message just recorded, in the trace of the journey that started at
    # the asking window (the consumer's span continues it).
    [last] = tx.read_stream(h.stream_id, after_version=h.version - 1)
    return Cause(actor=Actor.system(deps.region, REISSUE_DESK), correlation_id=h.case_id,
                 causation_id=last.event_id, occurred_at=deps.clock.now(), trace=current_trace_context())
