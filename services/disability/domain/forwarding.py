"""异地代收代办 (民政部/中国残联 两项补贴跨省通办, 2021; 国办发〔2020〕35号): a window receives an
application whose 户籍 is in another province, checks form and identity and forwards it within 3
working days; the 户籍 region reviews, decides within 10 working days and pays; the result comes
back and the window informs the applicant within 3 working days. The decision right never moves
to the window; both regions keep a record of their part (each an Application stream under the
same case id, in its own store).

The hand-off itself is the core's (services/common/handoff): these functions decide what each
side records in its Application."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any, ClassVar

from services.common.identity.regions import RegionCode
from services.common.kit.rules import Rule, check
from services.common.working_days import Calendar
from services.disability.domain import events as ev
from services.disability.domain.application import Application, receive_application, start_stage
from services.disability.domain.settings import RegionalSettings
from services.disability.domain.values import (
    Applicant,
    Certificate,
    Circumstances,
    HouseholdStatus,
    Stage,
    Subsidy,
    WindowStage,
)

ARTICLE = "民政部 中国残联 两项补贴跨省通办 (2021)"


def decides_elsewhere(region: str, hukou_region: str) -> bool:
    return not RegionCode(region).contains(RegionCode(hukou_region))


def deciding_region(hukou_region: str) -> str:
    """The region that decides for a 户籍 place: its province's deployment."""
    return RegionCode(hukou_region).province.value


@dataclass(frozen=True)
class AtTheWindowStage(Rule):
    """The receiving window's steps in turn: forward while forwarding, inform once the result came."""

    article: ClassVar[str] = ARTICLE
    current: Stage | WindowStage | None
    asked: WindowStage

    def is_broken(self) -> bool:
        return self.current is not self.asked

    @property
    def message(self) -> str:
        return f"the application is at {self.current.value if self.current else 'no stage'}, not {self.asked.value}"


def receive_for_forwarding(*, case_id: str, office_code: str, region: str, received_on: date, applicant: Applicant,
                           certificate: Certificate, household: HouseholdStatus, circumstances: Circumstances,
                           bank_account: str, living: bool, nursing: bool, settings: RegionalSettings | None,
                           calendar: Calendar) -> list[Any]:
    """受理 for another province's 户籍 region: recorded as received (form and identity checked by
    the command), and the 3-working-day forwarding limit starts. Eligibility is the 户籍 region's."""
    return [ev.ApplicationReceived(case_id, office_code, region, received_on, applicant, certificate,
                                   household.value, "declared", circumstances, bank_account, living, nursing),
            start_stage(case_id, WindowStage.FORWARDING, received_on, settings, calendar)]


def forward(app: Application, *, handoff_id: str, office_code: str, on: date) -> list[Any]:
    check(AtTheWindowStage(app.stage, WindowStage.FORWARDING))
    assert app.applicant is not None
    return [ev.StageCompleted(WindowStage.FORWARDING.value, office_code, on, ""),
            ev.ApplicationForwarded(handoff_id, deciding_region(app.applicant.hukou_region), office_code, on)]


def take_over(received: ev.ApplicationReceived, *, handoff_id: str, from_region: str, region: str, on: date,
              settings: RegionalSettings, calendar: Calendar) -> list[Any]:
    """In the 户籍 region: the forwarded application opened here, judged by this region's rules
    from the day it arrived, its township review at the 户籍 county (office = the county's code)."""
    opened = receive_application(
        case_id=received.case_id, office_code=received.applicant.hukou_region, region=region, received_on=on,
        applicant=received.applicant, certificate=received.certificate, household=HouseholdStatus(received.household),
        household_source=received.household_source, circumstances=received.circumstances,
        bank_account=received.bank_account, living=received.living_requested, nursing=received.nursing_requested,
        settings=settings, calendar=calendar)
    # Payment still starts from the month the person applied at the window (国发〔2015〕52号 三).
    opened[0] = replace(opened[0], received_on=received.received_on)
    return [opened[0], ev.ReceivedByHandoff(handoff_id, from_region, received.office_code), *opened[1:]]


def decision_of(app: Application, *, on: date) -> ev.HukouRegionDecided:
    """What the 户籍 region sends back once it decided."""
    refusal = app.refusal.reason if app.refusal else ""
    amounts = {s: e.amount_fen for s, e in app.entitlements.items()}
    start = min((e.start_month for e in app.entitlements.values()), default="")
    return ev.HukouRegionDecided(app.handoff_id, app.region, on, bool(app.entitlements), refusal,
                                 amounts.get(Subsidy.LIVING, 0), amounts.get(Subsidy.NURSING, 0), start)


def record_answer(app: Application, answer: ev.HukouRegionDecided | ev.ForwardRefused, *, on: date,
                  settings: RegionalSettings | None, calendar: Calendar) -> list[Any]:
    """At the window: the 户籍 region's answer is recorded, and the 3-working-day limit to inform
    the applicant starts. An answer seen before changes nothing."""
    if app.handoff_id != answer.handoff_id or app.decided_elsewhere is not None or app.forward_refusal:
        return []
    return [answer, start_stage(app.case_id, WindowStage.INFORMING, on, settings, calendar)]


def inform(app: Application, *, office_code: str, on: date, note: str) -> list[Any]:
    check(AtTheWindowStage(app.stage, WindowStage.INFORMING))
    return [ev.StageCompleted(WindowStage.INFORMING.value, office_code, on, note),
            ev.ApplicantInformed(office_code, on, note)]
