"""The marriage service's payload codec: its domain events ↔ their stored protobuf messages
(proto/tongban/marriage/v1/events.proto), with the upcasters of the events whose shape changed.

The mapping itself is the kit's (services/common/kit/codec.py): each event dataclass has a message
of the same name, field for field. A field added to one side only fails the round-trip test
(tests/unit/marriage/test_payloads.py) instead of being dropped silently."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from services.common.events import RecordedEvent
from services.common.kit.codec import PayloadCodec
from services.marriage.domain import events as ev
from services.marriage.domain import values
from tongban.marriage.v1 import events_pb2

EVENT_CLASSES: tuple[type, ...] = (
    ev.MarriageApplicationReceived, ev.PartyClaimGranted, ev.PartyClaimDenied, ev.PartyClaimReleased,
    ev.PartyClaimPending, ev.PartyClaimsRetried,
    ev.MarriageRegistered, ev.MarriageRefused, ev.DivorceProceedingOpened, ev.DivorceProceedingClosed,
    ev.MarriageDissolvedByDivorce, ev.CourtJudgmentRecorded,
    ev.DivorceApplicationReceived, ev.DivorceWithdrawn, ev.CoolingOffEnded, ev.DivorcePeriodEndRescheduled,
    ev.DivorceCertificateRequested, ev.DivorceRegistered, ev.DivorceDeemedWithdrawn, ev.DivorceTerminated,
    ev.CertificateReissued, ev.MaritalStatusQueried, ev.CertificateNumberIssued,
    ev.ReissueRequested, ev.ArchiveExtractReceived, ev.ReissueRefused,
    ev.DivorceRecordConfirmed, ev.DivorceRefusedByRecord, ev.DivorceDissolutionRequested,
)
VALUE_CLASSES: tuple[type, ...] = (
    values.MarriageDeclaration, values.PartyRecord, values.Spouse, values.DivorceAgreement, ev.ArchiveExtract,
    ev.ClaimHolder, ev.ProceedingToClose, values.ProofDocument,
)


def party_claim_denied_v1_to_v2(message: Message) -> None:
    """Version 1 kept the registry's holder in three flat fields; version 2 nests them."""
    assert isinstance(message, events_pb2.PartyClaimDenied)
    message.holder.case_id = message.holder_case_id
    message.holder.region = message.holder_region
    message.holder.service = message.holder_service
    for old in ("holder_case_id", "holder_region", "holder_service"):
        message.ClearField(old)


CODEC = PayloadCodec(
    events_pb2, EVENT_CLASSES, VALUE_CLASSES,
    versions={ev.PartyClaimDenied: 2},
    upcasters={(ev.PartyClaimDenied, 1): party_claim_denied_v1_to_v2},
)


def to_message(obj: Any) -> Message:
    return CODEC.to_message(obj)


def from_message(message: Message) -> Any:
    return CODEC.from_message(message)


def decode(event: RecordedEvent) -> Any:
    """A stored event's domain event, upcast to the current version."""
    return CODEC.decode(event)
