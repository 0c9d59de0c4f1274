"""Group commit and a crash (issue 15): a writer process killed with SIGKILL while a group is open
loses exactly the commands that were not yet acknowledged — the whole of each — and never half of a
command; every acknowledged command is in the store, and the chains verify (invariants 1 and 3)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from pathlib import Path

from services.common.store import NO_STREAM, EventStore, verify_store
from tests.support import new_event, wait_until

THREADS = 6
COMMANDS = 8


def _command(store: EventStore, stream_id: str) -> None:
    """Three events in two appends: a half-recorded command would show one or two of them."""
    with store.transaction() as tx:
        tx.append(stream_id, "case", NO_STREAM, [new_event("1"), new_event("2")])
        tx.append(stream_id, "case", 2, [new_event("3")])


def _writer(url: str, acks: str, marker: str) -> None:
    store = EventStore.open(url, region="640000", service="marriage", create=False, group_commit=64)
    group = store.group
    assert group is not None
    ack = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def acknowledged_commands(n: int) -> None:
        for m in range(COMMANDS):
            stream_id = f"acked-{n}-{m}"
            _command(store, stream_id)
            os.write(ack, f"{stream_id}\n".encode())  # the caller's answer: only after the commit

    writers = [threading.Thread(target=acknowledged_commands, args=(n,)) for n in range(THREADS)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()

    # Then a group left open: one whole command, and a second one stopped between its two appends.
    def whole() -> None:
        with store.transaction() as tx:
            tx.append("unacked-whole", "case", NO_STREAM, [new_event("1"), new_event("2"), new_event("3")])
            wait_until(lambda: group.queued >= 1, what="the second member queued")
        os.write(ack, b"unacked-whole\n")  # never reached: the group never commits

    def half() -> None:
        with store.transaction() as tx:
            tx.append("unacked-half", "case", NO_STREAM, [new_event("1"), new_event("2")])
            Path(marker).write_text("mid-command")
            threading.Event().wait()  # killed here

    first = threading.Thread(target=whole)
    first.start()
    wait_until(lambda: group.open_members == 1, what="the first member inside the group")
    threading.Thread(target=half).start()
    first.join()


def test_sigkill_mid_group_loses_only_unacknowledged_commands_whole(store_url: str, tmp_path: Path) -> None:
    EventStore.open(store_url, region="640000", service="marriage").close()
    acks, marker = tmp_path / "acks", tmp_path / "marker"
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_writer, args=(store_url, str(acks), str(marker)))
    proc.start()
    try:
        wait_until(marker.exists, timeout=120, what="the writer stopped inside an open group")
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=30)
    finally:
        if proc.is_alive():
            proc.kill()
    assert proc.exitcode == -signal.SIGKILL
    acked = acks.read_text().split()
    assert len(acked) == THREADS * COMMANDS
    store = EventStore.open(store_url, region="640000", service="marriage", create=False)
    try:
        for stream_id in acked:
            assert [e.version for e in store.read_stream(stream_id)] == [1, 2, 3], stream_id
        assert store.read_stream("unacked-whole") == []
        assert store.read_stream("unacked-half") == []
        report = verify_store(store)
        assert report.ok, report.problem
        assert report.events_checked == 3 * len(acked), "nothing but whole acknowledged commands"
        # The store takes writes again: the killed writer's transaction left no lock behind.
        store.append("after-crash", "case", NO_STREAM, [new_event("next")])
        assert verify_store(store).ok
    finally:
        store.close()
