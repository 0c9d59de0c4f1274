"""What a paying service writes to use the run: its store, the payment units, a PaymentRuns."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.kit import Provenance, Subscribers
from services.common.payments import PaymentRuns, payment_units
from services.common.store import EventStore

REGION = "640000"
SERVICE = "sample"
FIRST_OF_MARCH = datetime(2027, 3, 1, 9, tzinfo=UTC)
OPERATOR = Actor("clerk", "c-pay", "640104-MZJ-01", REGION, "payments")


def open_store(url: str, clock: FakeClock | None = None) -> EventStore:
    return EventStore.open(url, region=REGION, service=SERVICE, clock=clock or FakeClock(FIRST_OF_MARCH))


def payment_runs(store: EventStore, subscribers: Subscribers | None = None) -> PaymentRuns:
    return PaymentRuns(payment_units(store, subscribers), REGION, SERVICE)


def provenance(at: datetime = FIRST_OF_MARCH, step: str = "run") -> Provenance:
    return Provenance(OPERATOR, "payments", f"command-{step}", at)
