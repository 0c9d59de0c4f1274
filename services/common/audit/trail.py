"""`tongban audit case`: one case across regions and services, as it stood at a moment.

The case's thread is its correlation id (architecture invariant 2): every store under audit is
asked for the events of that thread (and of the stream named like the case, to learn its thread
when the case id is a stream id). Nothing else is pulled in, on purpose: following whole streams
could drag in other people's records (a per-person stream is shared by many cases).

Each event says who did what, where, when and under which trace; hand-offs, registry claims,
deadlines and earlier auditor reads are labelled. The state "as it stood" is, for each stream of
the case, its version at that moment and its fields as last recorded (the payloads' top-level
fields, later events overriding earlier ones): generic, because the audit tool knows no
service's aggregates.

Reading a case is reading personal data, so it is recorded first (`AuditorRead` in each store the
answer came from, stream `audit-reads-<case>`, on the case's own thread) and shown only if that
succeeded."""

from __future__ import annotations

import base64
import html
import importlib
import json
import pkgutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.audit.datadir import StoreRef
from services.common.events import Actor, NewEvent, RecordedEvent, decode_payload, to_micros
from services.common.store import EventStore
from services.common.telemetry import current_trace_context
from tongban.audit.v1 import reads_pb2

READS_STREAM_TYPE = "audit.AuditorReads"
AUDITOR_READ_TYPE = reads_pb2.AuditorRead.DESCRIPTOR.full_name
KINDS = ("case", "handoff", "registry", "deadline", "audit")


def reads_stream(case_id: str) -> str:
    return f"audit-reads-{case_id}" if case_id else "audit-reads"


def event_kind(event: RecordedEvent) -> str:
    if event.stream_id.startswith("handoff-") or event.type.startswith("tongban.handoff."):
        return "handoff"
    if event.type.startswith("tongban.registry."):
        return "registry"
    if event.stream_type == "common.Deadline":
        return "deadline"
    if event.type.startswith("tongban.audit."):
        return "audit"
    return "case"


def trace_id(event: RecordedEvent) -> str:
    parts = event.trace.traceparent.split("-")
    return parts[1] if len(parts) == 4 else ""


_types_loaded = False


def load_payload_types() -> None:
    """Import every generated protobuf module (and the well-known types), so any payload can be
    shown as JSON. Done on first use, never at import."""
    global _types_loaded
    if _types_loaded:
        return
    import google.protobuf.struct_pb2
    import google.protobuf.wrappers_pb2  # noqa: F401  (registers the wrapper types)

    import tongban

    for info in pkgutil.walk_packages(tongban.__path__, "tongban."):
        if info.name.endswith("_pb2"):
            importlib.import_module(info.name)
    _types_loaded = True


def payload_json(event: RecordedEvent) -> dict[str, Any] | None:
    """The payload as protobuf's JSON mapping; None when its type is unknown or it does not parse
    (the exports still carry its bytes)."""
    try:
        message = decode_payload(event.type, event.payload)
        value = json_format.MessageToDict(message, preserving_proto_field_name=True)
    except Exception:
        return None
    # Well-known wrapper types map to a bare JSON value, not an object.
    return value if isinstance(value, dict) else {"value": value}


@dataclass(frozen=True)
class TrailEvent:
    store: str
    event: RecordedEvent
    payload: dict[str, Any] | None

    @property
    def kind(self) -> str:
        return event_kind(self.event)

    @property
    def trace_id(self) -> str:
        return trace_id(self.event)


@dataclass(frozen=True)
class StreamState:
    store: str
    stream_id: str
    stream_type: str
    version: int
    last_type: str
    last_recorded_at: datetime
    fields: dict[str, Any]


@dataclass
class CaseTrail:
    case_id: str
    as_of: datetime
    correlation_ids: list[str]
    events: list[TrailEvent]
    later: int  # events of the case recorded after as_of, not shown
    streams: list[StreamState]
    reads: list[tuple[str, str]] = field(default_factory=list)  # (store, event id) of this read's record
    auditor: Actor | None = None
    reason: str = ""

    @property
    def stores(self) -> list[str]:
        return sorted({e.store for e in self.events})


def find_case(stores: Sequence[tuple[StoreRef, EventStore]], case_id: str,
              as_of: datetime | None = None, threads: Sequence[str] = ()) -> CaseTrail:
    """Everything the stores hold of the case's thread, as of `as_of` (default: all of it — the
    stores' own clocks may run ahead of this machine's, e.g. a demo that moved time forward).
    `threads`: correlation ids of the case learned elsewhere (another region's part of it)."""
    load_payload_types()
    everything = as_of is None
    correlation_ids = {case_id, *threads}
    for _, store in stores:
        correlation_ids.update(e.correlation_id for e in store.read_stream(case_id))
    found: list[TrailEvent] = []
    later = 0
    seen: set[str] = set()
    for ref, store in stores:
        for correlation_id in sorted(correlation_ids):
            for event in store.streams_by_correlation(correlation_id):
                if event.event_id in seen:
                    continue
                seen.add(event.event_id)
                if as_of is not None and event.recorded_at > as_of:
                    later += 1
                    continue
                found.append(TrailEvent(ref.label, event, payload_json(event)))
    found.sort(key=lambda t: (t.event.recorded_at, t.store, t.event.position))
    if everything:
        as_of = max([datetime.now(UTC), *(t.event.recorded_at for t in found)])
    return CaseTrail(case_id, as_of, sorted(correlation_ids), found, later, _state(found))


def _state(found: Sequence[TrailEvent]) -> list[StreamState]:
    by_stream: dict[tuple[str, str], list[TrailEvent]] = {}
    for t in found:
        by_stream.setdefault((t.store, t.event.stream_id), []).append(t)
    states: list[StreamState] = []
    for (store, stream_id), items in sorted(by_stream.items()):
        items.sort(key=lambda t: t.event.version)
        fields: dict[str, Any] = {}
        for t in items:
            if t.payload:
                fields.update(t.payload)
        last = items[-1].event
        states.append(StreamState(store, stream_id, last.stream_type, last.version, last.type, last.recorded_at,
                                  fields))
    return states


def record_reads(trail: CaseTrail, stores: Sequence[tuple[StoreRef, EventStore]], *, auditor: str,
                 reason: str, auditor_region: str | None = None, office: str = "",
                 request: str = "audit case", role: str = "auditor") -> list[tuple[str, str]]:
    """Record the read in every store whose data the answer holds, before anything is shown.
    Returns (store, event id) of each record."""
    if not auditor.strip() or not reason.strip():
        raise ValueError("an auditor read needs the auditor's id and a reason")
    recorded: list[tuple[str, str]] = []
    for ref, store in stores:
        mine = [t.event for t in trail.events if t.store == ref.label]
        if not mine:
            continue
        actor = Actor(kind="auditor", clerk_id=auditor.strip(), office_code=office,
                      region=auditor_region or ref.region, role=role)
        message = reads_pb2.AuditorRead(
            request=request, case_id=trail.case_id, correlation_ids=trail.correlation_ids,
            as_of=_timestamp(trail.as_of), reason=reason.strip(), events_read=len(mine),
            streams=sorted({e.stream_id for e in mine}),
        )
        event = NewEvent.from_message(
            message, event_id=str(uuid.uuid4()), actor=actor,
            correlation_id=_thread_of(trail), occurred_at=store.clock.now(),
            causation_id=f"audit-request-{uuid.uuid4()}", trace=current_trace_context(),
        )
        [stored] = store.append(reads_stream(trail.case_id), READS_STREAM_TYPE, None, [event])
        recorded.append((ref.label, stored.event_id))
        trail.auditor = actor
    trail.reads = recorded
    trail.reason = reason.strip()
    return recorded


def record_store_read(store: EventStore, ref: StoreRef, *, auditor: str, reason: str, request: str,
                      rows: int, auditor_region: str | None = None) -> str:
    """Record a store-wide read (e.g. `audit replay --show-values`) in that store."""
    if not auditor.strip() or not reason.strip():
        raise ValueError("an auditor read needs the auditor's id and a reason")
    actor = Actor(kind="auditor", clerk_id=auditor.strip(), office_code="", region=auditor_region or ref.region,
                  role="auditor")
    now = store.clock.now()
    event = NewEvent.from_message(
        reads_pb2.AuditorRead(request=request, reason=reason.strip(), events_read=rows, as_of=_timestamp(now)),
        event_id=str(uuid.uuid4()), actor=actor, correlation_id=reads_stream(""), occurred_at=now,
        trace=current_trace_context(),
    )
    [stored] = store.append(reads_stream(""), READS_STREAM_TYPE, None, [event])
    return stored.event_id


def _thread_of(trail: CaseTrail) -> str:
    # The read joins the case's own thread, so the next reconstruction shows who looked at it.
    threads = [c for c in trail.correlation_ids if c != trail.case_id] or [trail.case_id]
    counts = {c: sum(1 for t in trail.events if t.event.correlation_id == c) for c in threads}
    return max(threads, key=lambda c: (counts[c], c))


# -- text -----------------------------------------------------------------------------------------


def _when(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def describe_actor(actor: Actor) -> str:
    office = f" at office {actor.office_code}" if actor.office_code else ""
    return f"{actor.kind} {actor.clerk_id} ({actor.role}){office}, region {actor.region}"


def format_text(trail: CaseTrail) -> str:
    lines = [f"case {trail.case_id} as of {_when(trail.as_of)}: {len(trail.events)} event(s) in "
             f"{len(trail.stores)} store(s) ({', '.join(trail.stores) or 'none'})",
             f"threads (correlation ids): {', '.join(trail.correlation_ids)}"]
    if trail.later:
        lines.append(f"{trail.later} later event(s) recorded after {_when(trail.as_of)} are not shown")
    if trail.reads:
        lines.append("this read is recorded as AuditorRead in " + ", ".join(f"{s} (event {e})" for s, e in trail.reads))
    lines += ["", "STATE AS OF " + _when(trail.as_of)]
    for s in trail.streams:
        lines.append(f"  {s.store}  {s.stream_id}  version {s.version}  ({s.stream_type}) last {s.last_type} "
                     f"at {_when(s.last_recorded_at)}")
        if s.fields:
            lines.append(f"      fields: {json.dumps(s.fields, ensure_ascii=False, sort_keys=True)}")
    lines += ["", "HISTORY (who did what, where, when, under which trace)"]
    for t in trail.events:
        e = t.event
        lines.append(f"  {_when(e.recorded_at)}  {t.store}  {e.stream_id} v{e.version}  [{t.kind}] {e.type}")
        lines.append(f"      by {describe_actor(e.actor)}; occurred {_when(e.occurred_at)}; "
                     f"trace {t.trace_id or '-'}; event {e.event_id}; caused by {e.causation_id or '-'}")
    return "\n".join(lines)


# -- JSON Lines ----------------------------------------------------------------------------------


def event_record(t: TrailEvent) -> dict[str, Any]:
    """One event with everything needed to recompute its hash (services/common/hashing.py)."""
    e = t.event
    return {
        "record": "event", "store": t.store, "kind": t.kind,
        "event_id": e.event_id, "stream_id": e.stream_id, "stream_type": e.stream_type, "version": e.version,
        "position": e.position, "type": e.type, "schema_version": e.schema_version,
        "occurred_at": _when(e.occurred_at), "recorded_at": _when(e.recorded_at),
        "occurred_at_us": to_micros(e.occurred_at), "recorded_at_us": to_micros(e.recorded_at),
        "region": e.region, "service": e.service,
        "actor": {"kind": e.actor.kind, "clerk_id": e.actor.clerk_id, "office_code": e.actor.office_code,
                  "region": e.actor.region, "role": e.actor.role},
        "correlation_id": e.correlation_id, "causation_id": e.causation_id,
        "traceparent": e.trace.traceparent, "tracestate": e.trace.tracestate, "trace_id": t.trace_id,
        "payload": t.payload, "payload_base64": base64.b64encode(e.payload).decode("ascii"),
        "prev_hash": e.prev_hash.hex(), "hash": e.hash.hex(), "global_hash": e.global_hash.hex(),
    }


def to_jsonl(trail: CaseTrail) -> str:
    header = {
        "record": "trail", "case_id": trail.case_id, "as_of": _when(trail.as_of),
        "generated_at": _when(datetime.now(UTC)), "correlation_ids": trail.correlation_ids,
        "stores": trail.stores, "events": len(trail.events), "later_events_not_shown": trail.later,
        "auditor": None if trail.auditor is None else {"id": trail.auditor.clerk_id, "region": trail.auditor.region},
        "reason": trail.reason, "read_recorded_as": [{"store": s, "event_id": e} for s, e in trail.reads],
    }
    lines = [header, *(event_record(t) for t in trail.events)]
    return "".join(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in lines)


# -- HTML ------------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, "Noto Sans CJK SC", sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35em 0.5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
code { font-size: 0.85em; } .muted { color: #777; }
.kind { border-radius: 3px; padding: 0 0.35em; font-size: 0.85em; background: #eee; }
.kind-handoff { background: #fde2b8; } .kind-registry { background: #d6e9ff; }
.kind-deadline { background: #e8dcff; } .kind-audit { background: #ffd6d6; }
details pre { white-space: pre-wrap; background: #fafafa; padding: 0.5em; }
"""


def to_html(trail: CaseTrail) -> str:
    esc = html.escape
    reads = ", ".join(f"{esc(s)} (event <code>{esc(e)}</code>)" for s, e in trail.reads) or "not recorded"
    auditor = esc(describe_actor(trail.auditor)) if trail.auditor else "-"
    state_rows = "".join(
        f"<tr><td>{esc(s.store)}</td><td><code>{esc(s.stream_id)}</code></td><td>{s.version}</td>"
        f"<td>{esc(s.stream_type)}</td><td>{esc(s.last_type)}<br><span class=muted>{esc(_when(s.last_recorded_at))}"
        f"</span></td><td><pre>{esc(json.dumps(s.fields, ensure_ascii=False, indent=1, sort_keys=True))}</pre>"
        "</td></tr>"
        for s in trail.streams)
    history_rows = []
    for t in trail.events:
        e = t.event
        payload = json.dumps(t.payload, ensure_ascii=False, indent=1, sort_keys=True) if t.payload is not None else (
            "base64: " + base64.b64encode(e.payload).decode("ascii"))
        history_rows.append(
            f"<tr><td>{esc(_when(e.recorded_at))}<br><span class=muted>occurred {esc(_when(e.occurred_at))}</span></td>"
            f"<td>{esc(t.store)}</td><td><code>{esc(e.stream_id)}</code> v{e.version}</td>"
            f"<td><span class='kind kind-{esc(t.kind)}'>{esc(t.kind)}</span> {esc(e.type)}"
            f"<details><summary>payload and provenance</summary><pre>{esc(payload)}</pre>"
            f"<p>event <code>{esc(e.event_id)}</code>, caused by <code>{esc(e.causation_id or '-')}</code>, "
            f"position {e.position}, hash <code>{e.hash.hex()}</code></p></details></td>"
            f"<td>{esc(describe_actor(e.actor))}</td><td><code>{esc(t.trace_id or '-')}</code></td></tr>")
    later = (f"<p>{trail.later} later event(s), recorded after the as-of time, are not shown.</p>"
             if trail.later else "")
    return f"""<!DOCTYPE html>
<html lang="zh-Hans"><head><meta charset="utf-8">
<title>Case {esc(trail.case_id)} as of {esc(_when(trail.as_of))}</title><style>{_STYLE}</style></head>
<body>
<h1>Case <code>{esc(trail.case_id)}</code> as of {esc(_when(trail.as_of))}</h1>
<p>{len(trail.events)} event(s) in {len(trail.stores)} store(s): {esc(", ".join(trail.stores) or "none")}.
Threads (correlation ids): <code>{esc(", ".join(trail.correlation_ids))}</code>.</p>
<p>Read by {auditor}; reason: {esc(trail.reason or "-")}. This read is recorded as AuditorRead in {reads}.</p>
{later}
<h2>State as of {esc(_when(trail.as_of))}</h2>
<table><tr><th>store</th><th>stream</th><th>version</th><th>stream type</th><th>last event</th>
<th>fields as last recorded</th></tr>{state_rows}</table>
<h2>History: who did what, where, when, under which trace</h2>
<table><tr><th>when</th><th>where</th><th>stream</th><th>what</th><th>who</th><th>trace id</th></tr>
{"".join(history_rows)}</table>
</body></html>
"""


def write_exports(trail: CaseTrail, *, jsonl: Path | None = None, html_path: Path | None = None) -> None:
    if jsonl is not None:
        Path(jsonl).write_text(to_jsonl(trail), encoding="utf-8")
    if html_path is not None:
        Path(html_path).write_text(to_html(trail), encoding="utf-8")


def parse_as_of(value: str) -> datetime:
    """ISO 8601; a time without zone is read as China Standard Time (UTC+8), as clerks write it."""
    from services.common.clock import CHINA

    text = value.strip().replace("Z", "+00:00")
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=CHINA)
    return instant.astimezone(UTC)


def _timestamp(instant: datetime) -> Timestamp:
    micros = to_micros(instant)
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)
