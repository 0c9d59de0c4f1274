"""Architecture invariant 9, commands are idempotent: a command's request id is claimed by the unit
of work in the command's transaction, on SQLite and PostgreSQL. A retry returns the first answer
and appends nothing; the same id for other content is refused on `request_id`; two calls racing
with one id open one case."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from services.common.errors import InvalidArgument
from services.common.kit import Change, Provenance, Request, UnitOfWork
from services.common.store import EventStore
from services.host import Infrastructure
from services.marriage.adapters import grpc_mapping as mapping
from services.marriage.application import handlers
from services.marriage.bootstrap import MarriageService, bootstrap
from services.marriage.domain.marriage import Marriage
from tests.integration.marriage_front_door import registration
from tests.unit.marriage.people import AGREEMENT, clerk, couple, man, woman
from tests.unit.marriage.test_application import register_married
from tongban.marriage.v1 import marriage_service_pb2 as api

CLERK = clerk()


@pytest.fixture
def service(store: EventStore) -> MarriageService:
    return bootstrap(Infrastructure.over(store))


def register(service: MarriageService, message: api.RegisterMarriageRequest) -> str:
    """RegisterMarriage as the servicer calls it: the command, and the request with its fingerprint."""
    request = Request.of(message, ignoring=("wait_seconds",))
    return handlers.register_marriage(service.deps, mapping.register_marriage(message), CLERK, request)


def marriage_cases(store: EventStore) -> set[str]:
    return {e.stream_id for e in store.read_log() if e.stream_type == Marriage.stream_type}


def test_invariant_9_a_retried_registration_returns_the_first_case_and_appends_nothing(
        service: MarriageService, store: EventStore) -> None:
    people = couple()
    message = registration(people.husband, people.wife)
    message.request_id = "3f2c1a9e-6b0d-4c8e-9a51-0d7e2b6f4c11"
    first = register(service, message)
    head = store.head()

    message.wait_seconds = 30  # how long the retry waits is not what it asks
    assert register(service, message) == first
    assert store.head() == head, "the retry appended nothing"
    assert marriage_cases(store) == {first}, "one case: no second case to split the registry holds"


def test_invariant_9_a_request_id_used_for_another_registration_is_refused_on_request_id(
        service: MarriageService, store: EventStore) -> None:
    message = registration(man(), woman())
    message.request_id = "req-reused"
    first = register(service, message)
    head = store.head()

    other = registration(man(), woman())
    other.request_id = "req-reused"
    with pytest.raises(InvalidArgument) as refused:
        register(service, other)
    [violation] = refused.value.violations
    assert (violation.field, violation.description) == ("request_id", "already used for a different request")
    assert store.head() == head and marriage_cases(store) == {first}


def test_invariant_9_without_a_request_id_every_call_is_a_new_action(
        service: MarriageService, store: EventStore) -> None:
    assert Request.of(registration(man(), woman())) is None
    people = couple()
    message = registration(people.husband, people.wife)
    assert register(service, message) != register(service, message)


def test_invariant_9_two_calls_racing_with_one_request_id_open_one_case(
        service: MarriageService, store: EventStore) -> None:
    # The first to claim the id holds its transaction open a while: the other must wait for it to
    # commit (PostgreSQL: on the unique key; SQLite: BEGIN IMMEDIATE), then answer with its case.
    def slow_commit(uow: UnitOfWork, changes: Sequence[Change]) -> None:
        time.sleep(0.3)

    service.deps.units.subscribers.on_commit(slow_commit)
    people = couple()
    message = registration(people.husband, people.wife)
    message.request_id = "req-raced"
    start = threading.Barrier(2)
    answers: list[str] = []
    errors: list[BaseException] = []

    def call() -> None:
        start.wait()
        try:
            answers.append(register(service, message))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(answers) == 2 and answers[0] == answers[1]
    assert marriage_cases(store) == {answers[0]}


def test_invariant_9_a_retried_divorce_receipt_is_not_refused_as_a_second_open_divorce(
        service: MarriageService, store: EventStore) -> None:
    people = couple()
    marriage = register_married(service, people)
    message = api.ReceiveDivorceRequest(marriage_case_id=marriage, both_appear_in_person=True,
                                        request_id="req-divorce")
    message.spouse_a.citizen_id, message.spouse_a.name = people.husband, "张三"
    message.spouse_b.citizen_id, message.spouse_b.name = people.wife, "李四"
    message.agreement.signed_by_both = AGREEMENT.signed_by_both
    message.agreement.intention = AGREEMENT.intention
    message.agreement.children_arrangement = AGREEMENT.children_arrangement
    message.agreement.property_arrangement = AGREEMENT.property_arrangement
    message.agreement.debt_arrangement = AGREEMENT.debt_arrangement
    request = Request.of(message)

    def receive() -> str:
        return handlers.receive_divorce(service.deps, mapping.receive_divorce(message), CLERK, request)

    first = receive()
    head = store.head()
    assert receive() == first and store.head() == head


def test_invariant_9_a_handler_that_forgets_its_answer_records_nothing(service: MarriageService) -> None:
    units, request = service.deps.units, Request("req-forgot", "0" * 64)
    provenance = Provenance.of_command(CLERK, "no-case", service.deps.clock.now())
    with pytest.raises(RuntimeError, match=r"uow\.answer"), units.begin(provenance, request=request):
        pass
    with units.begin(provenance, request=request) as uow:
        assert uow.first_answer is None, "the claim was rolled back with the rest"
        uow.answer("no-case")
