"""The registry worker's person store as `tongban up` lays it out: DIR/registry/persons.db.

The worker keeps its records there itself (services/common/registry/worker/person_store.py), so a
restart of the memory-only local broker loses nothing of the registry. Two things are the stack's
to do before the worker starts:
- on a fresh local broker, forget where the worker stood in the old claims topic: the new one's
  offsets start again at 0, and stale positions would blind the worker's check for skipped
  messages;
- once, for a data directory of an older stack, take in the records of the faust table's backup
  (DIR/registry/table-backup.db, the changelog mirror this store replaces), so the people it held
  stay held."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)

STORE_FILE = "persons.db"
LEGACY_BACKUP = "table-backup.db"


def store_url(data_dir: Path) -> str:
    from services.common.store.engine import sqlite_url

    return sqlite_url(Path(data_dir) / "registry" / STORE_FILE)


def prepare_registry_store(data_dir: Path, *, fresh_broker: bool) -> int:
    """Make the store ready for a worker about to start; returns how many records were taken in
    from an older stack's table backup (0 almost always)."""
    from services.common.registry.worker.person_store import PersonStore

    (Path(data_dir) / "registry").mkdir(parents=True, exist_ok=True)
    store = PersonStore(store_url(data_dir))
    try:
        taken = _take_in_legacy_backup(store, Path(data_dir) / "registry" / LEGACY_BACKUP)
        if fresh_broker:
            store.forget_positions()
        return taken
    finally:
        store.close()


def _take_in_legacy_backup(store: object, backup: Path) -> int:
    from services.common.registry.domain import next_due, record_from_json
    from services.common.registry.worker.person_store import PersonStore

    assert isinstance(store, PersonStore)
    if not backup.exists() or store.count() > 0:
        return 0
    with contextlib.closing(sqlite3.connect(backup)) as conn:
        rows = conn.execute('SELECT key, value FROM changelog ORDER BY partition, "offset"').fetchall()
    taken = 0
    for key, value in rows:
        try:
            name = json.loads(bytes(key))
        except ValueError:
            name = bytes(key).decode("utf-8", "replace")
        record = json.loads(bytes(value))
        if not isinstance(name, str) or not isinstance(record, dict) or record.get("citizen_id") != name:
            continue  # a claims-topic position ("~next-offset/<n>"): meaningless on a fresh broker
        existing = store.get(name)
        store.commit("", 0, next_offset=None, citizen_id=name, record=record, read=existing,
                     due=next_due(record_from_json(record)))
        taken += 1
    backup.rename(backup.with_suffix(".db.imported"))
    log.info("took %d person records in from %s", taken, backup)
    return taken
