"""The working-day calendar as data a region records (domain rules, "The calendar is published
yearly"; 国务院办公厅 放假安排), on SQLite and PostgreSQL: a notice recorded as a versioned event,
the calendar in force read from the store, and a divorce period computed on the provisional 2027
recomputed when the notice arrives (民法典 第1077条, 第二百零三条), its deadline firing on the new
day — later or earlier than the provisional one.

The notices below are test fixtures, not the real 2027 notice (not yet published): each makes a
chosen day a holiday or a make-up working day so the rule can be seen at work."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from services.cli import main
from services.common.calendars import (
    CalendarInForce,
    YearNotice,
    calendar_stream_id,
    parse_notice,
    published_years,
    record_notice,
)
from services.common.clock import FakeClock
from services.common.deadlines import CANCELLED, DeadlineScheduler, deadline_stream_id
from services.common.events import Actor
from services.common.kit import Provenance
from services.common.store import EventStore
from services.host import Infrastructure
from services.marriage.application import queries
from services.marriage.bootstrap import MarriageService, bootstrap
from services.marriage.domain.divorce import Divorce
from services.marriage.domain.values import start_of_china_day
from tests.unit.marriage.people import couple
from tests.unit.marriage.test_application import _receive_divorce, china, register_married

REGION = "640000"
ONE_MICROSECOND = timedelta(microseconds=1)


def notice(*, number: str = "TEST 国办发明电〔2026〕0号", holidays: tuple[str, ...] = ("2027-01-01",),
           make_up: tuple[str, ...] = (), provisional: bool = False) -> YearNotice:
    return parse_notice({"year": 2027, "notice_number": "" if provisional else number, "provisional": provisional,
                         "holidays": list(holidays), "make_up_working_days": list(make_up)})


def record(store: EventStore, clock: FakeClock, year_notice: YearNotice) -> None:
    provenance = Provenance.of_command(Actor.system(REGION, "calendar-import"), "", clock.now())
    record_notice(store, REGION, year_notice, provenance)


@pytest.fixture
def service(store: EventStore) -> MarriageService:
    return bootstrap(Infrastructure.over(store))


def divorce(service: MarriageService, case_id: str) -> Divorce:
    case = queries.get_case(service.deps, case_id).case
    assert isinstance(case, Divorce)
    return case


def test_a_notice_is_a_recorded_event_and_version_2_replaces_version_1(store: EventStore, clock: FakeClock) -> None:
    in_force = CalendarInForce(store)
    assert not in_force().is_official(date(2027, 2, 8)) and in_force().source_of(2027) == "provisional"

    record(store, clock, notice(holidays=("2027-01-01", "2027-02-08"), provisional=True))
    assert not in_force().is_working_day(date(2027, 2, 8)), "refreshed on append"
    assert not in_force().is_official(date(2027, 2, 8)), "a provisional estimate does not make the year official"

    record(store, clock, notice(holidays=("2027-01-01", "2027-02-09"), make_up=("2027-02-13",)))
    history = store.read_stream(calendar_stream_id(REGION))
    assert [e.type for e in history] == ["tongban.common.v1.CalendarYearPublished"] * 2
    versions = published_years(history)[2027]
    assert [v.provisional for v in versions] == [True, False]
    assert versions[-1].label == "TEST 国办发明电〔2026〕0号 v2"
    calendar = CalendarInForce(store)()  # a fresh reader folds the same stream
    assert calendar.is_working_day(date(2027, 2, 8)) and not calendar.is_working_day(date(2027, 2, 9))
    assert calendar.is_working_day(date(2027, 2, 13)) and calendar.is_official(date(2027, 2, 13))
    assert calendar.source_of(2027) == "TEST 国办发明电〔2026〕0号 v2"


def test_a_divorce_received_in_december_2026_moves_its_cooling_off_end_when_the_notice_makes_it_a_holiday_民法典_203(
        service: MarriageService, store: EventStore, clock: FakeClock) -> None:
    """Received Monday 2026-12-07: thirty days end Wednesday 2027-01-06 on the provisional rule. The
    notice makes 6 January a holiday, so the cooling-off runs to the 7th (第二百零三条): the pending
    deadline moves, and fires on the day the case now reports, not on the provisional one."""
    scheduler = DeadlineScheduler(store, clock, service.deadline_handlers, name="test")
    people = couple()
    clock.set(china(2026, 12, 7, 10))
    case_id = _receive_divorce(service, register_married(service, people), people)
    before = divorce(service, case_id)
    assert (before.cooling_off_last_day, before.provisional_calendar) == (date(2027, 1, 6), True)

    clock.set(china(2026, 12, 15, 16))
    record(store, clock, notice(holidays=("2027-01-01", "2027-01-06")))
    assert len(scheduler.fire_due()) == 1, "the notice's recomputation fires at once"
    after = divorce(service, case_id)
    assert after.cooling_off_last_day == date(2027, 1, 7) and not after.provisional_calendar
    assert after.due_on is not None and after.pending_deadline_id != before.pending_deadline_id
    assert store.read_stream(deadline_stream_id(before.pending_deadline_id))[-1].type.endswith("DeadlineCancelled")

    assert before.due_on is not None
    clock.set(start_of_china_day(before.due_on))
    assert scheduler.fire_due() == [], "the provisional day has passed: nothing fires"
    clock.set(start_of_china_day(after.due_on) - ONE_MICROSECOND)
    assert scheduler.fire_due() == []
    clock.set(start_of_china_day(after.due_on))
    assert [d.deadline_id for d in scheduler.fire_due()] == [after.pending_deadline_id]
    assert divorce(service, case_id).state.value == "awaiting_certificate_request"  # type: ignore[union-attr]


def test_an_end_the_notice_moves_earlier_fires_on_the_earlier_day_民法典_203(
        service: MarriageService, store: EventStore, clock: FakeClock) -> None:
    """Received Friday 2026-12-04: thirty days end Sunday 2027-01-03, a rest day, so the provisional
    end is Monday the 4th. A notice declaring that Sunday a make-up working day (调休) ends the
    cooling-off on the Sunday: the deadline must fire then, not a day late."""
    scheduler = DeadlineScheduler(store, clock, service.deadline_handlers, name="test")
    people = couple()
    clock.set(china(2026, 12, 4, 10))
    case_id = _receive_divorce(service, register_married(service, people), people)
    before = divorce(service, case_id)
    assert before.cooling_off_last_day == date(2027, 1, 4)

    clock.set(china(2026, 12, 20, 9))
    record(store, clock, notice(make_up=("2027-01-03",)))
    scheduler.fire_due()
    after = divorce(service, case_id)
    assert after.cooling_off_last_day == date(2027, 1, 3)
    assert after.due_on is not None and before.due_on is not None and after.due_on < before.due_on
    clock.set(start_of_china_day(after.due_on))
    assert [d.deadline_id for d in scheduler.fire_due()] == [after.pending_deadline_id]
    assert divorce(service, case_id).state.value == "awaiting_certificate_request"  # type: ignore[union-attr]
    assert store.read_stream(deadline_stream_id(before.pending_deadline_id))[-1].type.endswith("DeadlineCancelled")


def test_a_notice_that_changes_nothing_for_a_case_leaves_its_deadline_alone(
        service: MarriageService, store: EventStore, clock: FakeClock) -> None:
    scheduler = DeadlineScheduler(store, clock, service.deadline_handlers, name="test")
    people = couple()
    clock.set(china(2026, 12, 7, 10))
    case_id = _receive_divorce(service, register_married(service, people), people)
    before = divorce(service, case_id)
    record(store, clock, notice(holidays=("2027-01-01", "2027-02-08")))
    scheduler.fire_due()
    after = divorce(service, case_id)
    assert (after.pending_deadline_id, after.due_on, after.version) == (
        before.pending_deadline_id, before.due_on, before.version)
    assert CANCELLED not in {e.type for e in store.read_stream(deadline_stream_id(before.pending_deadline_id))}


def test_the_cli_imports_a_notice_file_and_refuses_an_invalid_one(
        store_url: str, store: EventStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"year": 2027, "notice_number": "N", "holidays": ["2027-01-01"], '
                   '"make_up_working_days": ["2027-01-01"]}')
    assert main(["calendar", "import", "--db", store_url, "--region", REGION, str(bad)]) == 2
    assert "both a holiday and a make-up working day: 2027-01-01" in capsys.readouterr().err
    assert store.read_stream(calendar_stream_id(REGION)) == []

    shipped = Path(__file__).parents[2] / "services/common/calendars/2027-provisional.json"
    assert main(["calendar", "import", "--db", store_url, "--region", REGION, str(shipped)]) == 0
    assert "2027 (PROVISIONAL estimate) as version 1" in capsys.readouterr().out
    calendar = CalendarInForce(store)()
    assert not calendar.is_working_day(date(2027, 2, 5)) and not calendar.is_official(date(2027, 2, 5))
    assert calendar.source_of(2027).startswith("provisional: ")
