"""What every `tongban bench` prints and writes: one measure per (name, backend), a table whose
numbers line up, and JSON `{"name", "value", "unit", "backend"}` for comparing runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path


class BenchError(RuntimeError):
    """The benchmark could not produce trustworthy numbers (for example the replay found a broken chain)."""


@dataclass(frozen=True)
class Measure:
    name: str
    value: float
    unit: str
    backend: str


def format_value(value: float, unit: str) -> str:
    if unit == "×":
        return f"{value:.2f}×"
    if unit == "ms":
        return f"{value:,.2f} ms" if value >= 1 else f"{value:,.3f} ms"
    return f"{value:,.0f} {unit}"


def format_table(results: list[Measure], backends: list[str]) -> str:
    names = list(dict.fromkeys(m.name for m in results))
    cells = {(m.name, m.backend): format_value(m.value, m.unit) for m in results}
    header = ["measure", *backends]
    rows = [[name, *(cells.get((name, b), "-") for b in backends)] for name in names]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        # The measure name reads left-aligned, the numbers right-aligned so their digits line up.
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def to_json(results: list[Measure]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for m in results:
        # Enough digits for a sub-millisecond load time, no false precision on rates.
        value = round(m.value, 4) if m.unit == "ms" else round(m.value, 2) if m.unit == "×" else round(m.value, 1)
        out.append({**asdict(m), "value": value})
    return out


def write_json(path: str, found: list[Measure], progress: Callable[[str], None]) -> None:
    """Write `found` to `path` as [{"name", "value", "unit", "backend"}, ...] and say so."""
    Path(path).write_text(json.dumps(to_json(found), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    progress(f"wrote {len(found)} measures to {path}")
