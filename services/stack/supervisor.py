"""`tongban up` once the stack serves: watch the children, restart the ones that die, report.

Every half second the supervisor looks at each child (the local broker, the registry worker, each
service of each region). One that exited without being asked to is reported in one line (which
child, its exit code or signal, how long it ran, when it comes back, its log file; for an exit
code, the last lines of that log follow) and started again after a backoff (restart.py: 0.5 s
doubling to 30 s, reset once the child stayed up 60 s). The others keep running. A child that
dies 5 times in a row within 10 s of starting cannot start at all: the supervisor stops the whole
stack and `tongban up` exits 1, naming the child, how it ended and its log's tail.

What a restart takes, per child:
- A service: `tongban serve` again, with the same store. Its gRPC port is new (it binds port 0),
  so once it answers the health service the supervisor rewrites `DIR/stack.json` with the new
  address and pid, where `tongban window` and the demo look it up. Nothing is lost or
  duplicated: its events are in its store, the relay's cursor moves only after the broker
  acknowledged (it republishes what it had not), its consumers resume from their group's
  committed offsets and the inbox drops what they had already handled. While it is down, calls
  to its old address fail (UNAVAILABLE); other regions' messages for it wait in the broker.
- The registry worker: started again on the same broker, it finds its person records in its own
  store (DIR/registry/persons.db) and reads the claims topic on from its group's committed offsets.
- The local broker (memory-only tansu) comes back empty. It is started again on the same port,
  so any client still holding the address reaches the new one (the port can be taken between
  the death and the restart; then a free one is chosen, and the stack file gets the new
  address). Then everything above it is restarted, in the start order:
  - the registry worker, because its consumers' positions went with the broker: its person
    records are in its own store, which forgets where it stood in the old claims topic
    (registry_store.py); the refilled service topics are forwarded again, and every claim it had
    decided is repeated with its decisions' ids, never decided anew;
  - every service, because their consumer groups' committed offsets are gone with the broker
    (a running consumer would keep positions in topics that no longer exist) and a host
    refills an empty broker from its store at start at once, rather than at its next refill
    check (`refill_check_interval`, 30 s). The stores being the truth, the relays republish
    every event and the inboxes drop the ones already handled.

A restarted service or registry worker is back once it answers (a service) or runs (the
registry); it consumes again once its group has given it its partitions (the marker it writes,
services/common/readiness.py), seconds later on the development broker. The supervisor says so in
a second line, as `up` waits for it at the start; one that has no partitions `start_timeout`
seconds after it came back is stopped and counted as a failed start, like one that never answers.

Restarted children are spawned from the main thread, so the kernel still stops them when the
supervisor dies (PR_SET_PDEATHSIG, children.py). A broker restart blocks the loop until the new
broker answers; Ctrl-C meanwhile stops the stack right after it."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from services.common.readiness import consuming
from services.stack.children import Child, stop_child
from services.stack.config import REGISTRY_DATADIR, StackConfig
from services.stack.consumers import marker
from services.stack.restart import RestartPolicy, RestartState
from services.stack.stackfile import StackInfo
from services.stack.up import Stack


class GaveUp(RuntimeError):
    """A child cannot start at all."""


class Supervisor:
    """Restarts the children of a started `Stack` that die; `run(stop)` until `stop` is set (0) or a
    child cannot start (1)."""

    def __init__(self, stack: Stack, policy: RestartPolicy, out: Callable[[str], None]) -> None:
        self.stack = stack
        self.policy = policy
        self.out = out
        self._history: dict[str, RestartState] = {}
        self._due: dict[str, tuple[float, Child]] = {}  # child name: (when, the dead child)
        self._starting: list[Child] = []  # restarted services not serving yet
        self._joining: dict[str, tuple[Child, float]] = {}  # back, partitions not yet assigned: (child, since)

    def run(self, stop: threading.Event, *, interval: float = 0.5) -> int:
        while not stop.wait(interval):
            try:
                self.tick()
            except GaveUp as exc:
                self.out(f"tongban up: {exc}")
                self.out("tongban up: stopping the stack")
                return 1
        return 0

    def tick(self) -> None:
        """One look: report and schedule the dead, restart the due, publish the newly serving."""
        for child in self.stack.children():
            if child.name not in self._due and not child.expected_exit and child.process.poll() is not None:
                self._died(child, child.uptime(), child.how_it_ended())
        now = time.monotonic()
        due = [name for when, name in sorted((when, name) for name, (when, _) in self._due.items()) if when <= now]
        if "broker" in self._due:
            due = [name for name in due if name == "broker"]  # the others are restarted with it: wait for it
        for name in due:
            self._restart(self._due.pop(name)[1])
        for child in list(self._starting):
            self._check_starting(child)
        for child, since in list(self._joining.values()):
            self._check_joining(child, since)

    def _died(self, child: Child, uptime: float, how: str) -> None:
        verdict = self._history.setdefault(child.name, RestartState(self.policy)).died(uptime)
        if verdict.give_up:
            raise GaveUp(f"{child.name} cannot start: it ended {verdict.failed_starts} times in a row within "
                         f"{self.policy.quick:g}s of starting (last: {how}); log {child.log_path}:\n{child.tail()}")
        self._due[child.name] = (time.monotonic() + verdict.delay, child)
        ran = f" after {uptime:.1f}s" if uptime else ""  # 0: it never ran (a start that failed)
        self.out(f"tongban up: {child.name} (pid {child.process.pid}) died: {how}{ran}; "
                 f"restarting in {verdict.delay:g}s (restart {verdict.restarts}); log {child.log_path}")
        if not how.startswith("killed"):
            self.out("\n".join(f"    | {line}" for line in child.tail(5).splitlines()))

    def _restart(self, child: Child) -> None:
        try:
            started = self.stack.restart(child)
        except Exception as exc:  # e.g. a broker that does not answer: a failed start like any other
            self._died(child, 0.0, f"could not be started again ({exc})")
            return
        if child.name == "broker":
            self._due.clear()  # every other child was restarted with it
            self._starting = []
            self._joining = {}
        if self.stack.registry_child is not None and child.name in ("broker", "registry"):
            self._joining["registry"] = (self.stack.registry_child, time.monotonic())
        self._starting = [c for c in self._starting if c.name != child.name] + started
        info = self.stack.publish()
        if child.name == "broker":
            self.out(f"tongban up: broker is back on {info.kafka} (pid {info.broker_pid}); registry and services "
                     "restarted on it (the stores refill it; the registry keeps its own store)")
        elif child.name == "registry":
            self.out(f"tongban up: registry started again (pid {info.registry_pid})")
        elif child.name == "web":
            self.out(f"tongban up: web console started again on {info.web_url} (pid {child.process.pid})")

    def _check_starting(self, child: Child) -> None:
        if child.process.poll() is not None:
            self._starting.remove(child)  # reported as dead on the next tick
            return
        if self.stack.serving(child):
            self._starting.remove(child)
            self.stack.publish()
            self.out(f"tongban up: {child.name} is back: gRPC on {child.address} (pid {child.process.pid})")
            self._joining[child.name] = (child, time.monotonic())
        elif child.uptime() > self.stack.config.start_timeout:
            self._starting.remove(child)
            stop_child(child, self.stack.config.stop_timeout)
            self._died(child, 0.0, f"not serving after {self.stack.config.start_timeout:g}s")

    def _check_joining(self, child: Child, since: float) -> None:
        if child.process.poll() is not None:
            del self._joining[child.name]  # reported as dead on the next tick
            return
        waited = time.monotonic() - since
        if consuming(marker(self.stack.config.data_dir, child, REGISTRY_DATADIR), child.process.pid):
            del self._joining[child.name]
            self.out(f"tongban up: {child.name} consumes again (its partitions assigned {waited:.1f}s after it "
                     "was back)")
        elif waited > self.stack.config.start_timeout:
            del self._joining[child.name]
            stop_child(child, self.stack.config.stop_timeout)
            self._died(child, 0.0, f"no partitions assigned {self.stack.config.start_timeout:g}s after it was back")


def endpoint_table(info: StackInfo, logs_dir: Path) -> str:
    from services.common.identity import RegionCode

    lines = [f"  {'region':<8}{'name':<16}{'service':<12}{'gRPC':<22}{'pid':<9}log"]
    for e in info.endpoints:
        name = RegionCode(e.region).name
        lines.append(f"  {e.region:<8}{name:<{16 - _wide(name)}}{e.service:<12}{e.address:<22}{e.pid:<9}"
                     f"{logs_dir / f'{e.region}-{e.service}.log'}")
    return "\n".join(lines)


def _wide(text: str) -> int:
    """How many extra columns CJK characters take (each is two columns wide in a terminal)."""
    return sum(1 for ch in text if ord(ch) > 0x2E80)


def run_up(config: StackConfig) -> int:
    """`tongban up`: start, print, supervise (restarting what dies) until Ctrl-C/SIGTERM or a child
    cannot start, stop in order."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = Stack(config)
    print(f"tongban up: starting the stack on {config.data_dir} "
          f"(regions {', '.join(config.regions)}; services {', '.join(config.service_names())})", flush=True)
    # Until the stack runs, a signal interrupts the start (which stops what started); then it only
    # asks the supervision loop to finish.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        info = stack.start()
    except KeyboardInterrupt:
        print("tongban up: interrupted while starting; stopped", flush=True)
        return 130
    except Exception as exc:
        print(f"tongban up: could not start: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous[signal.SIGTERM])
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        # The table mirror's Kafka client would fill the terminal with connection errors while a
        # dead broker is restarted; the supervisor's own lines say what happens (-v shows them).
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        if info.registry_pid is not None:
            print(f"  registry  pid {info.registry_pid}  log {config.logs_dir / 'registry.log'}")
        print(endpoint_table(info, config.logs_dir))
        if info.web_url:
            print(f"  web console  {info.web_url}  (sign in as a clerk; log {config.logs_dir / 'web.log'})")
        print(f"ready in {stack.elapsed():.1f}s; stack file {config.data_dir / 'stack.json'}")
        first = info.endpoints[0]
        print(f"try: tongban window marriage list --data {config.data_dir} --region {first.region}  |  "
              f"tongban demo --data {config.data_dir}")
        print(f"A part that dies is restarted ({config.restart.describe()}). Ctrl-C stops everything.",
              flush=True)
        code = Supervisor(stack, config.restart, stack.out).run(stop)
    finally:
        print("tongban up: stopping services, registry, broker ...", flush=True)
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("tongban up: stopped", flush=True)
    return code
