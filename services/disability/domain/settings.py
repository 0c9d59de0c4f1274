"""Regional configuration of the two subsidies: standards, extensions, stage limits, the certificate
rules. 国发〔2015〕52号 sets the frame and leaves standards and extensions to the provinces, so every
one of these is per-region data with the national frame as default.

Only Ningxia's standards (110 yuan living, 120 yuan nursing, from 2021) and Yinchuan's nursing
extension are published facts the project was given; the Sichuan figures below are example
values for the demo's Guangyuan story, to be replaced by that province's published standard."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from services.common.identity.disability_certificate import DisabilityCategory, DisabilityGrade
from services.disability.domain.values import Stage, Subsidy, WindowStage

DEFAULT_STAGE_LIMIT_WORKING_DAYS = 10  # "about 10 working days" per stage, the common local value
EXPIRY_WARNING_MONTHS = 6  # a holder is warned 6 months before the certificate expires
RENEWAL_BACK_PAY_MONTHS = 3
# 异地代收代办 (民政部/中国残联 跨省通办, 2021): forward within 3, decide within 10, inform within 3.
FORWARD_WITHIN_WORKING_DAYS = 3
DECIDE_WITHIN_WORKING_DAYS = 10
INFORM_WITHIN_WORKING_DAYS = 3  # e.g. Guizhou 2024: back-pay of up to 3 months on a renewed certificate

# Grades 3-4 of these categories, where a region extends the nursing subsidy (Yinchuan does).
INTELLECTUAL_OR_MENTAL_3_4: frozenset[tuple[DisabilityCategory, DisabilityGrade]] = frozenset(
    (category, grade)
    for category in (DisabilityCategory.INTELLECTUAL, DisabilityCategory.MENTAL)
    for grade in (DisabilityGrade.GRADE_3, DisabilityGrade.GRADE_4))


@dataclass(frozen=True)
class RegionalSettings:
    """One region's configuration of the two subsidies."""

    living_fen: int  # monthly standard, integer fen
    nursing_fen: int
    living_extends_to_low_income: bool = False  # 低保边缘/低收入 households too
    nursing_extensions: frozenset[tuple[DisabilityCategory, DisabilityGrade]] = frozenset()
    stage_limits: Mapping[Stage | WindowStage, int] = field(default_factory=lambda: MappingProxyType(
        {**{stage: DEFAULT_STAGE_LIMIT_WORKING_DAYS for stage in Stage},
         WindowStage.FORWARDING: FORWARD_WITHIN_WORKING_DAYS, WindowStage.INFORMING: INFORM_WITHIN_WORKING_DAYS}))
    decide_within_working_days: int = DECIDE_WITHIN_WORKING_DAYS  # a forwarded application, by the 户籍 region
    renewal_back_pay_months: int = RENEWAL_BACK_PAY_MONTHS
    expiry_warning_months: int = EXPIRY_WARNING_MONTHS
    stop_in_month_found: bool = False  # data matching stops the month found rather than the month after

    def __post_init__(self) -> None:
        if self.living_fen <= 0 or self.nursing_fen <= 0:
            raise ValueError("standards are positive amounts of fen")
        if any(days < 1 for days in self.stage_limits.values()):
            raise ValueError("a stage limit is at least one working day")

    def amount_fen(self, subsidy: Subsidy) -> int:
        return self.living_fen if subsidy is Subsidy.LIVING else self.nursing_fen

    def stage_limit(self, stage: Stage | WindowStage) -> int:
        return self.stage_limits.get(stage, default_stage_limit(stage))


def default_stage_limit(stage: Stage | WindowStage) -> int:
    """The limit where a region configured none: the national frame."""
    if stage is WindowStage.FORWARDING:
        return FORWARD_WITHIN_WORKING_DAYS
    if stage is WindowStage.INFORMING:
        return INFORM_WITHIN_WORKING_DAYS
    return DEFAULT_STAGE_LIMIT_WORKING_DAYS


NINGXIA = RegionalSettings(living_fen=11_000, nursing_fen=12_000)
YINCHUAN = RegionalSettings(living_fen=11_000, nursing_fen=12_000, nursing_extensions=INTELLECTUAL_OR_MENTAL_3_4)
SICHUAN_EXAMPLE = RegionalSettings(living_fen=10_000, nursing_fen=10_000)  # example values, see above

REGIONS: Mapping[str, RegionalSettings] = MappingProxyType({
    "640000": NINGXIA,
    "640100": YINCHUAN,
    "510000": SICHUAN_EXAMPLE,
})


def settings_for(region: str) -> RegionalSettings:
    """The configured settings of `region`, else of its province; a region with neither has no
    standard to pay and must be configured (LookupError)."""
    for code in (region, region[:2] + "0000"):
        if code in REGIONS:
            return REGIONS[code]
    raise LookupError(f"no disability-subsidy standards configured for region {region}")
