"""The stores an audit covers: every `DATA/<region>/<service>.db` under a data directory, or
stores named by URL (PostgreSQL in production), each known by its region and service.

A region's directory also holds `audit.db` (service "audit": the checkpoints it issued and the
ones it keeps for other regions) and `keys/` (its signing key and the public keys it trusts)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection

from services.common.clock import Clock
from services.common.identity import RegionCode
from services.common.store import EventStore, create_store_engine, sqlite_url
from services.common.store.schema import events

AUDIT_SERVICE = "audit"
STORE_SUFFIX = ".db"
KEYS_DIR = "keys"


class NotAStore(ValueError):
    """A path or URL that holds no Tongban event store."""


@dataclass(frozen=True, order=True)
class StoreRef:
    """One event store: the region and service it belongs to, and where it lives."""

    region: str
    service: str
    url: str

    @property
    def label(self) -> str:
        return f"{self.region}/{self.service}"

    @property
    def is_audit(self) -> bool:
        return self.service == AUDIT_SERVICE


def store_path(data_dir: Path, region: str, service: str) -> Path:
    return Path(data_dir) / region / f"{service}{STORE_SUFFIX}"


def region_dir(data_dir: Path, region: str) -> Path:
    return Path(data_dir) / region


def discover_stores(data_dir: Path) -> list[StoreRef]:
    """Every store under `data_dir`, sorted by region then service. Region directories are
    recognised by their GB/T 2260 code; anything else (keys, WAL side files) is ignored."""
    root = Path(data_dir)
    if not root.is_dir():
        raise NotAStore(f"{root} is not a directory")
    found: list[StoreRef] = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir() and _is_region(p.name)):
        for path in sorted(directory.glob(f"*{STORE_SUFFIX}")):
            if path.is_file():
                found.append(StoreRef(directory.name, path.stem, sqlite_url(path)))
    return found


def regions_under(data_dir: Path) -> list[str]:
    root = Path(data_dir)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _is_region(p.name)) if root.is_dir() else []


def parse_db_spec(spec: str) -> StoreRef:
    """`[REGION/SERVICE=]URL`, where URL is a SQLAlchemy URL or an SQLite file path. Without the
    prefix the store's identity is read from its first event (a store stamps every event with
    its region and service)."""
    label, sep, url = spec.partition("=")
    if not sep or "://" in label:
        label, url = "", spec
    if "://" not in url:
        path = Path(url)
        if not path.is_file():
            raise NotAStore(f"no store at {path}")
        url = sqlite_url(path)
    if label:
        region, slash, service = label.partition("/")
        if not slash or not _is_region(region) or not service:
            raise NotAStore(f"{label!r}: expected REGION/SERVICE, e.g. 640000/marriage")
        return StoreRef(region, service, url)
    identity = identify(url)
    if identity is None:
        raise NotAStore(f"{redacted_url(url)} holds no events, so its region and service are unknown: "
                        "name them as REGION/SERVICE=URL")
    return StoreRef(*identity, url)


def identify(url: str) -> tuple[str, str] | None:
    """(region, service) of the store at `url` from its first event; None when it has none."""
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("events"):
                raise NotAStore(f"{redacted_url(url)} is not a Tongban event store (no events table)")
            row = conn.execute(select(events.c.region, events.c.service).order_by(events.c.position).limit(1)).first()
    finally:
        engine.dispose()
    return None if row is None else (str(row.region), str(row.service))


def open_store(ref: StoreRef, *, clock: Clock | None = None, create: bool = False) -> EventStore:
    """Open a store to audit. Never creates one unless asked: a typo must not become an empty
    store that verifies as intact."""
    store = EventStore.open(ref.url, region=ref.region, service=ref.service, clock=clock, create=create)
    if not create and not inspect(store.engine).has_table("events"):
        store.close()
        raise NotAStore(f"{ref.label} ({redacted_url(ref.url)}) is not a Tongban event store (no events table)")
    return store


@contextmanager
def live_snapshot(store: EventStore) -> Iterator[Connection]:
    """A read transaction in which everything in the store (log, head, read models) is seen at
    one instant, while the service keeps appending."""
    conn = store.engine.connect()
    if store.dialect == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    try:
        with conn.begin():  # on SQLite (WAL) a BEGIN's first read fixes the snapshot
            yield conn
    finally:
        conn.close()


def _is_region(name: str) -> bool:
    try:
        RegionCode(name)
    except ValueError:
        return False
    return True


def redacted_url(url: str) -> str:
    # Never print a database password in an audit report.
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


