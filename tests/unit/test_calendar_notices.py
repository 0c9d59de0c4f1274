"""A year's holiday notice as data (domain rules, "The calendar is published yearly": the State
Council's General Office publishes each year's 放假安排 — holidays and make-up working days — in
the autumn before; a region loads it as data). Reading and checking the notice file, and the
calendar a recorded year gives."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from services.common.calendars import PACKAGED, NoticeError, parse_notice, read_notice_file
from services.common.working_days import NATIONAL, OFFICIAL_LAST_YEAR, Calendar, PublishedYear

NOTICE = {"year": 2027, "notice_number": "TEST-2027", "holidays": ["2027-01-01", "2027-02-08"],
          "make_up_working_days": ["2027-02-13"]}


@pytest.mark.parametrize(("change", "message"), [
    ({"holidays": ["2026-12-31"]}, "holidays: 2026-12-31 is not in 2027"),
    ({"make_up_working_days": ["2028-01-01"]}, "make_up_working_days: 2028-01-01 is not in 2027"),
    ({"make_up_working_days": ["2027-02-08"]}, "both a holiday and a make-up working day: 2027-02-08"),
    ({"holidays": ["2027-02-30"]}, "holidays: '2027-02-30' is not a date (YYYY-MM-DD)"),
    ({"holidays": ["2027-1-1"]}, "holidays: '2027-1-1' is not a date"),
    ({"holidays": ["2027-01-01", "2027-01-01"]}, "holidays: 2027-01-01 is listed twice"),
    ({"holidays": []}, "holidays: a notice gives at least one day off"),
    ({"holidays": "2027-01-01"}, "holidays: expected a list of dates"),
    ({"year": "2027"}, "year: expected a year such as 2027"),
    ({"notice_number": ""}, "notice_number: required unless the year is marked provisional"),
    ({"provisional": "yes"}, "provisional: expected true or false"),
    ({"holiday": []}, "unknown field(s): holiday"),
])
def test_an_invalid_notice_is_refused_with_the_field_and_value_named(change: dict[str, object], message: str) -> None:
    with pytest.raises(NoticeError) as refused:
        parse_notice({**NOTICE, **change})
    assert message in str(refused.value)


def test_a_file_that_is_not_json_or_missing_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "notice.json"
    bad.write_text("year: 2027")
    with pytest.raises(NoticeError, match="is not JSON"):
        read_notice_file(bad)
    with pytest.raises(NoticeError, match="cannot read"):
        read_notice_file(tmp_path / "missing.json")


def test_a_recorded_year_replaces_the_provisional_rule_and_is_official_民法典_203() -> None:
    """2027-02-08 is a working Monday on the provisional rule; the notice makes it a holiday, so a
    period whose last day it is ends on the next working day (民法典 第二百零三条), and the make-up
    Saturday 2027-02-13 is a working day."""
    notice = parse_notice(NOTICE)
    calendar = NATIONAL.with_years([notice.published(2)])
    assert NATIONAL.is_working_day(date(2027, 2, 8)) and not NATIONAL.is_official(date(2027, 2, 8))
    assert not calendar.is_working_day(date(2027, 2, 8))
    assert calendar.is_working_day(date(2027, 2, 13))
    assert calendar.roll_to_working_day(date(2027, 2, 8)) == date(2027, 2, 9)
    assert calendar.is_official(date(2027, 6, 1)) and calendar.source_of(2027) == "TEST-2027 v2"
    assert not calendar.is_official(date(2028, 1, 3)) and calendar.source_of(2028) == "provisional"
    assert calendar.source_of(2026).startswith("chinesecalendar")


def test_a_provisional_year_is_used_but_stays_provisional() -> None:
    estimate = PublishedYear(2027, {date(2027, 2, 8)}, set(), "estimate", provisional=True)
    calendar = Calendar(years=(estimate,))
    assert not calendar.is_working_day(date(2027, 2, 8))
    assert not calendar.is_official(date(2027, 2, 8))
    assert calendar.source_of(2027) == "provisional: estimate"


def test_regional_overrides_still_win_over_a_recorded_year() -> None:
    regional = Calendar(extra_working_days={date(2027, 2, 8)}).with_years([parse_notice(NOTICE).published(1)])
    assert regional.is_working_day(date(2027, 2, 8))


def test_the_shipped_2027_is_labelled_provisional_and_valid_while_the_package_lacks_2027() -> None:
    """chinesecalendar 1.11.0, the newest release, ends with 2026 (国务院办公厅 has not published
    the 2027 notice): the repository ships an estimate, marked provisional in the file itself. When
    a release with 2027 exists, pin it and drop the file."""
    path = PACKAGED / "2027-provisional.json"
    notice = read_notice_file(path)
    assert notice.provisional and notice.year == 2027 and not notice.notice_number
    assert "PROVISIONAL" in json.loads(path.read_text())["note"]
    assert OFFICIAL_LAST_YEAR < 2027, "the package has 2027 now: pin it and remove 2027-provisional.json"
    # 全国年节及纪念日放假办法 (国务院令第795号): 春节 from 除夕, and 补假 for 劳动节 on a weekend.
    assert {date(2027, 2, 5), date(2027, 2, 8), date(2027, 5, 3)} <= notice.holidays


def test_a_year_given_twice_is_a_bug() -> None:
    one = parse_notice(NOTICE).published(1)
    with pytest.raises(ValueError, match="one published year per year"):
        Calendar(years=(one, one))
