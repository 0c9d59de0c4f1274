"""Keeps the per-person registry's table across restarts of the memory-only local broker.

The registry worker keeps one record per person in a faust table whose only durable copy is its
changelog topic (`<app-id>-registry-persons-changelog`). The event stores are refilled into a fresh
broker by the services' relays, but the registry's table is not in any store: a fresh worker would
rebuild it by deciding every replayed claim again, in whatever order the refilled topics deliver
them, across regions. One order is unsafe: a claim made in Shaanxi after a divorce in Ningxia
released the person, replayed before that release, is denied; the release then frees the person
although she is married in Shaanxi, and a later claim anywhere would be granted (bigamy,
architecture invariant 5).

So the supervisor keeps a copy. While the stack runs, `ChangelogMirror` follows the changelog
topic and keeps the latest value per (partition, key) in `DIR/registry/table-backup.db` (SQLite).
Before the worker starts on a broker that does not have the changelog (a fresh local broker),
`restore_changelog` writes the copy back to a new changelog topic, so the worker recovers its table
as it was; the replayed claims are then inputs it has seen, and it repeats their decisions with
their original ids (the regions' inboxes drop them). On a broker that kept the topic (an external
Kafka), nothing is restored.

Limit: a supervisor killed with SIGKILL may not have mirrored the last changelog records; the
inputs behind them are decided again on restart, from the record before them."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BACKUP_FILE = "table-backup.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS changelog (
    partition INTEGER NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    "offset" INTEGER NOT NULL,
    PRIMARY KEY (partition, key)
)
"""


def changelog_topic(app_id: str) -> str:
    """The changelog faust gives the registry worker's table (faust names it app-table-changelog)."""
    from services.common.registry.worker import TABLE_NAME

    return f"{app_id}-{TABLE_NAME}-changelog"


class TableBackup:
    """The copy: the latest (value, headers) of every key of every partition of the changelog."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(self._connect()) as conn, conn:
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def save(self, records: list[tuple[int, bytes, bytes | None, list[tuple[str, bytes]], int]]) -> None:
        """(partition, key, value, headers, offset) as read, in order; a None value deletes the key,
        as compaction would."""
        with contextlib.closing(self._connect()) as conn, conn:
            for partition, key, value, headers, offset in records:
                if value is None:
                    conn.execute("DELETE FROM changelog WHERE partition = ? AND key = ?", (partition, key))
                    continue
                encoded = json.dumps([[name, (data or b"").hex()] for name, data in headers])
                conn.execute(
                    'INSERT INTO changelog (partition, key, value, headers, "offset") VALUES (?, ?, ?, ?, ?) '
                    'ON CONFLICT (partition, key) DO UPDATE SET value = excluded.value, '
                    'headers = excluded.headers, "offset" = excluded."offset"',
                    (partition, key, value, encoded, offset))

    def records(self) -> list[tuple[int, bytes, bytes, list[tuple[str, bytes]]]]:
        """Every kept record in its original order within each partition."""
        with contextlib.closing(self._connect()) as conn:
            rows = conn.execute('SELECT partition, key, value, headers FROM changelog '
                                'ORDER BY partition, "offset"').fetchall()
        return [(p, bytes(k), bytes(v), [(n, bytes.fromhex(h)) for n, h in json.loads(hs)]) for p, k, v, hs in rows]

    def partitions(self) -> int:
        with contextlib.closing(self._connect()) as conn:
            top = conn.execute("SELECT MAX(partition) FROM changelog").fetchone()[0]
        return 0 if top is None else int(top) + 1


def restore_changelog(backup: TableBackup, bootstrap: str, topic: str, partitions: int) -> int:
    """Write the copy to `topic` if the broker lacks it (missing, or empty). Returns how many
    records were written; 0 when there was nothing to restore or the broker kept the topic."""
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from services.common.kafka_settings import (
        ensure_topics,
        kafka_python_admin_config,
        kafka_python_producer_config,
    )

    # Where the worker stood in the old broker's claims topic means nothing in a fresh one (whose
    # offsets start again at 0), and would blind its check for skipped messages: left out.
    records = [r for r in backup.records() if not _claims_position(r[1])]
    if not records:
        return 0
    if backup.partitions() > partitions:
        raise ValueError(f"the registry backup has {backup.partitions()} partitions, the worker {partitions}: "
                         "the people would land on other partitions")
    admin = KafkaAdminClient(**kafka_python_admin_config(bootstrap, "tongban-stack-restore"))
    try:
        if topic in admin.list_topics():
            consumer = KafkaConsumer(**kafka_python_admin_config(bootstrap, "tongban-stack-restore"), group_id=None)
            try:
                tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
                if sum(consumer.end_offsets(tps).values()) > 0:
                    return 0  # the broker kept the table: the worker recovers it from there
            finally:
                consumer.close()
        else:
            # Compacted, as faust declares its changelogs; made here first so the records go in
            # before the worker reads it.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=-1,
                                              topic_configs={"cleanup.policy": "compact"})])
    finally:
        admin.close()
    ensure_topics(bootstrap, [topic], partitions=partitions)  # waits until every partition has a leader
    producer = KafkaProducer(**kafka_python_producer_config(bootstrap))
    try:
        for partition, key, value, headers in records:
            # One record per produce request: the local broker (tansu 0.6) reports a partition's end
            # as the start of its last batch plus one, and faust recovers a table only up to the
            # end it is told — a batched restore would lose all but the first record of a batch.
            producer.send(topic, key=key, value=value, headers=headers, partition=partition).get(timeout=60)
    finally:
        producer.close(timeout=10)
    return len(records)


def _claims_position(key: bytes) -> bool:
    """Whether a table key is one of the worker's claims-topic positions ("~next-offset/<n>"), not
    a person."""
    from services.common.registry.worker import POSITION_PREFIX as prefix

    try:
        name = json.loads(key)
    except ValueError:
        name = key.decode("utf-8", "replace")
    return isinstance(name, str) and name.startswith(prefix)


class ChangelogMirror:
    """A thread that copies every record of the changelog into the backup as it is written."""

    def __init__(self, backup: TableBackup, bootstrap: str, topic: str, *, poll_ms: int = 200) -> None:
        self.backup = backup
        self.bootstrap = bootstrap
        self.topic = topic
        self._poll_ms = poll_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Any = None
        self.mirrored = 0
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="registry-table-mirror", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        from services.common.kafka_settings import kafka_python_admin_config

        try:
            consumer = KafkaConsumer(**kafka_python_admin_config(self.bootstrap, "tongban-registry-mirror"),
                                     group_id=None, enable_auto_commit=False)
            self._consumer = consumer
            # The worker declares the topic when it starts; until then there is nothing to copy.
            while not self._stop.is_set() and not consumer.partitions_for_topic(self.topic):
                self._stop.wait(0.5)
                consumer.topics()  # refreshes metadata
            if self._stop.is_set():
                return
            tps = [TopicPartition(self.topic, p) for p in sorted(consumer.partitions_for_topic(self.topic))]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while not self._stop.is_set():
                self._copy(consumer)
        except BaseException as exc:  # reported by the supervisor; the stack keeps running meanwhile
            self.error = exc
            log.exception("the registry table mirror stopped")

    def _copy(self, consumer: Any) -> int:
        batches = consumer.poll(timeout_ms=self._poll_ms)
        records = [(r.partition, r.key, r.value, list(r.headers or ()), r.offset)
                   for batch in batches.values() for r in batch if r.key is not None]
        if records:
            self.backup.save(records)
            self.mirrored += len(records)
        return len(records)

    def stop(self) -> None:
        """Stop without draining: for a broker that is gone (its changelog with it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                self._consumer.close()
            self._consumer = None

    def drain_and_stop(self, timeout: float = 15.0) -> bool:
        """Once the worker has stopped: copy what is left, then stop. True when the copy is known
        complete. The broker's reported end offsets can fall short (see restore_changelog), so the
        copy is complete only when past them and a few polls in a row bring nothing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        consumer = self._consumer
        if consumer is None:
            return self.error is None
        try:
            if self.error is not None:
                return False
            deadline = time.monotonic() + timeout
            assigned = list(consumer.assignment())
            ends = consumer.end_offsets(assigned) if assigned else {}
            quiet = 0
            while time.monotonic() < deadline:
                copied = self._copy(consumer)
                quiet = quiet + 1 if copied == 0 else 0
                if quiet >= 3 and all(consumer.position(tp) >= end for tp, end in ends.items()):
                    return True
            return False
        finally:
            consumer.close()
            self._consumer = None
