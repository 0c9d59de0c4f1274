"""A payment run in a child process that stops dead part-way, for a test to SIGKILL:

    python -m tests.payments_sample.crashing_run URL MONTH PEOPLE CHUNK PAUSE_AT WHERE

It prints "PAUSED" and waits forever once the run has taken PAUSE_AT dues from its source
(WHERE=source: between chunks, the earlier chunks committed) or once the chunk numbered PAUSE_AT
is recorded but not committed (WHERE=transaction: inside that chunk's transaction)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sequence

from services.common.kit import Change, UnitOfWork
from services.common.payments import Due, payment_subscribers
from services.common.payments.events import PaymentLinesAdded
from tests.payments_sample.source import SampleSource
from tests.payments_sample.wiring import open_store, payment_runs, provenance


def pause() -> None:
    print("PAUSED", flush=True)
    threading.Event().wait()  # until killed


class PausingSource(SampleSource):
    pause_at: int = -1

    def due(self, month: str) -> Iterator[Due]:
        for n, due in enumerate(super().due(month)):
            if n == self.pause_at:
                pause()
            yield due


def main(argv: Sequence[str]) -> int:
    url, month, people, chunk, pause_at, where = argv
    source = PausingSource(int(people))
    subscribers = payment_subscribers()
    if where == "source":
        source.pause_at = int(pause_at)
    else:
        def pause_in_chunk(uow: UnitOfWork, changes: Sequence[Change]) -> None:
            if any(isinstance(e, PaymentLinesAdded) and e.chunk_no == int(pause_at) for c in changes for e in c.events):
                pause()
        subscribers.on_commit(pause_in_chunk)
    store = open_store(url)
    payment_runs(store, subscribers).run(month, source, provenance(), chunk=int(chunk))
    print("FINISHED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
