"""The working-day calendar as data a region records (domain rules: "The calendar is published
yearly"; architecture invariant 6).

* `notices` — a year's notice (国务院办公厅 放假安排: holidays and make-up working days) as read
  from a file and as the `CalendarYearPublished` event recorded in the region's calendar stream;
* `in_force` — recording a notice (a new version per year; the latest is in force, and pending
  deadlines are recomputed), and `CalendarInForce`, the calendar a service reads from its store.

`2027-provisional.json` is this repository's estimate of 2027 until the notice is published: it
is imported like a notice and recorded as provisional, so the year stays `provisional` until the
real notice replaces it."""

from services.common.calendars.in_force import (
    CALENDAR_PUBLISHED,
    CalendarInForce,
    append_notice,
    calendar_stream_id,
    published_years,
    record_notice,
)
from services.common.calendars.notices import (
    PACKAGED,
    CalendarYearPublished,
    NoticeError,
    YearNotice,
    parse_notice,
    read_notice_file,
)

__all__ = [
    "CALENDAR_PUBLISHED",
    "PACKAGED",
    "CalendarInForce",
    "CalendarYearPublished",
    "NoticeError",
    "YearNotice",
    "append_notice",
    "calendar_stream_id",
    "parse_notice",
    "published_years",
    "read_notice_file",
    "record_notice",
]
