"""`tongban bench api`'s results and how they are reported: the measures (JSON `{"name", "value",
"unit", "backend"}`) and the table."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.bench_api_load import Phase
from services.common.bench_report import Measure

BACKEND = "sqlite"  # the stores of a `tongban up` stack


@dataclass
class Results:
    single: Phase
    round_trip: Phase
    first_trip: Phase
    check: Phase
    register: Phase
    warmup: Phase
    recorded: int
    drain_seconds: float  # after register_N: until the service was quiet (its registrations decided)
    # CPU seconds over register_N and its drain: the marriage service's and the registry worker's.
    burst_service_cpu: float = 0.0
    burst_registry_cpu: float = 0.0

    @property
    def sustained_rate(self) -> float:
        """register_N's registrations over the phase and the time until they were all decided."""
        spent = self.register.seconds + self.drain_seconds
        return self.register.calls / spent if spent > 0 else 0.0

    @property
    def burst_cpu_ms(self) -> tuple[float, float]:
        """(service, registry worker) CPU ms a registration of register_N, taken in and decided."""
        calls = self.register.calls
        if not calls:
            return 0.0, 0.0
        return 1000 * self.burst_service_cpu / calls, 1000 * self.burst_registry_cpu / calls

    @property
    def cost_vs_check(self) -> float:
        """How many Checks' worth of the service's CPU a registration of register_N cost, taken in
        and decided (0 when a phase did nothing). The service's calls, relay and consumers share
        one interpreter (its GIL: it never uses much more than one core), so on that core
        registrations can be taken in *and decided* at most 1/this of the rate it serves Checks at.
        A burst can run ahead for a while by leaving decisions for later (the drain); kept up, 25%
        of Check's rate needs this at 4 or under, whatever the machine's speed."""
        check_ms = self.check.server_cpu_ms_per_call
        service_ms = self.burst_cpu_ms[0]
        return service_ms / check_ms if check_ms > 0 and service_ms > 0 else 0.0

    @property
    def answered(self) -> int:
        """Registrations answered in the whole run, warm-up included."""
        return sum(p.calls for p in (self.warmup, self.first_trip, self.single, self.round_trip, self.register))


def measures(results: Results, clients: int) -> list[Measure]:
    out: list[Measure] = []

    def add(name: str, value: float, unit: str) -> None:
        out.append(Measure(name, value, unit, BACKEND))

    for name, phase, unit in ((f"check_{clients}", results.check, "calls/s"),
                              (f"register_marriage_{clients}", results.register, "commands/s"),
                              ("register_marriage_1", results.single, "commands/s")):
        add(f"{name}_rate", phase.rate, unit)
        for label, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            add(f"{name}_{label}", phase.percentile_ms(fraction), "ms")
        add(f"{name}_client_cpu", phase.client_cpu, "cores")
        add(f"{name}_server_cpu", phase.server_cpu, "cores")
        # What a call costs the server whatever else the machine is doing: on a shared machine the
        # rates move with the load, this much less.
        add(f"{name}_server_cpu_per_call", phase.server_cpu_ms_per_call, "ms")
    add("register_marriage_1_mean", results.single.mean_ms, "ms")
    add("registrations_answered", results.answered, "commands")
    add("registrations_recorded", results.recorded, "commands")
    add("registry_round_trip_p50", results.round_trip.percentile_ms(0.5), "ms")
    add("registry_round_trip_p99", results.round_trip.percentile_ms(0.99), "ms")
    add("registry_round_trip_first", results.first_trip.percentile_ms(1.0), "ms")
    add(f"register_marriage_{clients}_drain", results.drain_seconds, "s")
    add(f"register_marriage_{clients}_sustained_rate", results.sustained_rate, "commands/s")
    service_ms, registry_ms = results.burst_cpu_ms
    # Stack-wide, what the burst cost until all of it was decided: the figure that moves when work
    # leaves the call for the background (relay, decisions) or the service for the registry.
    add(f"register_marriage_{clients}_decided_service_cpu", service_ms, "ms")
    add(f"register_marriage_{clients}_decided_registry_cpu", registry_ms, "ms")
    if results.cost_vs_check:
        add(f"register_cost_vs_check_{clients}", results.cost_vs_check, "x")
    if results.check.rate:
        add(f"register_vs_check_{clients}", 100 * results.register.rate / results.check.rate, "%")
    if results.single.mean_ms:
        add(f"register_p99_vs_single_mean_{clients}",
            results.register.percentile_ms(0.99) / results.single.mean_ms, "x")
    return out


def table(results: Results, clients: int) -> str:
    header = ("phase", "clients", "calls", "rate/s", "p50 ms", "p90 ms", "p99 ms", "mean ms", "client cpu",
              "server cpu", "server ms/call", "errors")
    rows = [header]
    for name, phase in ((f"Check ×{clients}", results.check), (f"RegisterMarriage ×{clients}", results.register),
                        ("RegisterMarriage ×1", results.single), ("registry round trip", results.round_trip),
                        ("registry round trip, first", results.first_trip)):
        rows.append((name, str(phase.clients), f"{phase.calls:,}", f"{phase.rate:,.1f}",
                     *(f"{phase.percentile_ms(f):,.1f}" for f in (0.5, 0.9, 0.99)), f"{phase.mean_ms:,.1f}",
                     f"{phase.client_cpu:.2f}", f"{phase.server_cpu:.2f}", f"{phase.server_cpu_ms_per_call:.2f}",
                     str(sum(phase.errors.values()))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
