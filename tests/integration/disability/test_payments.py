"""The payment source over the entitlements read model (the payment contract's `DueSource`): from
the month of application, months before the approval back-paid in the approval's run, stopped
from the month after the event, in a stable order (国发〔2015〕52号 三)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.store import EventStore, sqlite_url
from services.disability import bootstrap
from services.disability.application import handlers
from services.disability.application.payments import DisabilityDueSource
from services.disability.domain.commands import ApproveApplication, CompleteStage, StopEntitlement
from services.disability.domain.values import Stage
from services.host import Infrastructure
from tests.integration.disability.decisions import grant_everything
from tests.integration.disability.test_domestic_flow import _application

WINDOW = Actor("clerk", "w-1", "640104-DPO-01", "640000", "window")
COUNTY = Actor("clerk", "m-1", "640104-MZJ", "640000", "approver")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[bootstrap.DisabilityService]:
    store = EventStore.open(sqlite_url(tmp_path / "disability.db"), region="640000", service="disability",
                            clock=FakeClock(datetime(2026, 1, 20, 2, 0, tzinfo=UTC)),
                            tables=bootstrap.definition().tables)
    try:
        yield bootstrap.bootstrap(Infrastructure.over(store))
    finally:
        store.close()


def _approved(service: bootstrap.DisabilityService, **changes: object) -> str:
    deps = service.deps
    case_id = handlers.receive(deps, _application(**changes), WINDOW)
    for stage in (Stage.TOWNSHIP_REVIEW, Stage.CERTIFICATE_CHECK):
        handlers.complete_stage(deps, CompleteStage(case_id, stage, ""), WINDOW)
    grant_everything(service, case_id)
    return case_id


def test_due_from_the_month_of_application_with_back_pay_and_stops_52hao_3(
        service: bootstrap.DisabilityService) -> None:
    deps, source = service.deps, DisabilityDueSource(service.deps.store)
    clock = deps.clock
    assert isinstance(clock, FakeClock)
    case_id = _approved(service)  # applied on 2026-01-20
    assert list(source.due("2026-01")) == [], "nothing is owed before the approval"
    clock.advance(timedelta(days=44))  # 2026-03-05
    handlers.approve(deps, ApproveApplication(case_id, "dibao"), COUNTY)
    march = [(d.entitlement_id.removeprefix(case_id), d.benefit, d.month, d.amount_fen) for d in source.due("2026-03")]
    assert march == [("/living", "disability.living", "2026-01", 11_000),
                     ("/living", "disability.living", "2026-02", 11_000),
                     ("/living", "disability.living", "2026-03", 11_000),
                     ("/nursing", "disability.nursing", "2026-01", 12_000),
                     ("/nursing", "disability.nursing", "2026-02", 12_000),
                     ("/nursing", "disability.nursing", "2026-03", 12_000)]
    assert {d.bank_account for d in source.due("2026-03")} == {"6222021234567890123"}
    assert [d.month for d in source.due("2026-05")] == ["2026-05", "2026-05"], "no back-pay once it was offered"
    clock.advance(timedelta(days=60))  # 2026-05-04
    handlers.stop(deps, StopEntitlement(case_id, "nursing", "death", date(2026, 4, 28), "public security record"),
                  COUNTY)
    april = [(d.benefit, d.month) for d in source.due("2026-04")]
    assert ("disability.nursing", "2026-04") in april, "the month of death is still paid"
    assert ("disability.living", "2026-01") in april, \
        "April's run offers March's back-pay again (approved after March's run?); the run pays it once"
    assert [(d.benefit, d.month) for d in source.due("2026-05")] == [("disability.living", "2026-05")]
    with pytest.raises(ValueError):
        list(source.due("2026-5"))
