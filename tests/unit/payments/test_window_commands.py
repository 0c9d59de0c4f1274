"""Every paying service's window offers the same payment desk (the shared commands in
services/common/payments/window.py, added through the catalogue): the call goes to that service's
endpoint, to the payment API, with a request id when it records (invariant 9)."""

from __future__ import annotations

import pytest

from services.cli import build_parser
from services.common.payments import window


@pytest.mark.parametrize("service", ["disability", "relief"])
def test_each_paying_service_has_the_payment_desk(service: str) -> None:
    args = build_parser().parse_args(["window", service, "payments", "run", "--month", "2027-01", "--role", "finance"])
    assert (args.window_service, args.month, args.role) == (service, "2027-01", "finance")
    assert args.handler is window._run and args.stub is window._stub and args.show is window.format_answer
    confirm = build_parser().parse_args(["window", service, "payments", "confirm", "2027-01", "--all"])
    assert confirm.handler is window._confirm and confirm.request_id is None
    read = build_parser().parse_args(["window", service, "payments", "history", "640104197005060012"])
    assert read.handler is window._history and not hasattr(read, "request_id"), "a read records nothing"


def test_the_marriage_window_has_no_payment_desk() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["window", "marriage", "payments", "run", "--month", "2027-01"])
