"""Many writers in several processes race on one stream: each version is won exactly once."""

from __future__ import annotations

import multiprocessing

from services.common.errors import ConcurrencyConflict
from services.common.store import EventStore, verify_store
from tests.support import new_event

PROCESSES = 4
WINS_PER_PROCESS = 15
STREAM = "contested-case"


def _writer(url: str, name: str, wins: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = EventStore.open(url, region="640000", service="marriage", create=False)
    won: list[int] = []
    conflicts = 0
    while len(won) < wins:
        version = store.stream_version(STREAM)
        try:
            [event] = store.append(STREAM, "t", version, [new_event(f"{name}:{len(won)}")])
            won.append(event.version)
        except ConcurrencyConflict:
            conflicts += 1  # somebody else won this version; reload and try the next
    store.close()
    results.put((name, won, conflicts))


def test_concurrent_writers_in_several_processes_win_each_version_once(store_url: str) -> None:
    EventStore.open(store_url, region="640000", service="marriage").close()
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(store_url, f"w{i}", WINS_PER_PROCESS, results))
             for i in range(PROCESSES)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    won = sorted(v for _, versions, _ in outcomes for v in versions)
    total = PROCESSES * WINS_PER_PROCESS
    assert won == list(range(1, total + 1)), "every version won exactly once, no gaps, no duplicates"
    store = EventStore.open(store_url, region="640000", service="marriage", create=False)
    try:
        stream = store.read_stream(STREAM)
        assert [e.version for e in stream] == list(range(1, total + 1))
        writers = {e.message().value.split(":")[0] for e in stream}
        assert writers == {f"w{i}" for i in range(PROCESSES)}
        report = verify_store(store)
        assert report.ok, report.problem
        assert report.events_checked == total
    finally:
        store.close()
    print(f"conflicts retried: {sum(c for _, _, c in outcomes)}")
