"""The load generator of `tongban bench api`: closed-loop clients on one grpc.aio event loop.

Each of N clients sends one call, waits for its answer, sends the next (a window clerk does not
queue a second registration behind the first), until the phase's time is up. All clients share one
channel (one HTTP/2 connection, as ghz does by default): the server sees N calls in flight.

Why asyncio and not threads: 50 Python threads each blocking in a sync stub spend their time
handing the GIL around, and on 2 cores that CPU is taken from the server being measured. One
event loop drives 50 calls in flight on a fraction of one core. Whether it did is measured, not
assumed: every phase reports the CPU the load generator itself used (`client_cpu`, in cores) next
to the server's (`server_cpu`, read from /proc for the service's process), so a reader sees which
side was busy."""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Call = Callable[[int], Awaitable[object]]  # one call; its argument is a number unique in the phase


@dataclass
class Phase:
    """What one phase measured: latencies of the calls that succeeded, errors by status."""

    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, one per successful call
    errors: dict[str, int] = field(default_factory=dict)
    client_cpu: float = 0.0  # cores the load generator used over the phase
    server_cpu: float = 0.0  # cores the measured server processes used over the phase
    answers: list[object] = field(default_factory=list)  # what each successful call returned

    @property
    def calls(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000

    @property
    def server_cpu_ms_per_call(self) -> float:
        return 1000 * self.server_cpu * self.seconds / self.calls if self.calls else 0.0

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else 0.0


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (p99 of 100 values is the 99th smallest): no interpolation
    that would invent a latency nobody saw."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil(n * fraction)
    return ordered[int(rank) - 1]


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pids: Sequence[int]) -> float:
    """User + system CPU seconds of `pids` so far (0 for a process that is gone or not ours to read)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


# An idle service still polls (relay, consumers, timers): a few hundredths of a core. A phase starts
# only once the one before has finished its background work (decisions, relay), so neither a phase
# nor the baseline pays for another's backlog.
QUIET_CORES = 0.15
QUIET_WINDOW = 0.5  # seconds of CPU use looked at each time
QUIET_TIMEOUT = 60.0


async def until_quiet(pids: Sequence[int], *, timeout: float = QUIET_TIMEOUT) -> tuple[float, float]:
    """Wait until `pids` use less than QUIET_CORES over a QUIET_WINDOW (at most `timeout` seconds):
    (the cores used over the last window, seconds waited). The caller reports a service that never
    went quiet; it measures anyway."""
    started = time.perf_counter()
    cores = 0.0
    while True:
        before, began = process_cpu(pids), time.perf_counter()
        await asyncio.sleep(QUIET_WINDOW)  # a measuring interval, not a wait for an event
        cores = (process_cpu(pids) - before) / (time.perf_counter() - began)
        waited = time.perf_counter() - started
        if cores < QUIET_CORES or waited >= timeout:
            return cores, waited


async def closed_loop(call: Call, *, clients: int, seconds: float | None = None, total: int | None = None,
                      server_pids: Sequence[int] = (), keep_answers: bool = False) -> Phase:
    """Run `clients` closed-loop clients until `seconds` have passed or `total` calls were sent
    (whichever is given; both: whichever comes first)."""
    if seconds is None and total is None:
        raise ValueError("a phase needs seconds or total")
    phase = Phase(clients=clients)
    sent = 0
    started = time.perf_counter()
    ends = started + seconds if seconds is not None else float("inf")

    def next_number() -> int | None:
        nonlocal sent
        if (total is not None and sent >= total) or time.perf_counter() >= ends:
            return None
        sent += 1
        return sent - 1

    async def client() -> None:
        while (number := next_number()) is not None:
            began = time.perf_counter()
            try:
                answer = await call(number)
            except Exception as error:  # grpc.aio.AioRpcError and anything else: counted, never fatal
                code = getattr(error, "code", None)
                name = code().name if callable(code) else type(error).__name__
                phase.errors[name] = phase.errors.get(name, 0) + 1
                continue
            phase.latencies.append(time.perf_counter() - began)
            if keep_answers:
                phase.answers.append(answer)

    cpu_before, server_before = _own_cpu(), process_cpu(server_pids)
    await asyncio.gather(*(client() for _ in range(clients)))
    phase.seconds = time.perf_counter() - started
    phase.client_cpu = (_own_cpu() - cpu_before) / phase.seconds if phase.seconds else 0.0
    phase.server_cpu = (process_cpu(server_pids) - server_before) / phase.seconds if phase.seconds else 0.0
    return phase
