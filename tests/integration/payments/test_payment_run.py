"""The monthly payment run on real stores, SQLite and PostgreSQL (Payment batches, domain rules;
国发〔2015〕52号 and 社会救助暂行办法 第12条: paid monthly): run twice → paid once; a run that fails
inside a chunk's transaction, rerun → each person exactly once, nobody skipped; a returned
payment re-queued into the next month; the read model rebuilt from the log by the audit replay."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from services.common.audit.datadir import StoreRef
from services.common.audit.replay import replay_store
from services.common.errors import RuleViolation
from services.common.kit import Change, UnitOfWork
from services.common.payments import LineStatus, payment_subscribers
from services.common.payments.events import PaymentLinesAdded
from services.common.payments.projections import PaymentsProjection
from services.common.store import EventStore
from tests.integration.payments.support import batch_of, chunks_in_log, lines_in_log, read_model_lines
from tests.payments_sample.source import AMOUNT_FEN, SampleSource, citizen_id
from tests.payments_sample.wiring import REGION, SERVICE, open_store, payment_runs, provenance

PEOPLE = 25
CHUNK = 10  # three chunks: 10, 10, 5


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def test_a_month_run_twice_pays_everyone_once(store: EventStore) -> None:
    """LinePaidOnce: the second run of March finds the closed batch and records nothing."""
    runs = payment_runs(store)
    first = runs.run("2027-03", SampleSource(PEOPLE), provenance(), chunk=CHUNK)
    head = store.head()
    again = runs.run("2027-03", SampleSource(PEOPLE), provenance(), chunk=CHUNK)
    assert (first.added, again.added) == (PEOPLE, 0)
    assert store.head() == head, "the rerun appended nothing"
    assert again.batch == first.batch
    assert (first.batch.state, first.batch.line_count, first.batch.total_fen) == ("closed", PEOPLE, PEOPLE * AMOUNT_FEN)
    assert set(lines_in_log(store, "2027-03").values()) == {1} and len(lines_in_log(store, "2027-03")) == PEOPLE
    assert chunks_in_log(store, "2027-03") == 3


def test_a_run_failing_inside_a_chunk_keeps_the_chunks_before_and_a_rerun_pays_the_rest_once(
        store: EventStore) -> None:
    """Each chunk is one transaction: chunk 2 fails after its lines and read-model rows were
    written, and leaves nothing; the rerun adds exactly the lines chunk 1 did not."""

    def fail_in_chunk_2(uow: UnitOfWork, changes: Sequence[Change]) -> None:
        if any(isinstance(e, PaymentLinesAdded) and e.chunk_no == 2 for c in changes for e in c.events):
            raise OSError("power cut")

    failing = payment_runs(store, payment_subscribers().on_commit(fail_in_chunk_2))
    with pytest.raises(OSError):
        failing.run("2027-03", SampleSource(PEOPLE), provenance(), chunk=CHUNK)
    assert (chunks_in_log(store, "2027-03"), read_model_lines(store)) == (1, CHUNK)

    rerun = payment_runs(store).run("2027-03", SampleSource(PEOPLE), provenance(step="rerun"), chunk=CHUNK)
    assert (rerun.added, rerun.skipped) == (PEOPLE - CHUNK, CHUNK)
    log = lines_in_log(store, "2027-03")
    assert len(log) == PEOPLE and set(log.values()) == {1}, "each person exactly once, nobody skipped"
    assert (rerun.batch.line_count, rerun.batch.total_fen) == (PEOPLE, PEOPLE * AMOUNT_FEN)
    assert read_model_lines(store) == PEOPLE


def test_a_month_already_paid_is_not_paid_again_as_back_pay(store: EventStore) -> None:
    """LinePaidOnce across batches: April's source also owes March (back-pay) for everyone; only
    person 3, whose March was never paid, gets it."""

    class WithBackPay(SampleSource):
        def due(self, month: str):  # type: ignore[no-untyped-def]
            yield from super().due(month)
            yield from SampleSource(self.people).due("2027-03")

    runs = payment_runs(store)
    runs.run("2027-03", SampleSource(5, stopped={3}), provenance(), chunk=2)
    april = runs.run("2027-04", WithBackPay(5), provenance(step="april"), chunk=2)
    assert (april.added, april.skipped) == (5 + 1, 4)
    assert [(r.month, r.batch_id) for r in runs.history(citizen_id(3))] == [
        ("2027-03", batch_of("2027-04")), ("2027-04", batch_of("2027-04"))]
    assert [(r.month, r.batch_id) for r in runs.history(citizen_id(0))] == [
        ("2027-03", batch_of("2027-03")), ("2027-04", batch_of("2027-04"))]


def test_a_returned_payment_is_requeued_into_next_months_run_and_a_stopped_one_is_not(store: EventStore) -> None:
    """Payment batches: sent to the bank, confirmed or returned per record; a returned payment is
    retried (re-queued into April's batch, with March as its month) or stopped with a reason."""
    runs = payment_runs(store)
    march = runs.run("2027-03", SampleSource(4), provenance(), chunk=CHUNK).batch
    runs.send(march.batch_id, provenance(step="send"))
    with pytest.raises(RuleViolation, match="never paid twice"):
        runs.send(march.batch_id, provenance(step="send-again"))
    lines = [r.line_id for r in runs.roll(march.batch_id)]
    runs.confirm(march.batch_id, lines[:2], provenance(step="confirm"))
    runs.return_(lines[2], "account closed", provenance(step="return"))
    runs.return_(lines[3], "person deceased", provenance(step="return-2"))
    runs.stop(lines[3], "person deceased: not paid again", provenance(step="stop"))
    settled = runs.summary("2027-03")
    assert settled is not None
    assert (settled.state, settled.confirmed_count, settled.returned_count, settled.stopped_count) == ("sent", 2, 2, 1)

    april = runs.run("2027-04", SampleSource(4, stopped={3}), provenance(step="april"), chunk=CHUNK)
    assert april.added == 3 + 1, "April's three, and March's returned line once more"
    requeued = [r for r in runs.roll(april.batch.batch_id) if r.requeued_from]
    assert [(r.line_id, r.month, r.requeued_from, r.status, r.attempts, r.reason) for r in requeued] == [
        (lines[2], "2027-03", march.batch_id, LineStatus.ADDED, 1, "account closed")]
    assert runs.run("2027-05", SampleSource(0), provenance(step="may"), chunk=CHUNK).added == 0, \
        "re-queued once: not again while it is in April's batch"
    assert [(b.month, b.state, b.line_count, b.total_fen) for b in runs.batches()] == [
        ("2027-03", "sent", 4, 4 * AMOUNT_FEN), ("2027-04", "closed", 4, 4 * AMOUNT_FEN),
        ("2027-05", "closed", 0, 0)], "the monthly roll of the region"
    stopped = [r for r in runs.roll(march.batch_id) if r.status == LineStatus.STOPPED]
    assert [(r.line_id, r.reason) for r in stopped] == [(lines[3], "person deceased: not paid again")]


def test_the_payment_read_models_are_rebuilt_from_the_log_identically(store: EventStore, store_url: str) -> None:
    """Read models are always rebuildable from the log: `audit replay` folds every payment event
    (chunks, sends, confirmations, returns, stops, re-queues) into the same rows."""
    runs = payment_runs(store)
    march = runs.run("2027-03", SampleSource(6), provenance(), chunk=4).batch
    runs.send(march.batch_id, provenance(step="send"))
    lines = [r.line_id for r in runs.roll(march.batch_id)]
    runs.confirm(march.batch_id, lines[:3], provenance(step="confirm"))
    runs.return_(lines[3], "wrong name", provenance(step="return"))
    runs.return_(lines[4], "deceased", provenance(step="return-2"))
    runs.stop(lines[4], "deceased", provenance(step="stop"))
    runs.run("2027-04", SampleSource(6), provenance(step="april"), chunk=4)
    replay = replay_store(StoreRef(REGION, SERVICE, store_url), store, [PaymentsProjection()])
    assert not replay.differences
    assert replay.results[0].rows == {"payment_lines": 6 + 6, "payment_batches": 2}
