"""Clocks. Everything that reads the time takes a Clock, so tests and demos can travel in time
(architecture invariant 6: deadlines fire from an injectable clock)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Protocol

# Civil days are days in China, whatever the host's zone: ages, registration dates, cooling-off and
# every working-day limit count them. A fixed UTC+8 rather than the tz database's Asia/Shanghai:
# China has kept UTC+8 without daylight saving since 1991, and a fixed offset needs no tz data.
CHINA = timezone(timedelta(hours=8), "CST")


def china_date(instant: datetime) -> date:
    """The civil day in China at `instant` (timezone-aware: a UTC instant near midnight is already
    the next day in Beijing)."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware instant")
    return instant.astimezone(CHINA).date()


def end_of_china_day(day: date) -> datetime:
    """The instant `day` ends in China (00:00 the next day), as UTC: a limit whose last day is `day`
    has run out from then."""
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=CHINA).astimezone(UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to. Thread-safe, never goes backwards."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> datetime:
        if instant.tzinfo is None:
            raise ValueError("FakeClock.set needs a timezone-aware time")
        with self._lock:
            instant = instant.astimezone(UTC)
            if instant < self._now:
                raise ValueError(f"a clock does not go backwards ({instant} < {self._now})")
            self._now = instant
            return self._now
