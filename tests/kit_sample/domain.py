"""Pure domain: a notebook case that takes notes until it is full."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from services.common.kit.aggregate import Aggregate
from services.common.kit.rules import Rule, check

MAX_NOTES = 3


@dataclass(frozen=True)
class NoteTaken:  # the event (its payload: the message of the same name)
    value: str


@dataclass(frozen=True)
class NotebookHasRoom(Rule):
    article: ClassVar[str] = "kit sample, rule 1"
    notes: int

    def is_broken(self) -> bool:
        return self.notes >= MAX_NOTES

    @property
    def message(self) -> str:
        return f"a notebook holds {MAX_NOTES} notes"


@dataclass
class Notebook(Aggregate):
    stream_type: ClassVar[str] = "notes.Notebook"
    what: ClassVar[str] = "notebook"
    notes: list[str] = field(default_factory=list)

    def take_note(self, text: str) -> list[NoteTaken]:  # the command's decision
        check(NotebookHasRoom(len(self.notes)))
        return [NoteTaken(text)]

    def when(self, event: NoteTaken) -> None:
        self.notes.append(event.value)
