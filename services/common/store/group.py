"""Group commit: store transactions of concurrent threads (gRPC handlers, consumers) share one
database transaction and one commit (one fsync), each still atomic on its own.

Why: on SQLite with synchronous=FULL the commit's fsync is about half of a single-event append
(issue 15's profile), and every writer takes the one database write lock anyway, so writers run one
after another whatever we do. Sharing the commit lets a crowd of writers pay one fsync per group
instead of one each.

How. One connection belongs to the committer. A writer takes the committer's mutex, joins the open
group (beginning the database transaction if it is the first), runs its own work inside a SAVEPOINT
and releases the mutex. Work that raises is rolled back to its savepoint alone: a command that loses
its optimistic-concurrency check fails by itself (ABORTED) while the rest of the group commits. The
writer that finds nobody queued behind it (or the group full) commits the group for everyone. Every
writer returns only once its group's commit has finished, so when `transaction()` returns the work
is as durable as a commit of its own would have made it; a failed group commit fails every member.

Within a group, members run strictly one after another on one connection: a member sees what the
members before it wrote (as later transactions would), and all of them commit or none does, so the
history is the same as if each had committed alone, in the same order. A crash before the group's
commit loses the whole group — only commands that had not been acknowledged — and never part of a
command, because the database commits a transaction whole or not at all."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine, RootTransaction
from sqlalchemy.exc import OperationalError

T = TypeVar("T")

DEFAULT_MAX_GROUP = 64  # commands per commit at most: bounds how long an early member waits


class GroupCommitFailed(OperationalError):
    """The shared commit of this command's group failed: the command was NOT recorded."""


class _Group:
    def __init__(self) -> None:
        self.members = 0
        self.error: BaseException | None = None
        self.done = threading.Event()


class GroupCommitter:
    def __init__(self, engine: Engine, execution_options: dict[str, object],
                 max_group: int = DEFAULT_MAX_GROUP) -> None:
        if max_group < 1:
            raise ValueError(f"max_group must be at least 1, got {max_group}")
        self._engine = engine
        self._options = execution_options
        self._max = max_group
        self._mutex = threading.Lock()  # owns the connection and the open group
        self._queue_lock = threading.Lock()
        self._queued = 0  # writers waiting for the mutex: the open group's next members
        self._owner: int | None = None
        self._conn: Connection | None = None
        self._tx: RootTransaction | None = None
        self._group: _Group | None = None
        self.groups_committed = 0  # how many commits served how many commands (for the benchmark)
        self.commands_committed = 0

    @contextmanager
    def transaction(self, make: Callable[[Connection], T]) -> Iterator[T]:
        if self._owner == threading.get_ident():
            raise RuntimeError("a store transaction opened inside another on the same thread: "
                               "with group commit it would wait for itself")
        with self._queue_lock:
            self._queued += 1
        self._mutex.acquire()
        with self._queue_lock:
            self._queued -= 1
        self._owner = threading.get_ident()
        try:
            group, conn = self._join()
            savepoint = conn.begin_nested()
        except BaseException:
            self._leave(None)
            raise
        try:
            yield make(conn)
        except BaseException:
            self._end_member(group, savepoint.rollback)
            group.done.wait()
            raise
        self._end_member(group, savepoint.commit)
        group.done.wait()
        if group.error is not None:
            raise GroupCommitFailed("COMMIT", None, group.error) from group.error  # type: ignore[arg-type]

    @property
    def queued(self) -> int:
        """Writers waiting for their turn: the open group's next members."""
        with self._queue_lock:
            return self._queued

    @property
    def open_members(self) -> int:
        """Members of the group not yet committed (0 when none is open)."""
        group = self._group
        return group.members if group is not None else 0

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                if self._tx is not None and self._tx.is_active:
                    self._tx.rollback()
                self._conn.close()
            self._conn = self._tx = None

    # -- under the mutex -------------------------------------------------------------------

    def _join(self) -> tuple[_Group, Connection]:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(**self._options)
        if self._group is None:
            self._tx = self._conn.begin()
            self._group = _Group()
        self._group.members += 1
        return self._group, self._conn

    def _end_member(self, group: _Group, end_savepoint: Callable[[], None]) -> None:
        try:
            end_savepoint()
        except BaseException as exc:
            # The connection can no longer tell this member's work from the others': the whole
            # group fails, and nobody in it is told it was recorded.
            self._fail(exc)
        self._leave(group)

    def _leave(self, group: _Group | None) -> None:
        try:
            if group is not None and group is self._group:
                with self._queue_lock:
                    queued = self._queued
                if queued == 0 or group.members >= self._max:
                    self._commit(group)
        finally:
            self._owner = None
            self._mutex.release()

    def _commit(self, group: _Group) -> None:
        assert self._tx is not None
        try:
            self._tx.commit()
        except BaseException as exc:
            self._fail(exc)
            return
        self._group = self._tx = None
        self.groups_committed += 1
        self.commands_committed += group.members
        group.done.set()

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
            group.done.set()
