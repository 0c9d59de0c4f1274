"""relief.HouseholdRead: a recorded read of a person's relief cases (architecture invariant 8:
every read of personal data is authorised by role and recorded). One event per stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from services.common.kit.aggregate import Aggregate
from services.relief.domain.events import HouseholdViewed
from services.relief.domain.rules import MayViewHousehold, check


def view_household(*, read_id: str, citizen_id: str, reason: str, role: str, allowed: frozenset[str],
                   cases_shown: int, today: date) -> list[Any]:
    check(MayViewHousehold(role, allowed, reason))
    return [HouseholdViewed(read_id=read_id, citizen_id=citizen_id, reason=reason.strip(), viewer_role=role,
                            cases_shown=cases_shown, viewed_on=today)]


@dataclass
class HouseholdRead(Aggregate):
    stream_type: ClassVar[str] = "relief.HouseholdRead"
    what: ClassVar[str] = "household read"

    citizen_id: str = ""

    def when(self, event: Any) -> None:
        if isinstance(event, HouseholdViewed):
            self.citizen_id = event.citizen_id
