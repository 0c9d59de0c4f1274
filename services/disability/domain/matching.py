"""Data matching (数据比对): other departments' findings — a death record, a 户籍 move, a 特困
enrolment, a work-injury nursing allowance, a household leaving 低保 — arrive as commands and act on every affected
application and entitlement of the person in this region, each stop recorded with its source.

A finding is itself recorded (the DataMatch aggregate, one stream per finding) with the cases it
acted on, so an auditor sees what arrived from whom even when it affected nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, ClassVar

from services.common.identity.regions import RegionCode
from services.common.kit.aggregate import Aggregate
from services.disability.domain.application import Application
from services.disability.domain.events import HouseholdStatusConfirmed
from services.disability.domain.settings import RegionalSettings
from services.disability.domain.values import ApplicationState, HouseholdStatus, StopReason, Subsidy

MATCH_STREAM_TYPE = "disability.DataMatch"


class FindingKind(StrEnum):
    DEATH = "death"  # public security: death, declared death or missing
    HUKOU_MOVE = "hukou_move"  # public security: the 户籍 moved
    TEKUN_ENROLMENT = "tekun_enrolment"  # civil affairs: enrolled in 特困 support
    WORK_INJURY_ALLOWANCE = "work_injury_allowance"  # human resources: 工伤保险 nursing allowance granted
    DIBAO_ENDED = "dibao_ended"  # relief: the household left 低保 (the living subsidy only)


STOP_REASON = {FindingKind.DEATH: StopReason.DEATH, FindingKind.HUKOU_MOVE: StopReason.MOVED_OUT,
               FindingKind.TEKUN_ENROLMENT: StopReason.TEKUN_SUPPORT,
               FindingKind.WORK_INJURY_ALLOWANCE: StopReason.WORK_INJURY_NURSING,
               FindingKind.DIBAO_ENDED: StopReason.LEFT_DIBAO}


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    citizen_id: str
    effective_on: date  # the day of the death, move, enrolment, allowance
    source: str  # the department and its record, e.g. "公安 死亡登记 2026-0042"
    new_hukou_region: str  # for a move; "" otherwise

    def affects(self, region: str) -> bool:
        """A move within the province keeps the subsidies (the 户籍 place is still this province's);
        every other finding affects the person's entitlements."""
        if self.kind is not FindingKind.HUKOU_MOVE:
            return True
        return not RegionCode(RegionCode(region).province.value).contains(RegionCode(self.new_hukou_region))


def act_on_finding(app: Application, finding: Finding, *, found_on: date, region: str,
                   settings: RegionalSettings) -> list[Any]:
    """What `finding` does to one application: its paid entitlements stop from the month after (or
    the month found, where the region says so); an application still under review is refused at
    its stage, the finding as the reason."""
    if not finding.affects(region):
        return []
    source = f"{finding.kind.value}: {finding.source}"
    only = Subsidy.LIVING if finding.kind is FindingKind.DIBAO_ENDED else None
    if app.state is ApplicationState.APPROVED:
        return app.stop_all(reason=STOP_REASON[finding.kind], effective_on=finding.effective_on, found_on=found_on,
                            source=source, note="", settings=settings, only=only)
    if only is not None:
        return []  # an application under review: the county checks the household's status at approval
    if app.state is ApplicationState.UNDER_REVIEW and app.stage is not None:
        return app.refuse(app.stage, office_code="", on=found_on, rule="DataMatchFinding",
                          article="国发〔2015〕52号 三(四) 数据比对", reason=source)
    return []


RELIEF_SOURCE = "relief"  # the household's status as the relief service recorded it


def verify_household_on_enrolment(app: Application) -> list[Any]:
    """A member entered 低保 (the relief service's record): an application still waiting with the
    living subsidy asked has its household's status verified as 低保 — the declaration the living
    subsidy rested on (国发〔2015〕52号 二(一): 低保家庭中的残疾人) no longer waits for the county's
    check at approval. Anything else (decided, living subsidy not asked, already verified) is unchanged."""
    if app.state is not ApplicationState.UNDER_REVIEW or Subsidy.LIVING not in app.still_asked:
        return []
    if app.household is HouseholdStatus.DIBAO and app.household_source == RELIEF_SOURCE:
        return []
    return [HouseholdStatusConfirmed(HouseholdStatus.DIBAO.value, RELIEF_SOURCE)]


def household_left_dibao(app: Application) -> list[Any]:
    """The household left 低保: an application under review whose status was verified from relief's
    record no longer has it (the county confirms the status at approval, 国发〔2015〕52号 三)."""
    if app.state is not ApplicationState.UNDER_REVIEW or app.household_source != RELIEF_SOURCE:
        return []
    return [HouseholdStatusConfirmed(HouseholdStatus.NONE.value, RELIEF_SOURCE)]


@dataclass(frozen=True)
class DataMatchReceived:
    match_id: str
    kind: str
    citizen_id: str
    effective_on: date
    source: str
    new_hukou_region: str
    received_on: date
    affected_case_ids: str  # one case id a line: the applications it acted on


@dataclass
class DataMatch(Aggregate):
    stream_type: ClassVar[str] = MATCH_STREAM_TYPE
    what: ClassVar[str] = "data match"

    received: DataMatchReceived | None = None

    @property
    def affected(self) -> list[str]:
        return self.received.affected_case_ids.split("\n") if self.received and self.received.affected_case_ids else []

    def when(self, event: Any) -> None:
        match event:
            case DataMatchReceived():
                self.received = event
            case _:
                raise TypeError(f"not a data-match event: {type(event).__name__}")
