"""The read model: notes per notebook, refreshed in the recording transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, delete, insert

from services.common.kit import Change, UnitOfWork

tables = MetaData()
notebooks = Table("notebooks", tables, Column("notebook_id", String(100), primary_key=True),
                  Column("notes", Integer, nullable=False))


def refresh(uow: UnitOfWork, changes: Sequence[Change]) -> None:
    for change in changes:
        uow.tx.connection.execute(delete(notebooks).where(notebooks.c.notebook_id == change.stream_id))
        uow.tx.connection.execute(insert(notebooks).values(notebook_id=change.stream_id,
                                                           notes=change.after.version))


def register_projections(registry: Any) -> None:
    """Found by `tongban audit replay` through the catalogue (nothing to replay in this sample)."""
