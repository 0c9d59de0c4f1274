"""Value objects of marriage registration, and the civil day in China that every period and age is
counted in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

# Ages, registration dates and divorce periods are civil days at the office, in China's one time
# zone (services/common/clock.py).
from services.common.clock import CHINA


def start_of_china_day(day: date) -> datetime:
    """00:00 in China on `day`, as a UTC instant: when a period whose last day was the day before
    has run out."""
    return datetime.combine(day, time(0, 0), tzinfo=CHINA).astimezone(UTC)


def day_after(day: date) -> date:
    return day + timedelta(days=1)


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class Party(StrEnum):
    """The two sides of a registration, as the request names them."""

    A = "party_a"
    B = "party_b"


@dataclass(frozen=True)
class MarriageDeclaration:
    """What each party signs at the window (民法典 第1046-1049条)."""

    consents: bool
    no_spouse: bool
    no_prohibited_kinship: bool
    appears_in_person: bool


class DeclaredStatus(StrEnum):
    """The status a party declares at the window (婚姻登记工作规范 2025)."""

    UNMARRIED = "unmarried"
    DIVORCED = "divorced"
    WIDOWED = "widowed"


class ProofKind(StrEnum):
    DIVORCE_CERTIFICATE = "divorce_certificate"  # 离婚证
    COURT_JUDGMENT = "court_judgment"  # 离婚判决书/调解书, or a judgment voiding or annulling a marriage
    DEATH_RECORD = "death_record"  # 配偶死亡证明


@dataclass(frozen=True)
class ProofDocument:
    """A document proving a declared status the national record does not show, as the office saw it."""

    kind: str  # a ProofKind value
    number: str
    issued_by: str
    issued_on: date | None
    document_sha256: str = ""


@dataclass(frozen=True)
class PartyRecord:
    citizen_id: str
    name: str
    sex: Sex
    birth_date: date
    declaration: MarriageDeclaration
    claim_id: str
    declared_status: str = ""  # a DeclaredStatus value; "" when not declared
    status_on_record: str = ""  # the national record's answer at the window (a MaritalStatus value)
    proof: ProofDocument | None = None


@dataclass(frozen=True)
class Spouse:
    citizen_id: str
    name: str


@dataclass(frozen=True)
class DivorceAgreement:
    """The written agreement of 民法典 第1076条: the intention to divorce and the agreed handling of
    children, property and debts."""

    signed_by_both: bool
    intention: str
    children_arrangement: str
    property_arrangement: str
    debt_arrangement: str
    document_sha256: str = ""


class JudgmentKind(StrEnum):
    VOID = "void"  # 婚姻无效, 民法典 第1051条
    ANNULLED = "annulled"  # 撤销婚姻, 第1052-1053条


class Document(StrEnum):
    MARRIAGE_CERTIFICATE = "marriage_certificate"  # 结婚证
    DIVORCE_CERTIFICATE = "divorce_certificate"  # 离婚证
    REISSUED_MARRIAGE_CERTIFICATE = "reissued_marriage_certificate"  # 补发结婚证
    REISSUED_DIVORCE_CERTIFICATE = "reissued_divorce_certificate"  # 补发离婚证
    REGISTRATION_RECORD_CERTIFICATE = "registration_record_certificate"  # 婚姻登记记录证明

    @property
    def number_prefix(self) -> str:
        """The 字号 prefix the registration system gives each kind of document."""
        return _PREFIXES[self]


_PREFIXES = {
    Document.MARRIAGE_CERTIFICATE: "J",
    Document.DIVORCE_CERTIFICATE: "L",
    Document.REISSUED_MARRIAGE_CERTIFICATE: "BJ",
    Document.REISSUED_DIVORCE_CERTIFICATE: "BL",
    Document.REGISTRATION_RECORD_CERTIFICATE: "JLZ",
}


def certificate_number(document: Document, office_code: str, year: int, sequence: int) -> str:
    """字号: document prefix, office, year, sequence within the office's year. Unique per office
    because the sequence comes from one counter per office and year (see the application)."""
    return f"{document.number_prefix}{office_code}-{year}-{sequence:06d}"


class MaritalStatus(StrEnum):
    """A person's status as this region's records show it."""

    UNMARRIED_ON_RECORD = "unmarried_on_record"  # no marriage registered here
    MARRIED = "married"
    DIVORCED = "divorced"
    VOID = "void"
    ANNULLED = "annulled"
    WIDOWED = "widowed"  # the spouse's death ended the marriage (a release for "death")


class MarriageState(StrEnum):
    """Where a marriage case stands (marriage.Marriage)."""


    AWAITING_REGISTRY = "awaiting_registry"
    REGISTERED = "registered"
    REFUSED = "refused"
    DISSOLVED_BY_DIVORCE = "dissolved_by_divorce"
    VOID = "void"
    ANNULLED = "annulled"


class DivorceState(StrEnum):
    """Where a divorce by agreement stands (divorce.Divorce)."""


    COOLING_OFF = "cooling_off"
    AWAITING_CERTIFICATE_REQUEST = "awaiting_certificate_request"
    CERTIFICATE_REQUESTED = "certificate_requested"
    REGISTERED = "registered"
    WITHDRAWN = "withdrawn"
    DEEMED_WITHDRAWN = "deemed_withdrawn"
    TERMINATED = "terminated"
    # A marriage another region records (多地联办): registered here once that region dissolved it;
    # refused when that region's record does not bear the application out (不予登记).
    AWAITING_DISSOLUTION = "awaiting_dissolution"
    REFUSED = "refused"


class RecordStep(StrEnum):
    """Where the record region's part of a divorce received elsewhere stands."""

    AWAITING_RECORD_CHECK = "awaiting_record_check"
    RECORD_CONFIRMED = "record_confirmed"
    REFUSED = "refused"
