"""The admin RPC that records a year's holiday notice (issue 12, item 2), through a real gRPC server
on loopback: the same notice file `tongban calendar import` reads, recorded as the next version of
its year; the calendar in force follows at once (民法典 第二百零三条: periods end on a working day).
Admin only; a bad notice is refused naming the field and value, and nothing is recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import grpc
import pytest

from services.common.calendars import CalendarInForce, calendar_stream_id
from tests.integration.marriage_front_door import FrontDoor, front_door
from tests.unit.marriage.people import NINGXIA, clerk
from tongban.marriage.v1 import marriage_service_pb2 as api

ADMIN = clerk(role="admin", clerk_id="admin-01")
NOTICE_2027 = {
    "year": 2027, "notice_number": "国办发明电〔2026〕7号", "source": "test transcription",
    "holidays": ["2027-01-01", "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09",
                 "2027-02-10", "2027-02-11"],
    "make_up_working_days": ["2027-02-13"],
}


@pytest.fixture
def door(tmp_path: Path) -> Iterator[FrontDoor]:
    with front_door(tmp_path) as opened:
        yield opened


def _import(notice: dict[str, object], request_id: str = "") -> api.ImportCalendarNoticeRequest:
    return api.ImportCalendarNoticeRequest(notice_json=json.dumps(notice, ensure_ascii=False), request_id=request_id)


def test_an_admin_records_the_2027_notice_and_it_is_the_calendar_in_force_民法典_203(door: FrontDoor) -> None:
    calendar = CalendarInForce(door.store)
    assert not calendar().is_official(date(2027, 2, 13))
    answer = door.call("ImportCalendarNotice", _import(NOTICE_2027, "a1c0e7de-2027-notice"), ADMIN)
    assert (answer.year, answer.version, answer.provisional) == (2027, 1, False)
    assert (answer.holidays, answer.make_up_working_days) == (8, 1)
    assert answer.stream_id == calendar_stream_id(NINGXIA)
    in_force = calendar()
    assert in_force.is_official(date(2027, 2, 13)) and "国办发明电〔2026〕7号" in in_force.source_of(2027)
    assert in_force.is_working_day(date(2027, 2, 13)), "the make-up Saturday is a working day"
    assert not in_force.is_working_day(date(2027, 2, 11))

    head = door.store.head()
    again = door.call("ImportCalendarNotice", _import(NOTICE_2027, "a1c0e7de-2027-notice"), ADMIN)
    assert again == answer and door.store.head() == head, "a retry returns the first answer, records nothing"
    corrected = door.call("ImportCalendarNotice", _import(NOTICE_2027, "b2d1f8ef-2027-notice"), ADMIN)
    assert corrected.version == 2, "a new import is the next version of its year"


def test_only_an_admin_may_record_a_notice(door: FrontDoor) -> None:
    head = door.store.head()
    refused = door.refusal("ImportCalendarNotice", _import(NOTICE_2027))  # a registrar at the window
    assert (refused.code, refused.rule) == (grpc.StatusCode.PERMISSION_DENIED, "CalendarAdministrator")
    assert door.store.head() == head


def test_a_notice_that_cannot_be_recorded_is_refused_naming_the_field_and_value(door: FrontDoor) -> None:
    head = door.store.head()
    outside = {**NOTICE_2027, "make_up_working_days": ["2026-12-31"]}
    refused = door.refusal("ImportCalendarNotice", _import(outside), ADMIN)
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in refused.field_violations] == ["notice_json"]
    assert "2026-12-31 is not in 2027" in refused.field_violations[0].description
    unnumbered = {k: v for k, v in NOTICE_2027.items() if k != "notice_number"}
    missing = door.refusal("ImportCalendarNotice", _import(unnumbered), ADMIN)
    assert "notice_number" in missing.field_violations[0].description
    assert door.store.head() == head, "nothing recorded"
