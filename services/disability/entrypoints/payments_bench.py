"""`tongban bench payments --service disability`: the monthly run through the disability service's
own wiring — its bootstrap's PaymentRuns over its store, paying what `DisabilityDueSource` reads
from the entitlements read model (page by page, each row asked which months it owes).

The region's entitlements are seeded into that read model directly, in the shape the projection
writes for an approval (entitlement_rows: one living and one nursing row per application, decided
months before the run, covered by a valid certificate): applying and approving 50,000 applications
through the handlers and the registry would measure the application flow, not the run."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from services.common.bench_report import Measure

REGION = "640000"
MONTH = "2027-03"
BACKEND = "sqlite"
_SEED_PAGE = 5000


def _rows(entitlements: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for n in range(entitlements):
        case_id = f"disability-{REGION}-{n // 2:016x}"
        subsidy, amount = ("living", 11_000) if n % 2 == 0 else ("nursing", 12_000)
        rows.append({
            "entitlement_id": f"{case_id}/{subsidy}", "case_id": case_id, "subsidy": subsidy,
            "citizen_id": f"64010419700101{(n // 2) % 10_000:04d}", "name": f"申请人{n // 2}",
            "bank_account": f"622202{n // 2:013d}", "amount_fen": amount, "start_month": "2026-06",
            "decided_month": "2026-06", "stop_month": "", "stop_reason": "", "covered_until": "2030-06",
            "covers": json.dumps([["2026-06", "2030-06", "2026-06"]]), "resumes": "[]"})
    return rows


def run(data_dir: Path, entitlements: int, chunk: int, progress: Callable[[str], None]) -> list[Measure]:
    import time

    from services.common.clock import FakeClock
    from services.common.events import Actor
    from services.common.kit import Provenance
    from services.common.store import EventStore, sqlite_url
    from services.disability import bootstrap
    from services.disability.projections.read_models import disability_entitlements
    from services.host import Infrastructure

    at = datetime(2027, 3, 1, 1, tzinfo=UTC)
    store = EventStore.open(sqlite_url(data_dir / "disability.db"), region=REGION, service="disability",
                            clock=FakeClock(at), tables=bootstrap.definition().tables)
    try:
        payments = bootstrap.bootstrap(Infrastructure.over(store)).payments
        rows = _rows(entitlements)
        with store.engine.begin() as conn:
            for start in range(0, len(rows), _SEED_PAGE):
                conn.execute(insert(disability_entitlements), rows[start:start + _SEED_PAGE])
        progress(f"[payments/disability] seeded {entitlements:,} entitlements into the read model")
        provenance = Provenance(Actor.system(REGION, "bench"), "bench", "command-bench", at)
        t, cpu = time.perf_counter(), time.process_time()
        result = payments.runs.run(MONTH, payments.source, provenance, chunk=chunk)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        if (result.added, result.batch.line_count) != (entitlements, entitlements):
            raise RuntimeError(f"the disability run recorded {result.added} of {entitlements} lines")
        rate = Measure("payment_run_disability", entitlements / elapsed, "entitlements/s", BACKEND)
        progress(f"[payments/disability] payment_run_disability: {entitlements:,} entitlements through "
                 f"DisabilityDueSource in chunks of {chunk:,} … {elapsed:.1f} s ({cpu:.1f} s of CPU), "
                 f"{rate.value:,.0f} entitlements/s")
        if payments.runs.run(MONTH, payments.source, provenance, chunk=chunk).added:
            raise RuntimeError("a rerun of the month added lines")
        return [rate]
    finally:
        store.close()
