"""How a service wires the run, on real stores: with its own units of work (whose codec does not
read payment events) the run still records through payment units over the same store; a bank
step retried with its client request id records nothing (invariant 9); two runs of one month at
once still pay each person once (Payment batches: nobody paid twice)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from services.common.errors import ConcurrencyConflict, RuleViolation
from services.common.kit import Request, UnitsOfWork
from services.common.payments import CODEC, PaymentRuns
from services.common.payments.run import MAX_CHUNK
from services.common.store import EventStore
from tests.integration.payments.support import lines_in_log, read_model_lines
from tests.kit_sample.bootstrap import CODEC as NOTES_CODEC
from tests.payments_sample.source import SampleSource
from tests.payments_sample.wiring import REGION, SERVICE, open_store, payment_runs, provenance


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def test_a_service_may_hand_its_own_units_to_the_run(store: EventStore) -> None:
    runs = PaymentRuns(UnitsOfWork(store, NOTES_CODEC), REGION, SERVICE)
    assert runs.units.codec is CODEC
    assert runs.run("2027-03", SampleSource(3), provenance()).added == 3
    assert read_model_lines(store) == 3


def test_a_bank_step_retried_with_its_request_id_records_nothing(store: EventStore) -> None:
    """BatchSentOnce refuses a second send; the retry of the same send (same request id) is
    answered as the first was, and appends nothing."""
    runs = payment_runs(store)
    batch = runs.run("2027-03", SampleSource(2), provenance()).batch
    send = Request("req-send-1", "fingerprint-of-send")
    runs.send(batch.batch_id, provenance(step="send"), send)
    head = store.head()
    assert runs.send(batch.batch_id, provenance(step="send-retry"), send).state == "sent"
    assert store.head() == head
    with pytest.raises(RuleViolation, match="never paid twice"):
        runs.send(batch.batch_id, provenance(step="send-again"), Request("req-send-2", "fingerprint-of-send"))


def test_two_runs_of_one_month_at_once_pay_each_person_once(store_url: str, store: EventStore) -> None:
    """Two operators start March together: the batch's expected version lets one chunk in at a time,
    and `payment_lines` is unique per line; whichever run loses a race stops (ABORTED), and a
    rerun finishes the month."""
    people, errors = 60, []
    start = threading.Barrier(2)
    stores = [open_store(store_url) for _ in range(2)]
    operators = [payment_runs(own) for own in stores]  # tables ensured before the race, not during it

    def operator(runs: PaymentRuns, name: str) -> None:
        start.wait(timeout=30)
        try:
            runs.run("2027-03", SampleSource(people), provenance(step=name), chunk=7)
        except ConcurrencyConflict as conflict:
            errors.append(conflict)

    threads = [threading.Thread(target=operator, args=(runs, f"run-{n}")) for n, runs in enumerate(operators)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for own in stores:
        own.close()
    assert not any(t.is_alive() for t in threads)
    assert len(errors) <= 1
    result = payment_runs(store).run("2027-03", SampleSource(people), provenance(step="finish"), chunk=7)
    assert result.batch.line_count == people
    log = lines_in_log(store, "2027-03")
    assert len(log) == people and set(log.values()) == {1}


def test_a_chunk_is_at_most_one_kafka_message(store: EventStore) -> None:
    """A chunk is one event the relay publishes: more than MAX_CHUNK lines is refused before
    anything is recorded."""
    head = store.head()
    with pytest.raises(ValueError, match="chunk must be 1 to"):
        payment_runs(store).run("2027-03", SampleSource(1), provenance(), chunk=MAX_CHUNK + 1)
    assert store.head() == head
