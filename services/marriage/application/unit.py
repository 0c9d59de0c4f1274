"""What every handler of the service shares: its dependencies (wired once by bootstrap.py), case
ids, and certificate numbers. Recording, owner checks and the effects that travel with events are
the unit of work's (services/common/kit/unit_of_work.py, subscribers in subscribers.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from services.common.calendars import CalendarInForce
from services.common.clock import Clock
from services.common.kit import UnitOfWork, UnitsOfWork
from services.common.store import EventStore, StoreTransaction
from services.common.working_days import NATIONAL, Calendar
from services.marriage.domain.certificates import CertificateNumbers, counter_stream_id
from services.marriage.domain.values import Document

SERVICE = "marriage"

# Who may look up a person's marital status (a per-region setting; these are the national bodies
# that need it for their duties: registrars, courts, public security, auditors).
DEFAULT_STATUS_QUERY_ROLES = frozenset({"registrar", "court", "public_security", "auditor"})


@dataclass(frozen=True)
class MarriageSettings:
    """Per-region configuration, with the national values as defaults."""

    # The base of the calendar in force: the national calendar, with a region's own days off or on
    # (working_days.Calendar). The years' notices recorded in the store override it (Deps.calendar).
    calendar: Calendar = NATIONAL
    status_query_roles: frozenset[str] = DEFAULT_STATUS_QUERY_ROLES
    calendar_admin_roles: frozenset[str] = frozenset({"admin"})  # who records a holiday notice
    max_wait_seconds: float = 60.0  # RegisterMarriage (and a reissue elsewhere) waits at most this long
    # A reissue or a divorce step asked here of another region's record: that region answers by
    # machine, so these limits only catch a region that is down (the hand-off shows as overdue).
    reissue_accept_within: timedelta = timedelta(days=1)
    reissue_answer_within: timedelta = timedelta(days=2)


@dataclass(frozen=True)
class Deps:
    """The service's dependencies, built by bootstrap.py."""

    units: UnitsOfWork
    clock: Clock
    region: str
    settings: MarriageSettings = field(default_factory=MarriageSettings)
    calendar_in_force: CalendarInForce | None = None  # wired by bootstrap over the service's store

    def calendar(self, tx: StoreTransaction | None = None) -> Calendar:
        """The calendar in force in the region (the notices recorded in its store over
        `settings.calendar`), as `tx` sees it when given."""
        if self.calendar_in_force is None:
            return self.settings.calendar
        return self.calendar_in_force(tx)

    @property
    def store(self) -> EventStore:
        return self.units.store


def issue_certificate_number(uow: UnitOfWork, *, document: Document, office_code: str, on: date,
                             case_id: str) -> str:
    """The next number of the office's year, recorded on the office's counter stream."""
    # Take the head lock before reading the counter (an append would take it anyway): on
    # PostgreSQL a read before the lock could be stale, and the append would then fail on a taken
    # version instead of simply following it. SQLite's BEGIN IMMEDIATE already serialises writers.
    uow.tx.lock_head()
    stream_id = counter_stream_id(office_code, on.year)
    counter = uow.find(CertificateNumbers, stream_id, for_write=False) or uow.start(CertificateNumbers, stream_id, [])
    issued = counter.issue(document=document, office_code=office_code, on=on, case_id=case_id)
    uow.record(counter, [issued])
    return issued.certificate_number
