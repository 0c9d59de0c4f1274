"""`tongban bench exchange`: the consumer work of one region as the country grows (invariant 10).

The same national stream of registry decisions (``--claims`` marriage claims a run, each granted and
then confirmed, every tenth later released by a divorce) is spread evenly over 3 and then over 30
simulated regions. For one region it counts the messages it reads and times (CPU, not wall clock) what
its service does with them, under two layouts:

- ``broadcast``: the layout before, one decisions topic the whole country reads: the region reads
  every decision and filters;
- ``per_region``: the layout now (services/common/registry/topics.py): the decisions addressed to the
  region on its own topic, plus the national record (confirmed and released) every region reads.

The same is measured for hand-offs (services/common/bench_handoffs.py): the messages of the country's
hand-offs on the service's shared topic (before) or on the region's own hand-off topic (now).

The work timed per message is the host's: the registry's signature checked (Ed25519), the decision
decoded and taken through the region's inbox into a real SQLite store (WAL, synchronous=FULL): the
`registry_entries` view, and for its own claims the decision recorded in the claim's stream. The
broker's fetch is not included; it is proportional to the messages read, which the table shows."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from services.common.bench_handoffs import DEFAULT_HANDOFFS, QUICK_HANDOFFS, region_handoff_work
from services.common.bench_report import Measure, format_table, to_json
from services.common.events import Actor, TraceContext
from services.common.identity import make_citizen_id
from services.common.kit.provenance import Provenance
from services.common.registry import decision_reaction, request_claim
from services.common.registry.adapters import decision_to_proto
from services.common.registry.domain import ClaimKind, Outcome, RegistryDecision, ReleaseReason, decision_id
from services.common.registry.topics import consumed_decision_topics, decision_topics
from services.common.store import EventStore, sqlite_url
from services.common.trust.keys import REGISTRY, KeyDirectory, ensure_key_in, ensure_region_key
from services.common.trust.signing import DECISION_PURPOSE, message_problem, sign_message

REGION_COUNTS = (3, 30)
LAYOUTS = ("broadcast", "per_region")
DEFAULT_CLAIMS = 1500
QUICK_CLAIMS = 600
SERVICE = "marriage"
_RELEASED_EVERY = 10
_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # decision times: fixed, the bench needs no clock


# The provinces' GB/T 2260 codes (up to 31 simulated regions; hand-offs accept only real ones).
PROVINCES = ("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42",
             "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65")


def simulated_regions(count: int) -> list[str]:
    """`count` distinct provincial region codes (``NN0000``)."""
    if not 1 <= count <= len(PROVINCES):
        raise ValueError(f"between 1 and {len(PROVINCES)} simulated regions, not {count}")
    return [f"{code}0000" for code in PROVINCES[:count]]


def _decision(claim: int, region: str, citizen: str, outcome: Outcome) -> RegistryDecision:
    claim_id = f"claim-{claim}"
    released = outcome is Outcome.RELEASED
    return RegistryDecision(
        decision_id=decision_id(region, SERVICE, claim_id, outcome), claim_id=claim_id, citizen_id=citizen,
        kind=ClaimKind.LIVE_MARRIAGE, case_id=f"case-{claim}", region=region, service=SERVICE, outcome=outcome,
        holder_case_id="", holder_region="", holder_service="", decided_at=_AT + timedelta(seconds=claim),
        correlation_id=f"case-{claim}", trace=TraceContext(),
        release_reason=ReleaseReason.DIVORCE.value if released else "",
        released_on=date(2026, 3, 3) if released else None,
    )


def national_decisions(claims: int, regions: list[str]) -> Iterator[tuple[int, RegistryDecision]]:
    """The country's decisions: claim n is region n mod len(regions)'s, on a person of its own."""
    for claim in range(claims):
        region = regions[claim % len(regions)]
        citizen = make_citizen_id(region[:2] + "0104", date(1990, 1, 1) + timedelta(days=claim % 9000),
                                  claim % 1000 or 1)
        outcomes = [Outcome.GRANTED, Outcome.CONFIRMED]
        if claim % _RELEASED_EVERY == 0:
            outcomes.append(Outcome.RELEASED)
        for outcome in outcomes:
            yield claim, _decision(claim, region, citizen, outcome)


def messages_read(decisions: list[RegistryDecision], region: str, layout: str) -> list[RegistryDecision]:
    """What `region` reads of the country's decisions under `layout`, in publication order."""
    if layout == "broadcast":
        return list(decisions)
    mine = set(consumed_decision_topics(region))
    return [d for d in decisions for topic in decision_topics(d.region, d.outcome) if topic in mine]


def _region_work(workdir: Path, region: str, claims: int, regions: list[str], layout: str) -> tuple[int, float]:
    """(messages read, CPU seconds) of `region`'s marriage service taking its decisions."""
    registry_key = ensure_key_in(workdir / REGISTRY / "keys", REGISTRY)
    keys = KeyDirectory(workdir, own=ensure_region_key(workdir, region))
    store = EventStore.open(sqlite_url(workdir / f"{region}-{layout}-{len(regions)}.db"), region=region,
                            service=SERVICE, tables=_tables())
    try:
        everything = []
        actor = Actor(kind="clerk", clerk_id=f"clerk-{region}", office_code=f"{region}-OFFICE-01", region=region,
                      role="window")
        with store.transaction() as tx:  # the region's own claims, made before the decisions come
            for claim, d in national_decisions(claims, regions):
                everything.append(d)
                if d.region == region and d.outcome is Outcome.GRANTED:
                    request_claim(tx, claim_id=d.claim_id, citizen_id=d.citizen_id, kind=d.kind, case_id=d.case_id,
                                  provenance=Provenance(actor=actor, correlation_id=d.case_id,
                                                        causation_id=f"cmd-{claim}", occurred_at=_AT))
        wire = []
        for d in messages_read(everything, region, layout):
            value = decision_to_proto(d).SerializeToString(deterministic=True)
            wire.append((value, sign_message(registry_key, DECISION_PURPOSE, value)))
        react = decision_reaction(region, SERVICE, lambda tx, d: None)
        started = time.process_time()
        for value, headers in wire:
            if message_problem(keys, REGISTRY, DECISION_PURPOSE, value, headers) is None:
                react(store, value, headers)
        return len(wire), time.process_time() - started
    finally:
        store.close()


def _record(results: list[Measure], what: str, count: int, layout: str, read: int, cpu: float, took: float) -> None:
    results.append(Measure(f"{what}_messages_read_{count}_regions", read, "messages", layout))
    results.append(Measure(f"{what}_cpu_{count}_regions", cpu * 1000, "ms", layout))
    print(f"[{layout}] {what}s, {count} regions: the first region read {read:,} messages, "
          f"{cpu * 1000:,.0f} ms CPU ({took:.1f} s)", file=sys.stderr, flush=True)


def _tables() -> list[Any]:
    from services.common.registry.projection import TABLES as VIEW_TABLES

    return [VIEW_TABLES]


def run_exchange_bench(args: argparse.Namespace) -> int:
    """`tongban bench exchange`. Returns the process exit code."""
    claims = QUICK_CLAIMS if args.quick else args.claims
    if claims < 30:
        print("tongban bench exchange: --claims must be at least 30 (one per simulated region)", file=sys.stderr)
        return 2
    handoffs = QUICK_HANDOFFS if args.quick else args.handoffs
    started = time.perf_counter()
    results: list[Measure] = []
    logging.getLogger("services.common.registry").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tongban-bench-exchange-") as tmp:
        for count in REGION_COUNTS:
            regions = simulated_regions(count)
            for layout in LAYOUTS:
                t = time.perf_counter()
                read, cpu = _region_work(Path(tmp), regions[0], claims, regions, layout)
                _record(results, "decision", count, layout, read, cpu, time.perf_counter() - t)
            if handoffs:
                t = time.perf_counter()
                for layout, read, cpu in region_handoff_work(Path(tmp), regions, handoffs, LAYOUTS):
                    _record(results, "handoff", count, layout, read, cpu, time.perf_counter() - t)
    results.sort(key=lambda m: (m.name.split("_")[0] != "decision", "cpu" in m.name, int(m.name.split("_")[-2])))
    print(format_table(results, list(LAYOUTS)))
    print()
    print(f"the same national stream each time, spread evenly over the regions; one region's consumer work: "
          f"{claims:,} marriage claims (granted, confirmed; every {_RELEASED_EVERY}th released)"
          + (f"; {handoffs:,} relief hand-offs (sent, accepted, answered)" if handoffs else ""))
    print("per_region still reads the national record (confirmed, released: what a status check needs), "
          "which grows with the country's rate, not with its number of regions; hand-offs per_region: only "
          "those addressed to the region")
    print(f"total time: {time.perf_counter() - started:.1f} s")
    if args.json:
        path = Path(args.json)
        path.write_text(json.dumps(to_json(results), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {len(results)} measures to {path}", file=sys.stderr)
    return 0


def add_exchange_bench_parser(bench_subparsers: Any) -> argparse.ArgumentParser:
    """Add `bench exchange` to the `tongban bench` subparsers."""
    bench = bench_subparsers.add_parser(
        "exchange", help="one region's consumer work with 3 and with 30 regions (invariant 10)",
        description="The consumer work of one region (registry decisions and hand-off messages it reads; CPU "
                    "time to verify and take them into its store) at the same national rate with 3 and with 30 "
                    "simulated regions, in the broadcast layout (before) and the per-region layout (now).",
        epilog="example: tongban bench exchange --json bench-exchange.json")
    bench.add_argument("--json", metavar="FILE", help='write [{"name", "value", "unit", "backend"}, ...] to FILE')
    bench.add_argument("--claims", type=int, default=DEFAULT_CLAIMS,
                       help="national marriage claims in each run (default %(default)s)")
    bench.add_argument("--handoffs", type=int, default=DEFAULT_HANDOFFS,
                       help="national hand-offs in each run, 0 for none (default %(default)s)")
    bench.add_argument("--quick", action="store_true",
                       help=f"{QUICK_CLAIMS:,} claims and {QUICK_HANDOFFS:,} hand-offs, for a first look")
    bench.set_defaults(func=run_exchange_bench)
    return bench
