"""The roll of a batch as CSV, for the bank and the office: a header, one row per line in line-id
order, then totals — all lines, and per status — in fen and in yuan. Bank accounts are masked to
their last 4 digits unless the caller asks otherwise (an export leaves the system)."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from sqlalchemy.engine import Connection

from services.common.payments import queries

HEADER = ("batch_id", "line_id", "case_id", "citizen_id", "name", "benefit", "month", "amount_fen", "amount_yuan",
          "bank_account", "status", "requeued_from")
TOTAL = "TOTAL"


def mask_account(account: str, keep: int = 4) -> str:
    """All but the last `keep` characters as '*' (all of a short one)."""
    if len(account) <= keep:
        return "*" * len(account)
    return "*" * (len(account) - keep) + account[-keep:]


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals, by integer arithmetic (no float ever touches money)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


@dataclass
class ExportTotals:
    lines: int = 0
    total_fen: int = 0
    by_status: Counter[str] = field(default_factory=Counter)  # status → lines
    fen_by_status: Counter[str] = field(default_factory=Counter)  # status → fen


def write_csv(conn: Connection, batch_id: str, out: TextIO, *, mask_accounts: bool = True) -> ExportTotals:
    if queries.batch_summary(conn, batch_id) is None:
        raise LookupError(f"no payment batch {batch_id}")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    totals = ExportTotals()
    for row in queries.batch_lines(conn, batch_id):
        account = mask_account(row.bank_account) if mask_accounts else row.bank_account
        writer.writerow((batch_id, row.line_id, row.case_id, row.citizen_id, row.name, row.benefit, row.month,
                         row.amount_fen, yuan(row.amount_fen), account, row.status, row.requeued_from))
        totals.lines += 1
        totals.total_fen += row.amount_fen
        totals.by_status[row.status] += 1
        totals.fen_by_status[row.status] += row.amount_fen
    writer.writerow(_total_row(batch_id, "all", totals.lines, totals.total_fen))
    for status in sorted(totals.by_status):
        writer.writerow(_total_row(batch_id, status, totals.by_status[status], totals.fen_by_status[status]))
    return totals


def _total_row(batch_id: str, status: str, lines: int, fen: int) -> tuple[object, ...]:
    # A totals row reads in the same columns: the line count where line ids stand, the sums under
    # the amounts, the status it counts under status.
    return (batch_id, TOTAL, f"{lines} lines", "", "", "", "", fen, yuan(fen), "", status, "")
