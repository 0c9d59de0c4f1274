"""The commands of relief (imperative), as the front door hands them to the handlers. Field checks
that only the domain knows (citizen-ID check characters, codes, dates that must fit) are here;
text hygiene already ran at the gRPC seam."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.common.errors import FieldViolation, InvalidArgument
from services.common.identity.citizen_id import CitizenId
from services.common.identity.regions import RegionCode
from services.common.working_days import OFFICIAL_FIRST_YEAR
from services.relief.domain.assistance import EXPENDITURE, URGENT
from services.relief.domain.household import Member, fen_problems, validated_members
from services.relief.domain.settings import Area


@dataclass(frozen=True)
class ApplyForDibao:
    applicant_citizen_id: str
    members: list[Member]
    area: str
    bank_account: str = ""
    special: bool = False
    unstable_income: bool = False

    def validated(self, today: date) -> tuple[str, list[Member], Area]:
        members = validated_members(self.members, today)
        applicant = CitizenId.parse(self.applicant_citizen_id, today=today, field="applicant_citizen_id").value
        problems = []
        if applicant not in {m.citizen_id for m in members}:
            problems.append(FieldViolation("applicant_citizen_id", "the applicant is one of the members"))
        if self.area not in {a.value for a in Area}:
            problems.append(FieldViolation("area", '"urban" or "rural"'))
        if not (self.bank_account.isascii() and self.bank_account.isdigit() and 12 <= len(self.bank_account) <= 30):
            problems.append(FieldViolation("bank_account", "the payee's account: 12 to 30 digits"))
        if problems:
            raise InvalidArgument(problems)
        return applicant, members, Area(self.area)


@dataclass(frozen=True)
class CaseStep:
    """A step of a case's procedure that carries nothing but the clerk's words."""

    case_id: str
    text: str = ""


@dataclass(frozen=True)
class RecordHomeVisit:
    case_id: str
    first_visitor: str
    second_visitor: str
    by_county: bool = False
    findings: str = ""


@dataclass(frozen=True)
class GiveTownshipOpinion:
    case_id: str
    recommends: bool
    reasons: str = ""


@dataclass(frozen=True)
class AnswerObjection:
    case_id: str
    objection_id: str
    answer: str


@dataclass(frozen=True)
class Decide:
    case_id: str
    approve: bool
    reasons: str = ""
    amount_fen: int = 0  # 临时救助 only

    def validate(self) -> None:
        if problems := fen_problems({"amount_fen": self.amount_fen}):
            raise InvalidArgument(problems)


@dataclass(frozen=True)
class RecordIncomeChange:
    case_id: str
    citizen_id: str
    earned_income_fen: int
    other_income_fen: int

    def validate(self) -> None:
        if problems := fen_problems({"earned_income_fen": self.earned_income_fen,
                                     "other_income_fen": self.other_income_fen}):
            raise InvalidArgument(problems)


@dataclass(frozen=True)
class PayUrgently:
    case_id: str
    amount_fen: int


@dataclass(frozen=True)
class ApplyForAssistance:
    citizen_id: str
    name: str
    emergency_place: str
    emergency_on: date | None
    cause: str
    kind: str
    hukou_region: str = ""
    residence_permit_region: str = ""

    def validated(self, today: date) -> str:
        """The canonical citizen ID, or InvalidArgument naming every bad field."""
        problems: list[FieldViolation] = []
        citizen, born = "", None
        try:
            parsed = CitizenId.parse(self.citizen_id, today=today)
            citizen, born = parsed.value, parsed.birth_date
        except InvalidArgument as bad:
            problems.extend(bad.violations)
        if not self.name.strip():
            problems.append(FieldViolation("name", "required"))
        for name in ("emergency_place", "hukou_region", "residence_permit_region"):
            code = getattr(self, name)
            if code or name == "emergency_place":
                try:
                    RegionCode.parse(code, field=name)
                except InvalidArgument as bad:
                    problems.extend(bad.violations)
        if self.emergency_on is None or self.emergency_on > today:
            problems.append(FieldViolation("emergency_on", "the day of the emergency, not after today"))
        elif born is not None and self.emergency_on < born:
            problems.append(FieldViolation("emergency_on", "must not be before the person's birth (citizen ID)"))
        elif self.kind == URGENT and self.emergency_on.year < OFFICIAL_FIRST_YEAR:
            # 先行救助's proof is due 10 working days after the emergency, and the working-day calendar
            # starts in OFFICIAL_FIRST_YEAR: an earlier "emergency" cannot be paid at once (nor is one).
            problems.append(FieldViolation("emergency_on", f"an urgent case's emergency is not before "
                                                           f"{OFFICIAL_FIRST_YEAR} (the working-day calendar)"))
        if not self.cause.strip():
            problems.append(FieldViolation("cause", "required"))
        if self.kind not in (URGENT, EXPENDITURE):
            problems.append(FieldViolation("kind", f'"{URGENT}" or "{EXPENDITURE}"'))
        if problems:
            raise InvalidArgument(problems)
        return citizen
