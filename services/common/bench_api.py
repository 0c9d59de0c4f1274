"""`tongban bench api`: the gRPC front door under load (issue 15), against a running stack.

In one run, against one region's marriage service, in this order:

1. warm-up (untimed): a few registrations and health checks, so first-call costs are not measured,
   then ``registry_round_trip_first``: one registration that waits for its decision, the first
   since the stack started (first-use costs on every hop: reported, kept out of the percentiles;
   `up` said the stack was up only once its consumer groups had their partitions);
2. ``registry_round_trip``: a registration that waits (wait_seconds) until the case leaves
   ``awaiting_registry``: claim → relay → registry → decision → the region's consumer records it
   (the service re-reads the case every 50 ms: that is the resolution); every decision asked for
   before it has come back, so no backlog of an earlier phase is measured;
3. ``register_marriage_1``: one client, one `RegisterMarriage` after another (waiting for nothing):
   the single-client latency every other figure is compared with;
4. ``check_N``: N clients calling the health service's `Check`: the baseline: the same server and
   channel, the same thread pool and interceptor (which exempts it from sign-in and tracing), no
   work behind it;
5. ``register_marriage_N``: N clients each sending `RegisterMarriage` (waiting for nothing), each
   with its own request id and two people nobody else in the run uses, so no claim collides.

After phase 5 it waits for the service to go quiet again: the registrations it took in decided
(``register_marriage_N_drain``, seconds), and ``register_marriage_N_sustained_rate``: those
registrations over the phase and that wait, what a burst really gets through end to end. Over the
same span, ``register_marriage_N_decided_service_cpu`` and ``..._decided_registry_cpu``: the CPU
(ms) a registration of the burst cost the marriage service and the registry worker, calls,
decisions and relay included -- the stack-wide cost, which moves less with the machine's load than
the rates do. ``register_cost_vs_check_N``: the service's part of it over what a Check of phase 4
cost the service (``check_N_server_cpu_per_call``), in Checks: on the service's one core (its GIL),
registrations are taken in and decided at most at 1/that of the rate it serves Checks at.

Phases 3, 4 and 5 each start once the service is quiet again (under 0.15 cores over half a
second, at most a minute): the registrations of the phase before are decided and relayed first, so
no phase -- and not the baseline -- pays for another's backlog.

Then it checks that every registration answered is listed by the region (ListCases), so a fast
number can never come from commands that were not recorded. With ``--stackfile`` it measures a
stack that is already up (`tongban up` wrote the file); otherwise it starts its own (one region,
the marriage service, the broker and the registry) and stops it afterwards."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from services.common.bench_api_load import QUIET_CORES, QUIET_WINDOW, closed_loop, process_cpu, until_quiet
from services.common.bench_api_report import Results, measures, table
from services.common.bench_report import write_json

DEFAULT_CLIENTS = 50
DEFAULT_SECONDS = 10.0
DEFAULT_SINGLE = 100
DEFAULT_ROUND_TRIPS = 20
DRAIN_TIMEOUT = 600.0  # seconds the service may take to decide a phase's registrations
ROUND_TRIP_CLIENTS = 2
REGION = "640000"
ROLE = "registrar"
_DECLARATION = {"consents": True, "no_spouse": True, "no_prohibited_kinship": True, "appears_in_person": True}


_HELP_TAIL = """

Each phase reports calls/s and latency p50/p90/p99 (nearest rank: a latency some call really
had), and the CPU the load generator (client cpu) and the service process (server cpu) used, in
cores: on a 2-core machine a client near 1.0 would mean the load generator, not the server, set
the pace. "server ms/call" is the service's CPU per call, background work included (relay,
decision consumer): on a busy machine the rates move with the load, this much less.
Goals (issue 15): RegisterMarriage ×N at least 25% of Check ×N; its p99 under 10× the
single-client mean. Exit 1 if any call failed or an answered registration is not recorded."""


class ApiBenchError(RuntimeError):
    """The run cannot give trustworthy numbers (calls failed, commands missing from the store)."""


# -- people nobody else uses -------------------------------------------------------------------


@dataclass(frozen=True)
class Couples:
    """Two people per number, distinct across numbers and, with a random first birthday, from any
    earlier run on the same stack: 500 couples per birthday (odd sequence numbers are men's)."""

    first_birthday: date

    @classmethod
    def fresh(cls) -> Couples:
        # Adults well past the marriage ages, on a day chosen at random among ~11,000.
        return cls(date(1966, 1, 1) + timedelta(days=uuid.uuid4().int % 11_000))

    def couple(self, number: int) -> tuple[str, str]:
        from services.common.identity import make_citizen_id

        birthday = self.first_birthday + timedelta(days=number // 500)
        sequence = (number % 500) * 2
        return make_citizen_id("640104", birthday, sequence + 1), make_citizen_id("640104", birthday, sequence)


# -- the stack ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    address: str
    region: str
    office: str
    token: str
    tls_ca: str
    server_pids: tuple[int, ...]
    knobs: dict[str, str]
    registry_pids: tuple[int, ...] = ()  # the registry worker, when the stack runs one


@contextlib.contextmanager
def _stack(args: argparse.Namespace, progress: Any) -> Iterator[Any]:
    from services.stack.stackfile import require_stack

    if args.stackfile:
        path = Path(args.stackfile)
        if not path.exists():
            raise ApiBenchError(f"--stackfile {path}: no such stack file or data directory")
        # Through its data directory, so a stack file left by a supervisor that died is refused.
        yield require_stack(path if path.is_dir() else path.parent)
        return
    from services.host.host import GROUP_COMMIT_ENV, GRPC_WORKERS_ENV
    from services.stack.config import StackConfig
    from services.stack.up import Stack

    with contextlib.ExitStack() as cleanup:
        data = Path(args.data) if args.data else Path(
            cleanup.enter_context(tempfile.TemporaryDirectory(prefix="tongban-bench-api-")))
        # The knobs reach the service process through its environment (services/host/host.py).
        saved = {name: os.environ.get(name) for name in (GRPC_WORKERS_ENV, GROUP_COMMIT_ENV)}
        if args.grpc_workers is not None:
            os.environ[GRPC_WORKERS_ENV] = str(args.grpc_workers)
        if args.group_commit is not None:
            os.environ[GROUP_COMMIT_ENV] = str(args.group_commit)
        try:
            stack = Stack(StackConfig(data_dir=data, regions=(args.region,), services=("marriage",), clock="system",
                                      web_port=None), out=progress)
            progress(f"starting a stack in {data} (broker, registry, marriage {args.region}) …")
            cleanup.enter_context(stack)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        assert stack.info is not None
        yield stack.info


def _target(info: Any, args: argparse.Namespace) -> Target:
    from services.common.trust.offices import OfficeDirectory
    from services.common.trust.signin import mint
    from services.host.host import DEFAULT_GROUP_COMMIT, DEFAULT_GRPC_WORKERS

    region = args.region if args.region in info.regions else (info.regions[0] if info.regions else args.region)
    data_dir = Path(info.data_dir)
    offices = sorted(OfficeDirectory.for_region(data_dir, region).offices)
    if not offices:
        raise ApiBenchError(f"region {region} has no office in its office directory: nobody can sign in")
    office = args.office or offices[0]
    token, _ = mint(data_dir, region, office=office, clerk_id="bench-api", roles=[ROLE])
    endpoint = next(e for e in info.endpoints if (e.region, e.service) == (region, "marriage"))
    own = not args.stackfile
    knobs = {
        "grpc_workers": str(args.grpc_workers or DEFAULT_GRPC_WORKERS) if own else "the stack's",
        "group_commit": str(DEFAULT_GROUP_COMMIT if args.group_commit is None else args.group_commit)
        if own else "the stack's",
    }
    registry = (info.registry_pid,) if info.registry_pid is not None else ()
    return Target(info.address(region, "marriage"), region, office, token, info.tls_ca, (endpoint.pid,), knobs,
                  registry)


# -- the phases --------------------------------------------------------------------------------


async def _run(target: Target, args: argparse.Namespace, progress: Any) -> Results:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from services.common.grpc_context import token_metadata
    from tongban.marriage.v1 import marriage_service_pb2 as api
    from tongban.marriage.v1 import marriage_service_pb2_grpc as api_grpc

    options = [("grpc.max_concurrent_streams", 1000)]
    if target.tls_ca:
        creds = grpc.ssl_channel_credentials(root_certificates=Path(target.tls_ca).read_bytes())
        channel = grpc.aio.secure_channel(target.address, creds, options=options)
    else:
        channel = grpc.aio.insecure_channel(target.address, options=options)
    metadata = tuple(token_metadata(target.token))
    couples = Couples.fresh()
    numbers = iter(range(10**9))  # every registration of the run gets its own couple
    marriage = api_grpc.MarriageServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    check_request = health_pb2.HealthCheckRequest()

    async def registered(wait_seconds: float) -> Any:
        man, woman = couples.couple(next(numbers))
        request = api.RegisterMarriageRequest(
            party_a=api.PartyInput(citizen_id=man, name="测试甲", declaration=_DECLARATION),
            party_b=api.PartyInput(citizen_id=woman, name="测试乙", declaration=_DECLARATION),
            wait_seconds=wait_seconds, request_id=f"bench-{uuid.uuid4().hex}")
        return (await marriage.RegisterMarriage(request, metadata=metadata, timeout=args.timeout + 5)).case

    async def register(_: int) -> str:
        return str((await registered(0)).case_id)

    async def check(_: int) -> None:
        await health.Check(check_request, timeout=args.timeout)

    async def round_trip(_: int) -> str:
        # The window's own way to wait: the service answers once the case has left
        # awaiting_registry (it re-reads the case every 50 ms). Polling GetCase from here instead
        # would record a personal-data read (an event) per poll and load the server measured.
        case = await registered(args.timeout)
        if case.state == "awaiting_registry":
            raise TimeoutError(f"{case.case_id} still awaits the registry after {args.timeout:.0f}s")
        return str(case.case_id)

    pids = target.server_pids

    async def quiet() -> None:
        cores, waited = await until_quiet(pids)
        if cores >= QUIET_CORES:
            progress(f"the service still uses {cores:.2f} cores after {waited:.0f} s: measuring anyway")
        elif waited > 2 * QUIET_WINDOW:
            progress(f"waited {waited:.1f} s for the service to finish the phase before ({cores:.2f} cores now)")

    try:
        await channel.channel_ready()
        progress("warming up …")
        warmup = await closed_loop(register, clients=4, total=20, keep_answers=True)
        await closed_loop(check, clients=args.clients, total=20 * args.clients)
        # The first decision after a start pays first-use costs on every hop (the groups have
        # formed: the stack waited for them): measured once here, kept out of the percentiles.
        progress("registry round trip, the first since the start …")
        first_trip = await closed_loop(round_trip, clients=1, total=1, server_pids=pids, keep_answers=True)
        progress(f"registry round trip, {args.round_trips} registrations …")
        trips = await closed_loop(round_trip, clients=ROUND_TRIP_CLIENTS, total=args.round_trips,
                                  server_pids=pids, keep_answers=True)
        await quiet()
        progress(f"RegisterMarriage, one client, {args.single} calls …")
        single = await closed_loop(register, clients=1, total=args.single, server_pids=pids, keep_answers=True)
        await quiet()  # the single client's registrations are decided before the baseline is taken
        progress(f"health Check, {args.clients} clients, {args.seconds:.0f} s …")
        checks = await closed_loop(check, clients=args.clients, seconds=args.seconds, server_pids=pids)
        await quiet()
        progress(f"RegisterMarriage, {args.clients} clients, {args.seconds:.0f} s …")
        burst_began = process_cpu(pids), process_cpu(target.registry_pids)
        many = await closed_loop(register, clients=args.clients, seconds=args.seconds, server_pids=pids,
                                 keep_answers=True)
        # What the front door took in is done only once the registry's decisions on it are recorded:
        # the service works on until then (its registrations decided, registered, relayed).
        progress("waiting for the service to decide what it took in …")
        _, drain = await until_quiet(pids, timeout=DRAIN_TIMEOUT)
        # The quiet window's own idle polling is counted too: a few hundredths of a core for 0.5 s.
        burst_cpu = (process_cpu(pids) - burst_began[0], process_cpu(target.registry_pids) - burst_began[1])
        answered = {str(a) for phase in (warmup, first_trip, single, trips, many) for a in phase.answers}
        recorded = await _recorded(marriage, api, metadata, target.office, answered, args.timeout)
    finally:
        await channel.close()
    return Results(single, trips, first_trip, checks, many, warmup, recorded, drain, *burst_cpu)


async def _recorded(marriage: Any, api: Any, metadata: Any, office: str, answered: set[str], timeout: float) -> int:
    """How many of the answered case ids the region lists (its read model commits with the events)."""
    listed: set[str] = set()
    token = ""
    while True:
        page = await marriage.ListCases(api.ListCasesRequest(office_code=office, case_type="marriage", page_size=500,
                                                             page_token=token), metadata=metadata, timeout=timeout)
        listed.update(c.case_id for c in page.cases)
        token = page.next_page_token
        if not token:
            return len(answered & listed)


# -- the command (results and report: bench_api_report.py) ------------------------------------


def run_api_bench(args: argparse.Namespace) -> int:
    """`tongban bench api`. Returns the process exit code."""
    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    from services.stack.stackfile import StackNotRunning
    from services.stack.up import StackError

    if args.clients < 1 or args.seconds <= 0 or args.single < 1 or args.round_trips < 1:
        print("tongban bench api: --clients, --single and --round-trips must be ≥ 1, --seconds > 0", file=sys.stderr)
        return 2
    try:
        with _stack(args, progress) as info:
            target = _target(info, args)
            progress(f"measuring marriage {target.region} at {target.address} as office {target.office}")
            results = asyncio.run(_run(target, args, progress))
    except (ApiBenchError, OSError, StopIteration, ValueError, StackNotRunning, StackError) as exc:
        print(f"tongban bench api: {exc}", file=sys.stderr)
        return 2
    found = measures(results, args.clients)
    print(table(results, args.clients))
    print()
    ratio = {m.name.rsplit("_", 1)[0]: m.value for m in found if m.unit in ("%", "x")}
    print(f"RegisterMarriage ×{args.clients} = {ratio.get('register_vs_check', 0):.1f}% of Check's rate (goal ≥ 25%); "
          f"its p99 = {ratio.get('register_p99_vs_single_mean', 0):.1f}× the single-client mean (goal < 10×)")
    print(f"RegisterMarriage ×{args.clients}: all {results.register.calls:,} decided {results.drain_seconds:.1f} s "
          f"after the phase: {results.sustained_rate:,.1f} registrations/s taken in and decided")
    service_ms, registry_ms = results.burst_cpu_ms
    registry_part = f", the registry worker {registry_ms:.2f} ms" if target.registry_pids else ""
    print(f"CPU a registration of that burst, taken in and decided: the marriage service {service_ms:.2f} ms"
          f"{registry_part}")
    if results.cost_vs_check:
        print(f"that is {results.cost_vs_check:.1f} Checks' worth of the service's CPU (a Check: "
              f"{results.check.server_cpu_ms_per_call:.2f} ms); on its one core, registrations are taken in and "
              f"decided at most at {100 / results.cost_vs_check:.1f}% of the rate it serves Checks at "
              "(25% kept up needs ≤ 4 Checks' worth)")
    answered = results.answered
    print(f"recorded: {results.recorded:,} of {answered:,} registrations answered are listed by the region")
    print("server knobs: " + ", ".join(f"{k}={v}" for k, v in target.knobs.items()))
    errors = {k: v for p in (results.warmup, results.single, results.round_trip, results.check, results.register)
              for k, v in p.errors.items()}
    if args.json:
        write_json(args.json, found, progress)
    if errors or results.recorded != answered:
        print(f"tongban bench api: calls failed {errors or '(none)'}; "
              f"{answered - results.recorded} answered registrations not listed", file=sys.stderr)
        return 1
    return 0


def add_api_bench_parser(bench_subparsers: Any) -> argparse.ArgumentParser:
    """Add `bench api` to the `tongban bench` subparsers."""
    bench = bench_subparsers.add_parser(
        "api", help="the gRPC front door under N concurrent clients, beside the health-check baseline",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n", 2)[2] + _HELP_TAIL,
        epilog="examples:\n  tongban bench api                         # its own stack, 50 clients\n"
               "  tongban bench api --stackfile data/stack.json --clients 20 --json api.json\n"
               "  tongban bench api --grpc-workers 32 --group-commit 0   # the server's knobs, own stack only")
    bench.add_argument("--stackfile", metavar="PATH",
                       help="measure this running stack (its stack.json, or its data directory) instead of "
                            "starting one")
    bench.add_argument("--data", metavar="DIR", help="data directory of the stack it starts (default: a temp "
                                                     "dir, removed afterwards); kept, so its stores can be read")
    bench.add_argument("--region", default=REGION, help="the region whose marriage service is measured "
                                                        "(default %(default)s)")
    bench.add_argument("--office", help="the office the clerk signs in at (default: the region's first)")
    bench.add_argument("--clients", type=int, default=DEFAULT_CLIENTS,
                       help="concurrent clients, each one call at a time (default %(default)s)")
    bench.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                       help="length of each N-client phase (default %(default)s)")
    bench.add_argument("--single", type=int, default=DEFAULT_SINGLE,
                       help="registrations one after another for the single-client latency (default %(default)s)")
    bench.add_argument("--round-trips", type=int, default=DEFAULT_ROUND_TRIPS,
                       help="registrations followed to the registry's decision (default %(default)s)")
    bench.add_argument("--timeout", type=float, default=60.0, help="per call, and per round trip (seconds)")
    bench.add_argument("--grpc-workers", type=int, help="own stack: the server's gRPC thread pool (default 16)")
    bench.add_argument("--group-commit", type=int,
                       help="own stack: the store's group commit size, 0 = off (default: the host's)")
    bench.add_argument("--json", metavar="FILE", help='write [{"name", "value", "unit", "backend"}, ...] to FILE')
    bench.set_defaults(func=run_api_bench)
    return bench
