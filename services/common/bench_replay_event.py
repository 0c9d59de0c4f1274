"""The eventsourcing library's shape of the bench's event (bench_replay.py), in a module of its
own: the library finds an event's class again by its topic (module and name), and this module
is imported only where the library is installed."""

from __future__ import annotations

from eventsourcing.domain import AggregateEvent


class CaseRecorded(AggregateEvent):
    """What an `Aggregate.Event` subclass looks like: originator id, version, timestamp, payload."""

    payload: str
