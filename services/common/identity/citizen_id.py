"""The citizen identity number (公民身份号码, GB 11643-1999).

18 characters: 6-digit address code (GB/T 2260, where the number was issued) + 8-digit birth date
YYYYMMDD + 3-digit sequence (odd male, even female) + a MOD 11-2 check character (0-9 or X).

Error descriptions never echo the number itself: they end up in logs and gRPC status details, and
a citizen ID is personal information (个人信息保护法), listed as sensitive in GB/T 35273 annex B."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from stdnum.cn import ric

from services.common.errors import InvalidArgument
from services.common.identity.regions import is_province_prefix

LENGTH = 18

# GB 11643 was designed for everyone alive when it took effect in 1999, and its own worked example
# (440524188001010014) is a person born in 1880; earlier years can only be typos.
EARLIEST_BIRTH_YEAR = 1800


@dataclass(frozen=True)
class CitizenId:
    """A structurally valid citizen ID, stored in canonical form (upper-case X).

    Use `parse` for input: it also refuses a birth date after `today`. The constructor checks the
    rest, without a clock, so replaying a stored event stays pure."""

    value: str

    def __post_init__(self) -> None:
        problem = _structural_violation(self.value)
        if problem is not None:
            raise ValueError(f"invalid citizen ID: {problem}")

    @classmethod
    def parse(cls, value: str, *, today: date, field: str = "citizen_id") -> CitizenId:
        # Only x is folded: upper-casing everything would let other letters reach the digit checks
        # and get a less precise error.
        canonical = value[:-1] + "X" if value.endswith("x") else value
        problem = _structural_violation(canonical)
        if problem is None and _birth_date(canonical) > today:
            problem = "GB 11643 birth date (characters 7-14) is after today"
        if problem is not None:
            raise InvalidArgument.single(field, problem)
        return cls(canonical)

    @property
    def address_code(self) -> str:
        """GB/T 2260 code of where the number was issued — not necessarily the current 户籍."""
        return self.value[:6]

    @property
    def birth_date(self) -> date:
        return _birth_date(self.value)

    @property
    def sequence(self) -> int:
        return int(self.value[14:17])

    @property
    def sex(self) -> str:
        """From the parity of the GB 11643 sequence code: odd "male", even "female"."""
        return "male" if self.sequence % 2 else "female"

    def age_on(self, day: date) -> int:
        """Completed years (周岁) on `day`; the birthday itself counts as reaching the new age.

        Born on 29 February: in a common year the birthday is 28 February. An age is a period of
        years from birth, and 民法典 第二百零二条 ends a year period with no corresponding day in
        its last month on that month's last day. So a person born 2004-02-29 is 22 on 2026-02-28.
        """
        return age_on(self.birth_date, day)

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        # Masks the birth date and sequence so a logged object does not leak the full number.
        return f"CitizenId('{self.value[:6]}{'*' * 11}{self.value[17]}')"


def age_on(birth: date, day: date) -> int:
    """Completed years between `birth` and `day` (see CitizenId.age_on for the 29 February rule)."""
    if day < birth:
        raise ValueError("cannot compute an age on a day before birth")
    years = day.year - birth.year
    if day < anniversary(birth, day.year):
        years -= 1
    return years


def anniversary(birth: date, year: int) -> date:
    """The day in `year` on which a person born on `birth` reaches a new age.

    29 February falls back to 28 February in common years (民法典 第二百零二条: no corresponding
    day → the last day of the month)."""
    if birth.month == 2 and birth.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return birth.replace(year=year)


def make_citizen_id(address_code: str, birth: date, sequence: int) -> str:
    """A valid citizen ID with the right check character, for tests and demos."""
    if len(address_code) != 6 or not (address_code.isascii() and address_code.isdigit()):
        raise ValueError("address_code must be 6 digits")
    if not 0 <= sequence <= 999:
        raise ValueError("sequence must be between 0 and 999")
    body = f"{address_code}{birth:%Y%m%d}{sequence:03d}"
    # stdnum's calc_check_digit expects the number including a (placeholder) check character.
    return body + ric.calc_check_digit(body + "0")


def _structural_violation(value: str) -> str | None:
    """Why `value` is not a GB 11643 number (every rule except "not in the future"), or None."""
    if len(value) == 15 and value.isascii() and value.isdigit():
        return (
            "GB 11643 citizen ID must be 18 characters; this looks like a 15-digit first-generation "
            "number, which must be converted to 18 characters"
        )
    if len(value) != LENGTH:
        return f"GB 11643 citizen ID must be exactly 18 characters, got {len(value)}"
    body, check = value[:17], value[17]
    if not (body.isascii() and body.isdigit()):
        return "GB 11643 citizen ID: the first 17 characters must be digits"
    if not (check == "X" or (check.isascii() and check.isdigit())):
        return "GB 11643 citizen ID: the check character (18th) must be a digit or X"
    # Not revealing the expected character: a clerk told "should be 7" would retype it instead of
    # finding the mistyped digit, and the number would then pass with the wrong person's data.
    if ric.calc_check_digit(value) != check:
        return "GB 11643 check character does not match the first 17 digits (MOD 11-2)"
    if not is_province_prefix(value[:2]):
        return "GB 11643 address code (characters 1-6) must start with a GB/T 2260 province code"
    try:
        birth = _birth_date(value)
    except ValueError:
        return "GB 11643 birth date (characters 7-14) is not a real calendar date"
    if birth.year < EARLIEST_BIRTH_YEAR:
        return f"GB 11643 birth date (characters 7-14) must not be before {EARLIEST_BIRTH_YEAR}"
    return None


def _birth_date(value: str) -> date:
    return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
