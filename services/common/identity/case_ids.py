"""Case ids: "<kind>-<region>-<16 hex digits>", minted by the region that opens the case. The region
is part of the id so that any office can tell which region's records hold a case (a reissue asked
anywhere, a window asked about another region's case) without asking anyone."""

from __future__ import annotations

import re
import uuid

_CASE_ID = re.compile(r"^([a-z][a-z-]*?)-(\d{6})-")


def new_case_id(kind: str, region: str) -> str:
    return f"{kind}-{region}-{uuid.uuid4().hex[:16]}"


def region_of_case(case_id: str, *, kinds: frozenset[str] | None = None) -> str:
    """The region a case id names ("" if it names none, or is not of one of `kinds`)."""
    match = _CASE_ID.match(case_id)
    if match is None or (kinds is not None and match.group(1) not in kinds):
        return ""
    return match.group(2)
