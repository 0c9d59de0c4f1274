"""The demo's harness: the offices and their clerks, calls through the gRPC front doors as an office's
clerk, decoded refusals, ✓/✗ outcomes, polls with a deadline, one trace per journey, and the
requests the scenarios send. The scenarios themselves are in demo_marriage.py."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from services.common.clock import CHINA
from services.stack.stackfile import StackInfo

DEMO_REGIONS = ("640000", "510000", "610000")
SETTLE_TIMEOUT = 60.0
_RESENDS = 2  # of a command the front door could not take (UNAVAILABLE), with the same request id


class DemoFailed(Exception):
    """An outcome the later scenarios depend on was wrong: they cannot run."""


@dataclass(frozen=True)
class Person:
    name: str
    citizen_id: str


@dataclass(frozen=True)
class Office:
    region: str
    city: str
    office_code: str
    clerk_id: str


YINCHUAN = Office("640000", "Yinchuan 银川", "640104-MRO-01", "yc-clerk-07")
GUANGYUAN = Office("510000", "Guangyuan 广元", "510802-MRO-01", "gy-clerk-03")
XIAN = Office("610000", "Xi'an 西安", "610113-MRO-01", "xa-clerk-11")
OFFICES = (YINCHUAN, GUANGYUAN, XIAN)


@dataclass
class DemoHarness:
    info: StackInfo
    out: Callable[[str], None]
    rng: random.Random = field(default_factory=random.Random)
    results: list[tuple[bool, str]] = field(default_factory=list)
    channels: dict[str, Any] = field(default_factory=dict)
    stubs: dict[str, Any] = field(default_factory=dict)
    tokens: dict[tuple[str, str, str, str], str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return Path(self.info.data_dir)

    # -- plumbing -------------------------------------------------------------------------------

    def connect(self) -> None:
        import grpc

        from services.common.telemetry import TracingClientInterceptor
        from services.common.trust.tls import ClientTls
        from services.common.trust.tls import channel as open_channel
        from tongban.marriage.v1 import marriage_service_pb2_grpc as api_grpc

        tls = ClientTls(Path(self.info.tls_ca)) if self.info.tls_ca else None
        for region in DEMO_REGIONS:
            channel = grpc.intercept_channel(open_channel(self.info.address(region, "marriage"), tls),
                                             TracingClientInterceptor())
            self.channels[region] = channel
            self.stubs[region] = api_grpc.MarriageServiceStub(channel)

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()

    def token(self, office: Office, role: str) -> str:
        """The office clerk's token in `role`, signed in once per demo from the region's development
        identity provider (`tongban up` keeps its keys under the data directory)."""
        key = (office.region, office.office_code, office.clerk_id, role)
        if key not in self.tokens:
            from services.common.trust.signin import login

            self.tokens[key] = login(self.data_dir, office.region, office=office.office_code,
                                     clerk_id=office.clerk_id, roles=[role]).token
        return self.tokens[key]

    def signed_in(self, actor: Any) -> list[tuple[str, str]]:
        """Call metadata for a clerk of a service's demo story (an `Actor`), signed in once from the
        region's development identity provider."""
        from services.common.grpc_context import token_metadata

        office = Office(actor.region, "", actor.office_code, actor.clerk_id)
        return token_metadata(self.token(office, actor.role))

    def open_channel(self, region: str, service: str) -> Any:
        """A traced channel to a service of a region (TLS when the stack serves it), for a story."""
        import grpc

        from services.common.telemetry import TracingClientInterceptor
        from services.common.trust.tls import ClientTls
        from services.common.trust.tls import channel as open_channel

        tls = ClientTls(Path(self.info.tls_ca)) if self.info.tls_ca else None
        return grpc.intercept_channel(open_channel(self.info.address(region, service), tls), TracingClientInterceptor())

    def request_id(self) -> str:
        """A fresh client request id (architecture invariant 9): a retried call would reuse it."""
        return f"demo-{self.rng.getrandbits(64):016x}"

    def today(self) -> date:
        """Today in China on the stack's controlled clock."""
        from services.common.clock_control import read_offset

        return (datetime.now(UTC) + read_offset(self.data_dir)).astimezone(CHINA).date()

    def move_to_month(self, month: str) -> None:
        """Every region's clock to the 1st of `month`, 09:00 China time: a month's payment run."""
        from services.common.clock_control import advance, read_offset

        year, number = (int(part) for part in month.split("-"))
        target = datetime(year, number, 1, 9, tzinfo=CHINA).astimezone(UTC)
        jump = max(timedelta(0), target - (datetime.now(UTC) + read_offset(self.data_dir)))
        advance(self.data_dir, jump)
        self.note(f"moving every region's clock forward {jump.days} days, to {month}-01 ...")

    def pay_month(self, payments: Any, finance: Any, month: str) -> tuple[Any, Any, list[Any]]:
        """A finance office's month through the shared payment run (services/common/payments): run it,
        run it again (nothing new: the run is idempotent), send the batch, confirm the bank's answer.
        Returns (the run, the repeat, the roll's lines)."""
        from tongban.payments.v1 import payment_service_pb2 as api

        def pay(method: str, request: Any) -> Any:
            return getattr(payments, method)(request, metadata=self.signed_in(finance), timeout=70)

        run = pay("RunMonth", api.RunMonthRequest(month=month, request_id=self.request_id()))
        again = pay("RunMonth", api.RunMonthRequest(month=month, request_id=self.request_id()))
        batch_id = run.batch.batch_id
        pay("SendBatch", api.SendBatchRequest(batch_id=batch_id, request_id=self.request_id()))
        roll = pay("GetBatch", api.GetBatchRequest(batch_id=batch_id, with_lines=True)).lines
        if roll:
            pay("ConfirmLines", api.ConfirmLinesRequest(batch_id=batch_id, line_ids=[r.line.line_id for r in roll],
                                                        request_id=self.request_id()))
        return run, again, [r.line for r in roll]

    def call(self, office: Office, method: str, request: Any, *, role: str = "registrar",
             timeout: float = 70.0) -> Any:
        import grpc

        from services.common.grpc_context import token_metadata

        stub = self.stubs[office.region]
        # One request id per clerk action (architecture invariant 9), kept on every resend: a
        # front door that restarted (`tongban up` heals it) answers the resend with the first
        # answer instead of recording the action twice.
        if "request_id" in request.DESCRIPTOR.fields_by_name and not request.request_id:
            with_id = type(request)()
            with_id.CopyFrom(request)  # a copy: the caller may send its request again as another action
            with_id.request_id = str(uuid.uuid4())
            request = with_id
        for attempt in range(_RESENDS + 1):
            try:
                metadata = token_metadata(self.token(office, role))
                return getattr(stub, method)(request, metadata=metadata, timeout=timeout)
            except grpc.RpcError as error:
                if attempt == _RESENDS or error.code() is not grpc.StatusCode.UNAVAILABLE:
                    raise
                time.sleep(0.5 * (attempt + 1))  # backoff before the resend, not a synchronisation
        raise AssertionError("unreachable")

    def refusal(self, office: Office, method: str, request: Any) -> Any:
        """The decoded refusal of a call expected to be refused, or None if it was accepted."""
        import grpc

        from services.common.grpc_context import error_details

        try:
            self.call(office, method, request)
        except grpc.RpcError as error:
            return error_details(error)
        return None

    def check(self, ok: bool, text: str) -> bool:
        self.results.append((ok, text))
        self.out(f"  {'✓' if ok else '✗'} {text}")
        return ok

    def require(self, ok: bool, text: str) -> None:
        if not self.check(ok, text):
            raise DemoFailed(text)

    def note(self, text: str) -> None:
        self.out(f"    {text}")

    def poll(self, what: str, fetch: Callable[[], Any], done: Callable[[Any], bool], *,
             timeout: float = SETTLE_TIMEOUT, interval: float = 0.3) -> Any:
        """`fetch()` until `done(result)`; the last result after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = fetch()
            if done(result) or time.monotonic() > deadline:
                if not done(result):
                    self.note(f"(gave up waiting for {what} after {timeout:.0f}s)")
                return result
            time.sleep(interval)  # the services decide asynchronously; nothing to wait on but a poll

    def settled(self, office: Office, case: Any) -> Any:
        """The marriage once the registry answered for both persons."""
        from tongban.marriage.v1 import marriage_service_pb2 as api

        request = api.GetCaseRequest(case_id=case.case_id)
        return self.poll(f"the registry's answer on {case.case_id}", lambda: self.call(office, "GetCase", request).case,
                         lambda c: c.state != "awaiting_registry", interval=0.5)

    @contextmanager
    def journey(self, title: str) -> Iterator[None]:
        """One scenario: one trace (its calls are children of one span), one heading."""
        from opentelemetry import trace

        self.out("")
        self.out(title)
        with trace.get_tracer("tongban.demo").start_as_current_span(f"demo: {title}"):
            yield

    def case_counts(self) -> dict[str, Counter[str]]:
        """Cases at the demo's offices, by region and "type state"; empty if a region cannot answer."""
        import grpc

        try:
            return self._case_counts()
        except grpc.RpcError as error:
            self.check(False, f"listing the cases failed: {error.code().name}")  # type: ignore[attr-defined]
            return {}

    def _case_counts(self) -> dict[str, Counter[str]]:
        from tongban.marriage.v1 import marriage_service_pb2 as api

        counts: dict[str, Counter[str]] = {}
        self.connect()
        try:
            for office in OFFICES:
                counter: Counter[str] = Counter()
                token = ""
                while True:
                    page = self.call(office, "ListCases", api.ListCasesRequest(page_size=500, page_token=token))
                    counter.update(f"{c.case_type} {c.state}" for c in page.cases)
                    token = page.next_page_token
                    if not token:
                        break
                counts[office.region] = counter
        finally:
            self.close()
        return counts


def as_date(value: Any) -> date:
    return date(value.year, value.month, value.day)


def iso(value: Any) -> str:
    return as_date(value).isoformat() if value.year else "-"


def status_check(person: Person, office: Office) -> Any:
    """A registrar's check of the national record before registering (recorded as a query)."""
    from tongban.marriage.v1 import marriage_service_pb2 as api

    return api.QueryMaritalStatusRequest(citizen_id=person.citizen_id, reason="结婚登记前核查婚姻状况",
                                         requesting_body=f"婚姻登记处 {office.office_code}")


def register_request(a: Person, b: Person, *, wait: float = 20.0) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    declaration = {"consents": True, "no_spouse": True, "no_prohibited_kinship": True, "appears_in_person": True}
    return api.RegisterMarriageRequest(
        party_a=api.PartyInput(citizen_id=a.citizen_id, name=a.name, declaration=declaration),
        party_b=api.PartyInput(citizen_id=b.citizen_id, name=b.name, declaration=declaration),
        wait_seconds=wait)


# -- the data directory -------------------------------------------------------------------------


