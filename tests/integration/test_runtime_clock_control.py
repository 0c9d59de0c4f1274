"""The controlled clock (services.common.clock_control): one offset file under the data
directory moves every service process on it forward at once, so a demo can travel in time
through cooling-off periods and hand-off limits (architecture invariant 6)."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.common.clock import FakeClock
from services.common.clock_control import ControlledClock, advance, offset_path, read_offset

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 5, 10, 9, 0, tzinfo=UTC)


def test_an_advance_from_another_process_moves_every_clock_on_the_data_dir(tmp_path: Path) -> None:
    base = FakeClock(START)
    ningxia, sichuan = ControlledClock(tmp_path, base), ControlledClock(tmp_path, base)
    assert ningxia.now() == sichuan.now() == START, "no offset file: real time"
    code = "import sys; from datetime import timedelta; from pathlib import Path; " \
           "from services.common.clock_control import advance; advance(Path(sys.argv[1]), timedelta(days=30))"
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, check=True)
    assert ningxia.now() == sichuan.now() == START + timedelta(days=30)
    base.advance(timedelta(minutes=5))
    assert ningxia.now() == START + timedelta(days=30, minutes=5), "real time keeps flowing under the offset"


def test_advances_from_many_callers_add_up_and_a_clock_never_goes_back(tmp_path: Path) -> None:
    threads = [threading.Thread(target=advance, args=(tmp_path, timedelta(hours=1))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert read_offset(tmp_path) == timedelta(hours=8), "the file lock loses no advance"
    clock = ControlledClock(tmp_path, FakeClock(START))
    assert clock.now() == START + timedelta(hours=8)
    offset_path(tmp_path).write_text("0\n")  # someone puts an older file back
    assert clock.now() == START + timedelta(hours=8)
    offset_path(tmp_path).write_text("not a number\n")
    assert clock.now() == START + timedelta(hours=8), "an unreadable file keeps the last good offset"
    with pytest.raises(ValueError):
        advance(tmp_path, timedelta(seconds=-1))
