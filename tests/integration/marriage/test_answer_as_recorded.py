"""RegisterMarriage answers a caller who waits for nothing with the case as the call recorded it
(not read back from the store: issue 15, "The front door"). That answer is the case the store
holds — what GetCase returns — for an application sent on to the registry and for one refused at
the window (民法典 第1049条: two distinct persons); a retry (invariant 9) answers with the first
case, read from the store."""

from __future__ import annotations

from pathlib import Path

from tests.integration.marriage_front_door import front_door, registration
from tests.unit.marriage.people import man, woman
from tongban.marriage.v1 import marriage_service_pb2 as api


def test_the_answer_of_a_registration_is_the_case_the_store_holds_民法典_1049(tmp_path: Path) -> None:
    with front_door(tmp_path) as door:
        def stored(case_id: str) -> api.Case:
            return door.call("GetCase", api.GetCaseRequest(case_id=case_id, reason="核对")).case

        sent_on = registration(man(), woman())
        sent_on.request_id = "9b1f3c2e-answer-as-recorded"
        person = man(address="640105")
        same_person_twice = registration(person, person)
        answers = {}
        for name, message in (("sent_on", sent_on), ("refused", same_person_twice)):
            answers[name] = door.call("RegisterMarriage", message).case
            assert answers[name] == stored(answers[name].case_id), name
        assert answers["sent_on"].state == "awaiting_registry" and answers["refused"].state == "refused"
        assert len(answers["sent_on"].history) == 1 and len(answers["refused"].history) == 2

        retried = door.call("RegisterMarriage", sent_on).case
        assert retried == answers["sent_on"] == stored(retried.case_id)
