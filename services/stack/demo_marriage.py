"""The demo's scenarios: the clerks of three offices and the marriage cases they carry through the
gRPC front doors (see demo.py for the whole run, demo_harness.py for the plumbing). The
scenarios are the Demo class's methods, in the order `run` plays them."""

from __future__ import annotations

import contextvars
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.disability.entrypoints.demo_story import play_disability_story
from services.relief.entrypoints.demo_story import play_relief_story
from services.stack.demo_harness import (
    CHINA,
    GUANGYUAN,
    OFFICES,
    XIAN,
    YINCHUAN,
    DemoFailed,
    DemoHarness,
    Person,
    as_date,
    iso,
    register_request,
    status_check,
)

__all__ = ["OFFICES", "Demo", "make_people"]


def make_people(rng: random.Random) -> dict[str, Person]:
    """Fresh citizens for each run (the registry is national: a rerun on the same stack must not meet
    the people of the last one). GB 11643: an odd sequence code is a man, an even one a woman."""
    from services.common.identity.citizen_id import make_citizen_id

    def person(name: str, address: str, born: date, male: bool) -> Person:
        sequence = rng.randrange(0, 499) * 2 + (1 if male else 0)
        return Person(name, make_citizen_id(address, born + timedelta(days=rng.randrange(0, 300)), sequence))

    return {
        "wang": person("王磊", "640104", date(1993, 3, 1), True),
        "li": person("李娜", "640104", date(1995, 6, 1), False),
        "zhang": person("张静", "510802", date(1994, 9, 1), False),
        "zhao": person("赵刚", "640104", date(1989, 2, 1), True),
        "chen": person("陈丽", "640104", date(1991, 7, 1), False),
        "liu": person("刘洋", "610113", date(1990, 4, 1), True),
        "sun": person("孙浩", "510802", date(2006, 1, 1), True),  # not yet 22 while the demo runs
        "wu": person("吴芳", "510802", date(2004, 3, 1), False),
        "he": person("何军", "640104", date(1988, 5, 1), True),
        "ma": person("马兰", "640104", date(1990, 10, 1), False),
    }



@dataclass
class Demo(DemoHarness):
    winner: str = ""  # the region where the man of scenario 1 is married

    # -- the scenarios --------------------------------------------------------------------------

    def run(self) -> None:
        import grpc

        from services.common.grpc_context import error_details

        people = make_people(self.rng)
        self.connect()
        try:
            self.two_offices_at_once(people)
            divorce = self.divorce_in_yinchuan(people)
            shaanxi = self.remarriage_in_shaanxi(people)
            self.reissues(people, divorce, shaanxi)
            self.refusal_recorded(people)
            self.divorce_in_another_region(people)
            play_disability_story(self, 7)  # the disability service's story (issue 13)
            play_relief_story(self, 8)  # the relief service's story (issue 14)
        except DemoFailed as failed:
            self.out(f"  stopping the scenarios here: {failed}")
        except grpc.RpcError as error:  # a call the scenario expected to succeed
            details = error_details(error)
            self.check(False, f"unexpected answer {details.code.name}: {details.message}"
                              + (f" (rule {details.rule})" if details.rule else ""))
            self.out("  stopping the scenarios here")
        finally:
            self.close()

    def two_offices_at_once(self, p: dict[str, Person]) -> None:
        wang, li, zhang = p["wang"], p["li"], p["zhang"]
        with self.journey(f"1. {wang.name} registers in {YINCHUAN.city} (with {li.name}) and in {GUANGYUAN.city} "
                          f"(with {zhang.name}) at the same moment"):
            requests = {YINCHUAN.region: register_request(wang, li), GUANGYUAN.region: register_request(wang, zhang)}
            with ThreadPoolExecutor(max_workers=2) as pool:
                # Each thread runs in its own copy of the context: one trace, both calls in it.
                futures = {o.region: pool.submit(contextvars.copy_context().run, self.call, o, "RegisterMarriage",
                                                 requests[o.region]) for o in (YINCHUAN, GUANGYUAN)}
                first = {region: future.result().case for region, future in futures.items()}
            cases = {o.region: self.settled(o, first[o.region]) for o in (YINCHUAN, GUANGYUAN)}
            for office in (YINCHUAN, GUANGYUAN):
                c = cases[office.region]
                outcome = (f"registered, 结婚证 {c.marriage.certificate_number}" if c.state == "registered"
                           else f"{c.state} ({c.marriage.refusal_rule or '-'})")
                self.note(f"{office.city}: {c.case_id} {outcome}")
            states = sorted(c.state for c in cases.values())
            self.check(states == ["refused", "registered"], "exactly one of the two marriages is registered "
                                                           "(民法典 第1042条: one live marriage per person)")
            won = [r for r, c in cases.items() if c.state == "registered"]
            lost = [c for c in cases.values() if c.state == "refused"]
            if won and lost:
                refused = lost[0].marriage
                self.check(refused.refusal_rule == "NoExistingMarriage" and refused.holder_region == won[0],
                           f"the other is refused by NoExistingMarriage, naming region {won[0]} where {wang.name} "
                           "is held")
            self.winner = won[0] if won else ""

    def divorce_in_yinchuan(self, p: dict[str, Person]) -> Any:
        from services.common.clock_control import advance, read_offset
        from tongban.marriage.v1 import events_pb2
        from tongban.marriage.v1 import marriage_service_pb2 as api

        zhao, chen = p["zhao"], p["chen"]
        with self.journey(f"2. {zhao.name} and {chen.name} marry in {YINCHUAN.city}, then divorce there by agreement"):
            married = self.settled(YINCHUAN, self.call(YINCHUAN, "RegisterMarriage", register_request(zhao, chen)).case)
            self.require(married.state == "registered",
                         f"married in {YINCHUAN.city}: 结婚证 {married.marriage.certificate_number or '-'}")
            agreement = events_pb2.DivorceAgreement(
                signed_by_both=True, intention="双方自愿离婚", children_arrangement="无子女",
                property_arrangement="各自名下财产归各自所有", debt_arrangement="无共同债务")
            divorce = self.call(YINCHUAN, "ReceiveDivorce", api.ReceiveDivorceRequest(
                marriage_case_id=married.case_id, agreement=agreement, both_appear_in_person=True,
                spouse_a=events_pb2.Spouse(citizen_id=zhao.citizen_id, name=zhao.name),
                spouse_b=events_pb2.Spouse(citizen_id=chen.citizen_id, name=chen.name))).case
            d = divorce.divorce
            self.require(divorce.state == "cooling_off",
                         f"divorce {divorce.case_id} received: cooling-off until {iso(d.cooling_off_last_day)}, "
                         f"certificate window until {iso(d.window_last_day)} (民法典 第1077条)")
            certificate = api.RequestDivorceCertificateRequest(divorce_case_id=divorce.case_id,
                                                               both_appear_in_person=True)
            early = self.refusal(YINCHUAN, "RequestDivorceCertificate", certificate)
            self.check(early is not None and early.rule == "CoolingOffPeriod",
                       "a certificate request during the cooling-off is refused (rule CoolingOffPeriod)")
            # Meanwhile she and 刘洋 ask in Xi'an; the clerk's check of the national record shows her
            # still married in Yinchuan, and they are turned away. (It also tells the demo that Xi'an's
            # view of the registry has her marriage: scenario 3 then waits for it to go.)
            still = self.poll(f"{XIAN.city} to see her marriage", lambda: self.call(XIAN, "QueryMaritalStatus",
                                                                                  status_check(chen, XIAN)).case,
                              lambda c: c.status_query.answer.status == "married", interval=1.0)
            answer = still.status_query.answer
            self.check(answer.status == "married" and answer.source_region == YINCHUAN.region,
                       f"during the cooling-off, {XIAN.city}'s check shows {chen.name} still married in region "
                       f"{answer.source_region or '-'}: no registration")

            # Every service on the data directory reads the same offset file: all regions move.
            runs_out = datetime.combine(as_date(d.cooling_off_last_day) + timedelta(days=1),
                                        datetime.min.time(), tzinfo=CHINA).astimezone(UTC)
            now = datetime.now(UTC) + read_offset(self.data_dir)
            jump = max(timedelta(0), runs_out + timedelta(minutes=5) - now)
            advance(self.data_dir, jump)
            self.note(f"moving every region's clock forward {jump.days} days "
                      f"{jump.seconds // 3600} hours, past the cooling-off ...")
            by_id = api.GetCaseRequest(case_id=divorce.case_id)
            opened = self.poll("the cooling-off deadline to fire", lambda: self.call(YINCHUAN, "GetCase", by_id).case,
                               lambda c: c.state == "awaiting_certificate_request", timeout=30)
            self.require(opened.state == "awaiting_certificate_request",
                         "the scheduler ended the cooling-off: the certificate window is open")
            requested = self.call(YINCHUAN, "RequestDivorceCertificate", certificate).case
            self.check(requested.state == "certificate_requested", "both spouses asked for the certificate in person, "
                                                                    "within the window")
            registered = self.call(YINCHUAN, "RegisterDivorce", api.RegisterDivorceRequest(
                divorce_case_id=divorce.case_id)).case
            self.require(registered.state == "registered" and bool(registered.divorce.certificate_number),
                         f"divorce registered: 离婚证 {registered.divorce.certificate_number or '-'}")
            marriage = self.call(YINCHUAN, "GetCase", api.GetCaseRequest(case_id=married.case_id)).case
            self.check(marriage.state == "dissolved_by_divorce", f"the marriage {married.case_id} is dissolved")
            return registered

    def remarriage_in_shaanxi(self, p: dict[str, Person]) -> Any:

        chen, liu = p["chen"], p["liu"]
        with self.journey(f"3. {chen.name} marries {liu.name} in {XIAN.city}"):
            # The clerk checks the national record first: she shows as married until the registry has
            # taken Yinchuan's release (each check is recorded as a query).
            status = self.poll("the registry to release her", lambda: self.call(XIAN, "QueryMaritalStatus",
                                                                                 status_check(chen, XIAN)).case,
                               lambda c: c.status_query.answer.status != "married", interval=1.0)
            self.check(status.status_query.answer.status != "married",
                       f"{XIAN.city} sees her free to marry: {status.status_query.answer.status}")
            married = self.settled(XIAN, self.call(XIAN, "RegisterMarriage", register_request(liu, chen)).case)
            self.require(married.state == "registered",
                         f"married in {XIAN.city}: 结婚证 {married.marriage.certificate_number or '-'}"
                         + (f" ({married.marriage.refusal_rule})" if married.marriage.refusal_rule else ""))
            return married

    def reissues(self, p: dict[str, Person], divorce: Any, shaanxi: Any) -> None:
        from tongban.marriage.v1 import marriage_service_pb2 as api

        chen, wang = p["chen"], p["wang"]
        with self.journey(f"4. certificates reissued, and a court's question in {GUANGYUAN.city}"):
            again = self.call(XIAN, "ReissueCertificate", api.ReissueCertificateRequest(
                record_case_id=shaanxi.case_id, applicant_citizen_id=chen.citizen_id, reason="遗失")).case
            issued = again.reissue.issued
            self.check(issued.issued_document == "reissued_marriage_certificate",
                       f"{XIAN.city} reissues her marriage certificate: {issued.certificate_number}")
            query = api.QueryMaritalStatusRequest(citizen_id=chen.citizen_id, reason="补领离婚证前核查婚姻状况",
                                                  requesting_body="银川市兴庆区婚姻登记处")
            status = self.poll("Yinchuan to learn of the marriage in Shaanxi",
                               lambda: self.call(YINCHUAN, "QueryMaritalStatus", query).case,
                               lambda c: c.status_query.answer.source_region == XIAN.region, interval=1.0)
            answer = status.status_query.answer
            self.check(answer.status == "married" and answer.source_region == XIAN.region,
                       f"{YINCHUAN.city} sees her married in region {answer.source_region or '-'}")
            # Asked in Xi'an for a Yinchuan record: Ningxia's archive answers through a hand-off.
            asked = self.call(XIAN, "ReissueCertificate", api.ReissueCertificateRequest(
                record_case_id=divorce.case_id, applicant_citizen_id=chen.citizen_id, reason="遗失",
                wait_seconds=30)).case
            record = self.poll(f"{YINCHUAN.city}'s archive to answer {XIAN.city}",
                               lambda: self.call(XIAN, "GetCase", api.GetCaseRequest(case_id=asked.case_id)).case,
                               lambda c: c.state != "awaiting_archive", interval=1.0)
            issued = record.reissue.issued
            self.check(issued.issued_document == "registration_record_certificate",
                       f"asked in {XIAN.city} for her {YINCHUAN.city} divorce certificate, she gets a registration "
                       f"record certificate {issued.certificate_number or '-'}: "
                       f"{issued.status_change or record.reissue.refusal_reason or '-'}")
            court = api.QueryMaritalStatusRequest(citizen_id=wang.citizen_id, reason="重婚案件审理",
                                                  requesting_body="广元市利州区人民法院")
            winner = self.winner
            asked = self.poll("Guangyuan to see the marriage of (1)",
                              lambda: self.call(GUANGYUAN, "QueryMaritalStatus", court, role="court").case,
                              lambda c: c.status_query.answer.status == "married", interval=1.0)
            answer = asked.status_query.answer
            self.check(answer.status == "married" and (not winner or (answer.source_region or GUANGYUAN.region)
                                                       == winner),
                       f"a court in {GUANGYUAN.city} learns that {wang.name} is married "
                       f"(record of region {answer.source_region or GUANGYUAN.region})")

    # -- the summary ----------------------------------------------------------------------------

    def refusal_recorded(self, p: dict[str, Person]) -> None:
        from tongban.marriage.v1 import marriage_service_pb2 as api

        sun, wu = p["sun"], p["wu"]
        with self.journey(f"5. {sun.name}, not yet 22, asks to marry {wu.name} in {GUANGYUAN.city}"):
            case = self.call(GUANGYUAN, "RegisterMarriage", register_request(sun, wu)).case
            self.check(case.state == "refused" and case.marriage.refusal_rule == "MinimumMarriageAge",
                       f"refused at the window by MinimumMarriageAge (民法典 第1047条): {case.marriage.refusal_reason}")
            kept = self.call(GUANGYUAN, "GetCase", api.GetCaseRequest(case_id=case.case_id)).case
            self.check(kept.state == "refused", f"the refusal is recorded as case {case.case_id}: the office hands "
                                                "them a written refusal (不予登记), an auditor can count it")


    def divorce_in_another_region(self, p: dict[str, Person]) -> None:
        """国务院令第804号 (since 2025-05-10): divorce by agreement at any office in the country. The
        marriage Yinchuan records is divorced at Guangyuan's office through a recorded hand-off
        (多地联办): the cooling-off runs in Guangyuan, Ningxia checks and dissolves its record."""
        from services.common.clock_control import advance, read_offset
        from tongban.marriage.v1 import events_pb2
        from tongban.marriage.v1 import marriage_service_pb2 as api

        he, ma = p["he"], p["ma"]
        with self.journey(f"6. {he.name} and {ma.name}, married in {YINCHUAN.city}, divorce in {GUANGYUAN.city}"):
            married = self.settled(YINCHUAN, self.call(YINCHUAN, "RegisterMarriage", register_request(he, ma)).case)
            self.require(married.state == "registered", f"married in {YINCHUAN.city}: {married.case_id}")
            agreement = events_pb2.DivorceAgreement(
                signed_by_both=True, intention="双方自愿离婚", children_arrangement="无子女",
                property_arrangement="各自名下财产归各自所有", debt_arrangement="无共同债务")
            received = self.call(GUANGYUAN, "ReceiveDivorce", api.ReceiveDivorceRequest(
                marriage_case_id=married.case_id, agreement=agreement, both_appear_in_person=True,
                spouse_a=events_pb2.Spouse(citizen_id=he.citizen_id, name=he.name),
                spouse_b=events_pb2.Spouse(citizen_id=ma.citizen_id, name=ma.name))).case
            self.require(received.state == "cooling_off" and received.divorce.record_region == YINCHUAN.region,
                         f"{GUANGYUAN.city} receives divorce {received.case_id}; the record is in region "
                         f"{received.divorce.record_region}")
            by_id = api.GetCaseRequest(case_id=received.case_id)
            confirmed = self.poll(f"{YINCHUAN.city} to check its record", lambda: self.call(GUANGYUAN, "GetCase",
                                                                                         by_id).case,
                                  lambda c: c.divorce.record_step == "record_confirmed", interval=0.5)
            self.check(confirmed.divorce.record_step == "record_confirmed",
                       f"{YINCHUAN.city} checked both spouses against its record and opened the proceeding "
                       "(民法典 第1076条)")
            runs_out = datetime.combine(as_date(confirmed.divorce.cooling_off_last_day) + timedelta(days=1),
                                        datetime.min.time(), tzinfo=CHINA).astimezone(UTC)
            now = datetime.now(UTC) + read_offset(self.data_dir)
            advance(self.data_dir, max(timedelta(0), runs_out + timedelta(minutes=5) - now))
            self.note("moving every region's clock past the cooling-off (counted in Guangyuan) ...")
            self.poll("the cooling-off deadline to fire in Guangyuan", lambda: self.call(GUANGYUAN, "GetCase",
                                                                                        by_id).case,
                      lambda c: c.state == "awaiting_certificate_request", timeout=30)
            self.call(GUANGYUAN, "RequestDivorceCertificate", api.RequestDivorceCertificateRequest(
                divorce_case_id=received.case_id, both_appear_in_person=True))
            self.call(GUANGYUAN, "RegisterDivorce", api.RegisterDivorceRequest(divorce_case_id=received.case_id))
            registered = self.poll(f"{YINCHUAN.city} to dissolve the marriage",
                                   lambda: self.call(GUANGYUAN, "GetCase", by_id).case,
                                   lambda c: c.state == "registered", interval=0.5)
            self.check(registered.state == "registered",
                       f"{YINCHUAN.city} dissolved the marriage; {GUANGYUAN.city} issued "
                       f"离婚证 {registered.divorce.certificate_number or '-'}")
            status = self.poll(f"{GUANGYUAN.city} to see her divorced",
                               lambda: self.call(GUANGYUAN, "QueryMaritalStatus", status_check(ma, GUANGYUAN)).case,
                               lambda c: c.status_query.answer.status == "divorced", interval=1.0)
            answer = status.status_query.answer
            self.check(answer.status == "divorced" and answer.source_region == YINCHUAN.region,
                       f"{GUANGYUAN.city}'s check of the national record: {ma.name} divorced since {iso(answer.since)} "
                       f"(record of region {answer.source_region or '-'})")
