"""The legal rules of the two subsidies, each a named object with the article it encodes (the kit's
rule shape: services/common/kit/rules.py). `check(...)` raises the first broken one
(FAILED_PRECONDITION naming it); `first_broken(...)` finds the one a refusal is recorded with.

Articles: 国发〔2015〕52号《关于全面建立困难残疾人生活补贴和重度残疾人护理补贴制度的意见》 — 二(一)
补贴对象, 二(二) 补贴标准, 二(四) 与其他制度的衔接, 三 申领程序和管理. Messages never echo a
citizen ID."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from services.common.errors import NotAuthorised, RuleViolation
from services.common.identity.disability_certificate import DisabilityCategory, DisabilityGrade
from services.common.identity.regions import RegionCode, office_region
from services.common.kit.rules import Rule, check, first_broken
from services.disability.domain.settings import RegionalSettings
from services.disability.domain.values import ApplicationState, Circumstances, HouseholdStatus, Stage, Subsidy

OBJECTS = "国发〔2015〕52号 二(一)"
LINKAGE = "国发〔2015〕52号 二(四)"
PROCEDURE = "国发〔2015〕52号 三"
CERTIFICATE_RULES = "残疾人证管理办法 (残联发〔2017〕29号)"
LONG_TERM_CARE_MONTHS = 6


# -- eligibility (二(一)) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LivingSubsidyForLowIncomeHouseholds(Rule):
    """困难残疾人生活补贴: disabled persons in 低保 households; a region may extend it to low-income
    (低保边缘) households."""

    article: ClassVar[str] = OBJECTS + "1"
    household: HouseholdStatus
    settings: RegionalSettings

    def is_broken(self) -> bool:
        if self.household is HouseholdStatus.DIBAO:
            return False
        return not (self.household is HouseholdStatus.LOW_INCOME and self.settings.living_extends_to_low_income)

    @property
    def message(self) -> str:
        return "the living subsidy is for disabled persons in 低保 households" + (
            " or low-income households" if self.settings.living_extends_to_low_income else "")


@dataclass(frozen=True)
class NursingSubsidyForSevereDisability(Rule):
    """重度残疾人护理补贴: grade 1-2; a region may extend it (Yinchuan: grade 3-4 intellectual or
    mental disability)."""

    article: ClassVar[str] = OBJECTS + "2"
    category: DisabilityCategory
    grade: DisabilityGrade
    settings: RegionalSettings

    def is_broken(self) -> bool:
        return not (self.grade.is_severe or (self.category, self.grade) in self.settings.nursing_extensions)

    @property
    def message(self) -> str:
        return (f"the nursing subsidy is for grade 1-2 disability (here: {self.category.chinese_name} "
                f"{self.grade.chinese_name}, not extended in this region)")


@dataclass(frozen=True)
class LongTermCareNeed(Rule):
    """The nursing subsidy is for a care need lasting 6 months or more (长期照护)."""

    article: ClassVar[str] = OBJECTS + "2"
    care_months: int

    def is_broken(self) -> bool:
        return self.care_months < LONG_TERM_CARE_MONTHS

    @property
    def message(self) -> str:
        return f"the nursing subsidy needs a long-term care need of {LONG_TERM_CARE_MONTHS} months or more"


# -- exclusions (二(四)) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NotInTekunSupport(Rule):
    """A person in 特困人员救助供养 gets neither subsidy."""

    article: ClassVar[str] = LINKAGE
    circumstances: Circumstances

    def is_broken(self) -> bool:
        return self.circumstances.in_tekun_support

    @property
    def message(self) -> str:
        return "a person in 特困 support receives neither subsidy"


@dataclass(frozen=True)
class NoWorkInjuryNursingAllowance(Rule):
    """A person receiving the 工伤保险 nursing allowance (生活护理费) gets neither subsidy."""

    article: ClassVar[str] = LINKAGE
    circumstances: Circumstances

    def is_broken(self) -> bool:
        return self.circumstances.work_injury_nursing_allowance

    @property
    def message(self) -> str:
        return "a person receiving the work-injury insurance nursing allowance receives neither subsidy"


@dataclass(frozen=True)
class OrphansNursingOnly(Rule):
    """Orphans and de-facto-unsupported children get the nursing subsidy, not the living subsidy
    (their basic-living allowance covers it)."""

    article: ClassVar[str] = LINKAGE
    circumstances: Circumstances

    def is_broken(self) -> bool:
        return self.circumstances.orphan_or_unsupported_child

    @property
    def message(self) -> str:
        return "orphans and de-facto-unsupported children receive the nursing subsidy only"


@dataclass(frozen=True)
class HigherOfSimilarSubsidy(Rule):
    """Where a person also qualifies for a similar subsidy they take the higher one (择高): refused
    here when the other pays at least as much."""

    article: ClassVar[str] = LINKAGE
    similar_fen: int
    this_fen: int

    def is_broken(self) -> bool:
        return self.similar_fen > 0 and self.similar_fen >= self.this_fen

    @property
    def message(self) -> str:
        return (f"a similar subsidy of {self.similar_fen} fen a month is at least this one's "
                f"{self.this_fen}: the higher one is taken")


# -- the certificate and the procedure ---------------------------------------------------------------


@dataclass(frozen=True)
class CertificateValidOnApplication(Rule):
    """The disability certificate must be valid on the day of application."""

    article: ClassVar[str] = CERTIFICATE_RULES
    valid_until: date
    on: date

    def is_broken(self) -> bool:
        return self.valid_until < self.on

    @property
    def message(self) -> str:
        return f"the disability certificate expired on {self.valid_until.isoformat()}"


@dataclass(frozen=True)
class AtLeastOneSubsidy(Rule):
    """An application asks for the living subsidy, the nursing subsidy, or both."""

    article: ClassVar[str] = PROCEDURE
    living: bool
    nursing: bool

    def is_broken(self) -> bool:
        return not (self.living or self.nursing)

    @property
    def message(self) -> str:
        return "an application asks for at least one of the two subsidies"


@dataclass(frozen=True)
class StageInTurn(Rule):
    """The stages run in order: township review, county 残联 certificate check, county approval."""

    article: ClassVar[str] = PROCEDURE
    state: ApplicationState | None
    current: Stage | None
    asked: Stage

    def is_broken(self) -> bool:
        return self.state is not ApplicationState.UNDER_REVIEW or self.current is not self.asked

    @property
    def message(self) -> str:
        if self.state is not ApplicationState.UNDER_REVIEW:
            return f"the application is {self.state.value if self.state else 'not open'}, not under review"
        return f"the application is at {self.current.value if self.current else '?'}, not {self.asked.value}"


@dataclass(frozen=True)
class RefusalGivesReasons(Rule):
    """A refusal is notified in writing with its reasons."""

    article: ClassVar[str] = PROCEDURE
    reason: str

    def is_broken(self) -> bool:
        return not self.reason.strip()

    @property
    def message(self) -> str:
        return "a refusal states its reasons"


@dataclass(frozen=True)
class EntitlementIsPaid(Rule):
    """Only a subsidy being paid can be stopped; only a stopped one can be resumed."""

    article: ClassVar[str] = PROCEDURE
    subsidy: Subsidy
    granted: bool
    stopped: bool
    must_be_stopped: bool  # True to resume it, False to stop it

    def is_broken(self) -> bool:
        return not self.granted or self.stopped != self.must_be_stopped

    @property
    def message(self) -> str:
        if not self.granted:
            return f"no {self.subsidy.chinese_name} was granted in this case"
        return f"the {self.subsidy.chinese_name} is {'already stopped' if self.stopped else 'being paid'}"


def nursing_rules(category: DisabilityCategory, grade: DisabilityGrade, circumstances: Circumstances,
                  settings: RegionalSettings) -> tuple[Rule, ...]:
    """Everything the nursing subsidy needs, in the order a refusal names them."""
    return (NotInTekunSupport(circumstances), NoWorkInjuryNursingAllowance(circumstances),
            NursingSubsidyForSevereDisability(category, grade, settings),
            LongTermCareNeed(circumstances.long_term_care_months),
            HigherOfSimilarSubsidy(circumstances.similar_subsidy_fen, settings.nursing_fen))


def living_rules(household: HouseholdStatus, circumstances: Circumstances,
                 settings: RegionalSettings) -> tuple[Rule, ...]:
    """Everything the living subsidy needs, in the order a refusal names them."""
    return (NotInTekunSupport(circumstances), NoWorkInjuryNursingAllowance(circumstances),
            OrphansNursingOnly(circumstances), LivingSubsidyForLowIncomeHouseholds(household, settings),
            HigherOfSimilarSubsidy(circumstances.similar_subsidy_fen, settings.living_fen))


__all__ = ["Rule", "check", "first_broken"]


@dataclass(frozen=True)
class ClerkOfThisRegion(Rule):
    """Applications are received, reviewed and decided by clerks at offices of the region whose
    service records them (the office code names a division of that region)."""

    article: ClassVar[str] = PROCEDURE
    error: ClassVar[type[RuleViolation]] = NotAuthorised
    actor_kind: str
    actor_region: str
    office_code: str
    region: str

    def is_broken(self) -> bool:
        office = office_region(self.office_code)
        return (self.actor_kind != "clerk" or self.actor_region != self.region or office is None
                or not RegionCode(self.region).contains(office))

    @property
    def message(self) -> str:
        return f"only a clerk at an office of region {self.region} can record this"


@dataclass(frozen=True)
class StandardsConfigured(Rule):
    """The standards are set by each province (国发〔2015〕52号 二(二)): a region pays nothing it has not
    configured."""

    article: ClassVar[str] = "国发〔2015〕52号 二(二)"
    region: str
    configured: bool

    def is_broken(self) -> bool:
        return not self.configured

    @property
    def message(self) -> str:
        return f"region {self.region} has no disability-subsidy standards configured"


@dataclass(frozen=True)
class OnePlacePerSubsidy(Rule):
    """One person enjoys each subsidy in one place only: the national registry denied the claim
    because another case holds the person (built from the denial, naming the holder)."""

    article: ClassVar[str] = "国发〔2015〕52号; 民政部 中国残联 跨省通办 (2021)"
    subsidy: Subsidy
    holder_case_id: str
    holder_region: str
    outcome: str = "denied"

    @property
    def message(self) -> str:
        if self.outcome == "expired":
            return f"the registry's hold for the {self.subsidy.chinese_name} expired before it was confirmed"
        return (f"the {self.subsidy.chinese_name} is already enjoyed elsewhere (case {self.holder_case_id or '?'} "
                f"in region {self.holder_region or '?'})")


@dataclass(frozen=True)
class RegistryAnswered(Rule):
    """Approval waits for the registry: a subsidy is granted only once the person is held for it
    here (invariant 9: no decision on facts not yet settled)."""

    article: ClassVar[str] = "Tongban invariant 5 (one writer per person)"
    subsidy: Subsidy
    granted: bool

    def is_broken(self) -> bool:
        return not self.granted

    @property
    def message(self) -> str:
        return f"the national registry has not yet granted the {self.subsidy.chinese_name} to this case"
