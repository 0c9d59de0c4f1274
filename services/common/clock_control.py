"""Time travel across processes, for demos and multi-process tests (architecture invariant 6).

A `ControlledClock` reads real time plus an offset kept in a small file under the data directory
(`clock-offset`, whole microseconds as text). Every service process of every region started on
the same data directory reads the same file, so `advance(data_dir, timedelta(days=31))` — from a
test, or `tongban clock advance` — moves all of them forward at once, and their deadline
schedulers fire what fell due. The offset only grows, and each clock never goes backwards.

In-process tests keep using FakeClock; production keeps SystemClock (the runtime uses this clock
only when asked to)."""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path

from services.common.clock import Clock, SystemClock

log = logging.getLogger(__name__)

OFFSET_FILE = "clock-offset"
_LOCK_FILE = "clock-offset.lock"


def offset_path(data_dir: Path) -> Path:
    return Path(data_dir) / OFFSET_FILE


def read_offset(data_dir: Path) -> timedelta:
    """The offset now in force (zero when none was ever set)."""
    try:
        text = offset_path(data_dir).read_text().strip()
    except FileNotFoundError:
        return timedelta(0)
    return timedelta(microseconds=int(text))


def advance(data_dir: Path, delta: timedelta) -> timedelta:
    """Move every controlled clock on `data_dir` forward by `delta`; returns the new offset.
    Safe against concurrent callers in other processes (file lock), and atomic for readers (the
    new value replaces the file in one rename, so a reader never sees half a number)."""
    if delta < timedelta(0):
        raise ValueError("a clock does not go backwards")
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / _LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        offset = read_offset(directory) + delta
        micros = offset // timedelta(microseconds=1)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".clock-offset.")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(f"{micros}\n")
            os.replace(tmp, offset_path(directory))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return offset


class ControlledClock:
    """Real time (or `base`) plus the offset in `data_dir`'s offset file. Thread-safe; re-reads
    the file only when it changed; never goes backwards, even if the file is replaced by an older
    one."""

    def __init__(self, data_dir: Path, base: Clock | None = None) -> None:
        self.data_dir = Path(data_dir)
        # A str, stat-ed with os.stat: every now() stats the file, and pathlib's own path handling
        # cost several times the stat itself (now() took ~7x as long through it), ~8% of a
        # RegisterMarriage's time holding the GIL under `tongban up` (py-spy).
        self._path = os.fspath(offset_path(self.data_dir))
        self._base = base or SystemClock()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None  # (mtime_ns, size) of the file last read
        self._offset = timedelta(0)
        self._last: datetime | None = None

    def offset(self) -> timedelta:
        try:
            stat = os.stat(self._path)
        except FileNotFoundError:
            return self._offset
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                self._offset = max(self._offset, read_offset(self.data_dir))
                self._stamp = stamp
            except (ValueError, OSError) as exc:
                # Keep the last good offset rather than jump back to real time.
                log.error("clock offset file %s unreadable (%s); keeping offset %s",
                          offset_path(self.data_dir), exc, self._offset)
        return self._offset

    def now(self) -> datetime:
        with self._lock:
            instant = self._base.now() + self.offset()
            if self._last is not None and instant < self._last:
                instant = self._last
            self._last = instant
            return instant
