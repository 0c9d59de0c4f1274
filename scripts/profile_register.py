"""Where a RegisterMarriage spends the server's CPU (issue 15; docs/store-performance.md).

One marriage host in this process (real SQLite store, real gRPC server on loopback, the local
broker for its relay), its gRPC thread pool cut to ONE worker that runs under cProfile with a
CPU-time clock (time.thread_time: GIL waits and the client's work are not counted), and a client
sending registrations one after another (wait_seconds 0) with a signed token. Prints the
profile by cumulative time of the worker thread, and the share of each stage of the call.

    .venv/bin/python scripts/profile_register.py [CALLS] [--group-commit N]"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
import uuid
from concurrent import futures
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("calls", type=int, nargs="?", default=300)
    parser.add_argument("--group-commit", type=int, default=None)
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    os.environ["TONGBAN_GRPC_WORKERS"] = "1"
    if args.group_commit is not None:
        os.environ["TONGBAN_GROUP_COMMIT"] = str(args.group_commit)

    import grpc

    from infra.local_broker import LocalBroker
    from services.common.bench_api import _DECLARATION, Couples
    from services.common.grpc_context import server as grpc_server
    from services.common.grpc_context import token_metadata
    from services.common.trust.keys import provision_development_keys
    from services.common.trust.offices import OfficeDirectory
    from services.common.trust.signin import mint
    from services.host.host import HostConfig, ServiceHost
    from services.marriage.bootstrap import definition
    from tongban.marriage.v1 import marriage_service_pb2 as api
    from tongban.marriage.v1 import marriage_service_pb2_grpc as api_grpc

    profile = cProfile.Profile(time.thread_time)

    class ProfiledPool(futures.ThreadPoolExecutor):
        def __init__(self, max_workers: int, thread_name_prefix: str = "") -> None:
            super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix,
                             initializer=profile.enable)

    grpc_server.futures.ThreadPoolExecutor = ProfiledPool  # type: ignore[misc]
    region = "640000"
    with tempfile.TemporaryDirectory(prefix="tongban-profile-") as tmp, LocalBroker(log_dir=Path(tmp)) as broker:
        data = Path(tmp) / "data"
        provision_development_keys(data, [region])
        from services.common.trust.development import development_trust

        development_trust(data, [region], tls=False, out=lambda _line: None)
        host = ServiceHost(definition(), HostConfig(region=region, kafka=broker.bootstrap, data_dir=data))
        host.prepare()
        host.start_background()
        try:
            office = sorted(OfficeDirectory.for_region(data, region).offices)[0]
            token, _ = mint(data, region, office=office, clerk_id="profile", roles=["registrar"])
            metadata = token_metadata(token)
            stub = api_grpc.MarriageServiceStub(grpc.insecure_channel(f"127.0.0.1:{host.grpc_port}"))
            couples = Couples.fresh()

            def register(number: int) -> None:
                man, woman = couples.couple(number)
                stub.RegisterMarriage(api.RegisterMarriageRequest(
                    party_a=api.PartyInput(citizen_id=man, name="测试甲", declaration=_DECLARATION),
                    party_b=api.PartyInput(citizen_id=woman, name="测试乙", declaration=_DECLARATION),
                    wait_seconds=0, request_id=uuid.uuid4().hex), metadata=metadata, timeout=60)

            for n in range(20):  # warm-up, then count from zero
                register(n)
            profile.clear()
            started = time.perf_counter()
            for n in range(20, 20 + args.calls):
                register(n)
            elapsed = time.perf_counter() - started
        finally:
            host.stop_background()
            host.close()
    stats = pstats.Stats(profile)
    print(f"{args.calls} RegisterMarriage in {elapsed:.1f} s wall")
    stats.sort_stats("cumulative").print_stats(args.top)
    breakdown(stats, args.calls)
    return 0


# The stages of one RegisterMarriage, by (file suffix, function): their cumulative time as a share of
# the interceptor's `handle` (everything the server does for the call in its worker thread).
STAGES = (
    ("token verify (JWT, Ed25519)", "trust/authenticator.py", "authenticate"),
    ("input hygiene (admitted)", "grpc_context/hygiene.py", "admitted"),
    ("request → command (mapping)", "marriage/adapters/grpc_mapping.py", "register_marriage"),
    ("command handler, whole", "marriage/application/handlers.py", "register_marriage_as_recorded"),
    ("  transaction open (BEGIN / group)", "store/store.py", "transaction"),
    ("  request id claim (idempotency)", "kit/requests.py", "claim"),
    ("  national record lookups", "marriage/application/handlers.py", "_status_everywhere"),
    ("  decide (domain)", "marriage/domain/marriage.py", "apply_for_registration"),
    ("  store append (events)", "kit/unit_of_work.py", "_append"),
    ("  subscribers, whole", "kit/unit_of_work.py", "run_subscribers"),
    ("    registry claims", "marriage/application/subscribers.py", "when_a_marriage_changes_keep_the_registry_in_step"),
    ("    read models", "marriage/application/subscribers.py", "when_cases_change_refresh_the_read_models"),
    ("  commit", "sqlalchemy/engine/base.py", "commit"),
    ("answer: the case re-read (_settled)", "marriage/entrypoints/grpc_server.py", "_settled"),
    ("answer: the case as a message", "marriage/adapters/grpc_mapping.py", "case_message"),
    ("SQLAlchemy statement building (expect)", "sqlalchemy/sql/coercions.py", "expect"),
)


def breakdown(stats: pstats.Stats, calls: int) -> None:
    table = stats.stats  # type: ignore[attr-defined]

    def cumulative(suffix: str, name: str) -> float:
        return sum(v[3] for (file, _line, fn), v in table.items() if file.endswith(suffix) and fn == name)

    whole = cumulative("grpc_context/server.py", "handle")
    print(f"worker-thread CPU per call (the interceptor's handle, under cProfile): {1000 * whole / calls:.2f} ms")
    print(f"{'stage':42s} {'share of the call':>18s}")
    for label, suffix, name in STAGES:
        print(f"{label:42s} {100 * cumulative(suffix, name) / whole if whole else 0:17.1f}%")


if __name__ == "__main__":
    sys.exit(main())
