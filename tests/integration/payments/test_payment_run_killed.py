"""A payment run killed mid-way and rerun pays each person exactly once and skips nobody (issue 13,
"a payment run killed mid-way"; Payment batches: nobody paid twice). The run is a real child
process killed with SIGKILL — between chunks, and inside a chunk's open transaction — on SQLite
and PostgreSQL; the rerun happens here, on the same store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from services.common.audit.datadir import StoreRef
from services.common.audit.verify import audit_verify
from services.common.store import EventStore
from tests.integration.payments.support import chunks_in_log, lines_in_log, read_model_lines
from tests.payments_sample.source import AMOUNT_FEN, SampleSource
from tests.payments_sample.wiring import REGION, SERVICE, open_store, payment_runs, provenance

ROOT = Path(__file__).resolve().parents[3]
PEOPLE = 45
CHUNK = 10
DEADLINE_S = 60


def run_until_paused(url: str, pause_at: int, where: str) -> None:
    """Start the run in a child, wait (with a deadline) until it says it is paused, SIGKILL it."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.payments_sample.crashing_run", url, "2027-03", str(PEOPLE), str(CHUNK),
         str(pause_at), where],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    paused = threading.Event()

    def watch() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == "PAUSED":
                paused.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        if not paused.wait(DEADLINE_S):
            child.kill()
            raise AssertionError(f"the run never paused: {child.communicate()[1]}")
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=DEADLINE_S) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def assert_everyone_paid_once(store: EventStore) -> None:
    log = lines_in_log(store, "2027-03")
    assert len(log) == PEOPLE and set(log.values()) == {1}, "each person exactly once, nobody skipped"
    assert read_model_lines(store) == PEOPLE


@pytest.mark.parametrize(("pause_at", "where", "chunks_kept"), [
    (2 * CHUNK + CHUNK // 2, "source", 2),  # reading the third chunk: two committed
    (3, "transaction", 2),  # chunk 3 recorded, not committed: two committed
], ids=["between-chunks", "inside-a-chunk-transaction"])
def test_a_run_killed_mid_way_and_rerun_pays_each_person_exactly_once(
        store_url: str, pause_at: int, where: str, chunks_kept: int) -> None:
    run_until_paused(store_url, pause_at, where)
    store = open_store(store_url)
    try:
        assert chunks_in_log(store, "2027-03") == chunks_kept
        assert read_model_lines(store) == chunks_kept * CHUNK, "the read model is exactly the committed chunks"
        runs = payment_runs(store)
        assert runs.summary("2027-03").state == "open"  # type: ignore[union-attr]

        rerun = runs.run("2027-03", SampleSource(PEOPLE), provenance(step="rerun"), chunk=CHUNK)
        assert (rerun.added, rerun.skipped) == (PEOPLE - chunks_kept * CHUNK, chunks_kept * CHUNK)
        assert (rerun.batch.state, rerun.batch.line_count, rerun.batch.total_fen) == (
            "closed", PEOPLE, PEOPLE * AMOUNT_FEN)
        assert_everyone_paid_once(store)
        verified = audit_verify([StoreRef(REGION, SERVICE, store_url)], check_checkpoints_held=False)
        assert verified.ok, "the killed run left every hash chain intact"
        assert runs.run("2027-03", SampleSource(PEOPLE), provenance(step="again"), chunk=CHUNK).added == 0
    finally:
        store.close()
