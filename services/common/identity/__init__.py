"""Identities and codes: citizen IDs (GB 11643), region codes (GB/T 2260) and second-generation
disability certificate numbers. Pure validation, no I/O."""

from services.common.identity.citizen_id import CitizenId, age_on, anniversary, make_citizen_id
from services.common.identity.disability_certificate import (
    DisabilityCategory,
    DisabilityCertificateNumber,
    DisabilityGrade,
)
from services.common.identity.regions import PROVINCE_NAMES, RegionCode, RegionLevel, is_province_prefix

__all__ = [
    "PROVINCE_NAMES",
    "CitizenId",
    "DisabilityCategory",
    "DisabilityCertificateNumber",
    "DisabilityGrade",
    "RegionCode",
    "RegionLevel",
    "age_on",
    "anniversary",
    "is_province_prefix",
    "make_citizen_id",
]
