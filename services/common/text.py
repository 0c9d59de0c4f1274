"""Text as the system accepts it: normalised, bounded, and free of characters that hide or
rearrange what a reader sees (architecture invariant 7: bad input never reaches the store).

`clean(value, kind, max_length)` returns the text to keep (NFC; a name's middle dot canonical; a
free text's line breaks "\\n"; a code without the spaces around it) and what is wrong with it, as
descriptions for field violations. Pure: no protobuf, no I/O. The gRPC seam applies it to every
string of every request by the field's declared kind (`tongban.common.v1.rules`, hygiene.py).

In every kind: no C0 or C1 control, no DEL, no format character (bidirectional controls such as
U+202E, zero-width characters such as U+200B and U+FEFF, soft hyphen), no line or paragraph
separator, no surrogate, no noncharacter. Then per kind:
- LINE: anything else (Chinese text, punctuation, full-width and no-break spaces);
- FREE_TEXT: also "\\n" and "\\t" ("\\r\\n" and a lone "\\r" become "\\n");
- NAME: CJK ideographs of every extension (𠮷 U+20BB7 is Extension B) and 〇, Latin letters with
  their diacritics (pinyin ü), spaces, and the middle dot of transcribed names (阿依古丽·买买提),
  whose look-alikes are stored as U+00B7. No digits, no punctuation;
- CODE: ASCII letters, digits and "-", "_", ".", ":" (ids, codes, tokens, type names).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from typing import Final


class TextKind(enum.Enum):
    LINE = "line"
    FREE_TEXT = "free_text"
    NAME = "name"
    CODE = "code"


DEFAULT_MAX_LENGTH: Final = {TextKind.LINE: 256, TextKind.FREE_TEXT: 2000, TextKind.NAME: 100, TextKind.CODE: 128}

MIDDLE_DOT: Final = "\u00b7"
# What people type for the dot of 阿依古丽·买买提: katakana and half-width middle dots, bullet,
# hyphenation point, bullet and dot operators.
MIDDLE_DOT_VARIANTS: Final = "\u30fb\uff65\u2022\u2027\u2219\u22c5"
_TO_MIDDLE_DOT: Final = str.maketrans({variant: MIDDLE_DOT for variant in MIDDLE_DOT_VARIANTS})

BIDI_CONTROLS: Final = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
ZERO_WIDTH: Final = frozenset("\u200b\u200c\u200d\u2060\ufeff")

_CJK: Final = (
    "\u3007"  # 〇
    "\u3400-\u4dbf"  # Extension A
    "\u4e00-\u9fff"  # the unified ideographs
    "\uf900-\ufaff"  # compatibility ideographs (NFC maps most to unified ones)
    "\U00020000-\U0002a6df"  # Extension B
    "\U0002a700-\U0002ee5f"  # Extensions C, D, E, F, I
    "\U0002f800-\U0002fa1f"  # compatibility supplement
    "\U00030000-\U000323af"  # Extensions G, H
)
_LATIN: Final = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_NAME: Final = re.compile(f"[{_CJK}{_LATIN} {MIDDLE_DOT}]*")
_CODE: Final = re.compile(r"[A-Za-z0-9._:\-]*")


def clean(value: str, kind: TextKind, max_length: int | None = None) -> tuple[str, list[str]]:
    """The text to keep and what is wrong with it ([] when nothing is). Over-long text is not
    searched for bad characters: one problem is enough to refuse it."""
    limit = max_length or DEFAULT_MAX_LENGTH[kind]
    text = unicodedata.normalize("NFC", value)
    if kind is TextKind.FREE_TEXT:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    elif kind is TextKind.NAME:
        text = text.translate(_TO_MIDDLE_DOT)
    elif kind is TextKind.CODE:
        text = text.strip(" ")
    if len(text) > limit:
        return text, [f"at most {limit} characters (got {len(text)})"]
    problems = []
    hidden = _first_hidden(text, allowed="\n\t" if kind is TextKind.FREE_TEXT else "")
    if hidden is not None:
        problems.append(f"must not contain {describe(hidden)}")
    elif kind is TextKind.NAME and (bad := _first_outside(_NAME, text)) is not None:
        problems.append(
            f"a name holds only Chinese characters, Latin letters, spaces and the middle dot {MIDDLE_DOT}; "
            f"not {describe(bad)}"
        )
    elif kind is TextKind.CODE and (bad := _first_outside(_CODE, text)) is not None:
        problems.append(f"only ASCII letters, digits and '-', '_', '.', ':'; not {describe(bad)}")
    return text, problems


def describe(char: str) -> str:
    """A character named so a reader can find it: code point, name and why it is refused."""
    point = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "")
    label = f"{point} {name}" if name else point
    reason = _why_hidden(char)
    return f"{label} ({reason})" if reason else label


def _first_hidden(text: str, *, allowed: str) -> str | None:
    # isprintable() is False for every character refused here (and for some allowed ones, such as
    # U+3000 IDEOGRAPHIC SPACE), so the common case is one pass in C.
    if text.isprintable():
        return None
    for char in text:
        if char not in allowed and not char.isprintable() and _why_hidden(char):
            return char
    return None


def _why_hidden(char: str) -> str | None:
    if char in BIDI_CONTROLS:
        return "a bidirectional control"
    if char in ZERO_WIDTH:
        return "a zero-width character"
    category = unicodedata.category(char)
    if category == "Cc":
        return "a control character"
    if category == "Cf":
        return "an invisible format character"
    if category in ("Zl", "Zp"):
        return "a line or paragraph separator"
    if category == "Cs":
        return "a surrogate"
    point = ord(char)
    if 0xFDD0 <= point <= 0xFDEF or (point & 0xFFFE) == 0xFFFE:
        return "a noncharacter"
    return None


def _first_outside(allowed: re.Pattern[str], text: str) -> str | None:
    matched = allowed.match(text)
    end = matched.end() if matched else 0
    return text[end] if end < len(text) else None
