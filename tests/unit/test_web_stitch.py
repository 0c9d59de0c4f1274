"""The console's cross-region timeline, stitched from the parts each region's services answered
(services/web/stitch.py), without a server: one recorded-at order across regions, the regions a
part names (hand-offs, 国办发〔2020〕35号 跨省通办), the case as it stood, and what was not visible."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from services.web.stitch import Part, case_region, jsonl, regions_named, stitch
from tongban.audit.v1 import audit_service_pb2 as apb
from tongban.common.v1 import types_pb2

CASE = "marriage-640000-0001"


def _at(minute: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime(2026, 5, 20, 9, minute, tzinfo=UTC))
    return stamp


def _event(minute: int, *, region: str, office: str, stream: str = CASE, version: int = 1, kind: str = "case",
           type_: str = "tongban.marriage.v1.ReissueRequested", payload: dict[str, object] | None = None,
           ) -> apb.TrailEvent:
    actor = types_pb2.Actor(kind=types_pb2.Actor.KIND_CLERK, clerk_id="c-1", office_code=office,
                            region=types_pb2.RegionCode(code=region), role="registrar")
    return apb.TrailEvent(event_id=f"e-{region}-{minute}", stream_id=stream, version=version, position=minute,
                          type=type_, kind=kind, recorded_at=_at(minute), occurred_at=_at(minute), actor=actor,
                          correlation_id=CASE, payload_json=json.dumps(payload or {}))


YINCHUAN = apb.GetCaseTrailResponse(region="640000", service="marriage", correlation_ids=[CASE], events=[
    _event(1, region="640000", office="640104-MRO-01", payload={"record_case_id": "marriage-510000-9"}),
    _event(3, region="640000", office="", stream="handoff-1", kind="handoff",
           type_="tongban.handoff.v1.HandoffSent", payload={"from_region": "640000", "to_region": "510000"}),
    _event(9, region="640000", office="640104-MRO-01", version=2, type_="tongban.marriage.v1.CertificateReissued",
           payload={"certificate_number": "BJ-1"}),
], read_event_id="read-1")
GUANGYUAN = apb.GetCaseTrailResponse(region="510000", service="marriage", correlation_ids=[CASE], events=[
    _event(5, region="510000", office="", stream="handoff-1", kind="handoff",
           type_="tongban.handoff.v1.HandoffReceived",
           payload={"request": {"from_region": "640000", "to_region": "510000"}}),
])


def test_parts_of_two_regions_are_one_sequence_in_recorded_order_国办发2020_35号() -> None:
    timeline = stitch(CASE, [Part("640000", "marriage", YINCHUAN), Part("510000", "marriage", GUANGYUAN)])
    assert [(r.region, r.event.recorded_at.ToDatetime().minute) for r in timeline.rows] == [
        ("640000", 1), ("640000", 3), ("510000", 5), ("640000", 9)]
    assert [r.what for r in timeline.rows][1:3] == ["发出跨地区转交", "收到跨地区转交"]
    assert timeline.rows[1].towards == "→ 510000" and timeline.rows[2].towards == "← 640000"
    assert timeline.lanes == ["640000 · 640104-MRO-01", "640000 · 系统 c-1", "510000 · 系统 c-1"]
    assert timeline.regions == ["510000", "640000"] and timeline.reads == [("640000/marriage", "read-1")]
    case = next(s for s in timeline.states if s.stream_id == CASE)
    assert case.version == 2 and case.fields == {"record_case_id": "marriage-510000-9", "certificate_number": "BJ-1"}


def test_the_regions_a_part_names_are_followed_and_a_part_not_visible_says_why() -> None:
    assert regions_named(YINCHUAN) == {"640000", "510000"}
    assert case_region(CASE) == "640000" and case_region("handoff-1") == ""
    hidden = Part("510000", "marriage", problem="wrong issuer: not the identity provider of region 510000",
                  hidden=True)
    timeline = stitch(CASE, [Part("640000", "marriage", YINCHUAN), hidden])
    assert timeline.not_visible == [hidden] and len(timeline.rows) == 3
    header, *events = [json.loads(line) for line in jsonl(timeline, auditor="A-1", reason="complaint 9",
                                                          as_of="").splitlines()]
    assert header["not_visible"] == [{"store": "510000/marriage", "why": hidden.problem}]
    assert header["reason"] == "complaint 9" and len(events) == 3 and events[1]["kind"] == "handoff"
    assert events[0]["actor"]["office_code"] == "640104-MRO-01"
