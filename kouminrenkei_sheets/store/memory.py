"""In-memory backend: the same behaviour as the spreadsheet backends, for fast tests.

A book is a dict of tabs; each tab is a grid of rows (row 1 the header). ``writes`` counts the
writes per book so tests can assert that a job "wrote nothing".
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..errors import BusyError, StoreError
from ..schema import Sheet
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
    group_by_book,
    header_key,
)


@dataclass
class MemorySheet:
    grid: list[list[CellValue]]  # grid[0] is the header row
    hidden: bool = False
    marks: dict[tuple[int, str], str] = field(default_factory=dict)


def _blank(v: CellValue) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def table_from_grid(ref: SheetRef, grid: list[list[CellValue]], hidden: bool = False) -> Table:
    """Turn a grid (first row = header) into a Table; shared by the backends."""
    headers = ["" if h is None else str(h) for h in (grid[0] if grid else [])]
    keys = [header_key(h) for h in headers]
    rows: list[Row] = []
    for i, cells in enumerate(grid[1:], start=2):
        if all(_blank(c) for c in cells):
            continue
        values: dict[str, CellValue] = {}
        for k, v in zip(keys, cells, strict=False):
            if k and k not in values:
                values[k] = v
        for k in keys:
            if k:
                values.setdefault(k, None)
        rows.append(Row(i, values))
    return Table(ref, headers, rows, hidden=hidden)


def apply_to_grid(grid: list[list[CellValue]], changes: Sequence[Change], sheet: Sheet | None = None) -> None:
    """Apply one tab's changes to a grid in place (used by memory; mirrors what xlsx does)."""

    def col(name: str) -> int:
        key = header_key(name)
        for i, h in enumerate(grid[0]):
            if header_key(h) == key:
                return i
        grid[0].append(name)
        return len(grid[0]) - 1

    def put(r: int, c: int, v: CellValue) -> None:
        while len(grid) < r:
            grid.append([])
        row = grid[r - 1]
        while len(row) <= c:
            row.append(None)
        row[c] = v

    for ch in changes:
        if isinstance(ch, SetCell):
            put(ch.row, col(ch.column), ch.value)
        elif isinstance(ch, DeleteRows):
            for r in sorted(set(ch.rows), reverse=True):
                if 2 <= r <= len(grid):
                    del grid[r - 1]
        elif isinstance(ch, AppendRows | ReplaceRows):
            if isinstance(ch, ReplaceRows):
                del grid[1:]
            last = len(grid)
            while last > 1 and all(_blank(c) for c in grid[last - 1]):
                last -= 1
            del grid[last:]
            for values in ch.rows:
                r = len(grid) + 1
                grid.append([])
                for name, v in values.items():
                    put(r, col(name), v)


class MemoryStore(Store):
    """Books held in memory; ``writes[book]`` counts the writes of each book."""

    backend = "memory"

    def __init__(self) -> None:
        self.books: dict[str | None, dict[str, MemorySheet]] = {}
        self.writes: dict[str | None, int] = {}
        self.reads: dict[str | None, int] = {}
        self.open_by: dict[str | None, str] = {}  # simulate Excel's owner file
        self._locks: dict[str, tuple[float, str]] = {}

    # -- reading
    def _book(self, book: str | None) -> dict[str, MemorySheet]:
        if book not in self.books:
            raise StoreError(f"ブック「{self.display_name(book)}」が見つかりません。")
        return self.books[book]

    def read(self, refs: Sequence[SheetRef]) -> dict[SheetRef, Table | None]:
        out: dict[SheetRef, Table | None] = {}
        for book in dict.fromkeys(r.book for r in refs):
            self.reads[book] = self.reads.get(book, 0) + 1
            tabs = self._book(book)
            for ref in (r for r in refs if r.book == book):
                ms = tabs.get(ref.sheet)
                if ms is None:
                    out[ref] = None
                    continue
                t = table_from_grid(ref, copy.deepcopy(ms.grid), ms.hidden)
                t.marks = dict(ms.marks)
                out[ref] = t
        return out

    def sheet_names(self, book: str | None = None) -> list[str]:
        return list(self._book(book))

    def book_exists(self, book: str | None) -> bool:
        return book in self.books

    def book_version(self, book: str | None) -> str | None:
        return str(self.writes.get(book, 0)) if book in self.books else None

    def busy_owner(self, book: str | None) -> str | None:
        return self.open_by.get(book)

    # -- writing
    def create_book(self, book: str | None, sheets: Sequence[Sheet]) -> None:
        if book in self.books:
            raise StoreError(f"ブック「{self.display_name(book)}」は既にあります。")
        self.books[book] = {s.name: MemorySheet([list(s.headers)], hidden=s.hidden) for s in sheets}
        self.writes[book] = self.writes.get(book, 0) + 1

    def put_table(self, ref: SheetRef, grid: list[list[CellValue]], hidden: bool = False) -> None:
        """Test helper: set a tab's whole grid (creating the book if needed); not counted as a write."""
        self.books.setdefault(ref.book, {})[ref.sheet] = MemorySheet(copy.deepcopy(grid), hidden)

    def apply(self, changes: Sequence[Change], *, skip_busy: bool = False) -> ApplyResult:
        result = ApplyResult()
        grouped = group_by_book(changes)
        for book in grouped:
            owner = self.busy_owner(book)
            if owner is not None and not skip_busy:
                from ..errors import WorkbookBusyError

                raise WorkbookBusyError(
                    f"「{self.display_name(book)}」は{owner}さんが開いているため書き込めません。",
                    path=self.display_name(book),
                    owner=owner,
                )
        for book, chs in grouped.items():
            owner = self.busy_owner(book)
            if owner is not None:
                result.skipped[self.display_name(book)] = f"{owner}さんが開いています"
                continue
            tabs = self._book(book)
            by_sheet: dict[str, list[Change]] = {}
            for ch in chs:
                by_sheet.setdefault(ch.ref.sheet, []).append(ch)
            for name, sheet_changes in by_sheet.items():
                for ch in sheet_changes:
                    if isinstance(ch, EnsureSheet):
                        if name not in tabs:
                            tabs[name] = MemorySheet([list(ch.sheet.headers)], hidden=ch.hidden)
                        else:
                            have = {header_key(h) for h in tabs[name].grid[0]}
                            tabs[name].grid[0].extend(h for h in ch.sheet.headers if header_key(h) not in have)
                if name not in tabs:
                    raise StoreError(f"「{self.display_name(book)}」にシート「{name}」がありません。")
                ms = tabs[name]
                apply_to_grid(ms.grid, [c for c in sheet_changes if not isinstance(c, EnsureSheet | MarkCells)])
                for ch in sheet_changes:
                    if isinstance(ch, MarkCells):
                        ms.marks = {(r, header_key(c)): note for (r, c), note in ch.marks.items()}
            self.writes[book] = self.writes.get(book, 0) + 1
            result.written.append(self.display_name(book))
        return result

    @contextlib.contextmanager
    def lock(self, name: str, *, ttl_seconds: float, wait_seconds: float = 0) -> Iterator[None]:
        deadline = time.monotonic() + wait_seconds
        token = f"{id(self)}-{time.monotonic_ns()}"
        while True:
            held = self._locks.get(name)
            if held is None or held[0] < time.time():
                self._locks[name] = (time.time() + ttl_seconds, token)
                break
            if time.monotonic() >= deadline:
                raise BusyError(f"別の処理（{name}）が実行中です。終わってから再実行してください。")
            time.sleep(0.05)
        try:
            yield
        finally:
            if self._locks.get(name, (0, ""))[1] == token:
                del self._locks[name]
