"""`tongban audit verify`, `replay` and `case` find the disability store through the catalogue:
its log verifies, its read models (work queues, entitlements) rebuild from the log to the same
rows, and an application's trail lists its events and its stage deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from services.common.audit.datadir import store_path
from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.store import EventStore, sqlite_url
from services.disability import bootstrap
from services.disability.application import handlers
from services.disability.domain.commands import ApproveApplication, CompleteStage, ReceiveApplication
from services.disability.domain.values import Stage
from services.host import Infrastructure
from tests.integration.disability.decisions import grant_everything
from tests.integration.test_audit_helpers import run
from tests.unit.disability.people import NO_EXCLUSIONS, citizen

WINDOW = Actor("clerk", "w-1", "640104-DPO-01", "640000", "window")


def _dataset(data: Path) -> str:
    path = store_path(data, "640000", "disability")
    path.parent.mkdir(parents=True)
    store = EventStore.open(sqlite_url(path), region="640000", service="disability",
                            clock=FakeClock(datetime(2026, 3, 9, 2, 0, tzinfo=UTC)),
                            tables=bootstrap.definition().tables)
    try:
        service = bootstrap.bootstrap(Infrastructure.over(store))
        deps = service.deps
        who = citizen()
        case_id = handlers.receive(deps, ReceiveApplication(
            who, "马小红", "640104", f"{who}41", date(2030, 6, 30), "dibao", NO_EXCLUSIONS, "6222021234567890123",
            True, True), WINDOW)
        for stage in (Stage.TOWNSHIP_REVIEW, Stage.CERTIFICATE_CHECK):
            handlers.complete_stage(deps, CompleteStage(case_id, stage, ""), WINDOW)
        grant_everything(service, case_id)
        handlers.approve(deps, ApproveApplication(case_id, "dibao"), WINDOW)
        handlers.receive(deps, ReceiveApplication(
            (other := citizen()), "马大海", "640104", f"{other}52", date(2030, 6, 30), "none", NO_EXCLUSIONS,
            "6222021234567890124", False, True), WINDOW)
        return case_id
    finally:
        store.close()


def test_audit_verifies_replays_and_traces_the_disability_store(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    case_id = _dataset(tmp_path)
    code, out, _ = run(capsys, "verify", "--data", tmp_path, "--no-checkpoints")
    assert code == 0 and "intact 640000/disability" in out
    code, out, _ = run(capsys, "replay", "--data", tmp_path)
    assert code == 0, out
    assert "identical 640000/disability disability.read_models" in out
    assert "disability_entitlements 2 rows" in out and "disability_cases 2 rows" in out
    code, out, _ = run(capsys, "case", case_id, "--data", tmp_path, "--auditor", "A-1", "--reason", "test")
    assert code == 0
    assert "tongban.disability.v1.EntitlementGranted" in out and f"deadline-{case_id}-approval" in out
