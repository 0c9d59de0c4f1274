"""Second-generation disability certificate numbers (第二代残疾人证).

20 characters: the holder's 18-character citizen ID + a category digit + a grade digit. The
categories and grades are those of GB/T 26341-2010 (残疾人残疾分类和分级); grade 1 is the most
severe, and grades 1-2 are "severe" for the nursing subsidy (国发〔2015〕52号)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from typing import TypeVar

from services.common.errors import FieldViolation, InvalidArgument
from services.common.identity.citizen_id import CitizenId

LENGTH = 20

_E = TypeVar("_E", bound=IntEnum)


class DisabilityCategory(IntEnum):
    VISUAL = 1
    HEARING = 2
    SPEECH = 3
    PHYSICAL = 4
    INTELLECTUAL = 5
    MENTAL = 6
    MULTIPLE = 7

    @property
    def chinese_name(self) -> str:
        return _CATEGORY_CHINESE[self]

    @property
    def english_name(self) -> str:
        return self.name.lower()


_CATEGORY_CHINESE: dict[DisabilityCategory, str] = {
    DisabilityCategory.VISUAL: "视力残疾",
    DisabilityCategory.HEARING: "听力残疾",
    DisabilityCategory.SPEECH: "言语残疾",
    DisabilityCategory.PHYSICAL: "肢体残疾",
    DisabilityCategory.INTELLECTUAL: "智力残疾",
    DisabilityCategory.MENTAL: "精神残疾",
    DisabilityCategory.MULTIPLE: "多重残疾",
}


class DisabilityGrade(IntEnum):
    GRADE_1 = 1
    GRADE_2 = 2
    GRADE_3 = 3
    GRADE_4 = 4

    @property
    def chinese_name(self) -> str:
        return ("一级", "二级", "三级", "四级")[self - 1]

    @property
    def english_name(self) -> str:
        return f"grade {int(self)}"

    @property
    def is_severe(self) -> bool:
        """Grades 1-2: the grades the nursing subsidy covers nationally (国发〔2015〕52号)."""
        return self <= DisabilityGrade.GRADE_2


@dataclass(frozen=True)
class DisabilityCertificateNumber:
    holder_id: CitizenId
    category: DisabilityCategory
    grade: DisabilityGrade

    @classmethod
    def parse(
        cls,
        value: str,
        *,
        holder: CitizenId | str | None,
        today: date,
        field: str = "disability_certificate_number",
    ) -> DisabilityCertificateNumber:
        """Validate a certificate number; with `holder`, its ID part must be the holder's ID.

        All independent problems are reported together, each on `field`."""
        if len(value) != LENGTH:
            raise InvalidArgument.single(
                field,
                f"disability certificate number must be exactly 20 characters "
                f"(18-character citizen ID + category + grade), got {len(value)}",
            )
        violations: list[str] = []
        holder_id: CitizenId | None = None
        try:
            holder_id = CitizenId.parse(value[:18], today=today, field=field)
        except InvalidArgument as e:
            violations.extend(
                f"the first 18 characters must be the holder's citizen ID: {v.description}" for v in e.violations
            )
        category = _enum_digit(DisabilityCategory, value[18])
        if category is None:
            violations.append("disability category (19th character) must be a digit 1-7")
        grade = _enum_digit(DisabilityGrade, value[19])
        if grade is None:
            violations.append("disability grade (20th character) must be a digit 1-4")
        if holder_id is not None and holder is not None and holder_id.value != _canonical(holder):
            # Says neither ID: error messages must not echo citizen IDs (see citizen_id).
            violations.append("the citizen ID in the certificate number is not the applicant's")
        if violations:
            raise InvalidArgument(FieldViolation(field, d) for d in violations)
        assert holder_id is not None and category is not None and grade is not None  # each None added a violation
        return cls(holder_id, category, grade)

    @property
    def value(self) -> str:
        return f"{self.holder_id.value}{int(self.category)}{int(self.grade)}"

    @property
    def is_severe(self) -> bool:
        return self.grade.is_severe

    def __str__(self) -> str:
        return self.value


def _canonical(holder: CitizenId | str) -> str:
    if isinstance(holder, CitizenId):
        return holder.value
    # A holder given as text may carry a lower-case x; the certificate's ID part was folded too.
    return holder[:-1] + "X" if holder.endswith("x") else holder


def _enum_digit(enum: type[_E], char: str) -> _E | None:
    if not (char.isascii() and char.isdigit()):
        return None
    try:
        return enum(int(char))
    except ValueError:
        return None
