"""The hand-off protocol as pure code: what each side records, and the rules that refuse a command
or reject a message. No I/O, no clock, no ids made here: callers pass times and ids in, so
folding the same events always gives the same state (style: decide in the command, assign in the
fold).

One hand-off has two sides, each a stream "handoff-<id>" in its own region's store:

    origin (OUTGOING)                          receiver (INCOMING)
    HandoffSent        ── message ─────────▶   HandoffReceived
    HandoffAccepted    ◀── message (mirror) ─  HandoffAccepted    or
    HandoffRefused     ◀── message (mirror) ─  HandoffRefused
    HandoffOutcomeReceived ◀── message ─────   HandoffOutcome
    HandoffOverdue (local, either side, when a limit passes with the stage open)

A message is addressed by its payload: HandoffSent to `to_region`, the receiver's replies to
`from_region`. The declared sender (from_region of HandoffSent, to_region of a reply) must be the
region whose store published it; anything else is rejected and nothing is recorded.

Modules: `events` (the vocabulary and the events), `state` (one side folded from its events) and
`commands` (deciding commands and incoming messages by named rules). Their names are re-exported
here: callers write `from services.common.handoff import domain as d` and `d.send(...)`.
"""

from services.common.handoff.domain.commands import (
    AnswerOnlyAfterAcceptance,
    NoHandoffToOwnRegion,
    OneAnswerPerHandoff,
    OneForwardAtATime,
    OnlyTheReceiverDecides,
    ReceiverDecidesOnce,
    Rule,
    accept,
    check_route,
    check_send_fields,
    complete,
    mark_overdue,
    receive,
    record_reply,
    refuse,
    send,
)
from services.common.handoff.domain.events import (
    HANDOFF_ID,
    OPEN_STATES,
    STREAM_PREFIX,
    Attachment,
    Direction,
    Event,
    HandoffAccepted,
    HandoffOutcome,
    HandoffOutcomeReceived,
    HandoffOverdue,
    HandoffReceived,
    HandoffRefused,
    HandoffSent,
    Kind,
    OutOfOrder,
    RejectedMessage,
    Reply,
    Route,
    Stage,
    State,
    route_of,
)
from services.common.handoff.domain.state import (
    Handoff,
    evolve,
    fold,
    stream_id,
)

__all__ = [
    "HANDOFF_ID",
    "OPEN_STATES",
    "STREAM_PREFIX",
    "AnswerOnlyAfterAcceptance",
    "Attachment",
    "Direction",
    "Event",
    "Handoff",
    "HandoffAccepted",
    "HandoffOutcome",
    "HandoffOutcomeReceived",
    "HandoffOverdue",
    "HandoffReceived",
    "HandoffRefused",
    "HandoffSent",
    "Kind",
    "NoHandoffToOwnRegion",
    "OneAnswerPerHandoff",
    "OneForwardAtATime",
    "OnlyTheReceiverDecides",
    "OutOfOrder",
    "ReceiverDecidesOnce",
    "RejectedMessage",
    "Reply",
    "Route",
    "Rule",
    "Stage",
    "State",
    "accept",
    "check_route",
    "check_send_fields",
    "complete",
    "evolve",
    "fold",
    "mark_overdue",
    "receive",
    "record_reply",
    "refuse",
    "route_of",
    "send",
    "stream_id",
]
