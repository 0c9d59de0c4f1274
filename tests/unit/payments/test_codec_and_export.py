"""The payment events round-trip through proto/tongban/payments/v1 field for field (repeated lines
included), and the export's money and masking rules: integer fen as yuan, accounts masked to
their last 4 digits."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from services.common.events import Actor
from services.common.kit import Provenance
from services.common.payments import events as ev
from services.common.payments.codec import CODEC
from services.common.payments.export import mask_account, yuan
from tongban.payments.v1 import events_pb2

LINE = ev.PaymentLine("case-1/living@2027-03", "case-1/living", "case-1", "640104199001010011", "张三",
                      "disability.living", "2027-03", 11_000, "6222020200000000123", "")
EXAMPLES = [
    ev.PaymentBatchOpened("b", "disability", "640000", "2027-03"),
    ev.PaymentLinesAdded("b", 1, 2, 22_000, (LINE, dataclasses.replace(LINE, line_id="x", requeued_from="a"))),
    ev.PaymentBatchClosed("b", 2, 22_000),
    ev.PaymentBatchSent("b", 2, 22_000),
    ev.PaymentLinesConfirmed("b", ("l1", "l2"), 22_000),
    ev.PaymentLineReturned("b", "l1", 11_000, "account closed"),
    ev.PaymentLineStopped("b", "l1", 11_000, "deceased"),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_its_stored_form(event: object) -> None:
    provenance = Provenance(Actor.system("640000", "payments"), "b", "c", datetime(2027, 3, 1, tzinfo=UTC))
    new = CODEC.new_event(event, provenance)
    stored = dataclasses.make_dataclass("Stored", ["type", "payload", "schema_version", "stream_id", "version"])(
        new.type, new.payload, 1, "b", 1)
    assert CODEC.decode(stored) == event  # type: ignore[arg-type]


def test_every_message_field_is_carried_by_its_dataclass() -> None:
    for cls in (*ev.EVENT_CLASSES, ev.PaymentLine):
        message = getattr(events_pb2, cls.__name__)
        assert {f.name for f in message.DESCRIPTOR.fields} == {f.name for f in dataclasses.fields(cls)}, cls


def test_money_is_shown_in_yuan_without_floats() -> None:
    assert [yuan(11_000), yuan(5), yuan(123_456_789), yuan(-250)] == ["110.00", "0.05", "1234567.89", "-2.50"]


def test_an_exported_account_keeps_its_last_four_digits() -> None:
    assert mask_account("6222020200000000123") == "***************0123"
    assert mask_account("123") == "***"
