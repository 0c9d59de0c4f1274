"""Per-region configuration of relief, with the national values as defaults (domain-rules.md: "where
a number is set locally, make it per-region configuration with the national value as the default").

Standards and ceilings are keyed by GB/T 2260 code; the most specific configured code that
contains a place wins (a county's own standard over its city's, its city's over its province's)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from services.common.working_days import NATIONAL, Calendar


class Area(StrEnum):
    """The standard that applies: 城市 or 农村 低保."""

    URBAN = "urban"
    RURAL = "rural"


@dataclass(frozen=True)
class Standard:
    """A region's monthly 低保 standards per person, in fen (None: not configured there)."""

    urban_fen: int | None = None
    rural_fen: int | None = None

    def for_area(self, area: Area) -> int | None:
        return self.urban_fen if area is Area.URBAN else self.rural_fen


# Published standards used as defaults (domain-rules.md): Yinchuan's urban standard 620 yuan by
# 2020; Guangyuan's 590 urban / 390 rural. Provinces carry their capital's figure until a region
# configures its own.
DEFAULT_STANDARDS: Mapping[str, Standard] = {
    "640100": Standard(urban_fen=62_000),
    "640000": Standard(urban_fen=62_000),
    "510800": Standard(urban_fen=59_000, rural_fen=39_000),
    "510000": Standard(urban_fen=59_000, rural_fen=39_000),
}


def code_prefix(code: str) -> str:
    """The significant digits of a GB/T 2260 code: 640000 → "64", 640100 → "6401"."""
    prefix = code
    while len(prefix) > 2 and prefix.endswith("00"):
        prefix = prefix[:-2]
    return prefix


def contains(region: str, place: str) -> bool:
    """Whether the division `region` contains the division `place` (or is it)."""
    return place.startswith(code_prefix(region))


def most_specific(table: Mapping[str, object], place: str) -> str | None:
    """The configured code of `table` that contains `place` most narrowly, or None."""
    matching = [code for code in table if contains(code, place)]
    return max(matching, key=lambda code: len(code_prefix(code)), default=None)


@dataclass(frozen=True)
class ReliefSettings:
    """One region's numbers. Time limits in working days unless named `_days` (calendar days)."""

    calendar: Calendar = NATIONAL
    standards: Mapping[str, Standard] = field(default_factory=lambda: dict(DEFAULT_STANDARDS))
    # 民发〔2021〕57号: investigation started within 3 working days of acceptance; public notice 7 days;
    # decision within 30 working days of acceptance (45 in special cases); a refusal notified in
    # writing within 3 working days. Local versions shorten them.
    investigation_start_within: int = 3
    public_notice_days: int = 7
    decision_within: int = 30
    decision_within_special: int = 45
    refusal_notice_within: int = 3
    # Dynamic management: stable households yearly, unstable income or working-age members 6-monthly.
    review_months_stable: int = 12
    review_months_unstable: int = 6
    # 渐退期: months still paid after a household's income rises above the standard (region: 6–12).
    taper_off_months: int = 6
    # Citizen IDs of civil-affairs staff and village/community cadres, and their close relatives, as
    # the region files them (近亲属备案): an application naming one is flagged.
    staff_and_cadre_relatives: frozenset[str] = frozenset()
    # 多地联办: a family economic check asked of the region of a member's 户籍 is taken on within a
    # day and answered within 10 days (then it is overdue on both sides).
    economic_check_accept_within: timedelta = timedelta(days=1)
    economic_check_answer_within: timedelta = timedelta(days=10)
    # 临时救助 (国发〔2014〕47号): 先行救助 ceiling per case, proof within 10 working days of the
    # emergency, a decision within 15 working days of acceptance, once a year per cause.
    urgent_ceiling_fen: int = 100_000
    proof_within: int = 10
    assistance_decision_within: int = 15
    once_per_year_per_cause: bool = True
    rescue_agency: str = "县级救助管理站"
    # Who may look up a person's relief cases (the read itself is recorded).
    household_view_roles: frozenset[str] = frozenset({"relief", "disability", "auditor"})

    def standard(self, place: str, area: Area) -> int | None:
        """The monthly standard per person in fen for `place` (a county code), or None."""
        code = most_specific(self.standards, place)
        return self.standards[code].for_area(area) if code else None
