"""申请: the events that open a 低保 case — the application and one event per member."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.relief.domain import events as ev
from services.relief.domain.household import Member
from services.relief.domain.settings import ReliefSettings


def apply_for_dibao(*, case_id: str, office_code: str, region: str, place: str, area: str, route: str,
                    applicant_citizen_id: str, received_on: date, special: bool, unstable_income: bool,
                    members: list[Member], settings: ReliefSettings, bank_account: str = "") -> list[Any]:
    """申请: the application and one event per member; flagged when a member is on the region's
    staff/cadre relatives list (filed separately: the county visits)."""
    flagged = any(m.citizen_id in settings.staff_and_cadre_relatives for m in members)
    received: list[Any] = [ev.DibaoApplicationReceived(
        case_id=case_id, office_code=office_code, region=region, place=place, area=area, route=route,
        applicant_citizen_id=applicant_citizen_id, received_on=received_on, special=special,
        unstable_income=unstable_income, relatives_flagged=flagged, household_size=len(members),
        bank_account=bank_account)]
    return received + [ev.HouseholdMemberDeclared(
        case_id=case_id, citizen_id=m.citizen_id, name=m.name, relation=m.relation, hukou_region=m.hukou_region,
        residence_permit_region=m.residence_permit_region, earned_income_fen=m.earned_income_fen,
        other_income_fen=m.other_income_fen, disability_subsidy_fen=m.disability_subsidy_fen,
        assets_fen=m.assets_fen) for m in members]
