"""Citizen identity numbers (公民身份号码, GB 11643-1999)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from stdnum.cn import ric

from services.common.errors import FieldViolation, InvalidArgument
from services.common.identity import CitizenId, age_on, make_citizen_id

TODAY = date(2026, 11, 22)

# GB 11643's own worked examples: 北京朝阳 1949-12-31 female, 广东 1880-01-01 male.
STANDARD_FEMALE = "11010519491231002X"
STANDARD_MALE = "440524188001010014"

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_MAP = "10X98765432"


def gb11643_check_character(body: str) -> str:
    """The check character exactly as GB 11643 states it, independently of stdnum."""
    assert len(body) == 17
    return CHECK_MAP[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def with_check(body: str) -> str:
    return body + gb11643_check_character(body)


def violation(exc: pytest.ExceptionInfo[InvalidArgument]) -> FieldViolation:
    assert len(exc.value.violations) == 1
    return exc.value.violations[0]


# --- check character --------------------------------------------------------------------------


def test_gb11643_weights_agree_with_stdnum_and_make_citizen_id() -> None:
    rng = random.Random(11643)  # fixed seed: reproducible
    for _ in range(2000):
        body = f"{rng.randrange(10**17):017d}"
        expected = gb11643_check_character(body)
        assert ric.calc_check_digit(body + "0") == expected
    for sequence in range(1000):
        value = make_citizen_id("640104", date(1990, 5, 17), sequence)
        assert value[17] == gb11643_check_character(value[:17])


def test_gb11643_standard_examples_are_valid() -> None:
    assert gb11643_check_character(STANDARD_FEMALE[:17]) == "X"
    assert CitizenId.parse(STANDARD_FEMALE, today=TODAY).value == STANDARD_FEMALE
    assert CitizenId.parse(STANDARD_MALE, today=TODAY).value == STANDARD_MALE


def test_gb11643_wrong_check_character_names_the_field() -> None:
    wrong = STANDARD_MALE[:17] + "5"
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse(wrong, today=TODAY, field="applicant.citizen_id")
    v = violation(exc)
    assert v.field == "applicant.citizen_id"
    assert "check character" in v.description


def test_gb11643_field_defaults_to_citizen_id() -> None:
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse(STANDARD_MALE[:17] + "5", today=TODAY)
    assert violation(exc).field == "citizen_id"


def test_gb11643_single_mistyped_digit_is_caught_by_the_check_character() -> None:
    typo = STANDARD_MALE[:8] + "9" + STANDARD_MALE[9:]  # 1880 → 1890
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse(typo, today=TODAY)
    assert "check character" in violation(exc).description


def test_gb11643_error_does_not_echo_the_number() -> None:
    # Personal information must not reach logs through error messages.
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse(STANDARD_MALE[:17] + "5", today=TODAY)
    assert STANDARD_MALE[:17] not in str(exc.value)
    assert "'4'" not in str(exc.value)  # no hint at the right character either


def test_gb11643_lowercase_x_check_character_is_normalised_to_upper_case() -> None:
    parsed = CitizenId.parse(STANDARD_FEMALE.lower(), today=TODAY)
    assert parsed.value == STANDARD_FEMALE
    assert str(parsed) == STANDARD_FEMALE


def test_gb11643_x_in_the_first_17_characters_is_rejected() -> None:
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse("X" + STANDARD_FEMALE[1:], today=TODAY)
    assert "first 17 characters must be digits" in violation(exc).description


def test_gb11643_check_character_must_be_digit_or_x() -> None:
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse(STANDARD_MALE[:17] + "Y", today=TODAY)
    assert "digit or X" in violation(exc).description


# --- length and characters --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", STANDARD_MALE[:17], STANDARD_MALE + "0", " " + STANDARD_MALE])
def test_gb11643_must_be_exactly_18_characters(value: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse(value, today=TODAY)
    assert "exactly 18 characters" in violation(exc).description


def test_gb11643_first_generation_15_digit_number_is_rejected_with_a_hint() -> None:
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse("110105491231002", today=TODAY)
    assert "15-digit first-generation" in violation(exc).description


def test_gb11643_full_width_digits_are_not_digits() -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in STANDARD_MALE[:17]) + "4"
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse(full_width, today=TODAY)
    assert "must be digits" in violation(exc).description


# --- address code -----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["00", "10", "16", "24", "38", "47", "55", "66", "72", "83", "99"])
def test_gb11643_address_code_must_start_with_a_gb2260_province(prefix: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse(with_check(prefix + "0104199005170" + "12"), today=TODAY)
    assert "province code" in violation(exc).description


@pytest.mark.parametrize("prefix", ["11", "15", "23", "37", "46", "50", "54", "65", "71", "81", "82"])
def test_gb11643_every_province_prefix_is_accepted(prefix: str) -> None:
    value = make_citizen_id(prefix + "0101", date(1990, 5, 17), 12)
    assert CitizenId.parse(value, today=TODAY).address_code == prefix + "0101"


def test_gb11643_unknown_county_under_a_real_province_is_accepted() -> None:
    # Codes change over time: the address code is where the number was issued, maybe decades ago.
    value = make_citizen_id("519999", date(1970, 1, 1), 3)
    assert CitizenId.parse(value, today=TODAY).address_code == "519999"


# --- birth date -------------------------------------------------------------------------------


@pytest.mark.parametrize("birth", ["19990230", "20230229", "19991301", "19990000", "19990431"])
def test_gb11643_birth_date_must_be_a_real_date(birth: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse(with_check("640104" + birth + "012"), today=TODAY)
    assert "not a real calendar date" in violation(exc).description


def test_gb11643_birth_on_leap_day_is_a_real_date() -> None:
    assert CitizenId.parse(with_check("640104" + "20040229" + "012"), today=TODAY).birth_date == date(2004, 2, 29)


def test_gb11643_birth_date_after_today_is_rejected() -> None:
    value = make_citizen_id("640104", TODAY + timedelta(days=1), 12)
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse(value, today=TODAY, field="child.citizen_id")
    v = violation(exc)
    assert v.field == "child.citizen_id"
    assert "after today" in v.description


def test_gb11643_birth_date_today_is_accepted() -> None:
    # A newborn can be registered on the day of birth.
    value = make_citizen_id("640104", TODAY, 12)
    assert CitizenId.parse(value, today=TODAY).birth_date == TODAY


def test_gb11643_birth_year_before_1800_is_rejected() -> None:
    with pytest.raises(InvalidArgument) as exc:
        CitizenId.parse(with_check("640104" + "17991231" + "012"), today=TODAY)
    assert "before 1800" in violation(exc).description


# --- fields -----------------------------------------------------------------------------------


def test_gb11643_parts_address_birth_sequence() -> None:
    parsed = CitizenId.parse(STANDARD_FEMALE, today=TODAY)
    assert parsed.address_code == "110105"
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sequence == 2


@pytest.mark.parametrize(("sequence", "sex"), [(1, "male"), (2, "female"), (999, "male"), (0, "female")])
def test_gb11643_sequence_odd_is_male_even_is_female(sequence: int, sex: str) -> None:
    value = make_citizen_id("510802", date(1985, 3, 9), sequence)
    assert CitizenId.parse(value, today=TODAY).sex == sex


def test_make_citizen_id_rejects_bad_parts() -> None:
    with pytest.raises(ValueError):
        make_citizen_id("64010", date(1990, 1, 1), 1)
    with pytest.raises(ValueError):
        make_citizen_id("640104", date(1990, 1, 1), 1000)


def test_constructor_validates_structure_without_a_clock() -> None:
    # Replaying a stored event rebuilds a CitizenId without reading the clock.
    assert CitizenId(STANDARD_MALE).value == STANDARD_MALE
    with pytest.raises(ValueError):
        CitizenId(STANDARD_MALE[:17] + "5")


def test_repr_masks_the_birth_date_and_sequence() -> None:
    text = repr(CitizenId(STANDARD_FEMALE))
    assert "19491231" not in text
    assert text.startswith("CitizenId('110105")


# --- age (周岁) ---------------------------------------------------------------------------------


def citizen(birth: date) -> CitizenId:
    return CitizenId.parse(make_citizen_id("640104", birth, 12), today=TODAY)


def test_age_the_birthday_itself_counts_as_reaching_the_age() -> None:
    # 民法典 第一千零四十七条 (marriage age): reaching 22 on the registration day counts.
    person = citizen(date(2004, 11, 22))
    assert person.age_on(date(2026, 11, 21)) == 21
    assert person.age_on(date(2026, 11, 22)) == 22
    assert person.age_on(date(2026, 11, 23)) == 22


def test_age_leap_day_birthday_falls_on_28_february_in_common_years() -> None:
    # 民法典 第二百零二条: a year period without a corresponding day ends on the month's last day.
    person = citizen(date(2004, 2, 29))
    assert person.age_on(date(2026, 2, 27)) == 21
    assert person.age_on(date(2026, 2, 28)) == 22
    assert person.age_on(date(2026, 3, 1)) == 22


def test_age_leap_day_birthday_is_29_february_in_leap_years() -> None:
    person = citizen(date(2004, 2, 29))
    assert person.age_on(date(2028, 2, 28)) == 23
    assert person.age_on(date(2028, 2, 29)) == 24


def test_age_on_day_of_birth_is_zero_and_before_birth_is_an_error() -> None:
    assert age_on(date(2020, 6, 1), date(2020, 6, 1)) == 0
    with pytest.raises(ValueError):
        age_on(date(2020, 6, 1), date(2020, 5, 31))
