"""Administrative division codes (GB/T 2260): 2 digits province, 2 city, 2 county.

Codes change over time (counties merge, cities are renamed), so a well-formed code that is not in
our small name table is still valid: a citizen ID's address code is where it was issued, possibly
decades ago, and we must not reject it because the division has since been abolished. Only the
province prefix is checked, because the set of provinces is stable and a wrong one is a typo."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.common.errors import InvalidArgument

# Every province-level division, keyed by its two-digit prefix. 71 (Taiwan), 81 (Hong Kong) and 82
# (Macao) are in GB/T 2260 and appear in citizen IDs, so they are real provinces here too.
PROVINCE_NAMES: dict[str, str] = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省",
    "81": "香港特别行政区",
    "82": "澳门特别行政区",
}

PROVINCE_PREFIXES: frozenset[str] = frozenset(PROVINCE_NAMES)

# Below province level, only the divisions the project's regions and demos use. Not a gazetteer:
# a full GB/T 2260 table would go stale and tempt callers to reject valid historical codes.
_LOCAL_NAMES: dict[str, str] = {
    "640100": "银川市",
    "640104": "兴庆区",
    "510800": "广元市",
    "510802": "利州区",
    "610300": "宝鸡市",
    "500103": "渝中区",
}

REGION_NAMES: dict[str, str] = {
    **{prefix + "0000": name for prefix, name in PROVINCE_NAMES.items()},
    **_LOCAL_NAMES,
}


def is_province_prefix(prefix: str) -> bool:
    """Whether `prefix` (two digits) is a province-level division of GB/T 2260."""
    return prefix in PROVINCE_PREFIXES


class RegionLevel(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"


@dataclass(frozen=True)
class RegionCode:
    """A six-digit GB/T 2260 code. Construct with `parse` for caller input; the constructor also
    validates, so a RegionCode rebuilt from a stored event can never be malformed."""

    value: str

    def __post_init__(self) -> None:
        problem = _violation(self.value)
        if problem is not None:
            raise ValueError(f"invalid region code {self.value!r}: {problem}")

    @classmethod
    def parse(cls, value: str, field: str = "region") -> RegionCode:
        problem = _violation(value)
        if problem is not None:
            raise InvalidArgument.single(field, problem)
        return cls(value)

    @property
    def level(self) -> RegionLevel:
        if self.value.endswith("0000"):
            return RegionLevel.PROVINCE
        if self.value.endswith("00"):
            return RegionLevel.CITY
        return RegionLevel.COUNTY

    @property
    def province(self) -> RegionCode:
        """The province-level division containing this one (itself for a province)."""
        return RegionCode(self.value[:2] + "0000")

    @property
    def city(self) -> RegionCode | None:
        """The city-level division containing this one (itself for a city); None for a province.

        For a municipality's district (渝中区 500103) this is the municipality's 市辖区 code 500100,
        as GB/T 2260 lists it."""
        if self.level is RegionLevel.PROVINCE:
            return None
        return RegionCode(self.value[:4] + "00")

    def contains(self, other: RegionCode) -> bool:
        """Whether `other` lies in this division (a province holds its cities and counties, a city
        its counties; a county only itself)."""
        match self.level:
            case RegionLevel.PROVINCE:
                return other.value[:2] == self.value[:2]
            case RegionLevel.CITY:
                return other.value[:4] == self.value[:4]
        return other.value == self.value

    @property
    def name(self) -> str:
        """The Chinese name if the project knows it, else "" (the code may still be valid)."""
        return REGION_NAMES.get(self.value, "")

    def __str__(self) -> str:
        return self.value


def office_region(office_code: str) -> RegionCode | None:
    """The division an office code names: its leading six-digit GB/T 2260 code ("640104-MRO-01" is
    an office of 兴庆区 640104). None for a code that does not start with one."""
    head, sep, _ = office_code.partition("-")
    if not sep or _violation(head) is not None:
        return None
    return RegionCode(head)


def _violation(value: str) -> str | None:
    """Why `value` is not a GB/T 2260 code, or None if it is well-formed."""
    # isascii() as well: str.isdigit() accepts full-width and other Unicode digits.
    if len(value) != 6 or not (value.isascii() and value.isdigit()):
        return "GB/T 2260 region code must be exactly 6 digits"
    if not is_province_prefix(value[:2]):
        return f"GB/T 2260 region code must start with a province code; {value[:2]!r} is not one"
    return None
