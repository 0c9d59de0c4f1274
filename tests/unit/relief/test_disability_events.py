"""Relief and the disability service's events (国发〔2015〕52号 二(四): 残疾人两项补贴不计入低保家庭收入):
a grant, stop or resumption of a disability subsidy is no income, so relief acts on none of them —
and the household's amount, counted from the members' incomes, is the same with the subsidy
recorded as without it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from services.common.events import Actor, RecordedEvent, TraceContext
from services.relief.application.reactions_disability import (
    COUNTS_AS_INCOME,
    when_a_disability_subsidy_changes_leave_the_income_alone,
)
from services.relief.domain.household import allowance
from tests.unit.relief.people import member

NOW = datetime(2026, 4, 1, tzinfo=UTC)


def _event(event_type: str) -> RecordedEvent:
    return RecordedEvent(event_id="e-1", stream_id="disability-640000-0000000000000001",
                         stream_type="disability.Application", version=7, type=event_type, schema_version=1,
                         payload=b"", occurred_at=NOW, recorded_at=NOW, region="640000", service="disability",
                         actor=Actor.system("640000", "disability"), correlation_id="c", causation_id="",
                         trace=TraceContext(), prev_hash=b"", hash=b"", position=1, global_hash=b"")


def test_no_disability_subsidy_event_is_taken_as_income_52hao_2_4() -> None:
    reaction = when_a_disability_subsidy_changes_leave_the_income_alone()
    assert reaction.event_types == frozenset(COUNTS_AS_INCOME)
    assert {t.rsplit(".", 1)[-1] for t in reaction.event_types} == {
        "EntitlementGranted", "EntitlementStopped", "EntitlementResumed"}
    assert reaction.wants is not None
    assert not any(reaction.wants(_event(t)) for t in reaction.event_types)  # no inbox row, no effect


def test_a_disability_subsidy_leaves_the_household_amount_unchanged_52hao_2_4() -> None:
    household = [member("self", earned=50_000), member("spouse")]
    with_subsidy = [household[0], replace(household[1], disability_subsidy_fen=10_000 + 10_000)]
    assert allowance(with_subsidy, 62_000).monthly_amount_fen == allowance(household, 62_000).monthly_amount_fen \
        == 62_000 * 2 - 50_000
