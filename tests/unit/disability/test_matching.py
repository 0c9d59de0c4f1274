"""Data matching (国发〔2015〕52号 三(四), regular matching with public security, 特困 and work-injury
records): a finding stops the affected entitlements from the month after, with its source; an
application still under review is refused; a 户籍 move within the province changes nothing."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.errors import InvalidArgument
from services.disability.domain import events as ev
from services.disability.domain.commands import RecordDataMatch
from services.disability.domain.matching import Finding, FindingKind, act_on_finding
from services.disability.domain.settings import NINGXIA
from services.disability.domain.values import ApplicationState
from tests.unit.disability.people import citizen, folded, received
from tests.unit.disability.test_flow_and_months import _approved


def _finding(kind: FindingKind, moved_to: str = "") -> Finding:
    return Finding(kind, "640104197005060012", date(2026, 6, 30), "公安 记录 2026-0042", moved_to)


def test_a_death_record_stops_both_subsidies_from_the_month_after_with_its_source() -> None:
    app = _approved()
    events = act_on_finding(app, _finding(FindingKind.DEATH), found_on=date(2026, 7, 3), region="640000",
                            settings=NINGXIA)
    stops = [e for e in events if isinstance(e, ev.EntitlementStopped)]
    assert [(s.subsidy, s.stop_month, s.reason, s.source) for s in stops] == [
        ("living", "2026-07", "death", "death: 公安 记录 2026-0042"),
        ("nursing", "2026-07", "death", "death: 公安 记录 2026-0042")]
    assert [e.subsidy for e in events if isinstance(e, ev.SubsidyClaimReleased)] == ["living", "nursing"]


def test_a_hukou_move_out_of_the_province_stops_a_move_within_it_does_not() -> None:
    app = _approved()
    assert act_on_finding(app, _finding(FindingKind.HUKOU_MOVE, "640205"), found_on=date(2026, 7, 3),
                          region="640000", settings=NINGXIA) == []
    moved = act_on_finding(app, _finding(FindingKind.HUKOU_MOVE, "510802"), found_on=date(2026, 7, 3),
                           region="640000", settings=NINGXIA)
    assert {e.reason for e in moved if isinstance(e, ev.EntitlementStopped)} == {"moved_out"}


def test_tekun_enrolment_and_work_injury_allowance_stop_both_52hao_2_4() -> None:
    for kind, reason in ((FindingKind.TEKUN_ENROLMENT, "tekun_support"),
                         (FindingKind.WORK_INJURY_ALLOWANCE, "work_injury_nursing")):
        events = act_on_finding(_approved(), _finding(kind), found_on=date(2026, 7, 3), region="640000",
                                settings=NINGXIA)
        assert [e.reason for e in events if isinstance(e, ev.EntitlementStopped)] == [reason, reason]


def test_an_application_under_review_is_refused_with_the_finding_as_reason() -> None:
    app = folded(received())
    app = app.applied(act_on_finding(app, _finding(FindingKind.DEATH), found_on=date(2026, 7, 3), region="640000",
                                     settings=NINGXIA))
    assert app.state is ApplicationState.REFUSED and app.refusal is not None
    assert (app.refusal.rule, app.refusal.reason) == ("DataMatchFinding", "death: 公安 记录 2026-0042")


def test_leaving_dibao_stops_the_living_subsidy_only_from_the_month_after() -> None:
    events = act_on_finding(_approved(), _finding(FindingKind.DIBAO_ENDED), found_on=date(2026, 7, 3),
                            region="640000", settings=NINGXIA)
    assert [(e.subsidy, e.stop_month, e.reason) for e in events if isinstance(e, ev.EntitlementStopped)] == [
        ("living", "2026-07", "left_dibao")]
    assert act_on_finding(folded(received()), _finding(FindingKind.DIBAO_ENDED), found_on=date(2026, 7, 3),
                          region="640000", settings=NINGXIA) == [], "under review: the county checks at approval"


def test_a_finding_dated_before_the_persons_birth_is_refused_naming_effective_on_issue_11() -> None:
    """A death "found" in 1900 for a person born in 1970 (the citizen ID says so) is a typing slip:
    INVALID_ARGUMENT on effective_on, not a stop in a month before any subsidy could start."""
    person = citizen(born=date(1970, 5, 6))

    def match(on: date) -> RecordDataMatch:
        return RecordDataMatch("death", person, on, "公安 死亡登记 2026-0042", "")

    assert match(date(1970, 5, 6)).validated(date(2026, 7, 3)).effective_on == date(1970, 5, 6)
    with pytest.raises(InvalidArgument) as raised:
        match(date(1970, 5, 5)).validated(date(2026, 7, 3))
    assert [v.field for v in raised.value.violations] == ["effective_on"]
