"""The hand-off's vocabulary: ids, kinds, states and stages, the errors a message can raise, and
the events each side records (the domain's view; the proto mapping is in adapters.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.common.errors import TongbanError
from services.common.events import Actor

HANDOFF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
STREAM_PREFIX = "handoff-"


class Kind(StrEnum):
    FORWARD_CASE = "forward_case"  # 异地代收代办: the case moves to the receiver on acceptance
    REQUEST_WORK = "request_work"  # 多地联办: part of the work; the case stays with the origin


class Direction(StrEnum):
    OUTGOING = "outgoing"  # this region is the origin
    INCOMING = "incoming"  # this region is the receiver


class State(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    ANSWERED = "answered"


OPEN_STATES = (State.PENDING, State.ACCEPTED)


class Stage(StrEnum):
    ACCEPTANCE = "acceptance"
    ANSWER = "answer"


class RejectedMessage(TongbanError):
    """A hand-off message this region must not act on (forged sender, wrong counterpart, a reply
    contradicting what is recorded). The reaction records nothing for it."""


class OutOfOrder(TongbanError):
    """A reply that needs an earlier one not recorded yet (an outcome before the acceptance).
    Replies of one hand-off share a Kafka key, so this means a delivery bug: nothing is recorded,
    and a later redelivery (relay republish) still finds the message unprocessed."""


@dataclass(frozen=True)
class Attachment:
    """A protobuf message as its full type name and bytes (a case snapshot, an outcome)."""

    type: str
    data: bytes


# --- events (the domain's view; the proto mapping is in adapters.py) -------------------------


@dataclass(frozen=True)
class HandoffSent:
    handoff_id: str
    kind: Kind
    case_id: str
    from_region: str
    to_region: str
    work: str
    case_snapshot: Attachment | None
    origin_latest_hash: bytes
    sent_at: datetime
    accept_within: timedelta
    answer_within: timedelta
    sent_by: Actor


@dataclass(frozen=True)
class HandoffReceived:
    request: HandoffSent
    sent_event_id: str
    sent_event_hash: bytes


@dataclass(frozen=True)
class HandoffAccepted:
    handoff_id: str
    kind: Kind
    case_id: str
    from_region: str
    to_region: str
    accepted_by: Actor
    accepted_at: datetime


@dataclass(frozen=True)
class HandoffRefused:
    handoff_id: str
    kind: Kind
    case_id: str
    from_region: str
    to_region: str
    reason: str
    refused_by: Actor
    refused_at: datetime


@dataclass(frozen=True)
class HandoffOutcome:
    handoff_id: str
    kind: Kind
    case_id: str
    from_region: str
    to_region: str
    outcome: Attachment
    decided_by: Actor
    decided_at: datetime


@dataclass(frozen=True)
class HandoffOutcomeReceived:
    outcome: HandoffOutcome
    outcome_event_id: str
    outcome_event_hash: bytes


@dataclass(frozen=True)
class HandoffOverdue:
    handoff_id: str
    stage: Stage
    due_at: datetime


Reply = HandoffAccepted | HandoffRefused | HandoffOutcome
Event = HandoffSent | HandoffReceived | HandoffAccepted | HandoffRefused | HandoffOutcome | HandoffOutcomeReceived \
    | HandoffOverdue


@dataclass(frozen=True)
class Route:
    """Who declares to send a message and to whom it is addressed."""

    sender: str
    addressee: str


def route_of(message: HandoffSent | Reply) -> Route:
    if isinstance(message, HandoffSent):
        return Route(sender=message.from_region, addressee=message.to_region)
    return Route(sender=message.to_region, addressee=message.from_region)
