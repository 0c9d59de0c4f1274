"""Value objects of the two subsidies: which subsidy, the review stages, the household's economic
status, the applicant's circumstances, the certificate as recorded, the bank account, and months.

Months are "YYYY-MM" strings: entitlements are monthly (payment from the month of application,
stops from the month after), and the payment contract speaks months in that form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.common.errors import InvalidArgument


class Subsidy(StrEnum):
    LIVING = "living"  # 困难残疾人生活补贴
    NURSING = "nursing"  # 重度残疾人护理补贴

    @property
    def chinese_name(self) -> str:
        return "困难残疾人生活补贴" if self is Subsidy.LIVING else "重度残疾人护理补贴"


class Stage(StrEnum):
    """The domestic flow (国发〔2015〕52号 三): each stage has its working-day limit."""

    TOWNSHIP_REVIEW = "township_review"  # 乡镇（街道）受理审核
    CERTIFICATE_CHECK = "certificate_check"  # 县级残联 confirms certificate and grade
    APPROVAL = "approval"  # 县级民政 审定 (with the household's economic status)

    @property
    def next(self) -> Stage | None:
        order = list(Stage)
        at = order.index(self)
        return order[at + 1] if at + 1 < len(order) else None


class WindowStage(StrEnum):
    """The receiving window's part when the 户籍 is in another province (异地代收代办, 民政部/中国残联
    跨省通办 2021): forward within 3 working days, inform within 3 working days of the result."""

    FORWARDING = "forwarding"
    INFORMING = "informing"


def stage_of(value: str) -> Stage | WindowStage:
    return WindowStage(value) if value in {w.value for w in WindowStage} else Stage(value)


class ApplicationState(StrEnum):
    FORWARDING = "forwarding"  # received here for another province's 户籍 region, which decides
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REFUSED = "refused"


class HouseholdStatus(StrEnum):
    DIBAO = "dibao"  # 最低生活保障家庭
    LOW_INCOME = "low_income"  # 低保边缘 / 低收入家庭 (living subsidy where the region extends it)
    NONE = "none"


class StopReason(StrEnum):
    """Why an entitlement stops (国发〔2015〕52号 三(四), data matching with other departments)."""

    DEATH = "death"  # death, or declared death or missing
    MOVED_OUT = "moved_out"  # 户籍 moved out of the province
    FALSE_MATERIALS = "false_materials"
    FAILED_REVIEW = "failed_review"  # a failed periodic review
    LEFT_DIBAO = "left_dibao"  # living subsidy only
    OWN_REQUEST = "own_request"
    TEKUN_SUPPORT = "tekun_support"  # enrolled in 特困 support: neither subsidy
    WORK_INJURY_NURSING = "work_injury_nursing"  # 工伤保险 nursing allowance: neither subsidy
    HELD_ELSEWHERE = "held_elsewhere"  # the registry holds the person for it in another region


@dataclass(frozen=True)
class Applicant:
    citizen_id: str
    name: str
    hukou_region: str  # GB/T 2260 code of the 户籍 place: the region that decides and pays


@dataclass(frozen=True)
class Certificate:
    """The second-generation certificate as recorded: its number, the category and grade read from
    it (confirmed by the county 残联), and its validity."""

    number: str
    category: int  # DisabilityCategory
    grade: int  # DisabilityGrade
    valid_until: date


@dataclass(frozen=True)
class Circumstances:
    """What the exclusions of 国发〔2015〕52号 二(四) judge, as declared and checked at the window."""

    in_tekun_support: bool  # 特困人员救助供养
    work_injury_nursing_allowance: bool  # 工伤保险生活护理费
    orphan_or_unsupported_child: bool  # 孤儿、事实无人抚养儿童
    similar_subsidy_fen: int  # a similar subsidy's monthly amount (0: none): the higher one is taken
    long_term_care_months: int  # how long the care need lasts (nursing: 6 months or more)


# -- bank accounts --------------------------------------------------------------------------------

BANK_ACCOUNT_MIN, BANK_ACCOUNT_MAX = 12, 30


def bank_account(value: str, *, field: str = "bank_account") -> str:
    """The account number as stored: digits only (spaces a clerk typed between groups removed).
    Card numbers (16-19 digits) and passbook accounts (up to 30) both occur, so no Luhn check."""
    digits = value.replace(" ", "")
    if not digits:
        raise InvalidArgument.single(field, "required")
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidArgument.single(field, "a bank account number is digits only")
    if not BANK_ACCOUNT_MIN <= len(digits) <= BANK_ACCOUNT_MAX:
        raise InvalidArgument.single(field, f"a bank account number has {BANK_ACCOUNT_MIN} to "
                                            f"{BANK_ACCOUNT_MAX} digits, got {len(digits)}")
    return digits


def masked(account: str) -> str:
    """How an account is shown: the first and last four digits only."""
    if len(account) <= 8:
        return "*" * len(account)
    return account[:4] + "*" * (len(account) - 8) + account[-4:]


# -- months ---------------------------------------------------------------------------------------


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _parts(month: str) -> tuple[int, int]:
    year, number = month.split("-")
    return int(year), int(number)


def add_months(month: str, n: int) -> str:
    year, number = _parts(month)
    index = year * 12 + number - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def next_month(month: str) -> str:
    return add_months(month, 1)


def months_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last`, both included (empty when last < first)."""
    out: list[str] = []
    month = first
    while month <= last:
        out.append(month)
        month = next_month(month)
    return out


def is_month(value: str) -> bool:
    if len(value) != 7 or value[4] != "-":
        return False
    year, number = value[:4], value[5:]
    return year.isdigit() and number.isdigit() and 1 <= int(number) <= 12

