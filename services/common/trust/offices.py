"""The office directory: which offices may act in a region (architecture invariant 8: an office
belongs to one region). A token naming an office that is not in the directory of the service's
region proves nothing there (UNAUTHENTICATED, authenticator.py).

The national defaults (offices.json beside this module) cover the demo's offices; a region
replaces its own list with `DATA/<region>/offices.json` (configuration, the same shape). Every
office's code must name a division inside its region (GB/T 2260), so a directory cannot lend an
office of one region to another."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from services.common.identity import RegionCode
from services.common.identity.regions import office_region

NATIONAL_DEFAULTS: Final = Path(__file__).with_name("offices.json")
REGION_FILE: Final = "offices.json"


@dataclass(frozen=True)
class OfficeDirectory:
    """The offices of one region, by code, with their names."""

    region: str
    offices: Mapping[str, str]

    def __post_init__(self) -> None:
        for code in self.offices:
            division = office_region(code)
            if division is None or not RegionCode(self.region).contains(division):
                raise ValueError(f"office {code!r} does not name a division of region {self.region}")

    def __contains__(self, office_code: object) -> bool:
        return office_code in self.offices

    def name(self, office_code: str) -> str:
        return self.offices.get(office_code, "")

    @classmethod
    def national(cls, region: str) -> OfficeDirectory:
        """The national defaults for `region` (empty for a region they do not list)."""
        return cls.from_file(NATIONAL_DEFAULTS, region)

    @classmethod
    def from_file(cls, path: Path, region: str) -> OfficeDirectory:
        document = json.loads(path.read_text(encoding="utf-8"))
        return cls(region, dict(document.get("regions", {}).get(region, {})))

    @classmethod
    def for_region(cls, data_dir: Path | None, region: str) -> OfficeDirectory:
        """The region's own directory (`DATA/<region>/offices.json`) if it has one, else the national
        defaults."""
        own = data_dir / region / REGION_FILE if data_dir is not None else None
        if own is not None and own.exists():
            return cls.from_file(own, region)
        return cls.national(region)

    def with_offices(self, offices: Mapping[str, str]) -> OfficeDirectory:
        """This directory and `offices` besides (a region adding an office; tests)."""
        return OfficeDirectory(self.region, {**self.offices, **offices})
