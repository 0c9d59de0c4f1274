"""Divorce by agreement at an office outside the region recording the marriage (国务院令第804号, in
force 2025-05-10: divorce at any registration office in the country), as a recorded hand-off
between the two regions (多地联办, REQUEST_WORK; docs/cross-region.md).

* Receiving region (the office the spouses came to): receipt, the cooling-off, withdrawal, the
  certificate request and their deadlines run here, on the Divorce case, as for a local marriage.
  As its steps are recorded, the record region is asked (the subscriber below, in the same
  transaction): to check the spouses against its record and open the proceeding (at receipt), to
  dissolve the marriage (at registration, with the number taken here), or to close the proceeding
  (when the divorce ends unregistered after the record region opened it).
* A court judgment recorded against the marriage in the record region ends the divorce at the
  receiving office (the record region asks it: `marriage.divorce_ended_by_judgment`).
* Record region: its archive answers by machine, in the transaction recording the request: the
  record check (民法典 第1076条: the marriage subsists, no other divorce is open, the IDs and
  names are its parties'), the dissolution (which releases both persons in the registry), the
  closing. A broken rule refuses the hand-off, naming the rule.
* Back at the receiving region: a confirmed record lets the certificate be requested; a refused
  one ends the divorce refused (不予登记, with the reason); the dissolution registers the divorce
  with its certificate number, and a refused dissolution terminates it.

Hand-off ids derive from the case and the step, so a step is asked once; every hook finds the case
in the state the step left it, so a redelivered message changes nothing."""

from __future__ import annotations

import logging

from google.protobuf.message import Message

from services.common.errors import NotFound, RuleViolation
from services.common.events import Actor, RecordedEvent
from services.common.handoff import (
    Handoff,
    HandoffHooks,
    accept_handoff,
    complete_handoff,
    refuse_handoff,
    request_work,
)
from services.common.identity.case_ids import region_of_case
from services.common.kit import Change, UnitOfWork
from services.common.kit.unit_of_work import ChangeSubscriber
from services.common.store import StoreTransaction
from services.marriage.adapters.payloads import from_message, to_message
from services.marriage.application import handoffs
from services.marriage.application.handoffs import hook_provenance, snapshot_of
from services.marriage.application.unit import Deps, MarriageSettings
from services.marriage.domain.divorce import (
    DISSOLUTION_WORK,
    JUDGMENT_ENDED_WORK,
    PROCEEDING_CLOSE_WORK,
    RECORD_CHECK_WORK,
    RECORD_WORKS,
    Divorce,
    check_against_record,
    record_handoff_id,
)
from services.marriage.domain.divorce_rules import MarriageSubsists, ProceedingOpenForThisDivorce
from services.marriage.domain.events import (
    DivorceApplicationReceived,
    DivorceDissolutionRequested,
    DivorceProceedingClosed,
    DivorceProceedingOpened,
    MarriageDissolvedByDivorce,
    ProceedingToClose,
)
from services.marriage.domain.marriage import Marriage
from services.marriage.domain.rules import check

log = logging.getLogger(__name__)

RECORD_DESK = "marriage.record"  # the system actor answering for the record region's archive
DIVORCE_DESK = "marriage.divorce"  # the system actor recording the answers at the receiving office


# -- receiving region: ask, as the steps are recorded ---------------------------------------------


def when_a_divorce_held_elsewhere_changes_ask_the_record_region(settings: MarriageSettings) -> ChangeSubscriber:
    """A subscriber on Divorce: each step of a divorce whose marriage another region records asks
    that region for its part, in the transaction recording the step."""

    def subscriber(uow: UnitOfWork, change: Change) -> None:
        before, after = change.before, change.after
        assert isinstance(before, Divorce) and isinstance(after, Divorce)
        if not after.record_region:
            return

        def ask(work: str, snapshot: Message, cause: RecordedEvent) -> None:
            request_work(uow.tx, case_id=after.case_id, to_region=after.record_region, work=work,
                         accept_within=settings.reissue_accept_within,
                         answer_within=settings.reissue_answer_within, actor=change.provenance.actor,
                         case_snapshot=snapshot, handoff_id=record_handoff_id(after.case_id, work),
                         occurred_at=cause.occurred_at, causation_id=cause.event_id, trace=cause.trace)

        for event, recorded in zip(change.events, change.recorded, strict=True):
            if isinstance(event, DivorceApplicationReceived):
                ask(RECORD_CHECK_WORK, to_message(event), recorded)
            elif isinstance(event, DivorceDissolutionRequested):
                ask(DISSOLUTION_WORK, to_message(event), recorded)
        if after.proceeding_to_close_elsewhere and not before.proceeding_to_close_elsewhere:
            assert after.state is not None
            closing = ProceedingToClose(after.case_id, after.marriage_case_id, after.state.value)
            ask(PROCEEDING_CLOSE_WORK, to_message(closing), change.recorded[-1])

    return subscriber


def when_a_judgment_ends_a_divorce_received_elsewhere_tell_its_region(settings: MarriageSettings
                                                                       ) -> ChangeSubscriber:
    """A subscriber on Marriage, in the record region: a court judgment recorded against the
    marriage closed a proceeding another region's office opened; that office is told, so the
    divorce ends there now rather than at its registration."""

    def subscriber(uow: UnitOfWork, change: Change) -> None:
        marriage = change.after
        assert isinstance(marriage, Marriage)
        for event, recorded in zip(change.events, change.recorded, strict=True):
            if not isinstance(event, DivorceProceedingClosed) or marriage.judgment is None:
                continue
            office_region = region_of_case(event.divorce_case_id, kinds=frozenset({"divorce"}))
            if not office_region or office_region == uow.store.region:
                continue
            j = marriage.judgment
            ended = ProceedingToClose(event.divorce_case_id, marriage.case_id, event.outcome,
                                      f"the marriage was declared {j.judgment} by {j.court}", j.judgment_number)
            request_work(uow.tx, case_id=marriage.case_id, to_region=office_region, work=JUDGMENT_ENDED_WORK,
                         accept_within=settings.reissue_accept_within, answer_within=settings.reissue_answer_within,
                         actor=change.provenance.actor, case_snapshot=to_message(ended),
                         handoff_id=record_handoff_id(event.divorce_case_id, JUDGMENT_ENDED_WORK),
                         occurred_at=recorded.occurred_at, causation_id=recorded.event_id, trace=recorded.trace)

    return subscriber


# -- record region: answer from the record ---------------------------------------------------------


def when_asked_about_a_divorce_answer_from_the_record(deps: Deps, tx: StoreTransaction, h: Handoff) -> None:
    """Record region, on HandoffReceived: do the step on the marriage record and answer, or refuse
    naming the rule. Nothing is recorded on the marriage when a rule is broken."""
    if h.work not in RECORD_WORKS:
        return
    actor = Actor.system(deps.region, RECORD_DESK)
    try:
        with deps.units.joining(tx, hook_provenance(deps, tx, h, RECORD_DESK)) as uow:
            outcome = _do_on_record(uow, h)
    except (NotFound, RuleViolation) as refusal:
        refuse_handoff(tx, h.handoff_id, str(refusal), actor=actor)
        return
    accept_handoff(tx, h.handoff_id, actor=actor)
    complete_handoff(tx, h.handoff_id, to_message(outcome), actor=actor)


def _do_on_record(uow: UnitOfWork, h: Handoff) -> object:
    asked = snapshot_of(h)
    if h.work == RECORD_CHECK_WORK and isinstance(asked, DivorceApplicationReceived) and asked.case_id == h.case_id:
        marriage = uow.load(Marriage, asked.marriage_case_id)
        check_against_record(marriage, asked.spouse_a, asked.spouse_b)
        uow.record(marriage, marriage.open_divorce(h.case_id, asked.office_code))
        return DivorceProceedingOpened(h.case_id, asked.office_code)
    if h.work == DISSOLUTION_WORK and isinstance(asked, DivorceDissolutionRequested) and asked.case_id == h.case_id:
        marriage = uow.load(Marriage, asked.marriage_case_id)
        check(MarriageSubsists(marriage.state), ProceedingOpenForThisDivorce(marriage.open_divorce_case_id, h.case_id))
        # Dissolved on the day the receiving office registered the divorce (离婚登记), not the
        # day the message arrived here.
        uow.record(marriage, marriage.dissolve_by_divorce(h.case_id, asked.certificate_number, asked.requested_on))
        return MarriageDissolvedByDivorce(h.case_id, asked.certificate_number, asked.requested_on)
    if h.work == PROCEEDING_CLOSE_WORK and isinstance(asked, ProceedingToClose) and asked.divorce_case_id == h.case_id:
        marriage = uow.load(Marriage, asked.marriage_case_id)
        uow.record(marriage, marriage.close_divorce(h.case_id, asked.outcome))
        return DivorceProceedingClosed(h.case_id, asked.outcome)
    raise NotFound("divorce step", f"{h.work} for {h.case_id}")


# -- receiving region: record the answer -----------------------------------------------------------


def when_the_record_region_answers_record_it(deps: Deps, tx: StoreTransaction, h: Handoff, outcome: Message) -> None:
    """Receiving region, on HandoffOutcomeReceived: the record confirmed, or the marriage dissolved
    (the divorce registered with the number taken here)."""
    if h.work not in (RECORD_CHECK_WORK, DISSOLUTION_WORK):
        return
    answer = from_message(outcome)
    with deps.units.joining(tx, hook_provenance(deps, tx, h, DIVORCE_DESK)) as uow:
        divorce = _divorce(uow, h)
        if divorce is None:
            return
        if h.work == RECORD_CHECK_WORK:
            uow.record(divorce, divorce.record_confirmed(handoff_id=h.handoff_id))
        elif isinstance(answer, MarriageDissolvedByDivorce):
            uow.record(divorce, divorce.dissolved(handoff_id=h.handoff_id,
                                                  certificate_number=answer.divorce_certificate_number,
                                                  dissolved_on=answer.dissolved_on))


def when_the_record_region_refuses_close_the_divorce(deps: Deps, tx: StoreTransaction, h: Handoff) -> None:
    """Receiving region, on HandoffRefused: a refused record check ends the divorce refused; a
    refused dissolution terminates it. Both carry the record region's reason, naming its rule."""
    if h.work not in RECORD_WORKS:
        return
    if h.work == PROCEEDING_CLOSE_WORK:
        log.error("region %s refused to close the proceeding of %s: %s", h.to_region, h.case_id, h.refusal_reason)
        return
    with deps.units.joining(tx, hook_provenance(deps, tx, h, DIVORCE_DESK)) as uow:
        divorce = _divorce(uow, h)
        if divorce is None:
            return
        if h.work == RECORD_CHECK_WORK:
            uow.record(divorce, divorce.refused_by_record(handoff_id=h.handoff_id, reason=h.refusal_reason))
        else:
            uow.record(divorce, divorce.terminate(
                reason=f"region {h.to_region} did not dissolve the marriage: {h.refusal_reason}", judgment_number=""))


def when_a_judgment_ended_the_marriage_terminate_the_divorce(deps: Deps, tx: StoreTransaction, h: Handoff) -> None:
    """Receiving region, on HandoffReceived from the record region: a judgment ended the marriage,
    so the divorce received here ends terminated, naming the judgment."""
    if h.work != JUDGMENT_ENDED_WORK:
        return
    actor = Actor.system(deps.region, DIVORCE_DESK)
    asked = snapshot_of(h)
    ended = isinstance(asked, ProceedingToClose) and asked.marriage_case_id == h.case_id
    with deps.units.joining(tx, hook_provenance(deps, tx, h, DIVORCE_DESK)) as uow:
        divorce = uow.find(Divorce, asked.divorce_case_id) if isinstance(asked, ProceedingToClose) else None
        ours = (ended and divorce is not None and divorce.marriage_case_id == h.case_id
                and divorce.record_region == h.from_region)
        if ours:
            assert isinstance(asked, ProceedingToClose) and divorce is not None
            uow.record(divorce, divorce.terminate(reason=asked.reason, judgment_number=asked.judgment_number))
    if not ours:
        refuse_handoff(tx, h.handoff_id, "no divorce received here for that marriage", actor=actor)
        return
    accept_handoff(tx, h.handoff_id, actor=actor)
    complete_handoff(tx, h.handoff_id, to_message(asked), actor=actor)


def _divorce(uow: UnitOfWork, h: Handoff) -> Divorce | None:
    divorce = uow.find(Divorce, h.case_id)
    if divorce is None or not divorce.record_region:
        log.error("hand-off %s names %s, which is no divorce received here for another region", h.handoff_id,
                  h.case_id)
        return None
    return divorce


def marriage_handoff_hooks(deps: Deps) -> HandoffHooks:
    """The HandoffHooks of one region's marriage service: reissues (handoffs.py) and divorces of
    marriages recorded elsewhere (this module). Each hook acts only on its own work."""

    def on_received(tx: StoreTransaction, h: Handoff) -> None:
        handoffs.when_asked_for_a_record_answer_from_the_archive(deps, tx, h)
        when_asked_about_a_divorce_answer_from_the_record(deps, tx, h)
        when_a_judgment_ended_the_marriage_terminate_the_divorce(deps, tx, h)

    def on_refused(tx: StoreTransaction, h: Handoff) -> None:
        handoffs.when_archive_refuses_close_refused(deps, tx, h)
        when_the_record_region_refuses_close_the_divorce(deps, tx, h)

    def on_outcome(tx: StoreTransaction, h: Handoff, outcome: Message) -> None:
        handoffs.when_archive_answers_issue_here(deps, tx, h, outcome)
        when_the_record_region_answers_record_it(deps, tx, h, outcome)

    return HandoffHooks(on_received=on_received, on_refused=on_refused, on_outcome=on_outcome)


__all__ = [
    "marriage_handoff_hooks",
    "when_a_divorce_held_elsewhere_changes_ask_the_record_region",
    "when_a_judgment_ends_a_divorce_received_elsewhere_tell_its_region",
]
