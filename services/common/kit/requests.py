"""Request ids: a retried command returns its first answer and records nothing (architecture
invariant 9).

A client names each user action with a request id and sends it again on every retry. The unit of
work claims the id in the command's own transaction (`claim`, before anything is decided) and
records the answer — the case id the command produced — beside the command's events (`answer`).
So either both are committed or neither is: a retry of a recorded command finds the id and returns
the first answer; a retry of a refused command (nothing recorded) is decided afresh.

The fingerprint is the SHA-256 of what the request asks, without its id: the same id with other
content is a client bug (an id reused for another action), refused INVALID_ARGUMENT on the field
`request_id`.

Two calls racing with one id: the claim is an insert that does nothing on a taken key (ON CONFLICT
DO NOTHING on both SQLite and PostgreSQL), so no unique violation aborts the transaction. On
PostgreSQL the loser's insert waits on the winner's uncommitted row: when the winner commits, the
insert does nothing and the loser reads the winner's answer (READ COMMITTED: a fresh snapshot per
statement); when the winner rolls back, the loser's insert goes through and it does the work. On
SQLite BEGIN IMMEDIATE serialises writers, so the loser only starts after the winner committed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import Message
from sqlalchemy import BigInteger, Column, MetaData, String, Table

from services.common.errors import InvalidArgument
from services.common.events import to_micros
from services.common.store import StoreTransaction, driver

ID_FIELD = "request_id"
DIFFERENT_REQUEST = "already used for a different request"

TABLES = MetaData()  # this component's own table, created by UnitsOfWork (store.ensure_tables)

command_requests = Table(
    "command_requests",
    TABLES,
    Column("request_id", String(64), primary_key=True),  # the unique key two racing retries meet on
    Column("fingerprint", String(64), nullable=False),  # hex SHA-256 of the request without its id
    Column("answer", String(200), nullable=False),  # the case id the command answered with
    Column("recorded_at_us", BigInteger, nullable=False),
)


@dataclass(frozen=True)
class Request:
    """A command's client request id and the fingerprint of what it asks."""

    id: str
    fingerprint: str

    @classmethod
    def of(cls, message: Message, *, ignoring: Iterable[str] = ()) -> Request | None:
        """The request of a protobuf command: its `request_id`, and the SHA-256 of its type name and
        its deterministic bytes without the id (nor the fields `ignoring` names: how long to wait
        for an answer is not what is asked). None when the id is empty: not idempotent."""
        request_id = getattr(message, ID_FIELD)
        if not request_id:
            return None
        content = type(message)()
        content.CopyFrom(message)
        for name in (ID_FIELD, *ignoring):
            content.ClearField(name)
        digest = hashlib.sha256(message.DESCRIPTOR.full_name.encode() + b"\0")
        digest.update(content.SerializeToString(deterministic=True))
        return cls(request_id, digest.hexdigest())


def claim(tx: StoreTransaction, request: Request) -> str | None:
    """Claim `request.id` in this transaction: None when it is new (the command goes ahead, and
    `answer` must follow before commit), or the first answer when the id was recorded before.
    Raises InvalidArgument when it was recorded for a different request."""
    sql = _SQL[tx.store.dialect]
    claimed = driver.fetch_one(tx.connection, sql.claim, (
        request.id, request.fingerprint, "", to_micros(tx.store.clock.now())))
    if claimed is not None:
        return None
    first = driver.fetch_one(tx.connection, sql.first, (request.id,))
    assert first is not None, "a request id the claim found taken has a row"
    fingerprint, first_answer = first
    if fingerprint != request.fingerprint:
        raise InvalidArgument.single(ID_FIELD, DIFFERENT_REQUEST)
    return str(first_answer)


def answer(tx: StoreTransaction, request: Request, case_id: str) -> None:
    """Record the answer of the request this transaction claimed."""
    driver.execute(tx.connection, _SQL[tx.store.dialect].answer, (case_id, request.id))


class _Statements:
    """Prepared driver SQL, fixed per dialect: every command claims and answers its id, and building
    (or even running) Core statements cost more than the statements themselves (issue 15's profile
    of RegisterMarriage)."""

    def __init__(self, p: str) -> None:
        # The claim returns a row only when it inserted (rowcount is not reliable on a no-op).
        self.claim = (f"INSERT INTO command_requests (request_id, fingerprint, answer, recorded_at_us) "
                      f"VALUES ({p}, {p}, {p}, {p}) ON CONFLICT (request_id) DO NOTHING RETURNING request_id")
        self.first = f"SELECT fingerprint, answer FROM command_requests WHERE request_id = {p}"
        self.answer = f"UPDATE command_requests SET answer = {p} WHERE request_id = {p}"


_SQL = {"sqlite": _Statements("?"), "postgresql": _Statements("%s")}
