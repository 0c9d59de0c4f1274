"""The disability service's monthly run in a child process that stops dead part-way, for a test to
SIGKILL:

    python -m tests.integration.payments.disability_crashing_run URL MONTH CHUNK PAUSE_AT WHERE

The service is wired as the host wires it (bootstrap over the region's store); the run pays what
its own source owes. It prints "PAUSED" and waits forever once the run has taken PAUSE_AT dues
(WHERE=source: between chunks) or once chunk PAUSE_AT is recorded but not committed
(WHERE=transaction: the same runs over the same store, with a subscriber that stops inside it)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.kit import Change, Provenance, UnitOfWork
from services.common.payments import Due, DueSource, PaymentRuns, payment_subscribers, payment_units
from services.common.payments.events import PaymentLinesAdded
from services.common.store import EventStore
from services.disability import bootstrap
from services.host import Infrastructure

REGION = "640000"
RUN_AT = datetime(2026, 2, 1, 2, 0, tzinfo=UTC)


def pause() -> None:
    print("PAUSED", flush=True)
    threading.Event().wait()  # until killed


class PausingSource:
    def __init__(self, source: DueSource, pause_at: int) -> None:
        self.source, self.pause_at = source, pause_at

    def due(self, month: str) -> Iterator[Due]:
        for n, due in enumerate(self.source.due(month)):
            if n == self.pause_at:
                pause()
            yield due


def open_disability(url: str) -> EventStore:
    return EventStore.open(url, region=REGION, service="disability", clock=FakeClock(RUN_AT),
                           tables=bootstrap.definition().tables)


def finance(step: str = "run") -> Provenance:
    return Provenance(Actor("clerk", "f-1", "640104-CZJ", REGION, "finance"), step, f"command-{step}", RUN_AT)


def main(argv: Sequence[str]) -> int:
    url, month, chunk, pause_at, where = argv
    store = open_disability(url)
    wired = bootstrap.bootstrap(Infrastructure.over(store)).payments
    runs, source = wired.runs, wired.source
    if where == "source":
        source = PausingSource(source, int(pause_at))
    else:
        def pause_in_chunk(uow: UnitOfWork, changes: Sequence[Change]) -> None:
            if any(isinstance(e, PaymentLinesAdded) and e.chunk_no == int(pause_at) for c in changes for e in c.events):
                pause()
        runs = PaymentRuns(payment_units(store, payment_subscribers().on_commit(pause_in_chunk)), REGION, "disability")
    runs.run(month, source, finance(), chunk=int(chunk))
    print("FINISHED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
