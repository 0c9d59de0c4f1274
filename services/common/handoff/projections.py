"""Read models of the hand-offs in one store, written in the same transaction as the events that
change them and rebuildable from the log:

- `handoffs`: one row per hand-off side, for the incoming/outgoing/overdue lists;
- `case_owners`: which region owns a case this store has seen handed off. A case with no row was
  never handed off and belongs to the region whose store holds it.

Both tables are declared on this module's own `TABLES` metadata, which the store creates when
given it (the host passes it; so does a service that checks owners, through its composition root).

Lock order, as in deadlines.py: every writer here appends the hand-off event first (taking the
store head lock) and only then touches these rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, delete, insert, select, update
from sqlalchemy.engine import Connection

from services.common.events import RecordedEvent, to_micros
from services.common.handoff import adapters
from services.common.handoff import domain as d
from services.common.store import EventStore, driver
from services.common.store.decode import row_to_event
from services.common.store.schema import events

TABLES = MetaData()  # this component's own tables (see the module docstring)

handoffs = Table(
    "handoffs",
    TABLES,
    Column("handoff_id", String(100), primary_key=True),
    Column("direction", String(8), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("case_id", String(200), nullable=False),
    Column("from_region", String(12), nullable=False),
    Column("to_region", String(12), nullable=False),
    Column("state", String(10), nullable=False),
    Column("recorded_overdue", String(40), nullable=False),  # comma-separated stages
    Column("sent_at_us", BigInteger, nullable=False),
    Column("accept_by_us", BigInteger, nullable=False),
    Column("answer_by_us", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
)
Index("ix_handoffs_state_sent", handoffs.c.state, handoffs.c.sent_at_us)
Index("ix_handoffs_case", handoffs.c.case_id)

case_owners = Table(
    "case_owners",
    TABLES,
    Column("case_id", String(200), primary_key=True),
    Column("owner_region", String(12), nullable=False),
    Column("handoff_id", String(100), nullable=False),  # the hand-off that last set the owner
    Column("updated_at_us", BigInteger, nullable=False),
)

_REBUILD_PAGE = 1000


def _row(h: d.Handoff) -> dict[str, Any]:
    return {
        "handoff_id": h.handoff_id, "direction": h.direction.value, "kind": h.kind.value, "case_id": h.case_id,
        "from_region": h.from_region, "to_region": h.to_region, "state": h.state.value,
        "recorded_overdue": ",".join(sorted(s.value for s in h.recorded_overdue)),
        "sent_at_us": to_micros(h.sent_at), "accept_by_us": to_micros(h.accept_by),
        "answer_by_us": to_micros(h.answer_by), "version": h.version,
    }


def project(conn: Connection, before: d.Handoff | None, after: d.Handoff, event: d.Event, at: datetime) -> None:
    """Bring both tables in line with `event`, which took the side from `before` to `after`."""
    if before is None:
        conn.execute(insert(handoffs).values(**_row(after)))
    else:
        conn.execute(update(handoffs).where(handoffs.c.handoff_id == after.handoff_id).values(**_row(after)))
    owner = new_owner(after, event)
    if owner is not None:
        set_owner(conn, after.case_id, owner, after.handoff_id, at)


def new_owner(h: d.Handoff, event: d.Event) -> str | None:
    """The owner `event` establishes for the case, if it changes what this store knows.

    A receiver learns from a request that its sender owns the case (only the owner may send one),
    so until it accepts, this region refuses writes to it. A forwarded case changes owner on
    acceptance, on both sides; a request for work never moves it."""
    if isinstance(event, d.HandoffReceived):
        return h.from_region
    if isinstance(event, d.HandoffAccepted) and h.kind is d.Kind.FORWARD_CASE:
        return h.to_region
    return None


def set_owner(conn: Connection, case_id: str, region: str, handoff_id: str, at: datetime) -> None:
    values = {"owner_region": region, "handoff_id": handoff_id, "updated_at_us": to_micros(at)}
    changed = conn.execute(update(case_owners).where(case_owners.c.case_id == case_id).values(**values))
    if changed.rowcount == 0:
        conn.execute(insert(case_owners).values(case_id=case_id, **values))


# Prepared text on the driver: every write command and every decision asks this first, and
# building and compiling the Core select was a fifth of a registry decision's CPU (issue 15).
_OWNER = {"sqlite": "SELECT owner_region FROM case_owners WHERE case_id = ?",
          "postgresql": "SELECT owner_region FROM case_owners WHERE case_id = %s"}


def recorded_owner(conn: Connection, case_id: str) -> str | None:
    row = driver.fetch_one(conn, _OWNER[conn.dialect.name], (case_id,))
    return None if row is None else str(row[0])


def pending_forward(conn: Connection, case_id: str) -> str | None:
    """The id of an outgoing forward of `case_id` still waiting for acceptance, if any."""
    return conn.execute(
        select(handoffs.c.handoff_id).where(
            handoffs.c.case_id == case_id, handoffs.c.direction == d.Direction.OUTGOING.value,
            handoffs.c.kind == d.Kind.FORWARD_CASE.value, handoffs.c.state == d.State.PENDING.value,
        ).limit(1)
    ).scalar()


def select_ids(conn: Connection, *, direction: d.Direction | None, states: Iterable[d.State] | None,
               limit: int | None, newest_first: bool = True, due_by: datetime | None = None) -> list[str]:
    query = select(handoffs.c.handoff_id)
    if direction is not None:
        query = query.where(handoffs.c.direction == direction.value)
    if states is not None:
        query = query.where(handoffs.c.state.in_([s.value for s in states]))
    if due_by is not None:
        # A superset of the overdue ones, narrowed by Handoff.overdue_stages after folding.
        now_us = to_micros(due_by)
        query = query.where(
            handoffs.c.state.in_([s.value for s in d.OPEN_STATES]),
            (handoffs.c.recorded_overdue != "")
            | ((handoffs.c.state == d.State.PENDING.value) & (handoffs.c.accept_by_us <= now_us))
            | (handoffs.c.answer_by_us <= now_us),
        )
    order = handoffs.c.sent_at_us.desc() if newest_first else handoffs.c.sent_at_us.asc()
    query = query.order_by(order, handoffs.c.handoff_id)
    if limit is not None:
        query = query.limit(limit)
    return [str(r) for r in conn.execute(query).scalars()]


def rebuild_handoff_tables(store: EventStore) -> int:
    """Recreate `handoffs` and `case_owners` from the log in one transaction (appends wait
    meanwhile); returns how many hand-offs there are."""
    with store.transaction() as tx:
        conn = tx.connection
        tx.lock_head()  # no hand-off event can commit between our read of the log and our commit
        conn.execute(delete(handoffs))
        conn.execute(delete(case_owners))
        states: dict[str, d.Handoff] = {}
        after = 0
        while True:
            page = conn.execute(
                select(events).where(events.c.stream_type == adapters.STREAM_TYPE, events.c.position > after)
                .order_by(events.c.position).limit(_REBUILD_PAGE)
            ).all()
            for row in page:
                _replay(conn, states, row_to_event(row))
            if len(page) < _REBUILD_PAGE:
                break
            after = int(page[-1].position)
        return len(states)


def _replay(conn: Connection, states: dict[str, d.Handoff], recorded: RecordedEvent) -> None:
    event = adapters.from_payload(recorded.type, recorded.payload)
    before = states.get(recorded.stream_id)
    after = d.evolve(before, event, recorded.correlation_id)
    states[recorded.stream_id] = after
    project(conn, before, after, event, recorded.recorded_at)
