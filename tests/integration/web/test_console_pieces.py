"""The console's own checks and drawings, without a browser or a stack (fast): the certificate
number checked as typed against the applicant (第二代残疾人证: its first 18 characters are the
holder's citizen ID), amounts typed in 元, a service's refusal read into rule and article, the
chart per service and state, and which page holds a case."""

from __future__ import annotations

from datetime import date

from services.common.identity.citizen_id import make_citizen_id
from services.web import labels
from services.web.forms_services import certificate_problem, fen, region_problem
from services.web.pages_disability import parse_refusal
from services.web.pages_queues import bar_chart, disability_office
from services.web.session import Clerk

TODAY = date(2026, 3, 9)


def test_a_certificate_number_must_carry_the_applicants_citizen_id_国发2015_52号() -> None:
    applicant = make_citizen_id("640104", date(1968, 4, 1), 11)
    someone_else = make_citizen_id("640104", date(1970, 5, 2), 13)
    assert certificate_problem(applicant + "41", applicant, TODAY) is None
    problem = certificate_problem(someone_else + "41", applicant, TODAY)
    assert problem is not None and "与申请人的不一致" in problem
    assert someone_else not in problem and applicant not in problem  # messages never echo citizen IDs
    # No valid applicant typed yet: the number alone is checked (category 9 does not exist).
    assert "第 19 位" in (certificate_problem(applicant + "91", "", TODAY) or "")
    assert "20" in (certificate_problem(applicant, applicant, TODAY) or "")


def test_amounts_are_typed_in_yuan_and_sent_in_fen() -> None:
    assert (fen("800"), fen("650.5"), fen("1,234.56"), fen(""), fen(None)) == (80_000, 65_050, 123_456, 0, 0)
    assert labels.yuan(65_050) == "650.50 元"


def test_region_codes_are_checked_as_typed_gb_t_2260() -> None:
    assert region_problem("640104") is None
    assert region_problem("64x104") is not None


def test_a_refusal_listed_by_the_disability_service_is_read_into_rule_article_and_reason() -> None:
    text = "nursing: NursingNeedsSevereGrade (国发〔2015〕52号 二(二)): grade 3 is not severe"
    assert parse_refusal(text) == {"where": "nursing", "rule": "NursingNeedsSevereGrade",
                                   "article": "国发〔2015〕52号 二(二)", "reason": "grade 3 is not severe"}
    assert parse_refusal("something else")["reason"] == "something else"  # shown whole, never lost


def test_the_chart_has_a_heading_per_service_and_bars_to_scale() -> None:
    chart = bar_chart([("婚姻登记", "已登记", 4), ("婚姻登记", "不予登记", 1), ("社会救助", "低保：已受理", 2)])
    headings = [row["heading"] for row in chart["rows"] if "heading" in row]
    widths = {row["label"]: row["width"] for row in chart["rows"] if "label" in row}
    assert headings == ["婚姻登记", "社会救助"]
    assert widths == {"已登记": 260, "不予登记": 65, "低保：已受理": 130}
    assert bar_chart([])["rows"] == []


def test_a_case_id_names_the_service_whose_page_shows_it() -> None:
    assert labels.service_of("disability-640000-0123456789abcdef") == "disability"
    assert labels.service_of("dibao-640000-0123456789abcdef") == "relief"
    assert labels.service_of("assistance-510000-0123456789abcdef") == "relief"
    assert labels.service_of("marriage-640000-0123456789abcdef") == "marriage"
    assert labels.state("refused", "relief") != labels.state("refused")  # the same code reads per service


def test_a_county_lists_the_disability_work_of_its_whole_county() -> None:
    def clerk(office: str, role: str) -> Clerk:
        return Clerk(region="640000", office=office, clerk_id="c", role=role, expires_at="2099-01-01T00:00:00+00:00")

    assert disability_office(clerk("640104-CDPF", "cdpf")) == "640104"
    assert disability_office(clerk("640104-MZJ", "approver")) == "640104"
    assert disability_office(clerk("640104-DPO-01", "window")) == "640104-DPO-01"
