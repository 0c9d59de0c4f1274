"""Authorised and recorded reads of personal data (architecture invariant 8; domain rules,
"Records and audit": every read of personal data is authorised by role and scope, and recorded).

A service's read RPCs (GetCase, ListCases and their equivalents) call one `RecordedReads` with the
case(s) they are about to answer; it

- decides by the caller's role how far it may read (`ReadPolicy`): its own office's cases (window
  and review roles), or any case of the region (auditors, supervisors) — other regions' records
  are never in this store, so the region scope is the store's; anyone else is refused
  (`AuthorisedRead`, PERMISSION_DENIED, nothing recorded);
- asks a reason for a read beyond the caller's own office (not routine: INVALID_ARGUMENT naming
  `reason` without one);
- refuses a list of an office that is not in the region's office directory (INVALID_ARGUMENT);
- records the read (`tongban.audit.v1.PersonalDataRead`: who, which cases, why) before the answer
  is sent: one case on its own thread (stream "reads-<case id>", the case's correlation id), so
  `tongban audit case` shows who read it; a list in its own stream naming every case it held.

A service wires it with one line in its composition root and one call per read RPC (see
docs/service-kit.md, "Reads of personal data").
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final

from services.common.clock import Clock
from services.common.errors import InvalidArgument, NotAuthorised, RuleViolation
from services.common.events import Actor, NewEvent
from services.common.kit.rules import Rule, check
from services.common.store import EventStore
from services.common.telemetry import current_trace_context
from tongban.audit.v1 import reads_pb2

READS_STREAM_TYPE: Final = "audit.PersonalDataReads"
READ_TYPE: Final = reads_pb2.PersonalDataRead.DESCRIPTOR.full_name
OFFICE: Final = "office"
COUNTY: Final = "county"  # the offices of one county (the office code's six-digit division)
REGION: Final = "region"


def county_of(office_code: str) -> str:
    """The six-digit division an office code starts with ("640104-CDPF" → "640104")."""
    return office_code.partition("-")[0]


def case_reads_stream(case_id: str) -> str:
    return f"reads-{case_id}"


@dataclass(frozen=True)
class ReadPolicy:
    """Which roles may read a service's cases, and how far. National defaults; a service (or a
    region, through its settings) passes its own."""

    office_roles: frozenset[str] = frozenset({"registrar", "window", "clerk", "reviewer", "approver", "relief"})
    region_roles: frozenset[str] = frozenset({"auditor", "supervisor"})
    # County offices (残联, finance) work every case of the county's windows.
    county_roles: frozenset[str] = frozenset({"cdpf", "finance"})

    def scope(self, actor: Actor) -> str | None:
        if actor.role in self.region_roles:
            return REGION
        if actor.kind == "clerk" and actor.role in self.county_roles:
            return COUNTY
        if actor.kind == "clerk" and actor.role in self.office_roles:
            return OFFICE
        return None


@dataclass(frozen=True)
class AuthorisedRead(Rule):
    """Personal data is read only by the roles whose duty needs it, within their scope: a window
    its own office's cases, an auditor or supervisor the region's."""

    name: ClassVar[str] = "AuthorisedRead"
    article: ClassVar[str] = "个人信息保护法 第三十四条"
    error: ClassVar[type[RuleViolation]] = NotAuthorised
    role: str
    scope: str | None
    reader_office: str
    case_office: str

    def is_broken(self) -> bool:
        if self.scope == COUNTY:
            return county_of(self.case_office) != county_of(self.reader_office)
        return self.scope is None or (self.scope == OFFICE and self.case_office != self.reader_office)

    @property
    def message(self) -> str:
        if self.scope is None:
            return f"role {self.role!r} may not read personal data of cases"
        if self.scope == COUNTY:
            return (f"role {self.role!r} reads the cases of its own county {county_of(self.reader_office)!r}, "
                    f"not of office {self.case_office!r}")
        return (f"role {self.role!r} reads the cases of its own office {self.reader_office!r}, "
                f"not of office {self.case_office!r}")


@dataclass
class RecordedReads:
    """The read gate of one service of one region (see the module docstring)."""

    store: EventStore
    clock: Clock
    policy: ReadPolicy = field(default_factory=ReadPolicy)
    offices: Collection[str] | None = None  # the region's office directory (None: not checked here)

    def may_read(self, actor: Actor) -> None:
        """Refuse a role that may read no case at all before anything is looked up (so it cannot
        learn even which cases exist)."""
        check(AuthorisedRead(actor.role, self.policy.scope(actor), actor.office_code, actor.office_code))

    def case(self, actor: Actor, *, case_id: str, case_office: str, correlation_id: str, reason: str = "",
             request: str = "GetCase") -> str:
        """Authorise and record `actor` reading one case; returns the recorded event's id."""
        scope = self._authorised(actor, case_office, reason)
        return self._record(actor, case_reads_stream(case_id), correlation_id, reads_pb2.PersonalDataRead(
            request=request, case_ids=[case_id], scope=scope, reason=reason))

    def office(self, actor: Actor, office_code: str, *, reason: str = "") -> str:
        """The office (or, for county roles, the county code) whose list `actor` may read — its own
        office when `office_code` is empty; raises before anything is read or recorded."""
        office_code = office_code or actor.office_code
        # A county's list (its six-digit code: every office of the county) is a county office's work.
        whole_county = office_code.isdigit() and len(office_code) == 6
        if self.offices is not None and office_code not in self.offices and not whole_county:
            raise InvalidArgument.single("office_code", f"{office_code!r} is not an office of region "
                                                        f"{self.store.region}")
        self._authorised(actor, office_code, reason)
        return office_code

    def listed(self, actor: Actor, *, office_code: str, case_ids: Sequence[str], reason: str = "",
               request: str = "ListCases") -> str | None:
        """Record that `actor` read a list of `office_code`'s cases; None when it held no case."""
        if not case_ids:
            return None  # an empty page holds nobody's personal data
        scope = self.policy.scope(actor) or OFFICE
        thread = f"reads-list-{uuid.uuid4()}"
        return self._record(actor, thread, thread, reads_pb2.PersonalDataRead(
            request=request, case_ids=list(case_ids), office_code=office_code, scope=scope, reason=reason))

    def shared(self, actor: Actor, *, request: str, case_ids: Sequence[str], correlation_id: str = "") -> str | None:
        """Authorise and record a read of the region's shared work (hand-offs between regions,
        which any office of the region may take up): any reading role, recorded with the cases it
        held — one case on its thread when `correlation_id` is given. None when it held no case."""
        self.may_read(actor)
        if not case_ids:
            return None
        scope = self.policy.scope(actor) or OFFICE
        if len(case_ids) == 1 and correlation_id:
            stream = case_reads_stream(case_ids[0])
        else:
            stream = correlation_id = f"reads-list-{uuid.uuid4()}"
        return self._record(actor, stream, correlation_id, reads_pb2.PersonalDataRead(
            request=request, case_ids=list(case_ids), scope=scope))

    def _authorised(self, actor: Actor, case_office: str, reason: str) -> str:
        scope = self.policy.scope(actor)
        check(AuthorisedRead(actor.role, scope, actor.office_code, case_office))
        assert scope is not None
        routine = case_office == actor.office_code or (
            scope == COUNTY and county_of(case_office) == county_of(actor.office_code))
        if not routine and not reason.strip():
            raise InvalidArgument.single("reason", "required to read beyond your own office (the read is recorded)")
        return scope

    def _record(self, actor: Actor, stream_id: str, correlation_id: str, message: reads_pb2.PersonalDataRead) -> str:
        event = NewEvent.from_message(message, event_id=str(uuid.uuid4()), actor=actor, correlation_id=correlation_id,
                                      occurred_at=self.clock.now(), causation_id=f"read-{uuid.uuid4()}",
                                      trace=current_trace_context())
        [stored] = self.store.append(stream_id, READS_STREAM_TYPE, None, [event])
        return stored.event_id
