"""The rules of a monthly payment batch (services/common/payments/rules.py), on the pure aggregate:
each test names the rule and the text it rests on — 国发〔2015〕52号 and 社会救助暂行办法 第12条 (paid
monthly), and the domain rules' "Payment batches" (counts and totals, sent once, confirmed or
returned per record, a returned payment re-queued or stopped with a reason, nobody paid twice)."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import date

import pytest

from services.common.errors import RuleViolation
from services.common.kit.rules import Rule
from services.common.payments import rules
from services.common.payments.batch import PaymentBatch, batch_id_of
from services.common.payments.due import Due, line_id_of, month_of, months, next_month
from services.common.payments.events import LineStatus, PaymentLinesAdded, RecordedLine

MARCH = batch_id_of("sample", "640000", "2027-03")
FEBRUARY = batch_id_of("sample", "640000", "2027-02")


def due(n: int, month: str = "2027-03", amount_fen: object = 11_000) -> Due:
    return Due(f"case-{n}/living", f"case-{n}", f"64010419900101{n:04d}", f"person {n}", "sample.living", month,
               amount_fen, f"62220202000000{n:04d}")  # type: ignore[arg-type]


def open_batch(month: str = "2027-03") -> PaymentBatch:
    return PaymentBatch().applied(PaymentBatch.open("sample", "640000", month))


def with_lines(batch: PaymentBatch, *dues: Due) -> PaymentBatch:
    return batch.applied(batch.add_lines(dues, {}))


def refused_by(rule: type[Rule], decide: object, *args: object) -> RuleViolation:
    with pytest.raises(RuleViolation) as refused:
        decide(*args)  # type: ignore[operator]
    assert refused.value.rule == rule.__name__
    assert rule.article in refused.value.message
    return refused.value


def test_every_payment_rule_names_itself_and_its_article() -> None:
    found = [c for _, c in inspect.getmembers(rules, inspect.isclass)
             if issubclass(c, Rule) and c is not Rule and c.__module__ == rules.__name__]
    assert len(found) >= 8
    for rule in found:
        assert rule.name and rule.article, f"{rule.__name__} names its article"


def test_a_batch_counts_its_lines_and_totals_their_fen_chunk_by_chunk() -> None:
    """Payment batches: each monthly run is a batch with counts and totals."""
    batch = with_lines(open_batch(), due(1), due(2))
    batch = with_lines(batch, due(3, amount_fen=12_000))
    assert (batch.batch_id, batch.chunks, batch.line_count, batch.total_fen) == (MARCH, 2, 3, 34_000)
    assert batch.close()[0].line_count == 3 and batch.close()[0].total_fen == 34_000


def test_line_paid_once_skips_lines_already_in_this_or_an_earlier_batch() -> None:
    """LinePaidOnce (Payment batches: nobody paid twice): a line recorded before a crash, or paid in
    February, or stopped, is not added again; the same due twice in one chunk counts once."""
    recorded = {
        due(1).line_id: RecordedLine(due(1).line_id, MARCH, LineStatus.ADDED, 11_000),
        due(2).line_id: RecordedLine(due(2).line_id, FEBRUARY, LineStatus.CONFIRMED, 11_000),
        due(3).line_id: RecordedLine(due(3).line_id, FEBRUARY, LineStatus.STOPPED, 11_000),
    }
    [added] = open_batch().add_lines([due(1), due(2), due(3), due(4), due(4)], recorded)
    assert [line.line_id for line in added.lines] == [due(4).line_id]
    assert (added.line_count, added.total_fen) == (1, 11_000)
    assert open_batch().add_lines([due(1), due(2)], recorded) == [], "nothing new: no event at all"


def test_a_line_the_bank_returned_comes_back_as_a_requeued_payment() -> None:
    """Payment batches: a returned payment is retried — the next run adds it, naming the batch
    that returned it."""
    february_line = due(7, month="2027-02")
    recorded = {february_line.line_id: RecordedLine(february_line.line_id, FEBRUARY, LineStatus.RETURNED, 11_000)}
    [added] = open_batch().add_lines([february_line], recorded)
    assert added.lines[0].requeued_from == FEBRUARY and added.lines[0].month == "2027-02"


@pytest.mark.parametrize("amount", [0, -100, 110.0, "11000"])
def test_amount_in_whole_fen_refuses_the_chunk(amount: object) -> None:
    """AmountInWholeFen (国发〔2015〕52号 按月发放): an amount is a positive integer of fen."""
    refused_by(rules.AmountInWholeFen, open_batch().add_lines, [due(1), due(2, amount_fen=amount)], {})


@pytest.mark.parametrize("field", ["entitlement_id", "citizen_id", "bank_account"])
def test_payee_named_refuses_a_line_without_entitlement_person_or_account(field: str) -> None:
    """PayeeNamed (国发〔2015〕52号 按月发放: paid per record into the person's account)."""
    refused_by(rules.PayeeNamed, open_batch().add_lines, [dataclasses.replace(due(1), **{field: ""})], {})


def test_no_payment_in_advance_but_back_pay_months_are_paid() -> None:
    """NoPaymentInAdvance (社会救助暂行办法 第12条 按月发给): April is not paid in March's run;
    January (back-pay) is."""
    refused_by(rules.NoPaymentInAdvance, open_batch().add_lines, [due(1, month="2027-04")], {})
    [added] = open_batch().add_lines([due(1, month="2027-01")], {})
    assert added.lines[0].line_id == line_id_of("case-1/living", "2027-01")


def test_a_closed_batch_takes_no_lines_and_closes_once() -> None:
    """ClosedBatchTakesNoLines (Payment batches: counts and totals are final when closed)."""
    closed = with_lines(open_batch(), due(1))
    closed = closed.applied(closed.close())
    refused_by(rules.ClosedBatchTakesNoLines, closed.add_lines, [due(2)], {})
    refused_by(rules.ClosedBatchTakesNoLines, closed.close)


def test_a_batch_is_sent_when_closed_and_never_paid_twice() -> None:
    """BatchClosedBeforeSending, BatchSentOnce (Payment batches: a batch is never paid twice)."""
    batch = with_lines(open_batch(), due(1))
    refused_by(rules.BatchClosedBeforeSending, batch.send)
    batch = batch.applied(batch.close())
    [sent] = batch.send()
    assert (sent.line_count, sent.total_fen) == (1, 11_000)
    refused_by(rules.BatchSentOnce, batch.applied([sent]).send)


def test_the_bank_settles_a_line_it_holds_once() -> None:
    """LineAwaitsTheBank (Payment batches: confirmed or returned per record)."""
    batch = open_batch()
    line = due(1).line_id
    sent = {line: RecordedLine(line, MARCH, LineStatus.SENT, 11_000)}
    [confirmed] = batch.confirm([line, line], sent)
    assert (confirmed.line_ids, confirmed.total_fen) == ((line,), 11_000)
    paid = {line: RecordedLine(line, MARCH, LineStatus.CONFIRMED, 11_000)}
    refused_by(rules.LineAwaitsTheBank, batch.confirm, [line], paid)
    refused_by(rules.LineAwaitsTheBank, batch.return_, line, "account closed", paid[line])
    elsewhere = RecordedLine(line, FEBRUARY, LineStatus.SENT, 11_000)
    refused_by(rules.LineAwaitsTheBank, batch.confirm, [line], {line: elsewhere})
    refused_by(rules.LineAwaitsTheBank, batch.confirm, ["nobody@2027-03"], {})


def test_a_return_and_a_stop_say_why_and_only_a_returned_line_stops() -> None:
    """ReasonGiven, OnlyReturnedLinesStop (Payment batches: re-queued or stopped with a reason)."""
    batch = open_batch()
    line = due(1).line_id
    sent = RecordedLine(line, MARCH, LineStatus.SENT, 11_000)
    refused_by(rules.ReasonGiven, batch.return_, line, "  ", sent)
    [returned] = batch.return_(line, " account closed ", sent)
    assert (returned.reason, returned.amount_fen) == ("account closed", 11_000)
    refused_by(rules.OnlyReturnedLinesStop, batch.stop, line, "deceased", sent)
    back = RecordedLine(line, MARCH, LineStatus.RETURNED, 11_000)
    refused_by(rules.ReasonGiven, batch.stop, line, "", back)
    assert batch.stop(line, "deceased", back)[0].reason == "deceased"


def test_the_fold_reads_counts_not_lines() -> None:
    """A batch's state is counts and totals (cheap to load on every chunk of a long run)."""
    batch = with_lines(open_batch(), due(1), due(2))
    assert not any(isinstance(v, PaymentLinesAdded | tuple | list) for v in vars(batch).values())


def test_months_a_source_owes_run_from_the_first_to_the_last_included() -> None:
    """Payment starts from a month and stops from the month after (国发〔2015〕52号); back-pay
    months are owed one by one."""
    assert month_of(date(2027, 12, 31)) == "2027-12"
    assert next_month("2027-12") == "2028-01" and next_month("2027-01") == "2027-02"
    assert months("2026-11", "2027-02") == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert months("2027-03", "2027-02") == []
    with pytest.raises(ValueError):
        next_month("2027-13")
