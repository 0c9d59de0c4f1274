"""An auditor's reads of personal data through a service's front door (AuditService.GetCaseTrail
and FindPersonCases): the part of `tongban audit case` one service of one region can answer, and
the cases of its store that name a person. The web console stitches the parts of every region.

Both are personal data, so both are an auditor's work only (`AuditorsReadWithAReason`: PERMISSION_
DENIED for any other role, INVALID_ARGUMENT without a reason; nothing recorded) and both are
recorded as `AuditorRead` in this store before they are answered (domain rules, "Records and
audit"). A person is found by the bytes of their citizen ID in the stored payloads: generic, since
the audit tools know no service's aggregates (protobuf stores a string field as its UTF-8 bytes)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import LargeBinary, func, literal, select

from services.common.audit.datadir import StoreRef
from services.common.audit.trail import READS_STREAM_TYPE, find_case, record_reads
from services.common.clock import Clock
from services.common.errors import InvalidArgument, NotAuthorised, RuleViolation
from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.identity.citizen_id import CitizenId
from services.common.kit.rules import Rule, check
from services.common.store import EventStore
from services.common.store.schema import events
from services.common.telemetry import current_trace_context
from services.common.trust.national import NATIONAL_AUDITOR_ROLE
from services.common.trust.reads import READS_STREAM_TYPE as PERSONAL_DATA_READS
from tongban.audit.v1 import audit_service_pb2 as api
from tongban.audit.v1 import reads_pb2

AUDITOR_ROLE = "auditor"
# A region's own auditors, and the national auditor every region trusts for these reads (national.py)
AUDITOR_ROLES = (AUDITOR_ROLE, NATIONAL_AUDITOR_ROLE)
PERSON_READS_STREAM = "audit-reads-person"
MAX_THREADS = 50  # a case's threads across regions are a handful; more is not one case
MAX_PERSON_STREAMS = 200  # a lookup that names more is cut (newest kept): a person, not a census
_READ_STREAM_TYPES = (READS_STREAM_TYPE, PERSONAL_DATA_READS)  # records of reads are not the person's cases


@dataclass(frozen=True)
class AuditorsReadWithAReason(Rule):
    """A case's whole thread, or every case naming a person, is read only by an auditor (region
    scope, or the national auditor) — and, as every read beyond one's own office, with its reason
    recorded."""

    name: ClassVar[str] = "AuditorsReadWithAReason"
    article: ClassVar[str] = "个人信息保护法 第三十四条"
    error: ClassVar[type[RuleViolation]] = NotAuthorised
    role: str

    def is_broken(self) -> bool:
        return self.role not in AUDITOR_ROLES

    @property
    def message(self) -> str:
        return f"only an auditor may read a case's thread or look a person up, not a {self.role!r}"


def _authorised(actor: Actor, reason: str) -> str:
    check(AuditorsReadWithAReason(actor.role))
    if not reason.strip():
        raise InvalidArgument.single("reason", "required: an auditor's read is recorded with its reason")
    return reason.strip()


def _timestamp(instant: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(instant.astimezone(UTC))
    return stamp


def _trace_id(event: RecordedEvent) -> str:
    parts = event.trace.traceparent.split("-")
    return parts[1] if len(parts) == 4 else ""


def case_trail(store: EventStore, *, region: str, service: str, actor: Actor,
               request: api.GetCaseTrailRequest) -> api.GetCaseTrailResponse:
    reason = _authorised(actor, request.reason)
    case_id = request.case_id.strip()
    if not case_id:
        raise InvalidArgument.single("case_id", "required")
    as_of = request.as_of.ToDatetime(tzinfo=UTC) if request.HasField("as_of") else None
    ref = StoreRef(region, service, "")
    threads = sorted({c.strip() for c in request.correlation_ids if c.strip()})
    if len(threads) > MAX_THREADS:
        raise InvalidArgument.single("correlation_ids", f"at most {MAX_THREADS} threads of one case")
    trail = find_case([(ref, store)], case_id, as_of, threads=threads)
    answer = api.GetCaseTrailResponse(region=region, service=service, correlation_ids=trail.correlation_ids,
                                      later=trail.later)
    # Recorded before anything is answered; nothing found holds nobody's data.
    recorded = record_reads(trail, [(ref, store)], auditor=actor.clerk_id, reason=reason, auditor_region=actor.region,
                            office=actor.office_code, request="GetCaseTrail", role=actor.role)
    answer.read_event_id = recorded[0][1] if recorded else ""
    for t in trail.events:
        e = t.event
        answer.events.append(api.TrailEvent(
            event_id=e.event_id, stream_id=e.stream_id, stream_type=e.stream_type, version=e.version,
            position=e.position, type=e.type, kind=t.kind, occurred_at=_timestamp(e.occurred_at),
            recorded_at=_timestamp(e.recorded_at), actor=e.actor.to_proto(), correlation_id=e.correlation_id,
            causation_id=e.causation_id, trace_id=_trace_id(e),
            payload_json=json.dumps(t.payload, ensure_ascii=False) if t.payload is not None else "", hash=e.hash))
    return answer


def _streams_naming(store: EventStore, citizen_id: str) -> list[str]:
    """Streams with an event whose payload holds the ID's bytes, most recently written first."""
    needle = citizen_id.encode("ascii")
    # SQLite's instr and PostgreSQL's bytea LIKE both search bytes in a blob, NUL bytes included (a
    # checked citizen ID holds only digits and X: nothing LIKE would read as a wildcard).
    found = (func.instr(events.c.payload, needle) > 0 if store.dialect == "sqlite"
             else events.c.payload.op("LIKE", is_comparison=True)(literal(b"%" + needle + b"%", LargeBinary)))
    query = (select(events.c.stream_id, func.max(events.c.position).label("last"))
             .where(found, events.c.stream_type.not_in(_READ_STREAM_TYPES))
             .group_by(events.c.stream_id).order_by(func.max(events.c.position).desc()).limit(MAX_PERSON_STREAMS))
    with store.engine.connect() as conn:
        return [row.stream_id for row in conn.execute(query)]


def person_cases(store: EventStore, *, region: str, service: str, actor: Actor, clock: Clock,
                 request: api.FindPersonCasesRequest) -> api.FindPersonCasesResponse:
    reason = _authorised(actor, request.reason)
    person = CitizenId.parse(request.citizen_id.strip(), today=clock.now().date())
    answer = api.FindPersonCasesResponse(region=region, service=service)
    for stream_id in _streams_naming(store, person.value):
        stream = store.read_stream(stream_id)
        first, last = stream[0], stream[-1]
        answer.cases.append(api.PersonCase(
            stream_id=stream_id, stream_type=first.stream_type, version=last.version, first_type=first.type,
            last_type=last.type, opened_at=_timestamp(first.recorded_at), updated_at=_timestamp(last.recorded_at),
            correlation_id=first.correlation_id))
    # A lookup is recorded even when it found nothing: asking about a person is itself the act.
    now = store.clock.now()
    auditor = Actor(kind="auditor", clerk_id=actor.clerk_id, office_code=actor.office_code, region=actor.region,
                    role=actor.role)
    event = NewEvent.from_message(
        reads_pb2.AuditorRead(request="FindPersonCases", reason=reason, citizen_id=person.value,
                              events_read=len(answer.cases), streams=[c.stream_id for c in answer.cases],
                              as_of=_timestamp(now)),
        event_id=str(uuid.uuid4()), actor=auditor, correlation_id=PERSON_READS_STREAM, occurred_at=now,
        causation_id=f"audit-request-{uuid.uuid4()}", trace=current_trace_context())
    [stored] = store.append(PERSON_READS_STREAM, READS_STREAM_TYPE, None, [event])
    answer.read_event_id = stored.event_id
    return answer
