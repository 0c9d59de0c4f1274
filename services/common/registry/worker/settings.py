"""What a registry worker is configured with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from services.common.registry.domain import DEFAULT_RELEASE_WAIT
from services.common.registry.topics import CLAIMS_TOPIC, DECISIONS_TOPIC

DEFAULT_APP_ID = "tongban-registry"
DEFAULT_CLAIM_TTL = timedelta(hours=24)
CONSUMING_FILE = "consuming"  # in datadir: the worker's partitions are assigned (readiness.py)


@dataclass(frozen=True)
class WorkerSettings:
    bootstrap: str
    datadir: Path
    app_id: str = DEFAULT_APP_ID
    service_topics: tuple[str, ...] = ()  # the topics carrying claims (the CLI: the catalogue's)
    claims_topic: str = CLAIMS_TOPIC
    decisions_topic: str = DECISIONS_TOPIC
    claim_ttl: timedelta = DEFAULT_CLAIM_TTL
    # How long a claim meeting another case's hold waits for a release in flight before it is
    # denied (domain.py, ReleaseInFlightIsAwaited); zero denies at once.
    release_wait: timedelta = DEFAULT_RELEASE_WAIT
    expiry_check_interval: float = 1.0  # seconds between scans for due holds
    # Of the claims and decisions topics: choose it
    # once, since changing it moves people to other partitions.
    partitions: int = 8
    # The registry's own key (signing.key, made on first start) and the public keys it believes
    # (services/common/trust/keys.py, KeyDirectory). Defaults: <datadir>/keys and, the development
    # layout, the directory above datadir (a data directory whose <region>/keys hold the regions').
    keys_dir: Path | None = None
    key_directory: Path | None = None
    # The person records and claims-topic positions (person_store.py); default: a SQLite file in
    # datadir. Any SQLAlchemy URL, e.g. a PostgreSQL database shared by the workers of several hosts.
    store: str | None = None

    @property
    def store_url(self) -> str:
        from services.common.registry.worker.person_store import STORE_FILE
        from services.common.store.engine import sqlite_url

        return self.store or sqlite_url(self.datadir / STORE_FILE)

    @property
    def consuming_marker(self) -> Path:
        """Written once the worker consumes (services/common/readiness.py)."""
        return self.datadir / CONSUMING_FILE

    @property
    def signing_keys(self) -> Path:
        return self.keys_dir or self.datadir / "keys"

    @property
    def trusted_keys(self) -> Path:
        return self.key_directory or self.datadir.resolve().parent

    def __post_init__(self) -> None:
        if self.claim_ttl <= timedelta(0):
            raise ValueError("claim_ttl must be positive")
        if self.release_wait < timedelta(0):
            raise ValueError("release_wait must not be negative")
        if self.expiry_check_interval <= 0:
            raise ValueError("expiry_check_interval must be positive")
        if self.partitions < 1:
            raise ValueError("partitions must be at least 1")
        if not self.service_topics:
            raise ValueError("the worker needs at least one service topic")
