"""The whole test suite as `./dev test` runs it: three pytest sessions side by side, then the tests that
need the machine to themselves, alone.

Most of the suite's wall-clock time is waiting, not computing: stacks starting, consumer groups joining,
services polling their stores, a browser rendering. A session measured on a machine loaded by five other
test runs (load 6 to 11 on 2 cores) took 1107 s against 902 s idle. So sessions that wait side by side
finish far sooner than one after another, and every test still runs, in a session of its own kind:

* ``stacks``: the test modules that start whole stacks (``tongban up``, the demo, the window CLI, the
  web console with its browser) on the local broker;
* ``rest``: every other test module on the local broker, SQLite and PostgreSQL;
* ``apache``: the Kafka tests again on Apache Kafka (``kafka and not stack_client``), as before;
* then ``alone`` (marker ``alone``): the chaos test, whose pacing and stall limits assume the cores are
  its own, and the benchmarks, whose numbers mean nothing on cores shared with other sessions.

Each session writes to its own log, printed whole when it ends; the exit code is the first failure's.
Each has its own cache directory, so ``pytest --lf -o cache_dir=.pytest_cache/suite-rest`` reruns what
failed there.

    .venv/bin/python scripts/suite.py [PYTEST-OPTIONS]   # e.g. --durations=30, given to every session
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The modules whose tests drive whole stacks. Listed by file, so a new test module lands in `rest` unless
# it is added here; the list is checked against the tree before anything starts.
STACK_MODULES: tuple[str, ...] = (
    "tests/integration/test_demo.py",
    "tests/integration/test_stack.py",
    "tests/integration/test_stack_supervisor.py",
    "tests/integration/test_window.py",
    "tests/integration/web",
)


@dataclass
class Session:
    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    started: float = 0.0
    seconds: float = 0.0
    code: int | None = None

    def start(self, log_dir: Path) -> None:
        self.log = log_dir / f"{self.name}.log"
        argv = [sys.executable, "-m", "pytest", "-q", "-o", f"cache_dir=.pytest_cache/suite-{self.name}", *self.args]
        print(f"[suite] {self.name}: {' '.join(argv[2:])}", flush=True)
        self.started = time.monotonic()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, **self.env})

    def finish(self) -> int:
        assert self.proc is not None and self.log is not None
        code = self.code = self.proc.wait()
        self.seconds = time.monotonic() - self.started
        print(f"\n[suite] ===== {self.name}: exit {code} after {self.seconds:.0f} s =====", flush=True)
        sys.stdout.write(self.log.read_text(encoding="utf-8", errors="replace"))
        sys.stdout.flush()
        return code


def sessions_side_by_side(options: list[str]) -> list[Session]:
    ignored = [f"--ignore={module}" for module in STACK_MODULES]
    return [
        Session("stacks", ["-m", "not alone", *options, *STACK_MODULES]),
        Session("rest", ["-m", "not alone", *ignored, *options, "tests"]),
        # Only the tests whose subject is the exchange: those that drive a stack through a client
        # (stack_client) do not need Apache Kafka under them.
        Session("apache", ["-m", "kafka and not stack_client and not alone", *options],
                env={"TONGBAN_TEST_BROKER": "apache"}),
    ]


def check_modules() -> None:
    missing = [module for module in STACK_MODULES if not (ROOT / module).exists()]
    if missing:
        raise SystemExit(f"scripts/suite.py lists test modules that are not there: {', '.join(missing)}")


def wait_for(sessions: list[Session]) -> int:
    """Wait for every session, printing each as it ends; the first non-zero exit code, or 0."""
    first_failure = 0
    pending = list(sessions)
    while pending:
        for session in [s for s in pending if s.proc is not None and s.proc.poll() is not None]:
            code = session.finish()  # always: its log is printed even after another session failed
            first_failure = first_failure or code
            pending.remove(session)
        if pending:
            time.sleep(0.5)  # polling child processes: a log is printed at most half a second late
    return first_failure


def main(options: list[str]) -> int:
    check_modules()
    started = time.monotonic()
    log_dir = Path(tempfile.mkdtemp(prefix="tongban-suite-"))
    side_by_side = sessions_side_by_side(options)
    alone = Session("alone", ["-m", "alone", *options])
    everyone = [*side_by_side, alone]
    try:
        for session in side_by_side:
            session.start(log_dir)
        code = wait_for(side_by_side)
        alone.start(log_dir)
        code = wait_for([alone]) or code
    except BaseException:  # Ctrl-C or a bug here: leave no pytest session running behind us
        for session in everyone:
            if session.proc is not None and session.proc.poll() is None:
                session.proc.terminate()
        raise
    failed = [s.name for s in everyone if s.code != 0]
    print(f"\n[suite] {'FAILED: ' + ', '.join(failed) if failed else 'passed'}; "
          + ", ".join(f"{s.name} {s.seconds:.0f} s" for s in everyone)
          + f"; {time.monotonic() - started:.0f} s in all; logs in {log_dir}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
