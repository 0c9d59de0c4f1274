"""The hand-off state machine, pure: what each side records, the named rules, and which incoming
messages a region acts on (architecture invariant 4; 国办发〔2020〕35号 异地代收代办 / 多地联办)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import InvalidArgument, RuleViolation
from services.common.events import Actor
from services.common.handoff import domain as d
from services.common.handoff.adapters import from_payload, to_proto

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NINGXIA, SICHUAN, SHAANXI = "640000", "510000", "610000"
CLERK_O = Actor(kind="clerk", clerk_id="c-1", office_code="640104-01", region=NINGXIA, role="clerk")
CLERK_T = Actor(kind="clerk", clerk_id="c-2", office_code="510802-01", region=SICHUAN, role="approver")
RESULT = d.Attachment(type="google.protobuf.StringValue", data=b"\n\x08approved")


def sent(kind: d.Kind = d.Kind.FORWARD_CASE, **overrides: object) -> d.HandoffSent:
    fields: dict[str, object] = dict(
        handoff_id="h-1", kind=kind, case_id="disability-7", from_region=NINGXIA, to_region=SICHUAN,
        work="户籍地审核 (living subsidy)", case_snapshot=None, origin_latest_hash=b"\x01" * 32, sent_at=T0,
        accept_within=timedelta(days=3), answer_within=timedelta(days=14), sent_by=CLERK_O,
    )
    fields.update(overrides)
    return d.send(**fields)  # type: ignore[arg-type]


def origin(kind: d.Kind = d.Kind.FORWARD_CASE) -> d.Handoff:
    return d.evolve(None, sent(kind), "corr-1")


def receiver(kind: d.Kind = d.Kind.FORWARD_CASE) -> d.Handoff:
    return d.evolve(None, d.HandoffReceived(request=sent(kind), sent_event_id="e-1", sent_event_hash=b"\x02" * 32),
                    "corr-1")


def test_a_sent_handoff_is_pending_with_both_limits_counted_from_sending() -> None:
    h = origin()
    assert (h.direction, h.state, h.version) == (d.Direction.OUTGOING, d.State.PENDING, 1)
    assert h.accept_by == T0 + timedelta(days=3)
    assert h.answer_by == T0 + timedelta(days=14)
    assert h.counterpart == SICHUAN


def test_the_receiver_side_keeps_origin_region_case_and_latest_hash() -> None:
    h = receiver()
    assert (h.direction, h.from_region, h.case_id, h.origin_latest_hash) == (
        d.Direction.INCOMING, NINGXIA, "disability-7", b"\x01" * 32)
    assert h.counterpart == NINGXIA


def test_bad_input_names_every_field() -> None:
    with pytest.raises(InvalidArgument) as bad:
        sent(handoff_id="bad id!", case_id="", to_region="990000", accept_within=timedelta(0),
             answer_within=timedelta(-1))
    assert {v.field for v in bad.value.violations} == {"handoff_id", "case_id", "to_region", "accept_within",
                                                       "answer_within"}


def test_a_work_request_must_say_what_is_asked() -> None:
    with pytest.raises(InvalidArgument) as bad:
        sent(d.Kind.REQUEST_WORK, work="  ")
    assert [v.field for v in bad.value.violations] == ["work"]


def test_rule_no_handoff_to_own_region() -> None:
    with pytest.raises(RuleViolation) as refused:
        sent(to_region=NINGXIA)
    assert refused.value.rule == "NoHandoffToOwnRegion"


def test_accept_then_answer_closes_the_receiver_side() -> None:
    h = receiver()
    h = d.evolve(h, d.accept(h, actor=CLERK_T, at=T0 + timedelta(days=1)))
    assert (h.state, h.accepted_at, h.decided_by) == (d.State.ACCEPTED, T0 + timedelta(days=1), CLERK_T)
    h = d.evolve(h, d.complete(h, outcome=RESULT, actor=CLERK_T, at=T0 + timedelta(days=5)))
    assert (h.state, h.outcome, h.closed_at, h.version) == (d.State.ANSWERED, RESULT, T0 + timedelta(days=5), 3)
    assert not h.is_open


def test_rule_receiver_decides_once() -> None:
    h = receiver()
    accepted = d.evolve(h, d.accept(h, actor=CLERK_T, at=T0))
    for decide in (lambda: d.accept(accepted, actor=CLERK_T, at=T0),
                   lambda: d.refuse(accepted, reason="late", actor=CLERK_T, at=T0)):
        with pytest.raises(RuleViolation) as refused:
            decide()
        assert refused.value.rule == "ReceiverDecidesOnce"


def test_rule_only_the_receiver_decides() -> None:
    h = origin()
    for decide in (lambda: d.accept(h, actor=CLERK_O, at=T0),
                   lambda: d.refuse(h, reason="no", actor=CLERK_O, at=T0),
                   lambda: d.complete(h, outcome=RESULT, actor=CLERK_O, at=T0)):
        with pytest.raises(RuleViolation) as refused:
            decide()
        assert refused.value.rule == "OnlyTheReceiverDecides"


def test_rule_answer_only_after_acceptance_and_only_once() -> None:
    h = receiver(d.Kind.REQUEST_WORK)
    with pytest.raises(RuleViolation) as early:
        d.complete(h, outcome=RESULT, actor=CLERK_T, at=T0)
    assert early.value.rule == "AnswerOnlyAfterAcceptance"
    h = d.evolve(h, d.accept(h, actor=CLERK_T, at=T0))
    h = d.evolve(h, d.complete(h, outcome=RESULT, actor=CLERK_T, at=T0))
    with pytest.raises(RuleViolation) as twice:
        d.complete(h, outcome=RESULT, actor=CLERK_T, at=T0)
    assert twice.value.rule == "OneAnswerPerHandoff"


def test_a_refusal_needs_a_reason() -> None:
    with pytest.raises(InvalidArgument):
        d.refuse(receiver(), reason=" ", actor=CLERK_T, at=T0)


def test_overdue_by_the_clock_before_the_scheduler_fires_and_never_once_closed() -> None:
    h = origin(d.Kind.REQUEST_WORK)
    assert h.overdue_stages(T0 + timedelta(days=2)) == ()
    assert h.overdue_stages(T0 + timedelta(days=3)) == (d.Stage.ACCEPTANCE,)
    assert h.overdue_stages(T0 + timedelta(days=15)) == (d.Stage.ACCEPTANCE, d.Stage.ANSWER)
    accepted = d.evolve(h, d.HandoffAccepted(h.handoff_id, h.kind, h.case_id, NINGXIA, SICHUAN, CLERK_T, T0))
    assert accepted.overdue_stages(T0 + timedelta(days=15)) == (d.Stage.ANSWER,)
    refused = d.evolve(h, d.HandoffRefused(h.handoff_id, h.kind, h.case_id, NINGXIA, SICHUAN, "no", CLERK_T, T0))
    assert refused.overdue_stages(T0 + timedelta(days=15)) == ()


def test_a_recorded_overdue_stays_until_the_stage_is_done_and_is_recorded_once() -> None:
    h = origin()
    event = d.mark_overdue(h, d.Stage.ACCEPTANCE)
    assert event == d.HandoffOverdue("h-1", d.Stage.ACCEPTANCE, T0 + timedelta(days=3))
    h = d.evolve(h, event)
    assert d.mark_overdue(h, d.Stage.ACCEPTANCE) is None, "recorded once"
    assert h.overdue_stages(T0) == (d.Stage.ACCEPTANCE,), "recorded counts even if the clock is behind"
    h = d.evolve(h, d.HandoffAccepted(h.handoff_id, h.kind, h.case_id, NINGXIA, SICHUAN, CLERK_T, T0))
    assert h.overdue_stages(T0) == ()
    assert d.mark_overdue(h, d.Stage.ACCEPTANCE) is None, "an acceptance that raced the deadline wins"


# --- incoming messages ------------------------------------------------------------------------


def test_a_region_acts_only_on_messages_addressed_to_it() -> None:
    request = sent()
    assert d.check_route(request, envelope_region=NINGXIA, me=SICHUAN)
    assert not d.check_route(request, envelope_region=NINGXIA, me=SHAANXI), "addressed to someone else"
    assert not d.check_route(request, envelope_region=NINGXIA, me=NINGXIA), "our own message coming back"


def test_a_message_whose_declared_sender_did_not_publish_it_is_rejected() -> None:
    with pytest.raises(d.RejectedMessage, match="declares sender 640000 but was published by region 610000"):
        d.check_route(sent(), envelope_region=SHAANXI, me=SICHUAN)
    forged_reply = d.HandoffAccepted("h-1", d.Kind.FORWARD_CASE, "disability-7", NINGXIA, SICHUAN, CLERK_T, T0)
    with pytest.raises(d.RejectedMessage):
        d.check_route(forged_reply, envelope_region=SHAANXI, me=NINGXIA)


def test_receiving_the_same_request_again_records_nothing() -> None:
    h = receiver()
    assert d.receive(None, sent(), sent_event_id="e-1", sent_event_hash=b"") is not None
    assert d.receive(h, sent(), sent_event_id="e-1", sent_event_hash=b"") is None
    with pytest.raises(d.RejectedMessage):
        d.receive(h, sent(case_id="other-case"), sent_event_id="e-9", sent_event_hash=b"")


def test_the_origin_mirrors_each_reply_once_and_in_order() -> None:
    h = origin()
    accepted = d.HandoffAccepted("h-1", d.Kind.FORWARD_CASE, "disability-7", NINGXIA, SICHUAN, CLERK_T, T0)
    outcome = d.HandoffOutcome("h-1", d.Kind.FORWARD_CASE, "disability-7", NINGXIA, SICHUAN, RESULT, CLERK_T, T0)
    with pytest.raises(d.OutOfOrder):
        d.record_reply(h, outcome)
    assert d.record_reply(h, accepted) == accepted
    h = d.evolve(h, accepted)
    assert d.record_reply(h, accepted) is None, "a redelivered acceptance"
    received = d.record_reply(h, outcome, reply_event_id="e-5", reply_event_hash=b"\x05")
    assert isinstance(received, d.HandoffOutcomeReceived) and received.outcome == outcome
    h = d.evolve(h, received)
    assert (h.state, h.outcome) == (d.State.ANSWERED, RESULT)
    assert d.record_reply(h, outcome) is None and d.record_reply(h, accepted) is None


def test_the_origin_rejects_replies_from_a_region_it_did_not_ask_or_contradicting_the_record() -> None:
    h = origin()
    from_shaanxi = d.HandoffAccepted("h-1", d.Kind.FORWARD_CASE, "disability-7", NINGXIA, SHAANXI, CLERK_T, T0)
    with pytest.raises(d.RejectedMessage, match="it was sent to 510000"):
        d.record_reply(h, from_shaanxi)
    with pytest.raises(d.RejectedMessage, match="never sent"):
        d.record_reply(None, from_shaanxi)
    refused = d.evolve(h, d.HandoffRefused("h-1", h.kind, h.case_id, NINGXIA, SICHUAN, "not ours", CLERK_T, T0))
    late_accept = d.HandoffAccepted("h-1", d.Kind.FORWARD_CASE, "disability-7", NINGXIA, SICHUAN, CLERK_T, T0)
    with pytest.raises(d.RejectedMessage, match="contradicts"):
        d.record_reply(refused, late_accept)


def test_every_event_survives_the_proto_mapping_unchanged() -> None:
    h = receiver()
    events: list[d.Event] = [
        sent(case_snapshot=RESULT),
        d.HandoffReceived(request=sent(), sent_event_id="e-1", sent_event_hash=b"\x02" * 32),
        d.accept(h, actor=CLERK_T, at=T0),
        d.refuse(h, reason="户籍不在本省", actor=CLERK_T, at=T0),
        d.HandoffOutcome("h-1", d.Kind.REQUEST_WORK, "c", NINGXIA, SICHUAN, RESULT, CLERK_T, T0),
        d.HandoffOutcomeReceived(
            d.HandoffOutcome("h-1", d.Kind.REQUEST_WORK, "c", NINGXIA, SICHUAN, RESULT, CLERK_T, T0), "e-5", b"\x05"),
        d.HandoffOverdue("h-1", d.Stage.ANSWER, T0),
    ]
    for event in events:
        message = to_proto(event)
        assert from_payload(message.DESCRIPTOR.full_name, message.SerializeToString()) == event
