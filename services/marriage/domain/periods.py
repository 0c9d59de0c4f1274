"""The two periods of divorce by agreement (民法典 第1077条), on the official calendar.

* Cooling-off: thirty days from the day after receipt; either spouse may withdraw.
* Certificate window: the following thirty days; both must request the certificate, or the
  application is deemed withdrawn.

Both are calendar-day periods: the start day is not counted (民法典 第二百零一条) and a last day
that is a rest day or holiday moves to the next working day (第二百零三条). A period has run out at
00:00 China time on the day after its last day; that instant is when its deadline fires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.common.working_days import Calendar
from services.marriage.domain.values import day_after, start_of_china_day

COOLING_OFF_DAYS = 30
CERTIFICATE_WINDOW_DAYS = 30

COOLING_OFF = "cooling_off"
CERTIFICATE_WINDOW = "certificate_window"

COOLING_OFF_ENDS = "marriage.divorce.cooling_off_ends"
CERTIFICATE_WINDOW_ENDS = "marriage.divorce.certificate_window_ends"
DEADLINE_KINDS = (COOLING_OFF_ENDS, CERTIFICATE_WINDOW_ENDS)
DIVORCE_PERIOD_RULE = "民法典 第1077条"


@dataclass(frozen=True)
class DivorcePeriods:
    received_on: date
    cooling_off_last_day: date
    window_last_day: date
    provisional: bool  # a last day lies beyond the published holiday calendar


def cooling_off_last_day(received_on: date, calendar: Calendar) -> date:
    return calendar.calendar_period_end(received_on, COOLING_OFF_DAYS)


def window_last_day(cooling_off_last: date, calendar: Calendar) -> date:
    """The certificate window follows the cooling-off as it actually ended (after any roll)."""
    return calendar.calendar_period_end(cooling_off_last, CERTIFICATE_WINDOW_DAYS)


def divorce_periods(received_on: date, calendar: Calendar) -> DivorcePeriods:
    cooling = cooling_off_last_day(received_on, calendar)
    window = window_last_day(cooling, calendar)
    # Coverage is one contiguous range of years, so the later date tells for both.
    return DivorcePeriods(received_on, cooling, window, provisional=not calendar.is_official(window))


def period_runs_out_at(last_day: date) -> datetime:
    """The instant a period whose last day is `last_day` has run out: 00:00 China time the next day."""
    return start_of_china_day(day_after(last_day))
