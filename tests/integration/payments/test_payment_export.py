"""The roll of a batch as CSV (issue 13: "a CSV export of the roll"; Payment batches: counts and
totals): a header, one row per line, totals overall and per status, accounts masked to their last
4 digits unless the office asks for them in full."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from services.common.payments.export import HEADER, TOTAL
from services.common.store import EventStore
from tests.payments_sample.source import SampleSource, account, citizen_id
from tests.payments_sample.wiring import open_store, payment_runs, provenance


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def test_the_export_lists_every_line_with_masked_accounts_and_totals(store: EventStore) -> None:
    runs = payment_runs(store)
    batch = runs.run("2027-03", SampleSource(3), provenance(), chunk=2).batch
    runs.send(batch.batch_id, provenance(step="send"))
    lines = [r.line_id for r in runs.roll(batch.batch_id)]
    runs.confirm(batch.batch_id, lines[:2], provenance(step="confirm"))
    runs.return_(lines[2], "account closed", provenance(step="return"))

    out = io.StringIO()
    totals = runs.export_csv(batch.batch_id, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == HEADER
    assert rows[1] == [batch.batch_id, "case-0000000/living@2027-03", "case-0000000", citizen_id(0), "person 0",
                       "sample.living", "2027-03", "11000", "110.00", "*" * 15 + account(0)[-4:], "confirmed", ""]
    assert [r[10] for r in rows[1:4]] == ["confirmed", "confirmed", "returned"]
    assert all(account(n) not in out.getvalue() for n in range(3)), "no full account leaves in an export"
    assert rows[4:] == [
        [batch.batch_id, TOTAL, "3 lines", "", "", "", "", "33000", "330.00", "", "all", ""],
        [batch.batch_id, TOTAL, "2 lines", "", "", "", "", "22000", "220.00", "", "confirmed", ""],
        [batch.batch_id, TOTAL, "1 lines", "", "", "", "", "11000", "110.00", "", "returned", ""],
    ]
    assert (totals.lines, totals.total_fen) == (3, 33_000)

    full = io.StringIO()
    runs.export_csv(batch.batch_id, full, mask_accounts=False)
    assert account(1) in full.getvalue()
