"""The PostgreSQL baseline for `tongban bench store`: pgbench inserting single rows on the same
server, in the same run, beside Tongban's appends (issue 15).

One row per transaction (pgbench's default autocommit), a table of the events table's width with a
~200-byte payload and three 32-byte hashes precomputed, no locking protocol, no chain: the floor
for "one round trip per append". Measured with 1 client (beside append_single) and with 32 clients
(beside append_32_*). pgbench comes with PostgreSQL's client tools; when it is missing the baseline
is skipped with a note."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from services.common.bench_report import Measure, format_value

PGBENCH = "pgbench"
_TABLE = """CREATE TABLE IF NOT EXISTS pgbench_appends (
    position bigserial PRIMARY KEY, event_id text NOT NULL, stream_id text NOT NULL, stream_type text NOT NULL,
    version bigint NOT NULL, type text NOT NULL, schema_version integer NOT NULL, payload bytea NOT NULL,
    occurred_at_us bigint NOT NULL, recorded_at_us bigint NOT NULL, region text NOT NULL, service text NOT NULL,
    actor_kind text NOT NULL, actor_clerk_id text NOT NULL, actor_office_code text NOT NULL,
    actor_region text NOT NULL, actor_role text NOT NULL, correlation_id text NOT NULL,
    causation_id text NOT NULL, traceparent text NOT NULL, tracestate text NOT NULL,
    prev_hash bytea NOT NULL, hash bytea NOT NULL, global_hash bytea NOT NULL)"""


def _script(payload: bytes) -> str:
    digest = "'\\x" + "ab" * 32 + "'::bytea"
    return (
        "INSERT INTO pgbench_appends (event_id, stream_id, stream_type, version, type, schema_version, payload, "
        "occurred_at_us, recorded_at_us, region, service, actor_kind, actor_clerk_id, actor_office_code, "
        "actor_region, actor_role, correlation_id, causation_id, traceparent, tracestate, prev_hash, hash, "
        "global_hash) VALUES (md5(random()::text), 'pgbench-' || :client_id || '-' || random(), 'bench', 1, "
        f"'google.protobuf.StringValue', 1, '\\x{payload.hex()}'::bytea, 1767225600000000, 1767225600000000, "
        "'640000', 'bench', 'clerk', 'clerk-007', '640104-MRO-01', '640000', 'clerk', 'pgbench', 'cmd', "
        f"'00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', '', {digest}, {digest}, {digest});\n"
    )


def pgbench_available() -> str | None:
    return shutil.which(PGBENCH)


def pgbench_inserts(url: str, *, clients: int, transactions: int, payload: bytes) -> float:
    """Inserts/s (pgbench's tps without connection time) of `clients` clients, `transactions` each."""
    import psycopg

    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database,
                         password=u.password, autocommit=True) as conn:
        conn.execute(_TABLE)
    with tempfile.TemporaryDirectory(prefix="tongban-pgbench-") as tmp:
        script = Path(tmp) / "append.sql"
        script.write_text(_script(payload), encoding="utf-8")
        env = dict(os.environ, PGPASSWORD=u.password or "")
        argv = [PGBENCH, "-n", "-h", str(u.host), "-p", str(u.port), "-U", str(u.username), "-c", str(clients),
                "-j", str(min(clients, 4)), "-t", str(transactions), "-f", str(script), str(u.database)]
        result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed: {result.stderr.strip() or result.stdout.strip()}")
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout)
    if not found:
        raise RuntimeError(f"pgbench printed no tps line:\n{result.stdout}")
    return float(found.group(1))


def pgbench_baselines(url: str, count: int, payload: bytes, notes: list[str],
                      progress: Callable[[str], None]) -> list[Measure]:
    """pgbench's single-row inserts with 1 and WRITERS clients, `count` in all, as measures."""
    from services.common.bench_concurrent import MEASURES, WRITERS

    if pgbench_available() is None:
        notes.append(f"{PGBENCH}: not installed (PostgreSQL client tools); not measured")
        return []
    measures = []
    for name, clients in (("append_single", 1), (MEASURES[1], WRITERS)):
        started = time.perf_counter()
        rate = pgbench_inserts(url, clients=clients, transactions=max(1, count // clients), payload=payload)
        progress(f"[{PGBENCH}] {name}: {clients} client{'s' if clients > 1 else ''}, one INSERT per transaction "
                 f"… {format_value(rate, 'appends/s')} ({time.perf_counter() - started:.1f} s)")
        measures.append(Measure(name, rate, "appends/s", PGBENCH))
    notes.append(f"{PGBENCH}: single-row INSERTs of the events table's width on the postgres server above, "
                 f"1 and {WRITERS} clients, no lock protocol, no hash chain")
    return measures
