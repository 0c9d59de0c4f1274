"""Administration through the front door: a year's holiday notice (国务院办公厅 放假安排) recorded in
the region's calendar exactly as `tongban calendar import` records it (docs/calendar.md): the same
parsing and refusals, the next version of its year, and the recomputation of pending divorce
periods scheduled in the same transaction. Admin role only."""

from __future__ import annotations

import json
from dataclasses import dataclass

from services.common.calendars import (
    CalendarYearPublished,
    NoticeError,
    append_notice,
    calendar_stream_id,
    parse_notice,
)
from services.common.errors import InvalidArgument
from services.common.events import Actor
from services.common.kit import Provenance, Request
from services.marriage.application.unit import Deps
from services.marriage.domain.record_rules import CalendarAdministrator
from services.marriage.domain.rules import check
from tongban.common.v1 import calendar_pb2


@dataclass(frozen=True)
class ImportedNotice:
    """What was recorded: the notice and its version for its year, at `stream_version`."""

    recorded: CalendarYearPublished
    stream_id: str
    stream_version: int


def import_calendar_notice(deps: Deps, notice_json: str, actor: Actor, request: Request | None = None
                           ) -> ImportedNotice:
    check(CalendarAdministrator(actor.role, deps.settings.calendar_admin_roles))
    try:
        notice = parse_notice(json.loads(notice_json), source=f"ImportCalendarNotice by {actor.clerk_id or 'admin'}")
    except json.JSONDecodeError as error:
        raise InvalidArgument.single("notice_json", f"not JSON: {error}") from error
    except NoticeError as error:
        raise InvalidArgument.single("notice_json", str(error)) from error
    stream_id = calendar_stream_id(deps.region)
    provenance = Provenance.of_command(actor, stream_id, deps.clock.now())
    with deps.units.begin(provenance, request=request) as uow:
        # The answer names the stream version recorded: a retry reads that notice back.
        answer = uow.first_answer or uow.answer(
            f"{stream_id}@{append_notice(uow.tx, deps.region, notice, provenance).version}")
    stream_version = int(answer.rsplit("@", 1)[1])
    [event] = deps.store.read_stream(stream_id, after_version=stream_version - 1)[:1]
    message = calendar_pb2.CalendarYearPublished.FromString(event.payload)
    return ImportedNotice(CalendarYearPublished.from_message(message), stream_id, stream_version)
