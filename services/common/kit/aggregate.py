"""The aggregate base: command methods decide and return new events; `when` only assigns; the
fold is written once, here.

Replay must give the same state every time (house style, "impure apply"): everything an event
carries — ids, dates, numbers — is decided before it is made, so `when` reads nothing but the
event. The version and the open/update times come from the store, and are kept by the base."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self

from services.common.kit.copying import copied


@dataclass
class Aggregate:
    """One case (or other consistency boundary) as the fold of its stream.

    `stream_type` names the stream in the store (e.g. "marriage.Marriage"); `what` is how an error
    names it ("marriage 'marriage-640000-…' not found")."""

    stream_type: ClassVar[str] = ""
    what: ClassVar[str] = ""
    # Bumped by hand when `when` changes what it makes of events without changing the fields:
    # snapshots taken by the older code are then ignored (a change of fields is noticed alone).
    snapshot_version: ClassVar[int] = 1
    # True for an aggregate whose `when` assigns nothing, so that its state is its version and
    # times alone (a counter: the version is the count). It is then loaded from the first and
    # last events of its stream, whatever its length, instead of decoding and folding the events
    # since its snapshot (half a certificate counter's hundred, each time a number was issued).
    fold_is_count: ClassVar[bool] = False

    version: int = 0
    opened_at: datetime | None = None
    updated_at: datetime | None = None

    def when(self, event: Any) -> None:
        """Assign what `event` says. Never validates, never reads a clock: decide did that."""
        raise NotImplementedError

    def apply(self, event: Any) -> None:
        self.when(event)
        self.version += 1

    @classmethod
    def fold(cls, history: Iterable[tuple[Any, datetime]]) -> Self:
        """The aggregate from its events, each with the time the store recorded it."""
        return cls().extended(history)

    @classmethod
    def counted(cls, version: int, opened_at: datetime, updated_at: datetime) -> Self:
        """The fold of `version` events recorded from `opened_at` to `updated_at`, for a class whose
        fold is its count (`fold_is_count`); what `fold` gives such a class for those events."""
        if not cls.fold_is_count:
            raise TypeError(f"{cls.__name__} folds what its events say: load it from its events")
        return cls(version=version, opened_at=opened_at, updated_at=updated_at)

    def extended(self, history: Iterable[tuple[Any, datetime]]) -> Self:
        """This state with the events that follow it applied (in place): the fold continued, from
        a snapshot, say."""
        for event, recorded_at in history:
            self.apply(event)
            self.opened_at = self.opened_at or recorded_at
            self.updated_at = recorded_at
        return self

    def applied(self, events: Sequence[Any]) -> Self:
        """A copy with `events` applied: what the aggregate will be once they are recorded. The
        loaded state stays untouched, as the base of the expected version."""
        return copied(self).extended_by(events)

    def extended_by(self, events: Sequence[Any]) -> Self:
        """This state with `events` applied (in place; the store sets the times as it records them)."""
        for event in events:
            self.apply(event)
        return self
