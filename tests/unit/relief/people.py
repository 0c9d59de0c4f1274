"""Households, offices and clerks for the relief tests: valid citizen IDs, fresh for every call."""

from __future__ import annotations

import itertools
import random
from datetime import date

from services.common.events import Actor
from services.common.identity.citizen_id import make_citizen_id
from services.relief.domain.household import Member

NINGXIA, SICHUAN, SHAANXI = "640000", "510000", "610000"
XINGQING = "640104"  # 兴庆区, 银川
LIZHOU = "510802"  # 利州区, 广元
BAOJI = "610302"  # 渭滨区, 宝鸡
XINGQING_TOWNSHIP = "640104-MZ-01"
LIZHOU_TOWNSHIP = "510802-MZ-01"

ACCOUNT = "6228480012345678901"  # a payee account (digits only)

_sequences = itertools.count(random.randrange(0, 400) * 2 + 1, 2)


def citizen(born: date = date(1960, 5, 1), address: str = XINGQING) -> str:
    return make_citizen_id(address[:4] + f"{random.randrange(1, 99):02d}", born, next(_sequences) % 998)


def member(relation: str = "self", *, hukou: str = XINGQING, earned: int = 0, other: int = 0, subsidy: int = 0,
           born: date = date(1960, 5, 1), permit: str = "") -> Member:
    return Member(citizen(born), "王" + relation[:1].upper(), relation, hukou, permit, earned, other, subsidy, 0)


def clerk(office: str = XINGQING_TOWNSHIP, region: str = NINGXIA, clerk_id: str = "clerk-1",
          role: str = "relief") -> Actor:
    return Actor(kind="clerk", clerk_id=clerk_id, office_code=office, region=region, role=role)
