"""What every handler of the service shares: its dependencies, wired once by bootstrap.py.
Recording, owner checks and what travels with events are the unit of work's (subscribers.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.calendars import CalendarInForce
from services.common.clock import Clock
from services.common.kit import UnitsOfWork
from services.common.store import EventStore, StoreTransaction
from services.common.working_days import NATIONAL, Calendar
from services.disability.domain.rules import StandardsConfigured, check
from services.disability.domain.settings import RegionalSettings, settings_for

SERVICE = "disability"
CASE_KIND = "disability"


@dataclass(frozen=True)
class DisabilitySettings:
    """Per-region configuration: the subsidies' regional settings (standards, extensions, stage
    limits; domain/settings.py) and the base of the calendar the stage limits are counted on."""

    regional: RegionalSettings | None  # None: the region has published no standards yet
    calendar: Calendar = NATIONAL

    @classmethod
    def of_region(cls, region: str) -> DisabilitySettings:
        """The region's configured settings; a region without any still runs the service (its
        cases, reads and audits), but takes no application until its standards are configured."""
        try:
            return cls(settings_for(region))
        except LookupError:
            return cls(None)


@dataclass(frozen=True)
class Deps:
    units: UnitsOfWork
    clock: Clock
    region: str
    settings: DisabilitySettings
    calendar_in_force: CalendarInForce | None = field(default=None)

    def calendar(self, tx: StoreTransaction | None = None) -> Calendar:
        """The calendar in force in the region (the years' notices recorded in its store over the
        configured base), as `tx` sees it when given."""
        if self.calendar_in_force is None:
            return self.settings.calendar
        return self.calendar_in_force(tx)

    @property
    def regional(self) -> RegionalSettings:
        """The region's settings, or a refusal (FAILED_PRECONDITION) naming what is missing."""
        check(StandardsConfigured(self.region, self.settings.regional is not None))
        assert self.settings.regional is not None
        return self.settings.regional

    @property
    def store(self) -> EventStore:
        return self.units.store
