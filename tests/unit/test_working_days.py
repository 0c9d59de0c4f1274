"""Working days on China's official calendar (国务院办公厅 annual holiday notices, via chinesecalendar),
calendar-day periods (民法典 第二百零一条, 第二百零三条), and the provisional rule after 2026."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.common import working_days
from services.common.working_days import (
    OFFICIAL_LAST_YEAR,
    Calendar,
    add_working_days,
    calendar_period_end,
    is_official,
    is_working_day,
    provisional_holidays,
    roll_to_working_day,
    working_days_between,
)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(n) for n in range((end - start).days + 1)]


# --- the official 2026 calendar ---------------------------------------------------------------


def test_official_2026_national_day_1_to_7_october_are_rest_days() -> None:
    # 国务院办公厅关于2026年部分节假日安排的通知: 国庆节 10-1..10-7 off, Sun 9-20 and Sat 10-10 worked.
    assert not any(is_working_day(d) for d in days(date(2026, 10, 1), date(2026, 10, 7)))
    assert is_working_day(date(2026, 10, 8))


def test_official_2026_national_day_make_up_working_days_on_weekends() -> None:
    assert date(2026, 9, 20).weekday() == 6 and is_working_day(date(2026, 9, 20))
    assert date(2026, 10, 10).weekday() == 5 and is_working_day(date(2026, 10, 10))


def test_official_2026_mid_autumn_25_to_27_september_are_rest_days() -> None:
    assert not any(is_working_day(d) for d in days(date(2026, 9, 25), date(2026, 9, 27)))


def test_official_2026_spring_festival_15_to_23_february_are_rest_days() -> None:
    assert not any(is_working_day(d) for d in days(date(2026, 2, 15), date(2026, 2, 23)))
    assert is_working_day(date(2026, 2, 24))


def test_official_2026_spring_festival_make_up_saturdays_14_and_28_february() -> None:
    for saturday in (date(2026, 2, 14), date(2026, 2, 28)):
        assert saturday.weekday() == 5
        assert is_working_day(saturday)


def test_ordinary_weekend_is_a_rest_day() -> None:
    assert not is_working_day(date(2026, 11, 21))  # Saturday
    assert not is_working_day(date(2026, 11, 22))  # Sunday
    assert is_working_day(date(2026, 11, 23))


# --- working-day limits -----------------------------------------------------------------------


def test_add_working_days_does_not_count_the_start_day() -> None:
    assert add_working_days(date(2026, 11, 23), 1) == date(2026, 11, 24)


def test_add_working_days_skips_national_day() -> None:
    assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)


def test_add_working_days_counts_a_make_up_saturday() -> None:
    # 10-8 Thu, 10-9 Fri, 10-10 Sat (调休 working day).
    assert add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)


def test_add_working_days_from_a_holiday_start() -> None:
    assert add_working_days(date(2026, 10, 3), 1) == date(2026, 10, 8)


def test_cross_province_forwarding_within_3_working_days_over_mid_autumn() -> None:
    # 残疾人两项补贴 跨省通办: forward within 3 working days of complete materials (received Thu 9-24).
    assert add_working_days(date(2026, 9, 24), 3) == date(2026, 9, 30)


def test_dibao_30_working_days_from_acceptance_over_national_day() -> None:
    # 民发〔2021〕57号: decision within 30 working days of acceptance; two make-up days count.
    assert add_working_days(date(2026, 9, 15), 30) == date(2026, 11, 2)


def test_add_zero_working_days_is_the_start_and_negative_is_an_error() -> None:
    assert add_working_days(date(2026, 10, 3), 0) == date(2026, 10, 3)
    with pytest.raises(ValueError):
        add_working_days(date(2026, 10, 3), -1)


def test_working_days_between_counts_after_a_up_to_and_including_b() -> None:
    assert working_days_between(date(2026, 9, 30), date(2026, 10, 8)) == 1
    assert working_days_between(date(2026, 9, 30), date(2026, 10, 7)) == 0
    assert working_days_between(date(2026, 11, 23), date(2026, 11, 23)) == 0
    assert working_days_between(date(2026, 10, 8), date(2026, 9, 30)) == -1


def test_working_days_between_inverts_add_working_days() -> None:
    start = date(2026, 1, 1)
    for n in (0, 1, 5, 10, 30, 45, 200):
        assert working_days_between(start, add_working_days(start, n)) == n


# --- calendar-day periods ---------------------------------------------------------------------


def test_period_starts_the_day_after_the_event() -> None:
    # 民法典 第二百零一条: the day of receipt is not counted.
    assert calendar_period_end(date(2026, 11, 2), 1) == date(2026, 11, 3)
    assert calendar_period_end(date(2026, 11, 2), 30) == date(2026, 12, 2)


def test_divorce_cooling_off_ending_on_national_day_rolls_to_the_next_working_day() -> None:
    # 民法典 第一千零七十七条 30 days from the day after receipt; 第二百零三条: last day 10-1 is a
    # holiday, so the period ends on 10-8, the day after the holiday ends.
    assert date(2026, 9, 1) + timedelta(30) == date(2026, 10, 1)
    assert calendar_period_end(date(2026, 9, 1), 30) == date(2026, 10, 8)


def test_period_ending_on_a_sunday_rolls_to_monday() -> None:
    assert calendar_period_end(date(2026, 10, 23), 30) == date(2026, 11, 23)


def test_period_ending_on_a_make_up_saturday_does_not_roll() -> None:
    # 10-10-2026 is a Saturday but a declared working day, so not a 休假日.
    assert calendar_period_end(date(2026, 9, 10), 30) == date(2026, 10, 10)


def test_period_must_be_at_least_one_day() -> None:
    with pytest.raises(ValueError):
        calendar_period_end(date(2026, 9, 10), 0)


def test_roll_to_working_day_keeps_a_working_day() -> None:
    assert roll_to_working_day(date(2026, 11, 23)) == date(2026, 11, 23)
    assert roll_to_working_day(date(2026, 2, 15)) == date(2026, 2, 24)


# --- after the official data: the provisional rule --------------------------------------------


def test_official_data_ends_in_2026() -> None:
    assert OFFICIAL_LAST_YEAR == 2026
    assert is_official(date(2026, 12, 31))
    assert not is_official(date(2027, 1, 1))


def test_provisional_2027_fixed_date_holidays() -> None:
    # 全国年节及纪念日放假办法 (国务院令第795号): 元旦 1-1, 劳动节 5-1/5-2, 国庆节 10-1..10-3, and
    # 清明节 on the day of the solar term (4-5 in 2027).
    assert provisional_holidays(2027) == {
        date(2027, 1, 1),
        date(2027, 4, 5),
        date(2027, 5, 1),
        date(2027, 5, 2),
        date(2027, 10, 1),
        date(2027, 10, 2),
        date(2027, 10, 3),
    }
    assert not is_working_day(date(2027, 1, 1))  # a Friday
    assert not is_working_day(date(2027, 4, 5))  # a Monday
    assert is_working_day(date(2027, 1, 4))


def test_provisional_rule_keeps_weekends_off() -> None:
    assert not is_working_day(date(2027, 1, 2))
    assert not is_working_day(date(2027, 1, 3))


def test_provisional_rule_does_not_know_lunar_holidays() -> None:
    # 春节 2027: 除夕 2-5 to 初三 2-8 (a Monday) are statutory holidays, but no lunar dates are known
    # to the provisional rule, so 2-8 counts as a working day and results are flagged by is_official.
    assert is_working_day(date(2027, 2, 8))
    assert not is_official(date(2027, 2, 8))


def test_period_into_2027_rolls_past_new_year_and_is_flagged_provisional() -> None:
    end = calendar_period_end(date(2026, 12, 2), 30)  # last day 2027-01-01, a holiday
    assert end == date(2027, 1, 4)
    assert not is_official(end)


def test_working_days_across_the_year_end_use_the_provisional_rule() -> None:
    # 12-29, 12-30, 12-31 (official), then 1-1 holiday, 1-2/1-3 weekend, 1-4, 1-5 (provisional).
    end = add_working_days(date(2026, 12, 28), 5)
    assert end == date(2027, 1, 5)
    assert not is_official(end)


def test_provisional_fixed_holidays_are_rest_days_in_the_official_years_of_the_2025_law() -> None:
    # The provisional rule must agree with every official year under the same holiday law.
    for year in range(2025, OFFICIAL_LAST_YEAR + 1):
        for d in provisional_holidays(year):
            assert not is_working_day(d), d


def test_provisional_qingming_matches_the_official_holiday_since_2008() -> None:
    # 清明节 became a public holiday in 2008; the solar-term day was always inside the official break.
    for year in range(2008, OFFICIAL_LAST_YEAR + 1):
        (qingming,) = (d for d in provisional_holidays(year) if d.month == 4)
        assert not is_working_day(qingming), qingming


def test_no_calendar_before_the_official_data_or_after_2100() -> None:
    with pytest.raises(ValueError):
        is_working_day(date(2003, 12, 31))
    with pytest.raises(ValueError):
        is_working_day(date(2101, 1, 3))


# --- regional calendars -----------------------------------------------------------------------


def test_regional_extra_holiday_is_a_rest_day_only_in_that_calendar() -> None:
    holiday = date(2026, 11, 23)  # a Monday, e.g. a holiday an autonomous region declares
    region = Calendar(extra_holidays=frozenset({holiday}))
    assert not region.is_working_day(holiday)
    assert region.add_working_days(date(2026, 11, 20), 1) == date(2026, 11, 24)
    assert is_working_day(holiday)  # the national calendar is unchanged
    assert add_working_days(date(2026, 11, 20), 1) == holiday


def test_regional_extra_working_day_can_enter_next_years_notice_early() -> None:
    region = Calendar(extra_working_days=frozenset({date(2027, 1, 2)}), extra_holidays=frozenset({date(2027, 2, 8)}))
    assert region.is_working_day(date(2027, 1, 2))
    assert not region.is_working_day(date(2027, 2, 8))
    # The national lunar holidays are still unknown to the library, so the flag stays.
    assert not region.is_official(date(2027, 1, 2))


def test_regional_calendar_accepts_a_plain_set_and_freezes_it() -> None:
    region = Calendar(extra_holidays={date(2026, 11, 23)})  # type: ignore[arg-type]
    assert isinstance(region.extra_holidays, frozenset)


def test_regional_calendar_refuses_a_day_both_off_and_on() -> None:
    day = date(2026, 11, 23)
    with pytest.raises(ValueError):
        Calendar(extra_holidays=frozenset({day}), extra_working_days=frozenset({day}))


def test_module_functions_use_the_national_calendar_without_overrides() -> None:
    national = working_days.NATIONAL
    assert not national.extra_holidays and not national.extra_working_days
    start = date(2026, 9, 1)
    assert calendar_period_end(start, 30) == national.calendar_period_end(start, 30)


# --- dates only -------------------------------------------------------------------------------


def test_datetime_is_refused_because_the_civil_day_depends_on_the_time_zone() -> None:
    with pytest.raises(TypeError):
        is_working_day(datetime(2026, 10, 1, 17, tzinfo=UTC))  # already 10-2 in Beijing
    with pytest.raises(TypeError):
        Calendar(extra_holidays=frozenset({datetime(2026, 10, 1, tzinfo=UTC)}))
