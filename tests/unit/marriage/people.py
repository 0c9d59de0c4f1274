"""People, offices and clerks for the marriage tests: valid citizen IDs with a chosen sex and birth
date, fresh for every call so tests never share a person (the registry is national)."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import date

from services.common.events import Actor
from services.common.identity.citizen_id import make_citizen_id
from services.marriage.domain.values import DivorceAgreement, MarriageDeclaration

NINGXIA = "640000"
SICHUAN = "510000"
YINCHUAN_OFFICE = "640104-MRO-01"  # 兴庆区婚姻登记处
YINCHUAN_OFFICE_2 = "640100-MRO-02"
GUANGYUAN_OFFICE = "510802-MRO-01"  # 利州区婚姻登记处

DECLARED = MarriageDeclaration(consents=True, no_spouse=True, no_prohibited_kinship=True, appears_in_person=True)
AGREEMENT = DivorceAgreement(
    signed_by_both=True, intention="双方自愿离婚", children_arrangement="无子女",
    property_arrangement="各自名下财产归各自所有", debt_arrangement="无共同债务", document_sha256="",
)

# Sequence codes drawn without repeats across the whole test session; the address code and birth
# date vary too, so IDs stay unique even across test processes sharing a broker.
_sequences = itertools.count(random.randrange(0, 400) * 2 + 1, 2)


def citizen(sex: str, born: date, address: str = "640104") -> str:
    """A valid GB 11643 ID: odd sequence codes are men, even ones women."""
    base = next(_sequences) % 998
    sequence = base if sex == "male" else base + 1
    address = address[:4] + f"{random.randrange(1, 99):02d}"
    return make_citizen_id(address, born, sequence)


def man(born: date = date(1995, 3, 14), address: str = "640104") -> str:
    return citizen("male", born, address)


def woman(born: date = date(1997, 8, 2), address: str = "640104") -> str:
    return citizen("female", born, address)


def clerk(office: str = YINCHUAN_OFFICE, region: str = NINGXIA, role: str = "registrar",
          clerk_id: str = "clerk-07") -> Actor:
    return Actor(kind="clerk", clerk_id=clerk_id, office_code=office, region=region, role=role)


@dataclass(frozen=True)
class Couple:
    husband: str
    wife: str


def couple(address: str = "640104") -> Couple:
    return Couple(man(address=address), woman(address=address))
