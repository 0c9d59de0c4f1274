"""Cross-region hand-offs (architecture invariant 4; docs/cross-region.md): a region forwards a
case (FORWARD_CASE, 异地代收代办) or asks for part of the work (REQUEST_WORK, 多地联办); the
receiver accepts or refuses, then answers; both sides record their part in their own store, and
ownership of a forwarded case moves only when the acceptance is recorded.

Layers: `domain` (pure state machine and rules), `adapters` (proto mapping), `projections`
(the `handoffs` and `case_owners` tables), `application` (use cases, queries, deadline handlers),
`reaction` (the consumer side), `servicer` (the gRPC API), `hooks` (what a service plugs in)."""

from services.common.handoff.adapters import MESSAGE_TYPES, STREAM_TYPE
from services.common.handoff.application import (
    ACCEPTANCE_DEADLINE,
    ANSWER_DEADLINE,
    DEADLINE_HANDLERS,
    accept_handoff,
    complete_handoff,
    ensure_owner,
    forward_case,
    get_handoff,
    list_handoffs,
    list_overdue,
    owner_of,
    refuse_handoff,
    request_work,
)
from services.common.handoff.domain import (
    Attachment,
    Direction,
    Handoff,
    Kind,
    OutOfOrder,
    RejectedMessage,
    Stage,
    State,
    stream_id,
)
from services.common.handoff.hooks import HandoffHooks
from services.common.handoff.projections import rebuild_handoff_tables
from services.common.handoff.reaction import CONSUMER, HandoffReaction, handoff_reaction
from services.common.handoff.servicer import HandoffServicer, handoff_servicer_adder

__all__ = [
    "ACCEPTANCE_DEADLINE",
    "ANSWER_DEADLINE",
    "CONSUMER",
    "DEADLINE_HANDLERS",
    "MESSAGE_TYPES",
    "STREAM_TYPE",
    "Attachment",
    "Direction",
    "Handoff",
    "HandoffHooks",
    "HandoffReaction",
    "HandoffServicer",
    "Kind",
    "OutOfOrder",
    "RejectedMessage",
    "Stage",
    "State",
    "accept_handoff",
    "complete_handoff",
    "ensure_owner",
    "forward_case",
    "get_handoff",
    "handoff_reaction",
    "handoff_servicer_adder",
    "list_handoffs",
    "list_overdue",
    "owner_of",
    "rebuild_handoff_tables",
    "refuse_handoff",
    "request_work",
    "stream_id",
]
