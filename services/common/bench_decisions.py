"""`tongban bench decisions`: the CPU a region's marriage service spends on the registry's decisions
about one registration, in-process, on a real SQLite store (WAL, synchronous=FULL).

Why a bench of its own: under `bench api` the decisions are most of a registration's cost to the
service (py-spy), but there they share the one core with the gRPC calls, the relay and the
consumers' fetches, so a change of a tenth in them is lost in the run's noise. Here the same code
the host runs is timed alone (thread CPU time, not wall clock):

1. N couples are registered at one office through the application's handler (untimed);
2. ``granted``: for each, the two grants arrive, as the decisions topic delivers them, in consumer
   batches of 64 sharing commits (EventStore.deferred, as Dispatcher.dispatch_batch runs them) --
   the second grant registers the marriage (certificate number, read models, confirmations);
3. ``confirmed``: the registry's confirmation of both claims;
4. ``duplicates``: the same confirmations again, as the national record delivers them a second time
   (the inbox drops them).

It checks that every case ended registered. Tracing is left off: spans are measured in `bench
store` (relay_publish_traced) and in `bench api`."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.common.bench_api import Couples
from services.common.bench_report import Measure, format_table, to_json

BATCH = 64  # messages per consumer batch, as the host's DISPATCH_BATCH
DEFAULT_REGISTRATIONS = 400
OFFICE = "640104-MRO-01"


def run_decisions_bench(args: argparse.Namespace) -> int:
    results, note = measure(args.registrations)
    print(format_table(results, ["sqlite"]))
    print(note)
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(results), indent=2, ensure_ascii=False) + "\n")
    return 0


def measure(registrations: int) -> tuple[list[Measure], str]:
    from services.common.clock import FakeClock
    from services.common.events import Actor
    from services.common.store import EventStore, sqlite_url
    from services.host import Infrastructure
    from services.host.host import HOST_TABLES
    from services.marriage.application import handlers, queries
    from services.marriage.bootstrap import TABLES, bootstrap
    from services.marriage.domain.commands import MarriageDeclaration, PartyInput, RegisterMarriage
    from services.marriage.domain.values import Party

    clerk = Actor(kind="clerk", clerk_id="bench-clerk", office_code=OFFICE, region="640000", role="registrar")
    declared = MarriageDeclaration(consents=True, no_spouse=True, no_prohibited_kinship=True, appears_in_person=True)
    couples = Couples.fresh()
    with tempfile.TemporaryDirectory(prefix="tongban-bench-decisions-") as directory:
        clock = FakeClock(datetime(2026, 5, 20, 2, 0, tzinfo=UTC))
        store = EventStore.open(sqlite_url(Path(directory) / "marriage.db"), region="640000", service="marriage",
                                clock=clock, tables=(*HOST_TABLES, *TABLES), group_commit=BATCH)
        try:
            service = bootstrap(Infrastructure.over(store))
            people = [couples.couple(n) for n in range(registrations)]
            cases = [handlers.register_marriage(service.deps, RegisterMarriage(
                PartyInput(husband, "张三", declared), PartyInput(wife, "李四", declared)), clerk)
                for husband, wife in people]

            def deliver(outcome: str) -> Callable[[], None]:
                messages = [_decision(service, case_id, party, citizen, outcome)
                            for case_id, couple in zip(cases, people, strict=True)
                            for party, citizen in zip((Party.A, Party.B), couple, strict=True)]

                def run() -> None:
                    for start in range(0, len(messages), BATCH):
                        with store.deferred():
                            for raw in messages[start:start + BATCH]:
                                service.on_decision_message(store, raw, None)
                return run

            phases = {"granted": deliver("granted"), "confirmed": deliver("confirmed"),
                      "duplicates": deliver("confirmed")}
            results: list[Measure] = []
            total = 0.0
            for name, run in phases.items():
                started = time.thread_time()
                run()
                spent = (time.thread_time() - started) * 1000 / registrations
                total += spent
                results.append(Measure(f"decisions_{name}", spent, "ms", "sqlite"))
            results.append(Measure("decisions_per_registration", total, "ms", "sqlite"))
            states = {queries.get_case(service.deps, case_id).case.state.value  # type: ignore[union-attr]
                      for case_id in cases}
        finally:
            store.close()
    if states != {"registered"}:
        raise SystemExit(f"bench decisions: cases ended {sorted(states)}, not all registered")
    return results, (f"{registrations:,} registrations at {OFFICE}, decisions in consumer batches of {BATCH} "
                     "sharing commits; thread CPU ms per registration; all cases registered")


def _decision(service: Any, case_id: str, party: Any, citizen_id: str, outcome: str) -> bytes:
    """The registry's decision on one party's claim, as the decisions topic carries it."""
    from services.common.events import TraceContext
    from services.common.registry import ClaimKind, RegistryDecision, decision_id
    from services.common.registry.adapters import decision_to_proto
    from services.marriage.domain.marriage import claim_id_for

    claim = claim_id_for(case_id, party)
    region = service.deps.region
    decision = RegistryDecision(
        decision_id=decision_id(region, "marriage", claim, outcome), claim_id=claim, citizen_id=citizen_id,
        kind=ClaimKind.LIVE_MARRIAGE, case_id=case_id, region=region, service="marriage", outcome=outcome,
        holder_case_id="", holder_region="", holder_service="", decided_at=service.deps.clock.now(),
        correlation_id=case_id, trace=TraceContext())
    return bytes(decision_to_proto(decision).SerializeToString())


def add_decisions_bench_parser(bench_subparsers: Any) -> argparse.ArgumentParser:
    """Add `bench decisions` to the `tongban bench` subparsers."""
    bench = bench_subparsers.add_parser(
        "decisions", help="a region's CPU per registration for the registry's decisions (in-process)",
        description=sys.modules[__name__].__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: tongban bench decisions --registrations 1000 --json bench-decisions.json")
    bench.add_argument("--registrations", type=int, default=DEFAULT_REGISTRATIONS,
                       help="couples registered, then decided (default %(default)s)")
    bench.add_argument("--json", metavar="FILE", help='write [{"name", "value", "unit", "backend"}, ...] to FILE')
    bench.set_defaults(func=run_decisions_bench)
    return bench
