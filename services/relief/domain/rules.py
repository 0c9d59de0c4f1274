"""The named rules of relief, each with the instrument it encodes (domain-rules.md, "Minimum living
allowance" and "Temporary assistance"). 57号 is 民政部《最低生活保障审核确认办法》(民发〔2021〕57号);
47号 is《国务院关于全面建立临时救助制度的通知》(国发〔2014〕47号). Numbers a region may set are read
from ReliefSettings, so a rule names the instrument and the region's figure in its message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from services.common.errors import NotAuthorised
from services.common.kit.rules import Rule, check, first_broken
from services.relief.domain.household import Allowance
from services.relief.domain.settings import contains

DIBAO = "民发〔2021〕57号"
ASSISTANCE = "国发〔2014〕47号"

__all__ = ["check", "first_broken"]


@dataclass(frozen=True)
class ClerkOfThisRegion(Rule):
    """A window of another region cannot write this region's cases (architecture invariant 4)."""

    article: ClassVar[str] = "国办发〔2020〕35号 跨省通办 (业务属地)"
    error: ClassVar[type[NotAuthorised]] = NotAuthorised
    actor_kind: str
    actor_region: str
    region: str

    def is_broken(self) -> bool:
        return self.actor_kind != "clerk" or self.actor_region != self.region

    @property
    def message(self) -> str:
        return f"only a clerk of region {self.region} may do this (caller: {self.actor_kind} of {self.actor_region})"


@dataclass(frozen=True)
class MayApplyHere(Rule):
    """申请: at the township of the applicant's 户籍, or — for a residence-permit holder — where they
    live (有条件的地区 居住地申办)."""

    article: ClassVar[str] = f"{DIBAO} 第二章 申请和受理 (户籍所在地申请; 持居住证在居住地申办)"
    place: str
    applicant_hukou: str
    applicant_permit: str

    def is_broken(self) -> bool:
        return self.place not in (self.applicant_hukou, self.applicant_permit)

    @property
    def message(self) -> str:
        permit = f", residence permit {self.applicant_permit}" if self.applicant_permit else ""
        return (f"the applicant's 户籍 is in {self.applicant_hukou}{permit}: "
                f"apply there, not in {self.place}")


@dataclass(frozen=True)
class StandardConfigured(Rule):
    article: ClassVar[str] = f"{DIBAO} 补差 (当地最低生活保障标准)"
    place: str
    area: str
    standard_fen: int | None

    def is_broken(self) -> bool:
        return self.standard_fen is None or self.standard_fen <= 0

    @property
    def message(self) -> str:
        return f"no {self.area} 低保 standard is configured for {self.place}"


@dataclass(frozen=True)
class IncomeBelowStandard(Rule):
    """低保 makes up the difference (补差): a household at or above the standard gets nothing."""

    article: ClassVar[str] = f"{DIBAO} 补差: (当地标准 − 家庭月人均收入) × 人数"
    allowance: Allowance

    def is_broken(self) -> bool:
        return not self.allowance.below_standard

    @property
    def message(self) -> str:
        return (f"the household's per-capita monthly income {self.allowance.per_capita_income_fen} fen "
                f"is not below the standard {self.allowance.standard_fen} fen")


@dataclass(frozen=True)
class HomeVisitByTwoStaff(Rule):
    article: ClassVar[str] = f"{DIBAO} 第三章 家庭经济状况调查 (入户调查, 调查人员不少于2人)"
    first_visitor: str
    second_visitor: str

    def is_broken(self) -> bool:
        names = {self.first_visitor.strip(), self.second_visitor.strip()} - {""}
        return len(names) < 2

    @property
    def message(self) -> str:
        return "a home visit is made by at least two staff, each named"


@dataclass(frozen=True)
class EconomicChecksAnswered(Rule):
    """Members whose 户籍 is elsewhere are checked by that region (it assists with the family
    economic check): the township gives its opinion once every answer is in."""

    article: ClassVar[str] = f"{DIBAO} 第二章 (户籍所在地协助核对家庭经济状况) — 多地联办"
    waiting: tuple[str, ...]

    def is_broken(self) -> bool:
        return bool(self.waiting)

    @property
    def message(self) -> str:
        return f"family economic checks asked of other regions are not answered yet: {', '.join(self.waiting)}"


@dataclass(frozen=True)
class CountyVisitsFlaggedHousehold(Rule):
    """Households of civil-affairs staff's or cadres' relatives are filed separately and the county
    visits them itself before the township gives its opinion."""

    article: ClassVar[str] = f"{DIBAO} 第五章 管理和监督 (近亲属备案, 县级民政部门入户核查)"
    flagged: bool
    county_visited: bool

    def is_broken(self) -> bool:
        return self.flagged and not self.county_visited

    @property
    def message(self) -> str:
        return "this household is on the staff/cadre relatives list: the county's own home visit comes first"


@dataclass(frozen=True)
class StepInOrder(Rule):
    """审核确认程序: 受理 → 调查 → (民主评议) → 乡镇审核 → 公示 → 县级确认, one step after another."""

    article: ClassVar[str] = f"{DIBAO} 审核确认程序"
    state: str
    allowed: tuple[str, ...]
    step: str

    def is_broken(self) -> bool:
        return self.state not in self.allowed

    @property
    def message(self) -> str:
        return f"cannot {self.step} a case that is {self.state} (only when {' or '.join(self.allowed)})"


@dataclass(frozen=True)
class NoticeRunsItsDays(Rule):
    article: ClassVar[str] = f"{DIBAO} 公示 (公示期为7天)"
    today: date
    last_day: date

    def is_broken(self) -> bool:
        return self.today <= self.last_day

    @property
    def message(self) -> str:
        return f"the public notice runs until {self.last_day.isoformat()} inclusive"


@dataclass(frozen=True)
class ObjectionsAnswered(Rule):
    article: ClassVar[str] = f"{DIBAO} 公示 (有异议的, 重新调查核实)"
    unanswered: tuple[str, ...]

    def is_broken(self) -> bool:
        return bool(self.unanswered)

    @property
    def message(self) -> str:
        return f"objections raised during the notice are unanswered: {', '.join(self.unanswered)}"


@dataclass(frozen=True)
class RefusalGivesReasons(Rule):
    article: ClassVar[str] = f"{DIBAO} 审核确认 (不予确认的, 书面告知并说明理由)"
    reasons: str

    def is_broken(self) -> bool:
        return not self.reasons.strip()

    @property
    def message(self) -> str:
        return "a refusal is notified in writing with its reasons"


@dataclass(frozen=True)
class OnePlacePerMember(Rule):
    """One household enjoys 低保 in one place only; each member's place is held by the per-person
    registry (architecture invariant 5)."""

    article: ClassVar[str] = f"{DIBAO} (一个家庭只能在一处享受最低生活保障)"
    denied: tuple[str, ...]  # "<citizen> (held by <case> in <region>)"

    def is_broken(self) -> bool:
        return bool(self.denied)

    @property
    def message(self) -> str:
        return f"a member already enjoys 低保 elsewhere: {'; '.join(self.denied)}"


@dataclass(frozen=True)
class RegistryAnswersFirst(Rule):
    """No decision while the registry has not answered for every member: a refusal must rest on
    settled facts (architecture invariant 9), so this refuses the command, records nothing."""

    article: ClassVar[str] = f"{DIBAO} (一处享受) — Tongban invariant 5"
    waiting: tuple[str, ...]

    def is_broken(self) -> bool:
        return bool(self.waiting)

    @property
    def message(self) -> str:
        return f"the per-person registry has not answered yet for {len(self.waiting)} member(s); decide later"


@dataclass(frozen=True)
class MayViewHousehold(Rule):
    """Every read of personal data is authorised by role and recorded (architecture invariant 8)."""

    article: ClassVar[str] = "Tongban invariant 8 (reads of personal data authorised and recorded)"
    error: ClassVar[type[NotAuthorised]] = NotAuthorised
    role: str
    allowed: frozenset[str]
    reason: str

    def is_broken(self) -> bool:
        return self.role not in self.allowed or not self.reason.strip()

    @property
    def message(self) -> str:
        if not self.reason.strip():
            return "a read of a household's cases says why"
        return f"role {self.role!r} may not view households (only {', '.join(sorted(self.allowed))})"


# -- 临时救助 --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmergencyHappenedHere(Rule):
    """急难发生地 grants, whatever the person's 户籍 or residence."""

    article: ClassVar[str] = f"{ASSISTANCE} 急难发生地救助"
    region: str
    emergency_place: str

    def is_broken(self) -> bool:
        return not contains(self.region, self.emergency_place)

    @property
    def message(self) -> str:
        return f"the emergency happened in {self.emergency_place}: region {self.region} does not grant it"


@dataclass(frozen=True)
class UrgentWithinCeiling(Rule):
    article: ClassVar[str] = f"{ASSISTANCE} 先行救助 (地方额度)"
    amount_fen: int
    ceiling_fen: int

    def is_broken(self) -> bool:
        return not 0 < self.amount_fen <= self.ceiling_fen

    @property
    def message(self) -> str:
        return f"先行救助 pays more than 0 and at most {self.ceiling_fen} fen here ({self.amount_fen} asked)"


@dataclass(frozen=True)
class OncePerYearPerCause(Rule):
    article: ClassVar[str] = f"{ASSISTANCE} 同一原因原则上一年一次 (地方规定)"
    applies: bool
    earlier_case_id: str

    def is_broken(self) -> bool:
        return self.applies and bool(self.earlier_case_id)

    @property
    def message(self) -> str:
        return f"this person was already helped for this cause this calendar year ({self.earlier_case_id})"


@dataclass(frozen=True)
class ProofBeforeClosing(Rule):
    article: ClassVar[str] = f"{ASSISTANCE} 先行救助, 后补齐手续 (10个工作日内)"
    urgent_paid: bool
    proof_completed: bool

    def is_broken(self) -> bool:
        return self.urgent_paid and not self.proof_completed

    @property
    def message(self) -> str:
        return "an urgent payment's paperwork is completed before the case is decided"


@dataclass(frozen=True)
class ProofNamesItsDocuments(Rule):
    article: ClassVar[str] = f"{ASSISTANCE} 先行救助, 后补齐手续"
    documents: str

    def is_broken(self) -> bool:
        return not self.documents.strip()

    @property
    def message(self) -> str:
        return "completing the proof names the documents received (signatures, approvals, bills)"


@dataclass(frozen=True)
class GrantHasAnAmount(Rule):
    article: ClassVar[str] = f"{ASSISTANCE} 救助标准 (一次性给予)"
    amount_fen: int

    def is_broken(self) -> bool:
        return self.amount_fen <= 0

    @property
    def message(self) -> str:
        return f"a grant pays a positive amount in fen ({self.amount_fen} given)"
