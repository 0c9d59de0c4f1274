"""Applicants, certificates and offices for the disability tests: valid citizen IDs, fresh for
every call so tests never share a person (the registry is national)."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import date
from typing import Any

from services.common.identity.citizen_id import make_citizen_id
from services.common.working_days import NATIONAL
from services.disability.domain.application import Application, receive_application
from services.disability.domain.settings import NINGXIA, RegionalSettings
from services.disability.domain.values import Applicant, Certificate, Circumstances, HouseholdStatus

NINGXIA_REGION = "640000"
YINCHUAN_REGION = "640100"
XINGQING_WINDOW = "640104-DPO-01"  # 兴庆区 township window
COUNTY_CDPF = "640104-CDPF"  # 兴庆区残联
COUNTY_CIVIL_AFFAIRS = "640104-MZJ"
ACCOUNT = "6222 0212 3456 7890 123"

NO_EXCLUSIONS = Circumstances(in_tekun_support=False, work_injury_nursing_allowance=False,
                              orphan_or_unsupported_child=False, similar_subsidy_fen=0, long_term_care_months=12)

_sequences = itertools.count(random.randrange(0, 400) * 2 + 1, 2)


def citizen(address: str = "640104", born: date = date(1970, 5, 6)) -> str:
    return make_citizen_id(address[:4] + f"{random.randrange(1, 99):02d}", born, next(_sequences) % 998)


def certificate(citizen_id: str, category: int = 4, grade: int = 1,
                valid_until: date = date(2030, 6, 30)) -> Certificate:
    return Certificate(f"{citizen_id}{category}{grade}", category, grade, valid_until)


def received(*, on: date = date(2026, 3, 10), category: int = 4, grade: int = 1,
             household: HouseholdStatus = HouseholdStatus.DIBAO, circumstances: Circumstances = NO_EXCLUSIONS,
             living: bool = True, nursing: bool = True, settings: RegionalSettings = NINGXIA,
             valid_until: date = date(2030, 6, 30), region: str = NINGXIA_REGION, **changes: Any) -> list[Any]:
    """The events of an application received at a Xingqing window on `on`."""
    who = citizen()
    return receive_application(
        case_id="disability-640000-0000000000000001", office_code=XINGQING_WINDOW, region=region,
        received_on=on, applicant=Applicant(who, "马小红", "640104"),
        certificate=certificate(who, category, grade, valid_until), household=household,
        household_source="declared", circumstances=replace(circumstances, **changes),
        bank_account=ACCOUNT.replace(" ", ""),
        living=living, nursing=nursing, settings=settings, calendar=NATIONAL)


def folded(events: list[Any]) -> Application:
    return Application().applied(events)
