"""Recording a year's notice, and the calendar in force read from a region's store.

The region's calendar stream is `calendar-<region>` (type "common.Calendar"): one
CalendarYearPublished per notice recorded, each with its version for its year. The calendar in
force is the base calendar (the package's official data, the provisional rule after it, and the
region's own overrides) with, for each year that has records, the latest version.

Recording a notice also schedules a deadline of kind CALENDAR_PUBLISHED, due at once, in the same
transaction (architecture invariant 6): each service's scheduler fires it with the service's own
reaction, which recomputes the pending deadlines it computed on the calendar the notice replaces —
an end that moves earlier as well as later. It survives a restart, fires exactly once, and needs
nothing of the service at import time. A store whose service has no handler for the kind keeps it
pending and logs it (services/common/deadlines.py) until one is deployed."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from services.common.calendars.notices import CalendarYearPublished, YearNotice
from services.common.deadlines import schedule_deadline
from services.common.events import RecordedEvent
from services.common.kit.provenance import Provenance
from services.common.store import EventStore, StoreTransaction
from services.common.working_days import NATIONAL, Calendar, PublishedYear
from tongban.common.v1 import calendar_pb2

STREAM_TYPE = "common.Calendar"
CALENDAR_PUBLISHED = "common.calendar.published"
CALENDAR_RULE = "国务院办公厅 放假安排; 民法典 第二百零三条"

_TYPE = calendar_pb2.CalendarYearPublished.DESCRIPTOR.full_name


def calendar_stream_id(region: str) -> str:
    return f"calendar-{region}"


def record_notice(store: EventStore, region: str, notice: YearNotice, provenance: Provenance) -> RecordedEvent:
    """Record `notice` as the next version of its year in the region's calendar stream, and
    schedule the recomputation of pending deadlines, in one transaction. A writer racing on the
    stream gets ConcurrencyConflict (nothing recorded): import again."""
    with store.transaction() as tx:
        return append_notice(tx, region, notice, provenance)


def append_notice(tx: StoreTransaction, region: str, notice: YearNotice, provenance: Provenance) -> RecordedEvent:
    """`record_notice` inside the caller's transaction (an admin command's unit of work)."""
    stream_id = calendar_stream_id(region)
    history = tx.read_stream(stream_id)
    version = 1 + sum(1 for e in _events(history) if e.notice.year == notice.year)
    event = CalendarYearPublished(notice, version)
    who = provenance.correlated_with(provenance.correlation_id or stream_id)
    [recorded] = tx.append(stream_id, STREAM_TYPE, len(history), [who.new_event(event.to_message())])
    schedule_deadline(tx, deadline_id=f"{stream_id}-{recorded.version}-published", kind=CALENDAR_PUBLISHED,
                      case_stream_id=stream_id, due_at=provenance.occurred_at, rule=CALENDAR_RULE,
                      provenance=who.caused_by(recorded.event_id))
    return recorded


def published_years(history: Iterable[RecordedEvent]) -> dict[int, tuple[PublishedYear, ...]]:
    """Every recorded version of each year, oldest first (the last is in force)."""
    years: dict[int, list[PublishedYear]] = {}
    for event in _events(history):
        years.setdefault(event.notice.year, []).append(event.notice.published(event.version))
    return {year: tuple(versions) for year, versions in years.items()}


class CalendarInForce:
    """The calendar in force in one store's region: `base` with the latest recorded version of
    each year. Cached per store; each read compares the stream's version (one indexed lookup) and
    folds the stream again when a notice was appended since — by this process or another (the
    CLI importing into a running service's store).

    Pass the transaction you are in (a deadline's reaction, a command's unit of work), so the
    calendar is the one that transaction sees."""

    def __init__(self, store: EventStore, base: Calendar = NATIONAL) -> None:
        self.store = store
        self.base = base
        self.stream_id = calendar_stream_id(store.region)
        self._lock = threading.Lock()
        self._cached: tuple[int, Calendar] = (0, base)

    def __call__(self, tx: StoreTransaction | None = None) -> Calendar:
        reader: EventStore | StoreTransaction = tx if tx is not None else self.store
        version = reader.stream_version(self.stream_id)
        with self._lock:
            cached_version, calendar = self._cached
        if version == cached_version:
            return calendar
        history = reader.read_stream(self.stream_id)
        in_force = [versions[-1] for versions in published_years(history).values()]
        calendar = self.base.with_years([*in_force, *(y for y in self.base.years if y.year not in
                                                      {p.year for p in in_force})])
        with self._lock:
            if len(history) >= self._cached[0]:
                self._cached = (len(history), calendar)
        return calendar


def _events(history: Iterable[RecordedEvent]) -> Iterable[CalendarYearPublished]:
    for event in history:
        if event.type != _TYPE:
            raise ValueError(f"unexpected event type {event.type!r} in calendar stream {event.stream_id}")
        yield CalendarYearPublished.from_message(calendar_pb2.CalendarYearPublished.FromString(event.payload))
