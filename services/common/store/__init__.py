"""The event store (see store.py) and its verification (see verify.py)."""

from services.common.store.engine import create_store_engine, sqlite_url
from services.common.store.store import ANY_VERSION, NO_STREAM, AlreadyProcessed, EventStore, StoreTransaction
from services.common.store.verify import ChainProblem, VerifyReport, verify_events, verify_store

__all__ = [
    "ANY_VERSION",
    "NO_STREAM",
    "AlreadyProcessed",
    "ChainProblem",
    "EventStore",
    "StoreTransaction",
    "VerifyReport",
    "create_store_engine",
    "sqlite_url",
    "verify_events",
    "verify_store",
]
