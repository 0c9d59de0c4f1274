"""Second-generation disability certificate numbers (第二代残疾人证): 18-character citizen ID +
category digit + grade digit (categories and grades of GB/T 26341-2010)."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.errors import InvalidArgument
from services.common.identity import (
    CitizenId,
    DisabilityCategory,
    DisabilityCertificateNumber,
    DisabilityGrade,
    make_citizen_id,
)

TODAY = date(2026, 11, 22)
HOLDER = make_citizen_id("640104", date(1978, 4, 3), 35)
OTHER = make_citizen_id("640104", date(1978, 4, 3), 37)


def parse(value: str, holder: CitizenId | str | None = HOLDER) -> DisabilityCertificateNumber:
    return DisabilityCertificateNumber.parse(value, holder=holder, today=TODAY)


def descriptions(exc: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.description for v in exc.value.violations]


def test_certificate_number_is_holder_id_category_and_grade() -> None:
    cert = parse(HOLDER + "41")
    assert cert.holder_id == CitizenId(HOLDER)
    assert cert.category is DisabilityCategory.PHYSICAL
    assert cert.grade is DisabilityGrade.GRADE_1
    assert cert.value == HOLDER + "41"
    assert str(cert) == HOLDER + "41"


def test_certificate_holder_may_be_given_as_citizen_id() -> None:
    assert parse(HOLDER + "52", holder=CitizenId(HOLDER)).category is DisabilityCategory.INTELLECTUAL


def test_certificate_without_holder_checks_only_the_number() -> None:
    assert parse(OTHER + "63", holder=None).holder_id == CitizenId(OTHER)


@pytest.mark.parametrize("value", ["", HOLDER, HOLDER + "4", HOLDER + "411"])
def test_certificate_number_must_be_exactly_20_characters(value: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse(value)
    (v,) = exc.value.violations
    assert v.field == "disability_certificate_number"
    assert "exactly 20 characters" in v.description


def test_certificate_id_part_must_be_a_valid_gb11643_citizen_id() -> None:
    bad_check = HOLDER[:17] + ("0" if HOLDER[17] != "0" else "1")
    with pytest.raises(InvalidArgument) as exc:
        DisabilityCertificateNumber.parse(
            bad_check + "41", holder=None, today=TODAY, field="applicant.disability_certificate_number"
        )
    (v,) = exc.value.violations
    assert v.field == "applicant.disability_certificate_number"
    assert "citizen ID" in v.description and "check character" in v.description


def test_certificate_id_part_must_equal_the_applicants_id() -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse(OTHER + "41")
    assert descriptions(exc) == ["the citizen ID in the certificate number is not the applicant's"]


def test_certificate_lowercase_x_in_either_id_matches() -> None:
    holder = "11010519491231002X"  # GB 11643's worked example
    cert = parse(holder.lower() + "21", holder=holder.lower())
    assert cert.holder_id.value == holder


@pytest.mark.parametrize("digit", ["0", "8", "9", "A"])
def test_certificate_category_must_be_1_to_7(digit: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse(HOLDER + digit + "1")
    assert descriptions(exc) == ["disability category (19th character) must be a digit 1-7"]


@pytest.mark.parametrize("digit", ["0", "5", "9", "一"])
def test_certificate_grade_must_be_1_to_4(digit: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse(HOLDER + "4" + digit)
    assert descriptions(exc) == ["disability grade (20th character) must be a digit 1-4"]


def test_certificate_reports_every_independent_problem_at_once() -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse(OTHER + "85")
    assert len(exc.value.violations) == 3


@pytest.mark.parametrize(
    ("digit", "category", "chinese", "english"),
    [
        ("1", DisabilityCategory.VISUAL, "视力残疾", "visual"),
        ("2", DisabilityCategory.HEARING, "听力残疾", "hearing"),
        ("3", DisabilityCategory.SPEECH, "言语残疾", "speech"),
        ("4", DisabilityCategory.PHYSICAL, "肢体残疾", "physical"),
        ("5", DisabilityCategory.INTELLECTUAL, "智力残疾", "intellectual"),
        ("6", DisabilityCategory.MENTAL, "精神残疾", "mental"),
        ("7", DisabilityCategory.MULTIPLE, "多重残疾", "multiple"),
    ],
)
def test_certificate_category_digits_and_names(
    digit: str, category: DisabilityCategory, chinese: str, english: str
) -> None:
    cert = parse(HOLDER + digit + "3")
    assert cert.category is category
    assert category.chinese_name == chinese
    assert category.english_name == english


@pytest.mark.parametrize(
    ("digit", "chinese", "severe"),
    [("1", "一级", True), ("2", "二级", True), ("3", "三级", False), ("4", "四级", False)],
)
def test_certificate_grades_1_and_2_are_severe_for_the_nursing_subsidy(digit: str, chinese: str, severe: bool) -> None:
    # 国发〔2015〕52号: the nursing subsidy covers grades 1-2 nationally; grade 1 is the most severe.
    cert = parse(HOLDER + "4" + digit)
    assert cert.grade == int(digit)
    assert cert.grade.chinese_name == chinese
    assert cert.grade.english_name == f"grade {digit}"
    assert cert.is_severe is severe
