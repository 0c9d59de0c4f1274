"""Issue 13's test, through the disability service itself: "a payment run killed mid-way and rerun
paying each person exactly once" (Payment batches: nobody paid twice, nobody skipped; 国发〔2015〕52号
按月发放). The entitlements are approved through the service's handlers; the run is the service's
own wiring (its bootstrap, its source over the entitlements read model) in a real child process,
SIGKILLed between chunks and inside a chunk's transaction; the rerun goes through the payment API
on a real gRPC server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import grpc
import pytest

from services.common.audit.datadir import StoreRef
from services.common.audit.verify import audit_verify
from services.common.payments import CODEC
from services.common.payments.events import PaymentLinesAdded
from services.common.store import EventStore
from services.disability import bootstrap
from services.disability.application import handlers
from services.disability.domain.commands import ApproveApplication
from services.host import Infrastructure
from tests.fixtures.trust import actor_metadata
from tests.integration.disability.test_payments import COUNTY, _approved
from tests.integration.payments.disability_crashing_run import REGION, open_disability
from tests.integration.payments.support import read_model_lines
from tests.integration.payments.test_payment_api import FINANCE, serve
from tongban.payments.v1 import payment_service_pb2 as api
from tongban.payments.v1 import payment_service_pb2_grpc as api_grpc

ROOT = Path(__file__).resolve().parents[3]
PEOPLE = 20  # living and nursing each: 40 lines
LINES = 2 * PEOPLE
CHUNK = 10
MONTH = "2026-02"  # applied and approved in it (the stores' clock: disability_crashing_run.RUN_AT)
BATCH = f"payment-batch-disability-{REGION}-{MONTH}"
DEADLINE_S = 60


def approve_people(url: str) -> None:
    store = open_disability(url)
    try:
        service = bootstrap.bootstrap(Infrastructure.over(store))
        for _ in range(PEOPLE):
            handlers.approve(service.deps, ApproveApplication(_approved(service), "dibao"), COUNTY)
    finally:
        store.close()


def run_until_paused(url: str, pause_at: int, where: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.payments.disability_crashing_run", url, MONTH, str(CHUNK),
         str(pause_at), where], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    paused, said = threading.Event(), []

    def watch() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            said.append(line.strip())
            if line.strip() in ("PAUSED", "FINISHED"):
                paused.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        if not paused.wait(DEADLINE_S):
            child.kill()
            raise AssertionError(f"the run never paused: {child.communicate()[1]}")
        assert said[-1] == "PAUSED", "the run finished before the point it was to be killed at"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=DEADLINE_S) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def lines_in_log(store: EventStore) -> Counter[str]:
    counted: Counter[str] = Counter()
    for event in store.read_stream(BATCH):
        decoded = CODEC.decode(event)
        if isinstance(decoded, PaymentLinesAdded):
            counted.update(line.line_id for line in decoded.lines)
    return counted


@pytest.mark.parametrize(("pause_at", "where"), [
    (2 * CHUNK + CHUNK // 2, "source"),  # reading the third chunk: two committed
    (3, "transaction"),  # chunk 3 recorded, not committed: two committed
], ids=["between-chunks", "inside-a-chunk-transaction"])
def test_a_disability_run_killed_mid_way_and_rerun_pays_each_person_exactly_once(
        store_url: str, pause_at: int, where: str) -> None:
    approve_people(store_url)
    run_until_paused(store_url, pause_at, where)
    store = open_disability(store_url)
    service = bootstrap.bootstrap(Infrastructure.over(store))
    server, port = serve(service.wiring)
    try:
        assert read_model_lines(store) == 2 * CHUNK, "the killed run kept exactly its committed chunks"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = api_grpc.PaymentServiceStub(channel)
            rerun = stub.RunMonth(api.RunMonthRequest(month=MONTH, request_id="rerun"),
                                  metadata=actor_metadata(FINANCE), timeout=60)
        assert (rerun.added, rerun.skipped) == (LINES - 2 * CHUNK, 2 * CHUNK)
        assert (rerun.batch.state, rerun.batch.line_count, rerun.batch.total_fen) == (
            "closed", LINES, PEOPLE * (11_000 + 12_000))
        log = lines_in_log(store)
        assert len(log) == LINES and set(log.values()) == {1}, "each person's each subsidy exactly once"
        assert read_model_lines(store) == LINES
        verified = audit_verify([StoreRef(REGION, "disability", store_url)], check_checkpoints_held=False)
        assert verified.ok, "the killed run left every hash chain intact"
    finally:
        server.stop(grace=None)
        store.close()
