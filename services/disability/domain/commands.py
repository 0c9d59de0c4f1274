"""Commands, imperative, with the validation that needs no state: bad input is refused whole, with
every bad field named by its path in the request (architecture invariant 7: INVALID_ARGUMENT)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TypeVar

from services.common.errors import FieldViolation, InvalidArgument
from services.common.identity.citizen_id import CitizenId
from services.common.identity.disability_certificate import DisabilityCertificateNumber
from services.common.identity.regions import RegionCode
from services.disability.domain.matching import Finding, FindingKind
from services.disability.domain.values import (
    Applicant,
    Certificate,
    Circumstances,
    HouseholdStatus,
    Stage,
    StopReason,
    Subsidy,
    bank_account,
)

MAX_NAME = 100
MAX_TEXT = 2000
MAX_FEN = 10_000_000  # 100,000 yuan a month: anything above is a typing slip, not a subsidy

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


@dataclass
class _Violations:
    found: list[FieldViolation] = field(default_factory=list)

    def add(self, path: str, description: str) -> None:
        self.found.append(FieldViolation(path, description))

    def attempt(self, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except InvalidArgument as exc:
            self.found.extend(exc.violations)
            return None

    def text(self, value: str, path: str, *, limit: int = MAX_TEXT, required: bool = True) -> str:
        if required and not value.strip():
            self.add(path, "required")
        elif len(value) > limit:
            self.add(path, f"at most {limit} characters")
        return value.strip()

    def choice(self, enum: type[E], value: str, path: str) -> E | None:
        try:
            return enum(value)
        except ValueError:
            self.add(path, f"one of {', '.join(e.value for e in enum)}")
            return None

    def day(self, value: date | None, path: str) -> date | None:
        if value is None:
            self.add(path, "required")
        return value

    def raise_if_any(self) -> None:
        if self.found:
            raise InvalidArgument(self.found)


@dataclass(frozen=True)
class ReceiveApplication:
    citizen_id: str
    name: str
    hukou_region: str
    certificate_number: str
    certificate_valid_until: date | None
    household: str
    circumstances: Circumstances
    bank_account: str
    living: bool
    nursing: bool

    def validated(self, today: date) -> tuple[Applicant, Certificate, HouseholdStatus, str]:
        """The applicant, the certificate (category and grade read from its number, whose ID part
        must be the applicant's), the declared household status and the account, as recorded."""
        v = _Violations()
        who = v.attempt(lambda: CitizenId.parse(self.citizen_id, today=today, field="applicant.citizen_id"))
        name = v.text(self.name, "applicant.name", limit=MAX_NAME)
        hukou = v.attempt(lambda: RegionCode.parse(self.hukou_region, field="applicant.hukou_region"))
        number = v.attempt(lambda: DisabilityCertificateNumber.parse(
            self.certificate_number, holder=who, today=today, field="certificate_number")) if who else None
        valid_until = v.day(self.certificate_valid_until, "certificate_valid_until")
        household = v.choice(HouseholdStatus, self.household, "household")
        account = v.attempt(lambda: bank_account(self.bank_account))
        c = self.circumstances
        if not 0 <= c.similar_subsidy_fen <= MAX_FEN:
            v.add("circumstances.similar_subsidy_fen", f"0 to {MAX_FEN} fen")
        if not 0 <= c.long_term_care_months <= 1200:
            v.add("circumstances.long_term_care_months", "0 to 1200 months")
        v.raise_if_any()
        assert who and hukou and number and valid_until and household and account
        return (Applicant(who.value, name, hukou.value),
                Certificate(number.value, int(number.category), int(number.grade), valid_until), household, account)


@dataclass(frozen=True)
class CompleteStage:
    """Township review passed, or the county 残联 confirmed certificate and grade."""

    case_id: str
    stage: Stage
    note: str

    def validate(self) -> None:
        v = _Violations()
        v.text(self.case_id, "case_id", limit=200)
        v.text(self.note, "note", required=False)
        v.raise_if_any()


@dataclass(frozen=True)
class ApproveApplication:
    case_id: str
    household: str

    def validated(self) -> HouseholdStatus:
        v = _Violations()
        v.text(self.case_id, "case_id", limit=200)
        household = v.choice(HouseholdStatus, self.household, "household")
        v.raise_if_any()
        assert household is not None
        return household


@dataclass(frozen=True)
class RefuseApplication:
    case_id: str
    stage: str
    reason: str

    def validated(self) -> Stage:
        v = _Violations()
        v.text(self.case_id, "case_id", limit=200)
        stage = v.choice(Stage, self.stage, "stage")
        v.text(self.reason, "reason")
        v.raise_if_any()
        assert stage is not None
        return stage


@dataclass(frozen=True)
class StopEntitlement:
    case_id: str
    subsidy: str
    reason: str
    effective_on: date | None
    note: str

    def validated(self, today: date) -> tuple[Subsidy, StopReason, date]:
        v = _Violations()
        v.text(self.case_id, "case_id", limit=200)
        subsidy = v.choice(Subsidy, self.subsidy, "subsidy")
        reason = v.choice(StopReason, self.reason, "reason")
        effective = v.day(self.effective_on, "effective_on")
        if effective and effective > today:
            v.add("effective_on", "must not be in the future")
        v.text(self.note, "note", required=False)
        v.raise_if_any()
        assert subsidy and reason and effective
        return subsidy, reason, effective


@dataclass(frozen=True)
class ResumeEntitlement:
    case_id: str
    subsidy: str
    reason: str

    def validated(self) -> Subsidy:
        v = _Violations()
        v.text(self.case_id, "case_id", limit=200)
        subsidy = v.choice(Subsidy, self.subsidy, "subsidy")
        v.text(self.reason, "reason")
        v.raise_if_any()
        assert subsidy is not None
        return subsidy


@dataclass(frozen=True)
class RenewCertificate:
    case_id: str
    certificate_number: str
    issued_on: date | None
    valid_until: date | None

    def validated(self, holder: str, today: date) -> tuple[Certificate, date]:
        v = _Violations()
        number = v.attempt(lambda: DisabilityCertificateNumber.parse(
            self.certificate_number, holder=holder, today=today, field="certificate_number"))
        issued, until = v.day(self.issued_on, "issued_on"), v.day(self.valid_until, "valid_until")
        if issued and issued > today:
            v.add("issued_on", "must not be in the future")
        if issued and until and until <= issued:
            v.add("valid_until", "must be after issued_on")
        v.raise_if_any()
        assert number and issued and until
        return Certificate(number.value, int(number.category), int(number.grade), until), issued


@dataclass(frozen=True)
class RecordDataMatch:
    kind: str
    citizen_id: str
    effective_on: date | None
    source: str
    new_hukou_region: str

    def validated(self, today: date) -> Finding:
        v = _Violations()
        kind = v.choice(FindingKind, self.kind, "kind")
        who = v.attempt(lambda: CitizenId.parse(self.citizen_id, today=today, field="citizen_id"))
        effective = v.day(self.effective_on, "effective_on")
        if effective and effective > today:
            v.add("effective_on", "must not be in the future")
        elif effective and who and effective < who.birth_date:
            # A death or a move before the person was born is a typing slip, and would stop a subsidy
            # in a month before it could ever have started (issue 11: dates consistent with the case).
            v.add("effective_on", "must not be before the person's birth (citizen ID)")
        source = v.text(self.source, "source", limit=200)
        moved_to = v.attempt(lambda: RegionCode.parse(self.new_hukou_region, field="new_hukou_region")) \
            if kind is FindingKind.HUKOU_MOVE else None
        v.raise_if_any()
        assert kind and who and effective
        return Finding(kind, who.value, effective, source, moved_to.value if moved_to else "")


@dataclass(frozen=True)
class WindowStep:
    """Forward an application to the 户籍 region, or record that the applicant was informed."""

    case_id: str
    note: str

    def validate(self) -> None:
        v = _Violations()
        v.text(self.case_id, "case_id", limit=200)
        v.text(self.note, "note", required=False)
        v.raise_if_any()
