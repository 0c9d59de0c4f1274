"""Valid but odd values for the accepted-request fuzz (test_fuzz_accepted.py): what a window really
types, each with what the service must keep of it.

A `Typed` value is what is sent and what must be stored (NFC, the canonical middle dot, line breaks
as "\\n", a citizen ID with an upper-case X), or None when the value is one character over its
documented limit (proto/…: `(tongban.common.v1.rules)`) and must be refused naming its field."""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from hypothesis import strategies as st

from services.common.identity.citizen_id import make_citizen_id
from services.common.identity.regions import PROVINCE_PREFIXES
from services.common.text import MIDDLE_DOT, MIDDLE_DOT_VARIANTS

HAN = "王芳李明张华马小红丽娟建国秀英古丽买提阿依〇"
RARE = "\U00020bb7\U00021a3d\U00024b62\U0002a6a5\U00020000\U0002b820\U00030000"  # 𠮷 and CJK Ext B-G
LATIN = "AaZzüéāǚÖçñŁ"  # letters whose NFD differs (ü = u + U+0308)
PROSE = HAN + RARE + "abcXYZ0123 ,.;:!?，。；：！？、（）《》“”—…😀\u3000é\t\n"
LINE = PROSE.replace("\t", "").replace("\n", "")
PROVINCES = sorted(PROVINCE_PREFIXES)
_addresses = itertools.count(1)
# Most values fit; one in eight is exactly at its limit and one in twelve one over.
MODES = st.sampled_from(["plain"] * 19 + ["at_limit"] * 3 + ["over"] * 2)


@dataclass(frozen=True)
class Typed:
    sent: str
    kept: str | None  # None: over the limit, refused

    @property
    def over(self) -> bool:
        return self.kept is None


def _fit(core: str, length: int) -> str:
    return (core * (length // len(core) + 1))[:length]


@st.composite
def names(draw: st.DrawFn, limit: int = 100) -> Typed:
    """A person's name: Han and rare characters, pinyin and minority names in Latin letters, the
    middle dot (阿依古丽·买买提) or a look-alike, typed in NFD or NFC, maybe with spaces around it."""
    parts = draw(st.lists(st.text(alphabet=HAN + RARE + LATIN, min_size=1, max_size=5), min_size=1, max_size=3))
    core = unicodedata.normalize("NFC", MIDDLE_DOT.join(parts))
    mode = draw(MODES)
    if mode != "plain":
        core = _fit(core, limit + (mode == "over"))
        core = core[:-1] + "王" if core[-1] in " " + MIDDLE_DOT else core
    sent = core.replace(MIDDLE_DOT, draw(st.sampled_from(MIDDLE_DOT + MIDDLE_DOT_VARIANTS)))
    if draw(st.booleans()):
        sent = unicodedata.normalize("NFD", sent)
    if mode == "plain" and draw(st.booleans()):
        sent = f" {sent} "
    return Typed(sent, None if mode == "over" else core)


@st.composite
def texts(draw: st.DrawFn, limit: int, *, free: bool = True) -> Typed:
    """Free text (a reason, a note) or one line: Chinese and rare characters, punctuation, emoji,
    the ideographic space, tabs and line breaks typed as "\\r\\n" or "\\r", in NFD or NFC."""
    body = draw(st.text(alphabet=PROSE if free else LINE, min_size=0, max_size=30))
    core = unicodedata.normalize("NFC", f"甲{body}乙")
    mode = draw(MODES)
    if mode != "plain":
        core = _fit(core, limit + (mode == "over"))[:-1] + "乙"
    sent = core.replace("\n", draw(st.sampled_from(["\n", "\r\n", "\r"])))
    if draw(st.booleans()):
        sent = unicodedata.normalize("NFD", sent)
    return Typed(sent, None if mode == "over" else core)


@st.composite
def citizen_ids(draw: st.DrawFn, born: st.SearchStrategy[date], *, male: bool | None = None) -> Typed:
    """A valid GB 11643 number of any province, its check character right (X about one time in
    three, sometimes typed as "x"), its sequence odd for a man and even for a woman."""
    address = draw(st.sampled_from(PROVINCES)) + f"{next(_addresses) % 10000:04d}"
    birth = draw(born)
    want_x = draw(st.integers(0, 2)) == 0
    first = draw(st.integers(0, 999))
    for step in range(1000):
        sequence = (first + step) % 1000
        if male is not None and sequence % 2 != (1 if male else 0):
            continue
        value = make_citizen_id(address, birth, sequence)
        if value.endswith("X") == want_x:
            break
    sent = value[:-1] + "x" if value.endswith("X") and draw(st.booleans()) else value
    return Typed(sent, value)


def dates(low: date, high: date) -> st.SearchStrategy[date]:
    """Days from `low` to `high`, their ends and the 29 Februaries between drawn often."""
    leap_days = [date(y, 2, 29) for y in range(low.year, high.year + 1)
                 if y % 4 == 0 and (y % 100 or y % 400 == 0) and low <= date(y, 2, 29) <= high]
    return st.one_of(st.sampled_from([low, high, *leap_days[:3], *leap_days[-3:]]), st.dates(low, high))


def day_before(day: date) -> date:
    return day - timedelta(days=1)


def day_after(day: date) -> date:
    return day + timedelta(days=1)


def reached(birth: date, years: int) -> date:
    """The day a person born on `birth` reaches `years` of age: the birthday itself; 29 February
    falls on 28 February in a common year (民法典 第二百零二条: no corresponding day, the month's last)."""
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:
        return date(birth.year + years, 2, 28)


def wire_date(day: date | tuple[int, int, int]) -> dict[str, int]:
    year, month, d = (day.year, day.month, day.day) if isinstance(day, date) else day
    return {"year": year, "month": month, "day": d}
