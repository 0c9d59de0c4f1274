"""Architecture invariant 9 at the front door: RegisterMarriage sent again with its request id
(a window retrying after a timeout) answers the first case over a real gRPC server on loopback;
the id sent with other content is refused INVALID_ARGUMENT naming `request_id`."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc

from tests.integration.marriage_front_door import front_door, registration
from tests.unit.marriage.people import man, woman


def test_invariant_9_a_resent_registration_answers_the_first_case_and_a_reused_id_is_refused(
        tmp_path: Path) -> None:
    with front_door(tmp_path) as door:
        request = registration(man(), woman())
        request.request_id = str(uuid.uuid4())
        first = door.call("RegisterMarriage", request).case
        head = door.store.head()

        again = door.call("RegisterMarriage", request).case
        assert again.case_id == first.case_id and again.state == "awaiting_registry"
        assert door.store.head() == head, "the retry appended nothing"

        other = registration(man(), woman())
        other.request_id = request.request_id
        refused = door.refusal("RegisterMarriage", other)
        assert refused.code is grpc.StatusCode.INVALID_ARGUMENT
        assert [(v.field, v.description) for v in refused.field_violations] == [
            ("request_id", "already used for a different request")]
        assert door.store.head() == head, "nothing appended for the refusal"
