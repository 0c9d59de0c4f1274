"""A case's timeline stitched from the parts every region's services answered (AuditService.
GetCaseTrail), the way `tongban audit case` stitches the stores it opens — but through the front
doors, as the signed-in auditor. Pure: the page (pages_timeline.py) makes the calls; this module
turns the answers, and the parts that could not be read, into what the page and the export show.

A part that is not visible (another region's front door trusts only its own identity provider; a
service that is down) is kept as a `Part` with its reason, so the page says which part is missing
and why instead of failing or silently showing less."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from services.web import labels
from tongban.audit.v1 import audit_service_pb2 as apb

SERVICES = ("marriage", "disability", "relief")
CHINA = timezone(timedelta(hours=8))

KINDS: dict[str, str] = {"case": "案件", "handoff": "跨地区转交", "registry": "全国登记库", "deadline": "法定期限",
                         "audit": "查阅记录"}
# Events the service pages do not label (hand-offs, deadlines, reads); theirs come from labels.EVENTS.
EVENTS: dict[str, str] = {
    "HandoffSent": "发出跨地区转交", "HandoffReceived": "收到跨地区转交", "HandoffAccepted": "接受转交",
    "HandoffRefused": "拒绝转交", "HandoffOutcome": "转交办理结果", "HandoffOutcomeReceived": "收到转交办理结果",
    "HandoffOverdue": "转交超期", "DeadlineScheduled": "设定法定期限", "DeadlineFired": "法定期限届满",
    "DeadlineCancelled": "取消法定期限", "ClaimRequested": "向全国登记库申请", "ClaimConfirmed": "全国登记库确认",
    "ClaimReleased": "全国登记库释放", "RegistryDecisionRecorded": "记录全国登记库决定",
    "PersonalDataRead": "查阅个人信息", "AuditorRead": "审计查阅",
}
_ACTOR_KINDS = {1: "clerk", 2: "system", 3: "auditor"}  # tongban.common.v1.Actor.Kind


def event_label(full_type: str) -> str:
    short = full_type.rsplit(".", 1)[-1]
    return EVENTS.get(short) or labels.event(full_type)


@dataclass(frozen=True)
class Part:
    """What one service of one region answered, or why it did not."""

    region: str
    service: str
    answer: apb.GetCaseTrailResponse | None = None
    problem: str = ""      # the service's own words, when not answered
    hidden: bool = False   # True: the region's front door does not accept this auditor at all

    @property
    def label(self) -> str:
        return f"{self.region}/{self.service}" if self.service else self.region


@dataclass(frozen=True)
class Row:
    region: str
    service: str
    event: apb.TrailEvent
    payload: dict[str, Any] | None

    @property
    def recorded_at(self) -> datetime:
        return self.event.recorded_at.ToDatetime(tzinfo=UTC)

    @property
    def at(self) -> str:
        """Recorded-at in China time to the second: a hand-off's steps often share a minute."""
        return self.recorded_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")

    @property
    def what(self) -> str:
        return event_label(self.event.type)

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.event.kind, self.event.kind)

    @property
    def who(self) -> str:
        a = self.event.actor
        kind = _ACTOR_KINDS.get(a.kind, "")
        if kind == "system":
            return f"系统（{a.clerk_id}），{labels.region(a.region.code)}"
        office = f"，办公室 {a.office_code}" if a.office_code else ""
        return f"{a.role} {a.clerk_id}{office}，{labels.region(a.region.code)}"

    @property
    def lane(self) -> str:
        """Who acted, where: one column of the sequence drawing per region and office (or system)."""
        a = self.event.actor
        where = a.office_code or f"系统 {a.clerk_id}"
        return f"{a.region.code or self.region} · {where}"

    @property
    def towards(self) -> str:
        """For a hand-off: the region it goes to or comes from, as an arrow in the drawing."""
        if self.event.kind != "handoff" or not self.payload:
            return ""
        to, origin = _first(self.payload, ("to_region",)), _first(self.payload, ("from_region",))
        if to and to[1] != self.region:
            return f"→ {to[1]}"
        if origin and origin[1] != self.region:
            return f"← {origin[1]}"
        return ""

    @property
    def payload_text(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False, indent=1, sort_keys=True) if self.payload else "{}"


@dataclass(frozen=True)
class StreamState:
    """One stream of the case as it stood: its version and its fields as last recorded."""

    region: str
    service: str
    stream_id: str
    version: int
    last: Row
    fields: dict[str, Any]

    @property
    def fields_text(self) -> str:
        return json.dumps(self.fields, ensure_ascii=False, indent=1, sort_keys=True)


@dataclass
class Timeline:
    case_id: str
    parts: list[Part]
    rows: list[Row] = field(default_factory=list)
    lanes: list[str] = field(default_factory=list)
    states: list[StreamState] = field(default_factory=list)
    correlation_ids: list[str] = field(default_factory=list)
    later: int = 0

    @property
    def answered(self) -> list[Part]:
        return [p for p in self.parts if p.answer is not None and p.answer.events]

    @property
    def not_visible(self) -> list[Part]:
        return [p for p in self.parts if p.answer is None]

    @property
    def regions(self) -> list[str]:
        return sorted({p.region for p in self.answered})

    @property
    def reads(self) -> list[tuple[str, str]]:
        """(store, event id) of the records this read left in each store it read."""
        return [(p.label, p.answer.read_event_id) for p in self.answered if p.answer and p.answer.read_event_id]


def payload_of(event: apb.TrailEvent) -> dict[str, Any] | None:
    if not event.payload_json:
        return None
    try:
        value = json.loads(event.payload_json)
    except ValueError:
        return None
    return value if isinstance(value, dict) else {"value": value}


def _first(value: Any, keys: Sequence[str]) -> tuple[str, str] | None:
    """The first of `keys` found anywhere in a JSON value, with its region code."""
    if isinstance(value, dict):
        for key in keys:
            code = _region_code(value.get(key))
            if code:
                return key, code
        for inner in value.values():
            found = _first(inner, keys)
            if found:
                return found
    elif isinstance(value, list):
        for inner in value:
            found = _first(inner, keys)
            if found:
                return found
    return None


def _region_code(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("code")
    return value if isinstance(value, str) and len(value) == 6 and value.isdigit() else ""


def _regions_in(value: Any) -> Iterable[str]:
    """Every region a payload names (fields called *region: to_region, record_region, holder_region...)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            code = _region_code(inner) if key.endswith("region") else ""
            if code:
                yield code
            else:
                yield from _regions_in(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _regions_in(inner)


def case_region(case_id: str) -> str:
    """The region a case id was opened in ("marriage-640000-…" → "640000"), or ""."""
    parts = case_id.split("-")
    return parts[1] if len(parts) > 2 and _region_code(parts[1]) else ""


def regions_named(answer: apb.GetCaseTrailResponse) -> set[str]:
    """The regions a part names: who acted, and where its hand-offs and records point."""
    named: set[str] = set()
    for event in answer.events:
        if _region_code(event.actor.region.code):  # not "national": the national auditor's reads hold no region
            named.add(event.actor.region.code)
        named.update(_regions_in(payload_of(event)))
    return named


def stitch(case_id: str, parts: Sequence[Part], as_of: datetime | None = None) -> Timeline:
    """Every answered part in one recorded-at order (ties: region, then store position)."""
    rows = [Row(p.region, p.service, e, payload_of(e)) for p in parts if p.answer is not None
            for e in p.answer.events]
    rows.sort(key=lambda r: (r.recorded_at, r.region, r.service, r.event.position))
    timeline = Timeline(case_id, list(parts), rows)
    timeline.lanes = list(dict.fromkeys(r.lane for r in rows))
    timeline.correlation_ids = sorted({c for p in parts if p.answer is not None for c in p.answer.correlation_ids})
    timeline.later = sum(p.answer.later for p in parts if p.answer is not None)
    timeline.states = _states(rows)
    return timeline


def _states(rows: Sequence[Row]) -> list[StreamState]:
    by_stream: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        by_stream.setdefault((row.region, row.service, row.event.stream_id), []).append(row)
    states = []
    for (region, service, stream_id), items in sorted(by_stream.items()):
        items.sort(key=lambda r: r.event.version)
        fields: dict[str, Any] = {}
        for item in items:
            fields.update(item.payload or {})
        states.append(StreamState(region, service, stream_id, items[-1].event.version, items[-1], fields))
    return states


def jsonl(timeline: Timeline, *, auditor: str, reason: str, as_of: str) -> str:
    """The stitched timeline as JSON Lines: a header naming what was and was not visible, then one
    line per event with its provenance."""
    header = {"record": "timeline", "case_id": timeline.case_id, "as_of": as_of or None, "auditor": auditor,
              "reason": reason, "correlation_ids": timeline.correlation_ids,
              "stores": [p.label for p in timeline.answered], "later_events_not_shown": timeline.later,
              "not_visible": [{"store": p.label, "why": p.problem} for p in timeline.not_visible],
              "read_recorded_as": [{"store": s, "event_id": e} for s, e in timeline.reads]}
    lines = [header]
    for row in timeline.rows:
        e = row.event
        lines.append({"record": "event", "store": f"{row.region}/{row.service}", "kind": e.kind,
                      "event_id": e.event_id, "stream_id": e.stream_id, "version": e.version, "type": e.type,
                      "recorded_at": e.recorded_at.ToJsonString(), "occurred_at": e.occurred_at.ToJsonString(),
                      "actor": {"kind": _ACTOR_KINDS.get(e.actor.kind, ""), "clerk_id": e.actor.clerk_id,
                                "office_code": e.actor.office_code, "region": e.actor.region.code,
                                "role": e.actor.role},
                      "correlation_id": e.correlation_id, "causation_id": e.causation_id, "trace_id": e.trace_id,
                      "hash": e.hash.hex(), "payload": row.payload})
    return "".join(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in lines)
