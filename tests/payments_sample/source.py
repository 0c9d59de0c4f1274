"""A deterministic source of dues: `people` persons, each owed one subsidy every month from
`first_month`, in entitlement-id order (as a DueSource must give them)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from services.common.payments import Due

AMOUNT_FEN = 11_000  # 110 yuan, Ningxia's living subsidy


def citizen_id(n: int) -> str:
    """A made-up 18-character id (the run never checks it: the service did, on application)."""
    return f"640104199001{n:06d}"[:18]


def account(n: int) -> str:
    return f"6222020200{n:09d}"


@dataclass
class SampleSource:
    people: int
    benefit: str = "sample.living"
    first_month: str = "2000-01"
    stopped: set[int] = field(default_factory=set)  # persons whose entitlement stopped

    def due(self, month: str) -> Iterator[Due]:
        if month < self.first_month:
            return
        for n in range(self.people):
            if n in self.stopped:
                continue
            yield Due(entitlement_id=f"case-{n:07d}/living", case_id=f"case-{n:07d}", citizen_id=citizen_id(n),
                      name=f"person {n}", benefit=self.benefit, month=month, amount_fen=AMOUNT_FEN,
                      bank_account=account(n))
