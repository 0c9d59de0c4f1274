"""Working days on China's official calendar, for statutory time limits.

Two kinds of period appear in civil-affairs rules:

* working-day limits ("decide within 10 working days"): `Calendar.add_working_days` counts the
  working days after the start day, with public holidays off and make-up working days (调休, a
  Saturday or Sunday declared a working day) on;
* calendar-day periods ("within 30 days"): `Calendar.calendar_period_end`. The start day is not
  counted (民法典 第二百零一条) and a last day that is a rest day or public holiday moves to the
  next working day (民法典 第二百零三条).

The official calendar is published each year by the State Council's General Office, and
`chinesecalendar` carries it only up to its last release (2026 for 1.11.0). Later dates use a
provisional rule rather than failing, because today's cases already have deadlines in 2027:

* Saturdays and Sundays are rest days;
* the statutory holidays whose dates are known in advance are rest days — 元旦 1 January,
  劳动节 1-2 May, 国庆节 1-3 October, and 清明节 on the day of the 清明 solar term (全国年节及纪念日放假办法,
  as revised by 国务院令第795号 in force 2025-01-01);
* unknown, hence ignored: the lunar holidays (春节, 端午节, 中秋节), the weekday a holiday falling
  on a weekend is made up on (补假, ibid. 第六条), and the 调休 swaps.

The provisional rule has about six working days a year too many (the missing lunar holidays and
补假 outnumber the missing make-up Saturdays), so its deadlines mostly come early: safe for a limit
binding the authority, not for one binding the applicant (e.g. a divorce application deemed
withdrawn), which callers should not enforce while it is provisional. A result is provisional
when `is_official` is false for the latest date it depends on: coverage is one contiguous range of
years, so for a forward computation `is_official(result)` says whether all of it was official.
A region records each year's notice as data (`PublishedYear`, from the events of its calendar
stream, services/common/calendars/): a `Calendar` with `years` uses them instead of the package's
data or the provisional rule for those years, and a notice not marked provisional makes its year
official. The calendar in force in a region is built from its store
(`services.common.calendars.CalendarInForce`); a notice recorded there recomputes the pending
deadlines computed on the calendar it replaces.

Regions can also add their own days off or on (`extra_holidays`, `extra_working_days`: e.g. a
holiday an autonomous region declares for everyone in it). The module-level functions use the
national calendar of the package alone.

Dates are civil dates in China. A `datetime` is refused: a UTC instant near midnight is the next
day in Beijing, and only the caller knows which it meant."""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import chinese_calendar

OFFICIAL_FIRST_YEAR: int = min(chinese_calendar.holidays).year
OFFICIAL_LAST_YEAR: int = max(chinese_calendar.holidays).year
_PACKAGE_VERSION = importlib.metadata.version("chinesecalendar")

# chinese_calendar's solar-term formula (used for 清明 in the provisional rule) stops at 2100.
PROVISIONAL_LAST_YEAR = 2100

_ONE_DAY = timedelta(days=1)


def _check_date(d: date) -> None:
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a date (a civil day in China), got {type(d).__name__}")


def _date_set(dates: Iterable[date], name: str) -> frozenset[date]:
    result = frozenset(dates)
    for d in result:
        if isinstance(d, datetime) or not isinstance(d, date):
            raise TypeError(f"{name} must hold dates, got {type(d).__name__}")
    return result


PROVISIONAL = "provisional"


@dataclass(frozen=True)
class PublishedYear:
    """One year's holidays and make-up working days (调休) as a notice gives them (国务院办公厅
    放假安排). A day in neither set works on weekdays and rests on Saturdays and Sundays.

    `provisional` marks a region's estimate (e.g. services/common/calendars/2027-provisional.json)
    rather than the notice itself; `label` says where it comes from (notice number and version)."""

    year: int
    holidays: frozenset[date]
    make_up_working_days: frozenset[date]
    label: str = ""
    provisional: bool = False

    def __post_init__(self) -> None:
        holidays = _date_set(self.holidays, "holidays")
        working = _date_set(self.make_up_working_days, "make_up_working_days")
        outside = sorted(d.isoformat() for d in holidays | working if d.year != self.year)
        if outside:
            raise ValueError(f"dates outside {self.year}: {', '.join(outside)}")
        both = sorted(d.isoformat() for d in holidays & working)
        if both:
            raise ValueError(f"dates both a holiday and a make-up working day: {', '.join(both)}")
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "make_up_working_days", working)

    def is_working_day(self, d: date) -> bool:
        if d in self.make_up_working_days:
            return True
        return d not in self.holidays and d.weekday() < 5


@dataclass(frozen=True)
class Calendar:
    """The national calendar, the years a region recorded, and the region's own overrides.

    `years` replace the package's data and the provisional rule for their years (one entry per
    year: the version in force). `extra_holidays` are rest days even if the national calendar
    says work; `extra_working_days` are working days even if it says rest. A date may not be in
    both."""

    extra_holidays: frozenset[date] = field(default_factory=frozenset)
    extra_working_days: frozenset[date] = field(default_factory=frozenset)
    years: tuple[PublishedYear, ...] = ()
    _by_year: dict[int, PublishedYear] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        # Accept any iterable of dates (a set literal, a list from config) but keep it immutable.
        holidays = _date_set(self.extra_holidays, "extra_holidays")
        working = _date_set(self.extra_working_days, "extra_working_days")
        both = holidays & working
        if both:
            raise ValueError(f"dates both extra holidays and extra working days: {sorted(both)}")
        object.__setattr__(self, "extra_holidays", holidays)
        object.__setattr__(self, "extra_working_days", working)
        years = tuple(self.years)
        by_year = {y.year: y for y in years}
        if len(by_year) != len(years):
            raise ValueError("one published year per year: give the version in force only")
        object.__setattr__(self, "years", years)
        object.__setattr__(self, "_by_year", by_year)

    def with_years(self, years: Iterable[PublishedYear]) -> Calendar:
        """This calendar (its regional overrides kept) with `years` in force instead of its own."""
        return Calendar(self.extra_holidays, self.extra_working_days, tuple(years))

    def is_official(self, d: date) -> bool:
        """Whether `d` is covered by the published national calendar — the package's data or a
        recorded notice — not the provisional rule or a provisional year.

        Regional overrides do not change this: they cannot tell us the national lunar holidays."""
        _check_date(d)
        published = self._by_year.get(d.year)
        if published is not None:
            return not published.provisional
        return OFFICIAL_FIRST_YEAR <= d.year <= OFFICIAL_LAST_YEAR

    def source_of(self, year: int) -> str:
        """Where the calendar of `year` comes from: a recorded notice's label (prefixed
        "provisional: " for an estimate), the package, or "provisional" (the rule)."""
        published = self._by_year.get(year)
        if published is not None:
            return f"{PROVISIONAL}: {published.label}" if published.provisional else published.label
        if OFFICIAL_FIRST_YEAR <= year <= OFFICIAL_LAST_YEAR:
            return f"chinesecalendar {_PACKAGE_VERSION}"
        return PROVISIONAL

    def is_working_day(self, d: date) -> bool:
        _check_date(d)
        if d in self.extra_working_days:
            return True
        if d in self.extra_holidays:
            return False
        published = self._by_year.get(d.year)
        if published is not None:
            return published.is_working_day(d)
        return _national_is_working_day(d)

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start`; `start` itself is never counted, whatever it is.

        "Within 3 working days of receipt" with receipt on `start` ends on add_working_days(start,
        3). n = 0 gives `start` unchanged."""
        _check_date(start)
        if n < 0:
            raise ValueError("n must not be negative")
        d = start
        remaining = n
        while remaining:
            d += _ONE_DAY
            if self.is_working_day(d):
                remaining -= 1
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in (a, b] — after `a`, up to and including `b`; negative if b < a.

        The inverse of add_working_days: working_days_between(a, add_working_days(a, n)) == n."""
        _check_date(a)
        _check_date(b)
        if b < a:
            return -self.working_days_between(b, a)
        count = 0
        d = a + _ONE_DAY
        while d <= b:
            if self.is_working_day(d):
                count += 1
            d += _ONE_DAY
        return count

    def roll_to_working_day(self, d: date) -> date:
        """`d` if it is a working day, else the next working day (民法典 第二百零三条: a period whose
        last day is a 法定休假日 ends on the day after it; weekends count as 休假日, make-up
        working days do not)."""
        _check_date(d)
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def calendar_period_end(self, start: date, days: int) -> date:
        """Last day of a period of `days` calendar days that starts the day after `start`.

        民法典 第二百零一条 excludes the start day, so the last day is start + days; if that is a
        rest day or holiday the period runs to the next working day (第二百零三条)."""
        _check_date(start)
        if days < 1:
            raise ValueError("a period must be at least one day")
        return self.roll_to_working_day(start + timedelta(days=days))


NATIONAL = Calendar()


def is_official(d: date) -> bool:
    return NATIONAL.is_official(d)


def is_working_day(d: date) -> bool:
    return NATIONAL.is_working_day(d)


def add_working_days(start: date, n: int) -> date:
    return NATIONAL.add_working_days(start, n)


def working_days_between(a: date, b: date) -> int:
    return NATIONAL.working_days_between(a, b)


def roll_to_working_day(d: date) -> date:
    return NATIONAL.roll_to_working_day(d)


def calendar_period_end(start: date, days: int) -> date:
    return NATIONAL.calendar_period_end(start, days)


def provisional_holidays(year: int) -> frozenset[date]:
    """The statutory holidays of `year` that the provisional rule knows (the law in force since
    2025 applied to that year). Used only for years without official data; any year from 1900 can
    be asked for, so the rule can be checked against the official years."""
    if not 1900 <= year <= PROVISIONAL_LAST_YEAR:
        raise ValueError(f"the provisional rule can be computed for 1900-{PROVISIONAL_LAST_YEAR}")
    return _provisional_holidays(year)


@functools.cache
def _provisional_holidays(year: int) -> frozenset[date]:
    fixed = {
        date(year, 1, 1),  # 元旦
        date(year, 5, 1),  # 劳动节
        date(year, 5, 2),
        date(year, 10, 1),  # 国庆节
        date(year, 10, 2),
        date(year, 10, 3),
    }
    # 清明节 is "农历清明当日", the day of the solar term, which falls on 4 or 5 April.
    qingming = [
        d for d, name in chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 30)) if name == "清明"
    ]
    return frozenset(fixed | set(qingming))


def _national_is_working_day(d: date) -> bool:
    if OFFICIAL_FIRST_YEAR <= d.year <= OFFICIAL_LAST_YEAR:
        return bool(chinese_calendar.is_workday(d))
    if OFFICIAL_LAST_YEAR < d.year <= PROVISIONAL_LAST_YEAR:
        return d.weekday() < 5 and d not in _provisional_holidays(d.year)
    # Before the official data there is no case to compute for, and the holiday law was revised too
    # often (1999, 2007, 2013, 2024) for one provisional rule to be honest.
    raise ValueError(
        f"no calendar for {d.year}: official data covers {OFFICIAL_FIRST_YEAR}-{OFFICIAL_LAST_YEAR}, "
        f"the provisional rule up to {PROVISIONAL_LAST_YEAR}"
    )
