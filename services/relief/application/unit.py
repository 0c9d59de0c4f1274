"""What every handler of relief shares: its dependencies, wired once by bootstrap.py. Recording, the
owner check and what travels with events are the unit of work's (subscribers.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from services.common.calendars import CalendarInForce
from services.common.clock import Clock
from services.common.events import Actor
from services.common.kit import Provenance, UnitsOfWork
from services.common.store import EventStore, StoreTransaction
from services.relief.domain.rules import ClerkOfThisRegion, check
from services.relief.domain.settings import ReliefSettings

SERVICE = "relief"


@dataclass(frozen=True)
class Deps:
    units: UnitsOfWork
    clock: Clock
    region: str
    settings: ReliefSettings = field(default_factory=ReliefSettings)
    calendar_in_force: CalendarInForce | None = None

    def settings_now(self, tx: StoreTransaction | None = None) -> ReliefSettings:
        """The region's settings with the calendar in force (the notices recorded in its store)."""
        if self.calendar_in_force is None:
            return self.settings
        return replace(self.settings, calendar=self.calendar_in_force(tx))

    @property
    def store(self) -> EventStore:
        return self.units.store


def command(deps: Deps, actor: Actor, correlation_id: str) -> Provenance:
    return Provenance.of_command(actor, correlation_id, deps.clock.now())


def clerk_here(deps: Deps, actor: Actor) -> None:
    check(ClerkOfThisRegion(actor.kind, actor.region, deps.region))
