"""What a person does to a sheet while a job runs, on the memory and xlsx backends.

Each edit works on the sheet as the person sees it: rows by position, columns by position. On
xlsx it loads the workbook with openpyxl, edits and saves it as Excel would (a colleague's save
landing between a job's read and its write). The Sheets fake has its own person edits
(``tests/fakes/google_api.py``). Tests use these through :func:`edit`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import openpyxl

from kouminrenkei_sheets.store.base import CellValue, SheetRef, Store, header_key, header_positions
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.store.xlsx import XlsxStore
from kouminrenkei_sheets.values import display

EDITS = (
    "insert_row_above",
    "sort_descending",
    "delete_first_row",
    "insert_column_first",
    "type_same_cell",
    "type_row_at_bottom",
)


def _grid_of(store: Store, ref: SheetRef) -> list[list[CellValue]]:
    if isinstance(store, MemoryStore):
        return store.books[ref.book][ref.sheet].grid
    raise TypeError(store)


def _with_sheet(store: Store, ref: SheetRef, fn: Callable[[Any], None]) -> None:
    """Run ``fn`` on the tab as a person's program would hold it, then save it back."""
    if isinstance(store, XlsxStore):
        path = store.path(ref.book)
        wb = openpyxl.load_workbook(path)
        fn(_XlsxSheet(wb[ref.sheet]))
        wb.save(path)
    else:
        fn(_GridSheet(_grid_of(store, ref), store, ref))


class _GridSheet:
    def __init__(self, grid: list[list[CellValue]], store: Store, ref: SheetRef) -> None:
        self.grid, self.store, self.ref = grid, store, ref

    def rows(self) -> int:
        return len(self.grid)

    def insert_row(self, at: int, values: Sequence[CellValue] = ()) -> None:
        assert isinstance(self.store, MemoryStore)
        self.store.person_inserts_row(self.ref, at, values)

    def delete_row(self, at: int) -> None:
        del self.grid[at - 1]

    def insert_column(self, at: int, header: str) -> None:
        for i, row in enumerate(self.grid):
            while len(row) < at - 1:
                row.append(None)
            row.insert(at - 1, header if i == 0 else None)

    def sort_by(self, column: str, descending: bool) -> None:
        assert isinstance(self.store, MemoryStore)
        self.store.person_sorts(self.ref, column, descending=descending)

    def type(self, row: int, column: str, value: CellValue) -> None:
        assert isinstance(self.store, MemoryStore)
        self.store.person_types(self.ref, row, column, value)

    def column_of(self, name: str) -> int:
        return header_positions(self.grid[0])[header_key(name)]


class _XlsxSheet:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    def rows(self) -> int:
        return int(self.ws.max_row)

    def insert_row(self, at: int, values: Sequence[CellValue] = ()) -> None:
        self.ws.insert_rows(at)
        for c, v in enumerate(values, start=1):
            self.ws.cell(row=at, column=c, value=v)

    def delete_row(self, at: int) -> None:
        self.ws.delete_rows(at)

    def insert_column(self, at: int, header: str) -> None:
        self.ws.insert_cols(at)
        self.ws.cell(row=1, column=at, value=header)

    def column_of(self, name: str) -> int:
        return header_positions([c.value for c in self.ws[1]])[header_key(name)]

    def sort_by(self, column: str, descending: bool) -> None:
        """As Excel sorts: each cell moves with its row, value, note and fill together."""
        c = self.column_of(column)
        width = self.ws.max_column
        body = []
        for r in range(2, self.ws.max_row + 1):
            cells = [self.ws.cell(row=r, column=k) for k in range(1, width + 1)]
            body.append([(x.value, x.comment, copy.copy(x.fill)) for x in cells])
        body.sort(key=lambda row: display(row[c - 1][0]) if row[c - 1][0] is not None else "", reverse=descending)
        for r, row in enumerate(body, start=2):
            for k, (v, note, fill) in enumerate(row, start=1):
                cell = self.ws.cell(row=r, column=k, value=v)
                cell.comment = None if note is None else copy.copy(note)
                cell.fill = fill

    def type(self, row: int, column: str, value: CellValue) -> None:
        self.ws.cell(row=row, column=self.column_of(column), value=value)


def edit(store: Store, ref: SheetRef, kind: str, *, column: str = "", row: int = 2, value: CellValue = None,
         new_row: Sequence[CellValue] = ()) -> None:  # fmt: skip
    """Make one person's edit on a tab: one of :data:`EDITS`."""

    def act(sheet: Any) -> None:
        if kind == "insert_row_above":
            sheet.insert_row(2, new_row)
        elif kind == "sort_descending":
            sheet.sort_by(column, True)
        elif kind == "delete_first_row":
            sheet.delete_row(2)
        elif kind == "delete_row":  # not in EDITS: the row ``row`` (e.g. the one a job is about to write)
            sheet.delete_row(row)
        elif kind == "insert_column_first":
            sheet.insert_column(1, "課内メモ")
        elif kind == "type_same_cell":
            sheet.type(row, column, value)
        elif kind == "type_row_at_bottom":
            sheet.insert_row(sheet.rows() + 1, new_row)
        else:
            raise ValueError(kind)

    _with_sheet(store, ref, act)
