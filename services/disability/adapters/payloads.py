"""The disability service's payload codec: its domain events ↔ their stored protobuf messages
(proto/tongban/disability/v1/events.proto). The mapping is the kit's (services/common/kit/codec.py):
each event dataclass has a message of the same name, field for field; the round-trip test
(tests/unit/disability/test_payloads.py) catches a field added to one side only."""

from __future__ import annotations

from services.common.kit.codec import PayloadCodec
from services.disability.domain import events as ev
from services.disability.domain import matching, values
from tongban.disability.v1 import events_pb2

EVENT_CLASSES: tuple[type, ...] = (
    ev.ApplicationReceived, ev.SubsidyRefused, ev.StageStarted, ev.StageWentOverdue, ev.StageCompleted,
    ev.HouseholdStatusConfirmed, ev.ApplicationRefused, ev.ApplicationApproved, ev.EntitlementGranted,
    ev.EntitlementStopped, ev.EntitlementResumed, ev.CertificateRenewed,
    ev.SubsidyClaimGranted, ev.SubsidyClaimDenied, ev.SubsidyClaimReleased,
    ev.SubsidyClaimPending, ev.SubsidyClaimRetried, matching.DataMatchReceived,
    ev.ApplicationForwarded, ev.ReceivedByHandoff, ev.HukouRegionDecided, ev.ForwardRefused, ev.ApplicantInformed,
    ev.StageDueRescheduled,
)
VALUE_CLASSES: tuple[type, ...] = (values.Applicant, values.Certificate, values.Circumstances)

CODEC = PayloadCodec(events_pb2, EVENT_CLASSES, VALUE_CLASSES)
