"""What a service plugs into the hand-off protocol. Every hook runs inside the transaction that
records the hand-off event it is about, so its effects commit with that event or not at all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message

from services.common.handoff.domain import Handoff
from services.common.store import StoreTransaction

OnHandoff = Callable[[StoreTransaction, Handoff], None]
OnOutcome = Callable[[StoreTransaction, Handoff, Message], None]
CaseSnapshot = Callable[[StoreTransaction, str], Message | None]


@dataclass(frozen=True)
class HandoffHooks:
    """Receiver side:
    - `on_received(tx, h)`: a hand-off addressed to this region was recorded; the service may
      accept it at once (call `accept_handoff(tx, ...)`) or leave it to a clerk.
    - `on_taken_over(tx, h)`: this region accepted it through the hand-off API (open a local case
      for a forwarded one, start the requested check).
    Origin side:
    - `on_accepted(tx, h)` / `on_refused(tx, h)`: the receiver's decision arrived.
    - `on_outcome(tx, h, outcome)`: the receiver's result arrived, decoded; record it in the
      origin case so the window where the case started can show it.
    API:
    - `case_snapshot(tx, case_id)`: the snapshot a ForwardCase / RequestWork call sends along."""

    on_received: OnHandoff | None = None
    on_taken_over: OnHandoff | None = None
    on_accepted: OnHandoff | None = None
    on_refused: OnHandoff | None = None
    on_outcome: OnOutcome | None = None
    case_snapshot: CaseSnapshot | None = None
