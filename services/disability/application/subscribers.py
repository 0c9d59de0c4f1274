"""What travels with the disability service's events, registered once on its units of work
(bootstrap.py) and run in the recording transaction — never called by a handler:

* each review stage's working-day limit as a deadline: scheduled when the stage starts, cancelled
  when the stage ends (completed, refused, approved); a deadline that fires first marks the stage
  overdue (reactions.py);
* the read models of every application touched."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.deadlines import cancel_deadline, schedule_deadline
from services.common.kit import Change, Subscribers, UnitOfWork
from services.disability.domain import events as ev
from services.disability.domain.application import Application
from services.disability.domain.values import end_of_china_day
from services.disability.projections.read_models import refresh

STAGE_DUE = "disability.stage_due"
STAGE_LIMIT_RULE = "国发〔2015〕52号 三 (regional working-day limits)"


def when_an_application_changes_keep_its_stage_deadline(uow: UnitOfWork, change: Change) -> None:
    before = change.before
    assert isinstance(before, Application) and isinstance(change.after, Application)
    pending = before.stage_deadline_id
    for event in change.events:
        match event:
            case ev.StageCompleted() | ev.ApplicationRefused() if pending:
                cancel_deadline(uow.tx, pending, type(event).__name__, provenance=change.provenance)
                pending = ""
            case ev.StageStarted():
                schedule_deadline(uow.tx, deadline_id=event.deadline_id, kind=STAGE_DUE,
                                  case_stream_id=change.stream_id, due_at=end_of_china_day(event.due_on),
                                  rule=STAGE_LIMIT_RULE, provenance=change.provenance)
                pending = event.deadline_id
            case _:
                pass


def when_applications_change_refresh_the_read_models(uow: UnitOfWork, changes: Sequence[Change]) -> None:
    latest = {c.stream_id: c.after for c in changes if isinstance(c.after, Application)}
    refresh(uow.tx, latest.values())


def disability_subscribers() -> Subscribers:
    return (Subscribers()
            .on(Application, when_an_application_changes_keep_its_stage_deadline)
            .on_commit(when_applications_change_refresh_the_read_models))
