"""A year's holiday notice: the file a region imports and the event its store records.

The file (JSON; see docs/calendar.md):

    {
      "year": 2027,
      "notice_number": "国办发明电〔2026〕N号",
      "source": "https://www.gov.cn/...",
      "provisional": false,
      "holidays": ["2027-01-01", ...],
      "make_up_working_days": ["2027-02-14", ...]
    }

`holidays` are the days off the notice gives (a weekend day inside a holiday may be listed or
not: it rests either way); `make_up_working_days` are the Saturdays and Sundays it declares working
days (调休). Every date must lie in `year`, and no day may be both. A notice that is not
`provisional` must name its notice number: it makes the year official."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from services.common.working_days import PublishedYear
from tongban.common.v1 import calendar_pb2, types_pb2

# The provisional years this repository ships (imported like a notice, recorded as provisional).
PACKAGED = Path(__file__).parent

_FIELDS = {"year", "notice_number", "source", "provisional", "holidays", "make_up_working_days", "note"}


class NoticeError(ValueError):
    """A notice file that cannot be recorded; the message names the field and the value."""


@dataclass(frozen=True)
class YearNotice:
    year: int
    holidays: frozenset[date]
    make_up_working_days: frozenset[date]
    notice_number: str = ""
    source: str = ""
    provisional: bool = False

    def published(self, version: int) -> PublishedYear:
        label = f"{self.notice_number or self.source or 'notice'} v{version}"
        return PublishedYear(self.year, self.holidays, self.make_up_working_days, label, self.provisional)


@dataclass(frozen=True)
class CalendarYearPublished:
    """The recorded event: a notice and its version for its year (1, 2, …; the latest is in force)."""

    notice: YearNotice
    version: int

    def to_message(self) -> calendar_pb2.CalendarYearPublished:
        n = self.notice
        return calendar_pb2.CalendarYearPublished(
            year=n.year, holidays=[_date_message(d) for d in sorted(n.holidays)],
            make_up_working_days=[_date_message(d) for d in sorted(n.make_up_working_days)],
            notice_number=n.notice_number, source=n.source, version=self.version, provisional=n.provisional)

    @classmethod
    def from_message(cls, m: calendar_pb2.CalendarYearPublished) -> CalendarYearPublished:
        notice = YearNotice(m.year, frozenset(date(d.year, d.month, d.day) for d in m.holidays),
                            frozenset(date(d.year, d.month, d.day) for d in m.make_up_working_days),
                            m.notice_number, m.source, m.provisional)
        return cls(notice, m.version)


def parse_notice(data: Mapping[str, Any], *, source: str = "") -> YearNotice:
    """A notice from a file's parsed content, every problem named (NoticeError)."""
    if not isinstance(data, Mapping):
        raise NoticeError("a notice is an object with year, holidays and make_up_working_days")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise NoticeError(f"unknown field(s): {', '.join(unknown)} (allowed: {', '.join(sorted(_FIELDS))})")
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 2100:
        raise NoticeError(f"year: expected a year such as 2027, got {year!r}")
    provisional = data.get("provisional", False)
    if not isinstance(provisional, bool):
        raise NoticeError(f"provisional: expected true or false, got {provisional!r}")
    number = _text(data, "notice_number")
    if not provisional and not number:
        raise NoticeError("notice_number: required unless the year is marked provisional "
                          "(the State Council notice it transcribes, e.g. 国办发明电〔2026〕N号)")
    holidays = _dates(data, "holidays", year)
    working = _dates(data, "make_up_working_days", year)
    both = sorted(d.isoformat() for d in holidays & working)
    if both:
        raise NoticeError(f"both a holiday and a make-up working day: {', '.join(both)}")
    if not holidays:
        raise NoticeError("holidays: a notice gives at least one day off")
    return YearNotice(year, holidays, working, number, _text(data, "source") or source, provisional)


def read_notice_file(path: Path) -> YearNotice:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise NoticeError(f"cannot read {path}: {error.strerror or error}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise NoticeError(f"{path} is not JSON: {error}") from error
    return parse_notice(data, source=path.name)


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise NoticeError(f"{name}: expected text, got {value!r}")
    return value.strip()


def _dates(data: Mapping[str, Any], name: str, year: int) -> frozenset[date]:
    values = data.get(name, [])
    if not isinstance(values, list):
        raise NoticeError(f"{name}: expected a list of dates (YYYY-MM-DD), got {values!r}")
    result: set[date] = set()
    for value in values:
        try:
            d = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            d = None
        if d is None:
            raise NoticeError(f"{name}: {value!r} is not a date (YYYY-MM-DD)")
        if d.year != year:
            raise NoticeError(f"{name}: {value} is not in {year}")
        if d in result:
            raise NoticeError(f"{name}: {value} is listed twice")
        result.add(d)
    return frozenset(result)


def _date_message(d: date) -> types_pb2.Date:
    return types_pb2.Date(year=d.year, month=d.month, day=d.day)
