"""What a paying service supplies to the monthly run: the lines it owes for a month.

A service knows who is owed what (its entitlements, their start and stop months, the regional
standards); the run knows how to pay them exactly once. `DueSource` is the seam between the two."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Protocol

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def is_month(value: str) -> bool:
    """Whether `value` reads "YYYY-MM"."""
    return bool(_MONTH.match(value))


def check_month(month: str) -> str:
    """`month` if it reads "YYYY-MM", else ValueError (a programming error of the caller)."""
    if not _MONTH.match(month):
        raise ValueError(f"a month reads YYYY-MM, not {month!r}")
    return month


def month_of(day: date) -> str:
    """The month a day falls in, "YYYY-MM"."""
    return f"{day.year:04d}-{day.month:02d}"


def next_month(month: str) -> str:
    """The month after `month`: payment stops "from the month after" a death, a move, a lost 低保."""
    year, number = (int(part) for part in check_month(month).split("-"))
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def months(first: str, last: str) -> list[str]:
    """Every month from `first` to `last`, both included (none when `first` is later): the months a
    source owes, back-pay included."""
    found, month = [], check_month(first)
    while month <= check_month(last):
        found.append(month)
        month = next_month(month)
    return found


def line_id_of(entitlement_id: str, month: str) -> str:
    """A line's id: the same (entitlement, month) is the same line in every batch it visits."""
    return f"{entitlement_id}@{check_month(month)}"


@dataclass(frozen=True)
class Due:
    """One month a person is owed: a line a run should pay."""

    entitlement_id: str  # stable id of what is owed, unique in the service, e.g. "<case_id>/living"
    case_id: str
    citizen_id: str
    name: str
    benefit: str  # e.g. "disability.living", "disability.nursing", "relief.dibao"
    month: str  # "YYYY-MM", the month owed
    amount_fen: int  # > 0, integer fen — never floats
    bank_account: str  # as stored (validated); exports show it masked unless told otherwise

    @cached_property
    def line_id(self) -> str:  # read several times per due by a run: built once
        return line_id_of(self.entitlement_id, self.month)


class DueSource(Protocol):
    def due(self, month: str) -> Iterable[Due]:
        """Every line owed for `month` in this region, in a stable order (by entitlement_id).
        Includes back-pay months as their own Due (month = the month owed)."""
        ...
