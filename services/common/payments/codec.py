"""The payment events ↔ proto/tongban/payments/v1/events.proto.

The kit's generic mapping (services/common/kit/codec.py) carries scalar and nested fields; a chunk
of lines and a confirmation file are repeated fields, mapped here by hand. Reading a chunk back
does not build its 1,000 lines: `PaymentLinesAdded.lines` is a `LazyLines` over the parsed
message, so loading a batch (whose fold reads each chunk's count and total only) stays cheap on
every chunk of a long run, and a line is built when someone reads it (the read-model replay)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

from google.protobuf.message import Message

from services.common.events import RecordedEvent
from services.common.kit.codec import PayloadCodec
from services.common.payments import events as ev
from tongban.payments.v1 import events_pb2

_LINE_FIELDS = ("line_id", "entitlement_id", "case_id", "citizen_id", "name", "benefit", "month", "amount_fen",
                "bank_account", "requeued_from")


def line_to_message(line: ev.PaymentLine) -> events_pb2.PaymentLine:
    return events_pb2.PaymentLine(**{f: getattr(line, f) for f in _LINE_FIELDS})


def line_from_message(m: events_pb2.PaymentLine) -> ev.PaymentLine:
    return ev.PaymentLine(m.line_id, m.entitlement_id, m.case_id, m.citizen_id, m.name, m.benefit, m.month,
                          m.amount_fen, m.bank_account, m.requeued_from)


class LazyLines(Sequence[ev.PaymentLine]):
    """The lines of a stored chunk, built one by one when read. Equal to a tuple of the same lines."""

    def __init__(self, messages: Any) -> None:
        self._messages = messages

    def __len__(self) -> int:
        return len(self._messages)

    @overload
    def __getitem__(self, index: int) -> ev.PaymentLine: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ev.PaymentLine]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return tuple(line_from_message(m) for m in self._messages[index])
        return line_from_message(self._messages[index])

    def __iter__(self) -> Iterator[ev.PaymentLine]:
        return (line_from_message(m) for m in self._messages)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))


class PaymentsCodec(PayloadCodec):
    def __init__(self, event_classes: Iterable[type]) -> None:
        super().__init__(events_pb2, event_classes, [ev.PaymentLine])

    def to_message(self, obj: Any) -> Message:
        if isinstance(obj, ev.PaymentLinesAdded):
            added = events_pb2.PaymentLinesAdded(batch_id=obj.batch_id, chunk_no=obj.chunk_no,
                                                 line_count=obj.line_count, total_fen=obj.total_fen)
            added.lines.extend(line_to_message(line) for line in obj.lines)
            return added
        if isinstance(obj, ev.PaymentLinesConfirmed):
            return events_pb2.PaymentLinesConfirmed(batch_id=obj.batch_id, line_ids=list(obj.line_ids),
                                                    total_fen=obj.total_fen)
        return super().to_message(obj)

    def from_message(self, message: Message) -> Any:
        if isinstance(message, events_pb2.PaymentLinesAdded):
            return ev.PaymentLinesAdded(message.batch_id, message.chunk_no, message.line_count, message.total_fen,
                                        LazyLines(message.lines))  # type: ignore[arg-type]
        if isinstance(message, events_pb2.PaymentLinesConfirmed):
            return ev.PaymentLinesConfirmed(message.batch_id, tuple(message.line_ids), message.total_fen)
        return super().from_message(message)

    def decode(self, event: RecordedEvent) -> Any:
        if event.type in _BY_HAND:
            cls = _BY_HAND[event.type]
            parsed = getattr(events_pb2, cls.__name__).FromString(event.payload)
            message = self.upcast(cls, event.schema_version, parsed)
            return self.from_message(message)
        return super().decode(event)


_BY_HAND = {getattr(events_pb2, c.__name__).DESCRIPTOR.full_name: c
            for c in (ev.PaymentLinesAdded, ev.PaymentLinesConfirmed)}

CODEC = PaymentsCodec(ev.EVENT_CLASSES)
