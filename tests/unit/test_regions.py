"""Administrative division codes (GB/T 2260)."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.common.identity import PROVINCE_NAMES, RegionCode, RegionLevel
from services.common.identity.regions import office_region


@pytest.mark.parametrize("value", ["", "64010", "6401040", "64010a", "６４０１０４", " 640104"])
def test_gb2260_code_must_be_exactly_six_ascii_digits(value: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        RegionCode.parse(value, field="office.region")
    (v,) = exc.value.violations
    assert v.field == "office.region"
    assert "exactly 6 digits" in v.description


def test_gb2260_field_defaults_to_region() -> None:
    with pytest.raises(InvalidArgument) as exc:
        RegionCode.parse("1")
    assert exc.value.violations[0].field == "region"


@pytest.mark.parametrize(
    "prefix",
    ["00", "10", "16", "20", "24", "30", "38", "40", "47", "49", "55", "60", "66", "70", "72", "80", "83", "90", "99"],
)
def test_gb2260_first_two_digits_must_be_a_province(prefix: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        RegionCode.parse(prefix + "0000")
    assert "province code" in exc.value.violations[0].description


def test_gb2260_province_prefixes_are_exactly_the_34_provincial_divisions() -> None:
    expected = (
        [f"{n}" for n in range(11, 16)]
        + [f"{n}" for n in range(21, 24)]
        + [f"{n}" for n in range(31, 38)]
        + [f"{n}" for n in range(41, 47)]
        + [f"{n}" for n in range(50, 55)]
        + [f"{n}" for n in range(61, 66)]
        + ["71", "81", "82"]
    )
    assert sorted(PROVINCE_NAMES) == expected
    assert len(expected) == 34
    for prefix in expected:
        assert RegionCode.parse(prefix + "0000").name == PROVINCE_NAMES[prefix]


@pytest.mark.parametrize(
    ("value", "level"),
    [("640000", RegionLevel.PROVINCE), ("640100", RegionLevel.CITY), ("640104", RegionLevel.COUNTY)],
)
def test_gb2260_level_from_trailing_zeros(value: str, level: RegionLevel) -> None:
    assert RegionCode.parse(value).level is level


def test_gb2260_county_derives_its_city_and_province() -> None:
    lizhou = RegionCode.parse("510802")
    assert lizhou.name == "利州区"
    assert lizhou.city == RegionCode("510800")
    assert lizhou.city is not None and lizhou.city.name == "广元市"
    assert lizhou.province == RegionCode("510000")
    assert lizhou.province.name == "四川省"


def test_gb2260_city_is_its_own_city_and_a_province_has_none() -> None:
    baoji = RegionCode.parse("610300")
    assert baoji.city == baoji
    assert baoji.province.name == "陕西省"
    shaanxi = RegionCode.parse("610000")
    assert shaanxi.city is None
    assert shaanxi.province == shaanxi


def test_gb2260_municipality_district_city_is_the_shixiaqu_code() -> None:
    yuzhong = RegionCode.parse("500103")
    assert yuzhong.name == "渝中区"
    assert yuzhong.city == RegionCode("500100")
    assert yuzhong.province.name == "重庆市"


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("640000", "宁夏回族自治区"),
        ("640100", "银川市"),
        ("640104", "兴庆区"),
        ("510000", "四川省"),
        ("510800", "广元市"),
        ("510802", "利州区"),
        ("610000", "陕西省"),
        ("610300", "宝鸡市"),
        ("500000", "重庆市"),
        ("500103", "渝中区"),
    ],
)
def test_gb2260_names_of_the_project_regions(value: str, name: str) -> None:
    assert RegionCode.parse(value).name == name


def test_gb2260_unknown_but_well_formed_code_is_valid_with_empty_name() -> None:
    # Codes change over time: an abolished or renamed county still appears in old IDs and records.
    code = RegionCode.parse("640199")
    assert code.name == ""
    assert code.level is RegionLevel.COUNTY
    assert code.city == RegionCode("640100")


def test_gb2260_constructor_validates_and_str_is_the_code() -> None:
    assert str(RegionCode("640104")) == "640104"
    with pytest.raises(ValueError):
        RegionCode("990000")


def test_a_division_contains_its_own_cities_and_counties_only() -> None:
    ningxia, yinchuan, xingqing = RegionCode("640000"), RegionCode("640100"), RegionCode("640104")
    assert ningxia.contains(yinchuan) and ningxia.contains(xingqing) and yinchuan.contains(xingqing)
    assert not ningxia.contains(RegionCode("510802")) and not yinchuan.contains(RegionCode("640200"))
    assert xingqing.contains(xingqing) and not xingqing.contains(yinchuan)


def test_an_office_code_names_its_division_by_its_leading_code() -> None:
    assert office_region("640104-MRO-01") == RegionCode("640104")
    assert office_region("NONSENSE") is None and office_region("640104") is None and office_region("") is None
    assert office_region("999999-MRO-01") is None, "not a GB/T 2260 code"
