"""Group commit: store transactions of concurrent threads (gRPC handlers, consumers) share one
database transaction and one commit (one fsync), each still atomic on its own.

Why: on SQLite with synchronous=FULL the commit's fsync is about half of a single-event append
(issue 15's profile), and every writer takes the one database write lock anyway, so writers run one
after another whatever we do. Sharing the commit lets a crowd of writers pay one fsync per group.

How. One connection belongs to the committer, and one thread at a time holds it: the leader. Work
comes in two shapes. A `transaction()` body runs in its caller's thread when that caller's turn to
lead comes. A `run(work)` item (a plain append: data, no caller code) is queued, and whichever thread
leads next runs every queued item in order, so a crowd of appends costs no thread switch each.
Every piece of work runs inside a SAVEPOINT of the group's database transaction; work that raises is
rolled back to its savepoint alone: a command that loses its optimistic-concurrency check fails by
itself (ABORTED) while the rest of the group commits. A leader that finds nobody waiting (or the
group full) commits the group; otherwise it hands the connection on, without committing, to the
next waiter. Every member returns only once its group's commit has finished, so when
`transaction()` or `run()` returns, the work is as durable as a commit of its own would have made
it; a failed group commit fails every member.

Members of a group run strictly one after another on one connection: a member sees what the members
before it wrote, as a later transaction would, and all commit or none does, so the history is the
same as if each had committed alone in that order. A crash before the group's commit loses the whole
group — only commands nobody had been told were recorded — never part of a command, because the
database commits a transaction whole or not at all.

The price: a `transaction()` body holds the shared connection from its first line to its last, so
every other writer of the store queues behind it (without group commit, a PostgreSQL transaction
holds no lock until it appends). A body must not wait for another thread, a broker or a user."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection, Engine, RootTransaction
from sqlalchemy.exc import OperationalError

from services.common.store.driver import driver_errors, raw

T = TypeVar("T")

DEFAULT_MAX_GROUP = 64  # commands per commit at most: bounds how long an early member waits
_SAVEPOINT = "SAVEPOINT tongban_member"
_RELEASE = "RELEASE SAVEPOINT tongban_member"
_ROLLBACK_TO = "ROLLBACK TO SAVEPOINT tongban_member"


class GroupCommitFailed(OperationalError):
    """The shared commit of this command's group failed: the command was NOT recorded."""


class _Group:
    def __init__(self) -> None:
        self.members = 0
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.items: list[_Item[Any]] = []


class _Turn:
    """A waiter for the connection; `go` is set when it may lead (or, for an item, when its group
    has finished)."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.lead = False


# Runs many queued requests of one kind together; returns each one's result or the exception it
# fails with alone, or raises when the batch fails as a whole (then each is retried by itself).
Batch = Callable[[Connection, list[Any]], list[Any]]


class _Item(_Turn, Generic[T]):
    def __init__(self, request: Any, batch: Batch) -> None:
        super().__init__()
        self.request = request
        self.batch = batch
        self.group: _Group | None = None
        self.result: T | None = None
        self.error: BaseException | None = None


class GroupCommitter:
    def __init__(self, engine: Engine, execution_options: dict[str, object],
                 max_group: int = DEFAULT_MAX_GROUP) -> None:
        if max_group < 1:
            raise ValueError(f"max_group must be at least 1, got {max_group}")
        self._engine = engine
        self._options = execution_options
        self._max = max_group
        self._lock = threading.Lock()  # guards the queues and `_busy`
        self._busy = False  # a leader holds the connection
        self._items: deque[_Item[Any]] = deque()  # run() work not yet taken by a leader
        self._bodies: deque[_Turn] = deque()  # transaction() callers waiting for their turn
        self._owner: int | None = None  # the leader's thread
        self._conn: Connection | None = None
        self._tx: RootTransaction | None = None
        self._group: _Group | None = None
        # Threads inside `deferred()`: the groups their transactions joined, whose commits the block
        # waits for when it ends.
        self._deferring: dict[int, list[_Group]] = {}
        self.groups_committed = 0  # how many commits served how many commands (for the benchmark)
        self.commands_committed = 0

    @property
    def queued(self) -> int:
        """Commands waiting for the connection: the open group's next members."""
        with self._lock:
            return len(self._items) + len(self._bodies)

    @property
    def open_members(self) -> int:
        """Members of the group not yet committed (0 when none is open)."""
        group = self._group
        return group.members if group is not None else 0

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)` as one command of a group and return its result once the group
        has committed (or raise what it raised; its writes are then undone)."""
        return self.submit(work, _run_each)

    def submit(self, request: Any, batch: Batch) -> Any:
        """Queue `request` for the next leader, who runs it with `batch` together with the queued
        requests of the same batch beside it, as one command each of a group; return its result
        once the group has committed (or raise what it fails with; its writes are then undone)."""
        self._check_reentry()
        item: _Item[Any] = _Item(request, batch)
        with self._lock:
            self._items.append(item)
            lead = not self._busy
            self._busy = True
        if not lead:
            item.go.wait()
            lead = item.lead
        if lead:
            self._owner = threading.get_ident()
            self._drain()
            self._finish_turn()
        group = item.group
        assert group is not None
        group.done.wait()
        if item.error is not None:
            raise item.error
        if group.error is not None:
            raise GroupCommitFailed("COMMIT", None, group.error) from group.error  # type: ignore[arg-type]
        return item.result  # type: ignore[return-value]

    @contextmanager
    def transaction(self, make: Callable[[Connection], T]) -> Iterator[T]:
        """Yield `make(connection)` for a body that runs in this thread inside the group."""
        self._check_reentry()
        self._wait_for_turn()
        try:
            group, conn = self._join()
            self._savepoint(conn)
        except BaseException:
            self._finish_turn()
            raise
        deferring = self._deferring.get(threading.get_ident())
        try:
            yield make(conn)
        except BaseException:
            self._end_member(conn, ok=False)
            self._drain()
            if deferring is not None:
                self._finish_turn(keep_open=True)
                raise
            self._finish_turn()
            group.done.wait()
            raise
        self._end_member(conn, ok=True)
        self._drain()
        if deferring is not None:
            # Inside `deferred()`: the block waits for this group's commit when it ends.
            if not deferring or deferring[-1] is not group:
                deferring.append(group)
            self._finish_turn(keep_open=True)
            return
        self._finish_turn()
        group.done.wait()
        if group.error is not None:
            raise GroupCommitFailed("COMMIT", None, group.error) from group.error  # type: ignore[arg-type]

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Within the block, this thread's `transaction()`s return once their work is in the group
        (each still in its own SAVEPOINT: atomic alone, failing alone), without waiting for its
        commit, and a group is not committed merely because nobody else waits: the next transaction
        of the block joins the same group. When the block ends, the open group is committed and the
        block waits for every group its transactions joined; it raises GroupCommitFailed if one
        failed. So a thread working through a batch of messages pays one commit for the batch, and
        tells the world it is done (acknowledges the messages) only once all of it is durable.

        Why: a consumer thread's transactions come one after another, so group commit alone gives
        each its own commit (one fsync per message on SQLite). Between two transactions of the
        block the group stays open on the connection; another thread's transaction that comes
        meanwhile joins it and may commit it, which only makes the block's work durable sooner."""
        me = threading.get_ident()
        if me in self._deferring:  # nested: the outer block waits
            yield
            return
        groups: list[_Group] = []
        self._deferring[me] = groups
        try:
            yield
        finally:
            del self._deferring[me]
            self._commit_deferred(groups)

    def _commit_deferred(self, groups: list[_Group]) -> None:
        if groups and not groups[-1].done.is_set():
            self._wait_for_turn()
            self._drain()
            if self._group is groups[-1]:
                self._commit()
            self._finish_turn()
        for group in groups:
            group.done.wait()
        failed = next((g.error for g in groups if g.error is not None), None)
        if failed is not None:
            raise GroupCommitFailed("COMMIT", None, failed) from failed  # type: ignore[arg-type]

    def _wait_for_turn(self) -> None:
        """Take the connection now if it is free, else queue behind the bodies waiting for it."""
        turn = _Turn()
        with self._lock:
            lead = not self._busy
            if lead:
                self._busy = True
            else:
                self._bodies.append(turn)
        if not lead:
            turn.go.wait()
        self._owner = threading.get_ident()

    def close(self) -> None:
        if self._conn is not None:
            if self._tx is not None and self._tx.is_active:
                self._tx.rollback()
            self._conn.close()
        self._conn = self._tx = None

    def _check_reentry(self) -> None:
        if self._owner == threading.get_ident():
            raise RuntimeError("a store transaction opened inside another on the same thread: "
                               "with group commit it would wait for itself")

    # -- by the leader -----------------------------------------------------------------------

    def _join(self, members: int = 1) -> tuple[_Group, Connection]:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(**self._options)
        if self._group is None:
            self._tx = self._conn.begin()
            self._group = _Group()
        self._group.members += members
        return self._group, self._conn

    def _savepoint(self, conn: Connection) -> None:
        try:
            with driver_errors(conn, _SAVEPOINT, ()):
                raw(conn).execute(_SAVEPOINT)
        except BaseException as exc:
            self._fail(exc)
            raise

    def _end_member(self, conn: Connection, *, ok: bool) -> None:
        sql = _RELEASE if ok else _ROLLBACK_TO
        try:
            with driver_errors(conn, sql, ()):
                db = raw(conn)
                db.execute(sql)
                if not ok:
                    db.execute(_RELEASE)
        except BaseException as exc:
            # The connection can no longer tell this member's work from the others': the whole
            # group fails, and nobody in it is told it was recorded.
            self._fail(exc)

    def _drain(self) -> None:
        """Run the queued items in order, each run of one batch kind together, in the group (a new
        group once one is full)."""
        while True:
            if self._group is not None and self._group.members >= self._max:
                self._commit()
            room = self._max - (self._group.members if self._group is not None else 0)
            with self._lock:
                if not self._items:
                    return
                batch = self._items[0].batch
                items = [self._items.popleft()]
                while (batch is not _run_each and self._items and len(items) < room
                       and self._items[0].batch is batch):
                    items.append(self._items.popleft())
            self._run_batch(batch, items)

    def _run_batch(self, batch: Batch, items: list[_Item[Any]]) -> None:
        try:
            group, conn = self._join(len(items))
            self._savepoint(conn)
        except BaseException as exc:
            self._settle(_failed_group(exc), items, [exc] * len(items))
            return
        try:
            outcomes = batch(conn, [item.request for item in items])
        except BaseException as exc:
            self._end_member(conn, ok=False)
            if len(items) == 1 or self._group is not group:
                # When the group itself failed, its error is everybody's (GroupCommitFailed).
                self._settle(group, items, [exc if self._group is group else None] * len(items))
                return
            for item in items:  # find the request the batch failed on: each by itself
                self._run_batch_one(batch, group, item)
            return
        self._end_member(conn, ok=True)
        self._settle(group, items, outcomes)

    def _run_batch_one(self, batch: Batch, group: _Group, item: _Item[Any]) -> None:
        if self._group is not group or self._conn is None:
            self._settle(group, [item], [None])  # the group failed meanwhile: its error is theirs
            return
        conn = self._conn
        try:
            self._savepoint(conn)
            [outcome] = batch(conn, [item.request])
        except BaseException as exc:
            if self._group is group:
                self._end_member(conn, ok=False)
            self._settle(group, [item], [exc])
            return
        self._end_member(conn, ok=not isinstance(outcome, BaseException))
        self._settle(group, [item], [outcome])

    @staticmethod
    def _settle(group: _Group, items: list[_Item[Any]], outcomes: list[Any]) -> None:
        for item, outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                item.error = outcome
            else:
                item.result = outcome
            item.group = group
            if group.done.is_set():
                item.go.set()
            else:
                group.items.append(item)

    def _finish_turn(self, *, keep_open: bool = False) -> None:
        """Commit the group if nobody waits to join it (or it is full); hand the connection on.
        `keep_open`: a `deferred()` block comes back, so an idle group waits for it (not a full one)."""
        with self._lock:
            waiting = bool(self._items or self._bodies)
        if self._group is not None and ((not waiting and not keep_open) or self._group.members >= self._max):
            self._commit()
        self._owner = None
        with self._lock:
            if self._items:
                successor: _Turn = self._items[0]
            elif self._bodies:
                successor = self._bodies.popleft()
            else:
                self._busy = False
                return
        successor.lead = True
        successor.go.set()

    def _commit(self) -> None:
        group = self._group
        assert group is not None and self._tx is not None
        try:
            self._tx.commit()
        except BaseException as exc:
            self._fail(exc)
            return
        self._group = self._tx = None
        self.groups_committed += 1
        self.commands_committed += group.members
        self._release(group)

    def _fail(self, exc: BaseException) -> None:
        group = self._group
        try:
            if self._conn is not None:
                self._conn.invalidate()
                self._conn.close()
        except Exception:  # the connection is being thrown away already
            pass
        self._conn = self._tx = self._group = None
        if group is not None:
            group.error = exc
            self._release(group)

    @staticmethod
    def _release(group: _Group) -> None:
        group.done.set()
        for item in group.items:
            item.go.set()


def _run_each(conn: Connection, works: list[Callable[[Connection], Any]]) -> list[Any]:
    """The batch of `run()`, always called with one work: caller code is never run twice."""
    return [work(conn) for work in works]


def _failed_group(exc: BaseException) -> _Group:
    group = _Group()
    group.error = exc
    group.done.set()
    return group

