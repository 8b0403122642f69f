"""In-memory backend: the same behaviour as the spreadsheet backends, for fast tests.

A book is a dict of tabs; each tab is a grid of rows (row 1 the header). ``writes`` counts the
writes per book so tests can assert that a job "wrote nothing".
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import BusyError, StoreError
from ..schema import Sheet
from ..values import display
from .base import (
    ApplyResult,
    CellValue,
    Change,
    EnsureSheet,
    GridView,
    MarkCells,
    SheetRef,
    Store,
    Table,
    apply_placement,
    busy_message,
    group_by_book,
    header_key,
    header_positions,
    place,
    place_marks,
    table_from_grid,
)


@dataclass
class MemorySheet:
    grid: list[list[CellValue]]  # grid[0] is the header row
    hidden: bool = False
    marks: dict[tuple[int, str], str] = field(default_factory=dict)


class MemoryStore(Store):
    """Books held in memory; ``writes[book]`` counts the writes of each book."""

    backend = "memory"

    def __init__(self) -> None:
        self.books: dict[str | None, dict[str, MemorySheet]] = {}
        self.writes: dict[str | None, int] = {}
        self.reads: dict[str | None, int] = {}
        self.open_by: dict[str | None, str] = {}  # simulate Excel's owner file
        self._locks: dict[str, tuple[float, str]] = {}
        # tests: what a person does just before the store's next write (one call each, in order)
        self.before_next_apply: list[Callable[[MemoryStore], None]] = []
        self._own: dict[str | None, tuple[str | None, str | None]] = {}  # book -> versions around our write

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
        """The write count and a digest of the book's content (tests also edit the grids directly)."""
        if book not in self.books:
            return None
        digest = hashlib.blake2b(repr(self.books[book]).encode(), digest_size=12).hexdigest()
        return f"{self.writes.get(book, 0)}:{digest}"

    def own_versions(self, seen: Mapping[str | None, str], *, tabs: Sequence[str] = ()) -> dict[str | None, str | None]:
        out: dict[str | None, str | None] = {}
        for book, version in seen.items():
            before, after = self._own.get(book, ("", ""))
            out[book] = after if before == version and after == self.book_version(book) else None
        return out

    def busy_owner(self, book: str | None) -> str | None:
        return self.open_by.get(book)

    # -- writing
    def create_book(self, book: str | None, sheets: Sequence[Sheet], *, share_with: str = "") -> None:
        if book in self.books:
            raise StoreError(f"ブック「{self.display_name(book)}」は既にあります。")
        self.books[book] = {s.name: MemorySheet([list(s.headers)], hidden=s.hidden) for s in sheets}
        self.writes[book] = self.writes.get(book, 0) + 1

    def put_table(self, ref: SheetRef, grid: list[list[CellValue]], hidden: bool = False) -> None:
        """Test helper: set a tab's whole grid (creating the book if needed); not counted as a write."""
        self.books.setdefault(ref.book, {})[ref.sheet] = MemorySheet(copy.deepcopy(grid), hidden)

    def apply(self, changes: Sequence[Change], *, skip_busy: bool = False) -> ApplyResult:
        if self.before_next_apply and changes:
            self.before_next_apply.pop(0)(self)
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
            version_before = self.book_version(book)
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
                edits = [c for c in sheet_changes if not isinstance(c, EnsureSheet | MarkCells)]
                if edits:
                    placed = place(SheetRef(name, book), GridView(ms.grid), edits)
                    result.conflicts.extend(placed.conflicts)
                    self._move_marks(ms, placed.deletes)
                    apply_placement(ms.grid, placed)
                for ch in sheet_changes:
                    if isinstance(ch, MarkCells):
                        at = place_marks(GridView(ms.grid), ch)
                        headers = ms.grid[0]
                        ms.marks = {(r, header_key(headers[c - 1])): note for (r, c), note in at.items()}
            self.writes[book] = self.writes.get(book, 0) + 1
            self._own[book] = (version_before, self.book_version(book))
            result.written.append(self.display_name(book))
        return result

    @staticmethod
    def _move_marks(ms: MemorySheet, deletes: Sequence[int]) -> None:
        """Notes move with their rows, as in a spreadsheet, when rows above them are taken out."""
        if not deletes:
            return
        moved: dict[tuple[int, str], str] = {}
        for (r, c), note in ms.marks.items():
            if r in deletes:
                continue
            moved[(r - sum(1 for d in deletes if d < r), c)] = note
        ms.marks = moved

    # -- what a person does between two requests of a job (tests)
    def person_inserts_row(self, ref: SheetRef, at: int, values: Sequence[CellValue] = ()) -> None:
        grid = self.books[ref.book][ref.sheet].grid
        grid.insert(at - 1, list(values))
        ms = self.books[ref.book][ref.sheet]
        ms.marks = {((r + 1 if r >= at else r), c): n for (r, c), n in ms.marks.items()}

    def person_sorts(self, ref: SheetRef, column: str, *, descending: bool = False) -> None:
        ms = self.books[ref.book][ref.sheet]
        c = header_positions(ms.grid[0])[header_key(column)] - 1
        body = ms.grid[1:]
        order = sorted(
            range(len(body)),
            key=lambda i: display(body[i][c]) if c < len(body[i]) and body[i][c] is not None else "",
            reverse=descending,
        )
        new_of = {old + 2: new + 2 for new, old in enumerate(order)}
        ms.grid[1:] = [body[i] for i in order]
        ms.marks = {(new_of.get(r, r), col): n for (r, col), n in ms.marks.items()}

    def person_types(self, ref: SheetRef, row: int, column: str, value: CellValue) -> None:
        grid = self.books[ref.book][ref.sheet].grid
        c = header_positions(grid[0])[header_key(column)]
        while len(grid) < row:
            grid.append([])
        while len(grid[row - 1]) < c:
            grid[row - 1].append(None)
        grid[row - 1][c - 1] = value

    @contextlib.contextmanager
    def _hold_lock(self, name: str, *, ttl_seconds: float, wait_seconds: float = 0) -> Iterator[None]:
        deadline = time.monotonic() + wait_seconds
        token = f"{id(self)}-{time.monotonic_ns()}"
        while True:
            held = self._locks.get(name)
            if held is None or held[0] < time.time():
                self._locks[name] = (time.time() + ttl_seconds, token)
                break
            if time.monotonic() >= deadline:
                raise BusyError(busy_message())
            time.sleep(0.05)
        try:
            yield
        finally:
            if self._locks.get(name, (0, ""))[1] == token:
                del self._locks[name]
