"""A household as the window declares it, and the arithmetic of 补差 (民发〔2021〕57号): what counts as
income, the amount in integer fen, and the months it is paid. Pure; no clock (days are given)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.common.errors import FieldViolation, InvalidArgument
from services.common.identity.citizen_id import CitizenId, age_on
from services.common.identity.regions import RegionCode

# 劳动年龄: 16 up to the retirement age; households with a working-age member are reviewed more often.
WORKING_AGE_FROM = 16
WORKING_AGE_UNTIL = 60


@dataclass(frozen=True)
class Member:
    """One member of the household (共同生活的家庭成员), monthly amounts in fen."""

    citizen_id: str
    name: str
    relation: str
    hukou_region: str
    residence_permit_region: str = ""
    earned_income_fen: int = 0
    other_income_fen: int = 0
    disability_subsidy_fen: int = 0  # 残疾人两项补贴 (国发〔2015〕52号): not income for 低保
    assets_fen: int = 0

    @property
    def counted_income_fen(self) -> int:
        """What counts as the member's income: earnings and other income. The disability living
        and nursing subsidies are left out on purpose — they pay for the costs of disability, and
        counting them would take back from 低保 what the disability service pays."""
        return self.earned_income_fen + self.other_income_fen


# Amounts a window types, in fen. Nothing in 57号 or 47号 caps them, but a number past these is a typing
# slip, not a fact to record (issue 11: numbers in range): 1,000,000 yuan for a month's income or a
# one-off grant, 10,000,000,000 yuan for a household's assets.
MAX_FEN = 100_000_000
MAX_ASSETS_FEN = 1_000_000_000_000


def fen_problems(amounts: dict[str, int], *, limit: int = MAX_FEN) -> list[FieldViolation]:
    """A violation for each amount (field path → fen) that is negative or over `limit`."""
    return [FieldViolation(path, "must not be negative" if fen < 0 else f"at most {limit} fen")
            for path, fen in amounts.items() if not 0 <= fen <= limit]


def validated_members(members: list[Member], today: date) -> list[Member]:
    """The members as given, canonical IDs, or InvalidArgument naming each bad field."""
    violations: list[FieldViolation] = []
    out: list[Member] = []
    if not members:
        raise InvalidArgument.single("members", "a household has at least one member")
    seen: set[str] = set()
    for i, m in enumerate(members):
        where = f"members[{i}]"
        try:
            citizen = CitizenId.parse(m.citizen_id, today=today).value
        except InvalidArgument as bad:
            violations.extend(FieldViolation(f"{where}.citizen_id", v.description) for v in bad.violations)
            continue
        if citizen in seen:
            violations.append(FieldViolation(f"{where}.citizen_id", "this person is listed twice"))
        seen.add(citizen)
        if not m.name.strip():
            violations.append(FieldViolation(f"{where}.name", "required"))
        if not m.relation.strip():
            violations.append(FieldViolation(f"{where}.relation", "required"))
        for name in ("hukou_region", "residence_permit_region"):
            code = getattr(m, name)
            if code or name == "hukou_region":
                try:
                    RegionCode.parse(code)
                except InvalidArgument as bad:
                    violations.extend(FieldViolation(f"{where}.{name}", v.description) for v in bad.violations)
        for name in ("earned_income_fen", "other_income_fen", "disability_subsidy_fen", "assets_fen"):
            violations += fen_problems({f"{where}.{name}": getattr(m, name)},
                                       limit=MAX_ASSETS_FEN if name == "assets_fen" else MAX_FEN)
        out.append(Member(citizen, m.name.strip(), m.relation.strip(), m.hukou_region, m.residence_permit_region,
                          m.earned_income_fen, m.other_income_fen, m.disability_subsidy_fen, m.assets_fen))
    if violations:
        raise InvalidArgument(violations)
    return out


@dataclass(frozen=True)
class Allowance:
    """补差 for one household: (standard − per-capita income) × size, in fen.

    Computed as standard × size − counted income, which is the same product without rounding the
    per-capita figure first (so no fen is lost or invented); the per-capita income is shown rounded
    down."""

    standard_fen: int
    counted_income_fen: int
    household_size: int

    @property
    def per_capita_income_fen(self) -> int:
        return self.counted_income_fen // self.household_size

    @property
    def monthly_amount_fen(self) -> int:
        return max(0, self.standard_fen * self.household_size - self.counted_income_fen)

    @property
    def below_standard(self) -> bool:
        return self.monthly_amount_fen > 0


def allowance(members: list[Member], standard_fen: int) -> Allowance:
    return Allowance(standard_fen, sum(m.counted_income_fen for m in members), len(members))


def has_working_age_member(members: list[Member], on: date) -> bool:
    return any(WORKING_AGE_FROM <= age_on(CitizenId(m.citizen_id).birth_date, on) < WORKING_AGE_UNTIL
               for m in members)


# -- months ("YYYY-MM") --------------------------------------------------------------------------


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def add_months(month: str, n: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + (mon - 1) + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_after(day: date) -> str:
    """Paid from the month after the decision (民发〔2021〕57号)."""
    return add_months(month_of(day), 1)


def add_calendar_months(day: date, n: int) -> date:
    """The same day `n` months later, or the month's last day when it has fewer days."""
    month = add_months(month_of(day), n)
    year, mon = int(month[:4]), int(month[5:7])
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, mon, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")
