"""Storage backends behind one interface (:class:`~kouminrenkei_sheets.store.base.Store`)."""

from .base import (
    AppendRows,
    ApplyResult,
    CellValue,
    Change,
    DeleteRows,
    EnsureSheet,
    MarkCells,
    ReplaceRows,
    Row,
    SetCell,
    SheetRef,
    Store,
    Table,
    header_key,
)

__all__ = [
    "AppendRows",
    "ApplyResult",
    "CellValue",
    "Change",
    "DeleteRows",
    "EnsureSheet",
    "MarkCells",
    "ReplaceRows",
    "Row",
    "SetCell",
    "SheetRef",
    "Store",
    "Table",
    "header_key",
]
