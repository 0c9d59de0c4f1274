"""relief.Assistance: one 临时救助 case (国发〔2014〕47号), granted by the region where the emergency
happened whatever the person's 户籍 or residence.

Urgent cases (先行救助) are paid at once from the township's reserve, up to the region's ceiling, and
stay open — listed — until their proof is completed (10 working days after the emergency).
Expenditure-type cases follow the normal review and are decided within 15 working days. A person
with neither local 户籍 nor a residence permit is helped here, or referred to the county rescue
agency; either way it is recorded.

States: received → (urgent_paid → proof_completed) → granted | refused | referred."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from services.common.kit.aggregate import Aggregate
from services.relief.domain import events as ev
from services.relief.domain.rules import (
    EmergencyHappenedHere,
    GrantHasAnAmount,
    OncePerYearPerCause,
    ProofBeforeClosing,
    ProofNamesItsDocuments,
    RefusalGivesReasons,
    StepInOrder,
    UrgentWithinCeiling,
    check,
)
from services.relief.domain.settings import ReliefSettings, contains

URGENT, EXPENDITURE = "urgent", "expenditure"
RECEIVED, URGENT_PAID, PROOF_COMPLETED = "received", "urgent_paid", "proof_completed"
GRANTED, REFUSED, REFERRED = "granted", "refused", "referred"

ASSISTANCE_DECISION_DUE = "relief.assistance.decision_due"
PROOF_DUE = "relief.assistance.proof_due"


def local_link(region: str, hukou_region: str, residence_permit_region: str) -> str:
    """Why the person is local here, if they are: "hukou", "residence_permit" or "none"."""
    if hukou_region and contains(region, hukou_region):
        return "hukou"
    if residence_permit_region and contains(region, residence_permit_region):
        return "residence_permit"
    return "none"


def apply_for_assistance(*, case_id: str, office_code: str, region: str, citizen_id: str, name: str,
                         emergency_place: str, emergency_on: date, cause: str, kind: str, hukou_region: str,
                         residence_permit_region: str, received_on: date, earlier_case_id: str,
                         settings: ReliefSettings) -> list[Any]:
    """受理 where the emergency happened. `earlier_case_id`: a case of this person granted for the same
    cause in the same calendar year here ("" when none)."""
    check(EmergencyHappenedHere(region, emergency_place),
          OncePerYearPerCause(settings.once_per_year_per_cause, earlier_case_id),
          StepInOrder(kind, (URGENT, EXPENDITURE), "receive an application of this kind (urgent or expenditure):"))
    return [ev.AssistanceApplicationReceived(
        case_id=case_id, office_code=office_code, region=region, citizen_id=citizen_id, name=name,
        emergency_place=emergency_place, emergency_on=emergency_on, cause=cause, kind=kind,
        local_link=local_link(region, hukou_region, residence_permit_region), received_on=received_on,
        decision_due_on=settings.calendar.add_working_days(received_on, settings.assistance_decision_within),
        decision_deadline_id=f"{case_id}-decision")]


@dataclass
class Assistance(Aggregate):
    stream_type: ClassVar[str] = "relief.Assistance"
    what: ClassVar[str] = "临时救助 case"

    case_id: str = ""
    office_code: str = ""
    region: str = ""
    citizen_id: str = ""
    name: str = ""
    cause: str = ""
    kind: str = ""
    local_link: str = ""
    emergency_on: date | None = None
    received_on: date | None = None
    decision_due_on: date | None = None
    state: str = ""
    urgent_fen: int = 0
    proof_due_on: date | None = None
    proof_completed: bool = False
    granted_fen: int = 0
    referred_to: str = ""
    overdue: tuple[str, ...] = ()

    def pay_urgently(self, today: date, amount_fen: int, settings: ReliefSettings) -> list[Any]:
        """先行救助: paid now; proof due within 10 working days of the emergency."""
        check(StepInOrder(self.kind, (URGENT,), "pay at once on a case of kind"),
              StepInOrder(self.state, (RECEIVED,), "pay at once on"),
              UrgentWithinCeiling(amount_fen, settings.urgent_ceiling_fen))
        assert self.emergency_on is not None
        return [ev.UrgentPaymentMade(
            amount_fen=amount_fen, paid_on=today,
            proof_due_on=settings.calendar.add_working_days(self.emergency_on, settings.proof_within),
            proof_deadline_id=f"{self.case_id}-proof")]

    def complete_proof(self, today: date, documents: str) -> list[Any]:
        check(StepInOrder(self.state, (URGENT_PAID,), "complete the proof of"),
              ProofNamesItsDocuments(documents))
        return [ev.ProofCompleted(completed_on=today, documents=documents.strip())]

    def refer_to_rescue_agency(self, today: date, reason: str, settings: ReliefSettings) -> list[Any]:
        """国发〔2014〕47号: a person with no local 户籍 nor permit may be referred to the 救助管理站."""
        check(StepInOrder(self.local_link, ("none",), "refer a person whose local link is"),
              StepInOrder(self.state, (RECEIVED,), "refer"))
        return [ev.ReferredToRescueAgency(agency=settings.rescue_agency, referred_on=today, reason=reason.strip())]

    def decide(self, today: date, *, approve: bool, amount_fen: int, reasons: str) -> list[Any]:
        check(StepInOrder(self.state, (RECEIVED, URGENT_PAID, PROOF_COMPLETED), "decide"),
              ProofBeforeClosing(self.state == URGENT_PAID, self.proof_completed))
        if approve:
            check(GrantHasAnAmount(amount_fen))
            return [ev.AssistanceGranted(decided_on=today, amount_fen=amount_fen)]
        check(RefusalGivesReasons(reasons))
        return [ev.AssistanceRefused(decided_on=today, rule="CountyRefusal", reasons=reasons.strip())]

    def note_overrun(self, today: date, limit: str, due_on: date) -> list[Any]:
        waiting = {"proof": (URGENT_PAID,), "decision": (RECEIVED, URGENT_PAID, PROOF_COMPLETED)}
        if self.state not in waiting.get(limit, ()):
            return []
        return [ev.TimeLimitOverrun(limit=limit, due_on=due_on, noted_on=today)]

    @property
    def open_until_proof(self) -> bool:
        """Listed until the paperwork of an urgent payment is complete."""
        return self.urgent_fen > 0 and not self.proof_completed

    def when(self, event: Any) -> None:
        match event:
            case ev.AssistanceApplicationReceived():
                self.case_id, self.office_code, self.region = event.case_id, event.office_code, event.region
                self.citizen_id, self.name = event.citizen_id, event.name
                self.cause, self.kind = event.cause, event.kind
                self.local_link, self.emergency_on = event.local_link, event.emergency_on
                self.received_on, self.decision_due_on, self.state = event.received_on, event.decision_due_on, RECEIVED
            case ev.UrgentPaymentMade():
                self.state, self.urgent_fen, self.proof_due_on = URGENT_PAID, event.amount_fen, event.proof_due_on
            case ev.ProofCompleted():
                self.state, self.proof_completed = PROOF_COMPLETED, True
                self.overdue = tuple(o for o in self.overdue if o != "proof")
            case ev.ReferredToRescueAgency():
                self.state, self.referred_to = REFERRED, event.agency
                self.overdue = ()
            case ev.AssistanceGranted():
                self.state, self.granted_fen = GRANTED, event.amount_fen
                self.overdue = tuple(o for o in self.overdue if o != "decision")
            case ev.AssistanceRefused():
                self.state = REFUSED
                self.overdue = tuple(o for o in self.overdue if o != "decision")
            case ev.TimeLimitOverrun():
                self.overdue = (*self.overdue, event.limit)
