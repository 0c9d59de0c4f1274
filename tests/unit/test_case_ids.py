"""Case ids name the region whose records hold the case."""

from __future__ import annotations

from services.common.identity.case_ids import new_case_id, region_of_case


def test_a_case_id_names_its_region_and_kind() -> None:
    case_id = new_case_id("status-query", "640000")
    assert case_id.startswith("status-query-640000-") and len(case_id) == len("status-query-640000-") + 16
    assert region_of_case(case_id) == "640000"
    assert region_of_case("divorce-510000-abc", kinds=frozenset({"marriage", "divorce"})) == "510000"
    assert region_of_case("reissue-510000-abc", kinds=frozenset({"marriage", "divorce"})) == ""
    assert region_of_case("NONSENSE") == "" and region_of_case("") == ""
