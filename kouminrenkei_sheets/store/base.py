"""The store seam: read whole tables by header name, apply a planned batch of cell changes.

Jobs talk only to :class:`Store`; the backends (xlsx, memory, gsheets) decide how a book is
opened and written. A *book* is the register (``book=None``) or a department's own workbook or
spreadsheet (its id: a path relative to the config folder, or a spreadsheet key).
"""

from __future__ import annotations

import contextlib
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Union

from ..schema import Sheet

CellValue = Union[str, int, float, bool, date, datetime, None]  # noqa: UP007 - used at runtime

TOOL_AUTHOR = "kouminrenkei"  # author of the notes the tool puts on cells
MARK_FILL = "FFFFC7CE"  # light red fill of a cell with a finding


def header_key(text: object) -> str:
    """How headers are compared: NFKC, no surrounding or inner whitespace."""
    if text is None:
        return ""
    return "".join(unicodedata.normalize("NFKC", str(text)).split())


@dataclass(frozen=True, order=True)
class SheetRef:
    """A tab in a book. ``book=None`` is the register."""

    sheet: str
    book: str | None = None

    def __str__(self) -> str:
        return self.sheet if self.book is None else f"{self.book}:{self.sheet}"


@dataclass
class Row:
    """One non-blank data row. ``number`` is the spreadsheet row number (header = 1)."""

    number: int
    values: dict[str, CellValue]

    def get(self, column: str, default: CellValue = None) -> CellValue:
        return self.values.get(column, default)


@dataclass
class Table:
    """A whole tab as read: headers in sheet order, then every non-blank row below them."""

    ref: SheetRef
    headers: list[str]  # header cells as written in the sheet ('' for an empty header cell)
    rows: list[Row] = field(default_factory=list)
    marks: dict[tuple[int, str], str] = field(default_factory=dict)  # (row, column) -> tool note
    hidden: bool = False

    @property
    def columns(self) -> list[str]:
        """Header names as jobs use them (normalised; empty and repeated headers left out)."""
        seen: list[str] = []
        for h in self.headers:
            k = header_key(h)
            if k and k not in seen:
                seen.append(k)
        return seen

    @property
    def duplicate_headers(self) -> list[str]:
        keys = [header_key(h) for h in self.headers if header_key(h)]
        return sorted({k for k in keys if keys.count(k) > 1})

    def has(self, column: str) -> bool:
        return header_key(column) in self.columns

    def column_number(self, column: str) -> int | None:
        """1-based position of a column, found by header."""
        key = header_key(column)
        for i, h in enumerate(self.headers, start=1):
            if header_key(h) == key:
                return i
        return None

    def by_key(self, column: str) -> dict[str, Row]:
        """Rows indexed by the text of one column (first row wins; blanks skipped)."""
        out: dict[str, Row] = {}
        for row in self.rows:
            v = row.get(column)
            if v is None or str(v).strip() == "":
                continue
            out.setdefault(unicodedata.normalize("NFKC", str(v)).strip(), row)
        return out

    def records(self) -> list[dict[str, CellValue]]:
        return [dict(r.values) for r in self.rows]


# ---------------------------------------------------------------- the changes a plan is made of
@dataclass(frozen=True)
class SetCell:
    """Write one cell of an existing row, found by header."""

    ref: SheetRef
    row: int
    column: str
    value: CellValue


@dataclass(frozen=True)
class AppendRows:
    """Add rows at the end of a table; columns by header, absent ones left blank."""

    ref: SheetRef
    rows: tuple[Mapping[str, CellValue], ...]


@dataclass(frozen=True)
class ReplaceRows:
    """Rewrite every data row of a table (e.g. 検証結果, the sync snapshot)."""

    ref: SheetRef
    rows: tuple[Mapping[str, CellValue], ...]


@dataclass(frozen=True)
class DeleteRows:
    """Remove whole rows by spreadsheet row number (applied after SetCell, before AppendRows)."""

    ref: SheetRef
    rows: tuple[int, ...]


@dataclass(frozen=True)
class MarkCells:
    """Set the tool's marks (fill and note) on a tab to exactly these cells; older marks are cleared."""

    ref: SheetRef
    marks: Mapping[tuple[int, str], str]  # (row, column) -> note text


@dataclass(frozen=True)
class EnsureSheet:
    """Create a tab from the schema if it is missing; add missing schema columns at the right."""

    ref: SheetRef
    sheet: Sheet
    hidden: bool = False


Change = Union[SetCell, AppendRows, ReplaceRows, DeleteRows, MarkCells, EnsureSheet]  # noqa: UP007

# The order in which a backend applies the changes of one book.
APPLY_ORDER: tuple[type, ...] = (EnsureSheet, SetCell, DeleteRows, AppendRows, ReplaceRows, MarkCells)


def group_by_book(changes: Iterable[Change]) -> dict[str | None, list[Change]]:
    out: dict[str | None, list[Change]] = {}
    for ch in changes:
        out.setdefault(ch.ref.book, []).append(ch)
    for book, chs in out.items():
        out[book] = sorted(chs, key=lambda c: APPLY_ORDER.index(type(c)))
    return out


@dataclass
class ApplyResult:
    """What :meth:`Store.apply` did."""

    written: list[str] = field(default_factory=list)  # books written (display names)
    skipped: dict[str, str] = field(default_factory=dict)  # book -> why not written (e.g. open in Excel)


class Store(ABC):
    """One interface over every backend. Everything above ``store/`` is backend-blind."""

    backend: str = ""

    @abstractmethod
    def read(self, refs: Sequence[SheetRef]) -> dict[SheetRef, Table | None]:
        """Read whole tabs, batched per book; a missing tab is ``None``, a missing book a StoreError."""

    @abstractmethod
    def sheet_names(self, book: str | None = None) -> list[str]:
        """The tab names of a book, in order."""

    @abstractmethod
    def apply(self, changes: Sequence[Change], *, skip_busy: bool = False) -> ApplyResult:
        """Apply a plan: one write per book touched; nothing written for an empty plan.

        With ``skip_busy`` a book that someone has open (Excel's owner file) is left alone and
        reported in ``ApplyResult.skipped``; without it, such a book raises WorkbookBusyError
        before anything is written.
        """

    @abstractmethod
    def book_exists(self, book: str | None) -> bool:
        """Whether the register (None) or a department book exists."""

    @abstractmethod
    def create_book(self, book: str | None, sheets: Sequence[Sheet]) -> None:
        """Create a book with these tabs (headers, dropdowns, formats). Refuses to overwrite."""

    def book_version(self, book: str | None) -> str | None:
        """A token that changes whenever the book changes (mtime, revision); None if unknown."""
        return None

    def busy_owner(self, book: str | None) -> str | None:
        """Who has the book open where writing it now would be lost (Excel owner file), else None."""
        return None

    def display_name(self, book: str | None) -> str:
        """How messages name a book."""
        return "台帳" if book is None else book

    @abstractmethod
    def lock(
        self, name: str, *, ttl_seconds: float, wait_seconds: float = 0
    ) -> contextlib.AbstractContextManager[None]:
        """Hold a named lock stored with the register; BusyError if another holder's lock is alive."""

    def read_one(self, ref: SheetRef) -> Table | None:
        return self.read([ref])[ref]


@contextlib.contextmanager
def nullcontext() -> Iterator[None]:
    yield
