"""The store seam: read whole tables by header name, apply a planned batch of cell changes.

Jobs talk only to :class:`Store`; the backends (xlsx, memory, gsheets) decide how a book is
opened and written. A *book* is the register (``book=None``) or a department's own workbook or
spreadsheet (its id: a path relative to the config folder, or a spreadsheet key).
"""

from __future__ import annotations

import contextlib
import json
import threading
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, Union

from ..errors import StoreError
from ..files import atomic_write
from ..schema import DEPARTMENTS, HISTORY, PROPOSALS, REFERRALS, HistoryKind, Sheet
from ..values import cut_to_fit, has_surrogates, id_key, is_blank, replace_surrogates, typed_text

CellValue = Union[str, int, float, bool, date, datetime, None]  # noqa: UP007 - used at runtime

WRITE_LOCK = "write"  # the one lock every job that writes a book holds (sync, refer, validate …)
WRITE_LOCK_WAIT = 30.0  # seconds a job waits for another job's write to finish before exiting 3
TOOL_AUTHOR = "kouminrenkei"  # author of the notes the tool puts on cells
MARK_FILL = "FFFFC7CE"  # light red fill of a cell with a finding


def busy_message(holder: str = "") -> str:
    """What a job says when another job holds the write lock (exit code 3)."""
    who = f"（{holder}）" if holder else ""
    return f"別の処理{who}が台帳に書き込んでいます。終わってから再実行するか、--wait を付けて終わるのを待ってください。"


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


# The register's tabs the jobs read and write, named once.
PROPOSAL_REF = SheetRef(PROPOSALS)
REFERRAL_REF = SheetRef(REFERRALS)
MASTER_REF = SheetRef(DEPARTMENTS)
HISTORY_REF = SheetRef(HISTORY)


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
    replaced: list[tuple[int, str]] = field(default_factory=list)  # (row, column): lone surrogates → U+FFFD

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
        """Rows indexed by :func:`values.id_key` of one column (first row wins; blanks skipped)."""
        out: dict[str, Row] = {}
        name = header_key(column)
        for row in self.rows:
            k = id_key(row.get(name))
            if k:
                out.setdefault(k, row)
        return out

    def records(self) -> list[dict[str, CellValue]]:
        return [dict(r.values) for r in self.rows]


def table_from_grid(
    ref: SheetRef, grid: Sequence[Sequence[CellValue]], hidden: bool = False, *, no_surrogates: bool = False
) -> Table:
    """Turn a grid (first row = header) into a Table; shared by the backends. ``no_surrogates``: the
    caller knows no text holds a lone surrogate (a reader whose text cannot), so none is looked for."""
    headers = ["" if h is None else replace_surrogates(str(h)) for h in (grid[0] if grid else [])]
    keys = [header_key(h) for h in headers]
    rows: list[Row] = []
    replaced: list[tuple[int, str]] = []
    # the keys once each (a repeated or empty header's cells are not read), in header order
    unique = list(dict.fromkeys(k for k in keys if k))
    simple = len(unique) == len(keys)  # every header a distinct key: a row is zip(keys, cells)
    # lone surrogates are rare: one search over the sheet's text tells whether any cell has one
    any_surrogates = False
    if not no_surrogates:
        texts = [c for cells in grid[1:] for c in cells if c.__class__ is str and not c.isascii()]
        any_surrogates = bool(texts) and has_surrogates("\x00".join(texts))
    zipped = simple and not any_surrogates
    width = len(keys)
    for i, cells in enumerate(grid[1:], start=2):
        for c in cells:  # (a blank row is skipped; most rows' first cell says they are not blank)
            if c is not None and (c.__class__ is not str or c[:1].isalnum() or not is_blank(c)):  # (see blank_among)
                break
        else:
            continue
        if zipped and len(cells) >= width:
            values = dict(zip(keys, cells, strict=False))  # (cells past the last header are not read)
        else:
            values = {}
            for k, v in zip(keys, cells, strict=False):
                if k and k not in values:
                    if v.__class__ is str and not v.isascii() and has_surrogates(v):
                        v = replace_surrogates(v)
                        replaced.append((i, k))
                    values[k] = v
            for k in unique:
                values.setdefault(k, None)
        rows.append(Row(i, values))
    return Table(ref, headers, rows, hidden=hidden, replaced=replaced)


# ---------------------------------------------------------------- the changes a plan is made of
# People edit while jobs run: they sort, insert and delete rows and columns, and type into cells.
# So a change never names a row by its position in an earlier read: it names the row by its key
# (照会ID, 提案ID …) and the column by its header, and carries the value it expects to replace.
# A backend resolves both against what the sheet holds when it writes (:func:`place`); a cell
# that changed meanwhile is not overwritten but reported back as a :class:`WriteConflict`.


class _Unchecked:
    """The expected value of a write that replaces whatever the cell holds (tool-owned tabs)."""

    def __repr__(self) -> str:
        return "ANY"


ANY = _Unchecked()


@dataclass(frozen=True)
class RowKey:
    """A row, named by the value of its key column (matched with :func:`values.id_key`)."""

    column: str
    key: str

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class RowAt:
    """A row of a tab only the tool writes (the sync state), named by its number as the job read it
    and vouched for by its key cells as read (``holds``: header -> value; blank for a blank row).

    That tab has no single key column (one referral may be on two departments' rows) and is
    rewritten in place, row by row, so only what changed is written. If the row no longer holds its
    key cells when the write resolves (someone sorted or edited the hidden tab meanwhile), every
    position read is suspect: :func:`place` raises :class:`~kouminrenkei_sheets.errors.StoreError`
    and nothing of that book is written (the next run reads the tab afresh)."""

    number: int
    holds: tuple[tuple[str, CellValue], ...]

    @property
    def key(self) -> str:
        return f"#{self.number}"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class SetCell:
    """Write one cell of the row ``at``, in the column with this header, if it still holds ``expected``."""

    ref: SheetRef
    at: RowKey | RowAt
    column: str
    value: CellValue
    expected: CellValue | _Unchecked = ANY


@dataclass(frozen=True)
class AppendRows:
    """Add rows below the last row the sheet holds when it is written; columns by header.

    With ``unique`` (a key column's header) a row whose key the sheet already holds when it is
    written (a person typed a row with the same new ID meanwhile) is not added: a WriteConflict."""

    ref: SheetRef
    rows: tuple[Mapping[str, CellValue], ...]
    unique: str | None = None


@dataclass(frozen=True)
class ReplaceRows:
    """Rewrite every data row of a tab the tool owns (検証結果, the sync state)."""

    ref: SheetRef
    rows: tuple[Mapping[str, CellValue], ...]


@dataclass(frozen=True)
class DeleteRow:
    """Take out the row ``at`` if its cells still hold ``expected`` (by header; others unchecked)."""

    ref: SheetRef
    at: RowKey
    expected: Mapping[str, CellValue] = field(default_factory=dict)


@dataclass(frozen=True)
class MarkCells:
    """Set the tool's marks (fill and note) on a tab to exactly these cells, named by row key and
    header; the tool's older marks are cleared, a person's notes and fills are never touched."""

    ref: SheetRef
    key_column: str | None  # None: a tab without a key column (rows named by number)
    marks: Mapping[tuple[str, str], str]  # (row key or "#row number", column) -> note text


@dataclass(frozen=True)
class EnsureSheet:
    """Create a tab from the schema if it is missing; add missing schema columns at the right."""

    ref: SheetRef
    sheet: Sheet
    hidden: bool = False


Change = Union[SetCell, AppendRows, ReplaceRows, DeleteRow, MarkCells, EnsureSheet]  # noqa: UP007

# The order in which a backend applies the changes of one book.
APPLY_ORDER: tuple[type, ...] = (EnsureSheet, SetCell, DeleteRow, AppendRows, ReplaceRows, MarkCells)


def group_by_book(changes: Iterable[Change]) -> dict[str | None, list[Change]]:
    out: dict[str | None, list[Change]] = {}
    for ch in changes:
        out.setdefault(ch.ref.book, []).append(ch)
    for book, chs in out.items():
        out[book] = sorted(chs, key=lambda c: APPLY_ORDER.index(type(c)))
    return out


def group_by_sheet(changes: Iterable[Change]) -> dict[str, list[Change]]:
    out: dict[str, list[Change]] = {}
    for ch in changes:
        out.setdefault(ch.ref.sheet, []).append(ch)
    return out


@dataclass(frozen=True)
class WriteConflict:
    """A planned write the sheet no longer allowed: the cell or row changed since the job read it."""

    ref: SheetRef
    key: str  # the row's key ('' for an append)
    column: str  # '' for a whole row
    wanted: CellValue  # what the job meant to write
    found: CellValue  # what the sheet holds now
    reason: str  # in Japanese, for people

    def describe(self) -> str:
        where = f"{self.ref.sheet} {self.key}" + (f" の「{self.column}」" if self.column else "")
        return f"{where}: {self.reason}"


def history_row(
    *, now: datetime, actor: str, sheet: str, key: str, column: str, old: object, new: object, kind: str
) -> dict[str, CellValue]:
    """One 変更履歴 row, built the same way by every job: text kept exactly as it was (spaces too, so
    nothing typed is lost), other values as the sheet shows them."""
    return {
        "日時": now,
        "実行者": actor,
        "シート": sheet,
        "キー": key,
        "列": column,
        "旧値": typed_text(old),
        "新値": typed_text(new),
        "種別": kind,
    }


def keep_full_text(
    text: str, limit: int, *, now: datetime, actor: str, sheet: str, key: str, column: str
) -> tuple[str, list[dict[str, CellValue]]]:
    """Text longer than a cell of this backend holds: the cut text for the cell (the cut said at its
    end) and 変更履歴 rows (kind 全文控え) that hold the whole text in parts that each fit a cell, in
    order, numbered in 旧値 (「全文 1/3」…). Text that fits is returned as it is, with no rows."""
    if len(text) <= limit:
        return text, []
    size = limit - 100
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    rows = [
        history_row(now=now, actor=actor, sheet=sheet, key=key, column=column,
                    old=f"全文 {n}/{len(parts)}（{len(text):,}文字）", new=part, kind=HistoryKind.FULL_TEXT)
        for n, part in enumerate(parts, start=1)
    ]  # fmt: skip
    return cut_to_fit(text, limit, kept="変更履歴（種別「全文控え」）"), rows


def conflict_history(
    conflicts: Iterable[WriteConflict], *, actor: str, now: datetime
) -> tuple[dict[str, CellValue], ...]:
    """変更履歴 rows (kind 競合) for writes a sheet refused: what it holds now as 旧値, what the job
    meant to write as 新値 (for a whole row, why it was not written)."""
    return tuple(
        history_row(
            now=now,
            actor=actor,
            sheet=c.ref.sheet,
            key=c.key,
            column=c.column or "（行）",
            old=c.found,
            new=c.wanted if c.column else f"（書き込まず: {c.reason}）",
            kind=HistoryKind.CONFLICT,
        )
        for c in conflicts
    )


@dataclass
class ApplyResult:
    """What :meth:`Store.apply` did."""

    written: list[str] = field(default_factory=list)  # books written (display names)
    skipped: dict[str, str] = field(default_factory=dict)  # book -> why not written (e.g. open in Excel)
    conflicts: list[WriteConflict] = field(default_factory=list)  # writes left undone, cell by cell


def cell_equal(a: object, b: object) -> bool:
    """Whether a cell still holds what a job read: blanks, numbers and dates compared by value
    (the readers give 5 or 5.0, a date or midnight of that date), text exactly."""
    if is_blank(a) or is_blank(b):
        return is_blank(a) and is_blank(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (a == b and type(a) is type(b))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, date) and isinstance(b, date):
        da = a if isinstance(a, datetime) else datetime(a.year, a.month, a.day)
        db = b if isinstance(b, datetime) else datetime(b.year, b.month, b.day)
        return da.replace(tzinfo=None) == db.replace(tzinfo=None)
    if isinstance(a, str) and isinstance(b, str):
        return a == b or a.strip() == b.strip()
    return a == b


# ---------------------------------------------------------------- resolving a plan at write time
class SheetView(Protocol):
    """What :func:`place` needs of a tab as it is now (a grid, an openpyxl sheet …)."""

    def header_row(self) -> Sequence[CellValue]: ...

    def last_row(self) -> int: ...  # the last row holding anything (1 when only the header)

    def column_values(self, column: int) -> Sequence[CellValue]: ...  # rows 2..last_row of a column

    def value(self, row: int, column: int) -> CellValue: ...


@dataclass
class Placement:
    """A tab's changes resolved to positions in the sheet as it is now (1-based rows and columns)."""

    sets: dict[tuple[int, int], CellValue] = field(default_factory=dict)
    deletes: list[int] = field(default_factory=list)  # row numbers, ascending
    append_at: int = 0  # the row number of the first appended row
    appends: list[dict[int, CellValue]] = field(default_factory=list)  # column number -> value
    replace: list[dict[int, CellValue]] | None = None  # every data row anew (ReplaceRows)
    conflicts: list[WriteConflict] = field(default_factory=list)
    headers: dict[str, int] = field(default_factory=dict)  # header key -> column number

    @property
    def empty(self) -> bool:
        return not (self.sets or self.deletes or self.appends or self.replace is not None)


def header_positions(header_row: Sequence[CellValue]) -> dict[str, int]:
    """Header key -> 1-based column number; a repeated header resolves to its leftmost column."""
    out: dict[str, int] = {}
    for i, h in enumerate(header_row, start=1):
        k = header_key(h)
        if k and k not in out:
            out[k] = i
    return out


def place(ref: SheetRef, view: SheetView, changes: Sequence[Change]) -> Placement:
    """Resolve one tab's SetCell / DeleteRow / AppendRows / ReplaceRows against the sheet now.

    A key that no longer names exactly one row, a header no longer there, or a cell that no longer
    holds the expected value → a WriteConflict and nothing written for that cell (or row).
    Columns are never created here: only EnsureSheet adds schema columns.

    Long (~135 lines) on purpose: every backend's write goes through this one resolution, and each
    kind of change is checked against the same view of the sheet in one pass; split per kind, the
    rows one change moves (a delete, an append) would have to be threaded through the others.
    """
    out = Placement(headers=header_positions(view.header_row()))
    headers = out.headers
    last = view.last_row()
    rows_by_key: dict[str, dict[str, list[int]]] = {}

    def rows_of(at: RowKey) -> list[int]:
        kc = header_key(at.column)
        index = rows_by_key.get(kc)
        if index is None:
            index = rows_by_key[kc] = {}
            col = headers.get(kc)
            if col is not None:
                for r, v in enumerate(view.column_values(col), start=2):
                    k = id_key(v)
                    if k:
                        index.setdefault(k, []).append(r)
        return index.get(id_key(at.key), [])

    def holds(r: int, expected: Mapping[str, CellValue]) -> bool:
        return all(
            cell_equal(view.value(r, headers[header_key(n)]), v)
            for n, v in expected.items()
            if header_key(n) in headers
        )

    def find(ch: SetCell | DeleteRow, wanted: CellValue) -> int | None:
        assert isinstance(ch.at, RowKey)
        column = ch.column if isinstance(ch, SetCell) else ""
        if header_key(ch.at.column) not in headers:
            out.conflicts.append(
                WriteConflict(ch.ref, ch.at.key, column, wanted, None, f"見出し「{ch.at.column}」の列がありません")
            )
            return None
        found = rows_of(ch.at)
        if len(found) > 1 and isinstance(ch, DeleteRow) and ch.expected:
            # a repeated key: the row meant is the one that still holds what the job read
            matching = [r for r in found if holds(r, ch.expected)]
            found = matching if len(matching) == 1 else found
        if len(found) != 1:
            why = (
                "その行が見つかりません（削除されたか、キーが書き換えられました）"
                if not found
                else (f"同じ{ch.at.column}の行が{len(found)}行あります")
            )
            out.conflicts.append(WriteConflict(ch.ref, ch.at.key, column, wanted, None, why))
            return None
        return found[0]

    checked: set[int] = set()  # (ids of the RowAt already vouched for: one per row, shared by its cells)

    def vouched(ch: SetCell, at: RowAt) -> int:
        if id(at) in checked:
            return at.number
        if not 2 <= at.number <= last or not holds(at.number, dict(at.holds)):
            raise StoreError(
                f"シート「{ch.ref.sheet}」の{at.number}行目が、読み込んだ後に書き換えられたか並べ替えられていました。"
                "このシートはツールだけが書き込むシートです（編集しないでください）。"
                "このブックには何も書き込んでいません。もう一度実行すると、読み直して続けます。"
            )
        checked.add(id(at))
        return at.number

    deleting: set[int] = set()
    columns: dict[str, int | None] = {}  # a row's header as written in the plan -> column number
    for ch in changes:
        if isinstance(ch, SetCell):
            col = headers.get(header_key(ch.column))
            if col is None:
                why = f"見出し「{ch.column}」の列がありません"
                out.conflicts.append(WriteConflict(ch.ref, ch.at.key, ch.column, ch.value, None, why))
                continue
            r = vouched(ch, ch.at) if isinstance(ch.at, RowAt) else find(ch, ch.value)
            if r is None:
                continue
            now = view.value(r, col)
            if not isinstance(ch.expected, _Unchecked) and not cell_equal(now, ch.expected):
                out.conflicts.append(
                    WriteConflict(ch.ref, ch.at.key, ch.column, ch.value, now, "読み込んだ後に書き換えられていました")
                )
                continue
            out.sets[(r, col)] = ch.value
        elif isinstance(ch, DeleteRow):
            r = find(ch, None)
            if r is None:
                continue
            changed = [name for name, value in ch.expected.items() if not holds(r, {name: value})]
            if changed:
                out.conflicts.append(
                    WriteConflict(
                        ch.ref,
                        ch.at.key,
                        "",
                        None,
                        None,
                        f"読み込んだ後に「{'」「'.join(changed)}」が書き換えられたため、行を削除しませんでした",
                    )
                )
                continue
            deleting.add(r)
        elif isinstance(ch, AppendRows | ReplaceRows):
            rows: list[dict[int, CellValue]] = []
            missing: set[str] = set()
            taken: set[str] = set()
            unique = ch.unique if isinstance(ch, AppendRows) else None
            if unique and header_key(unique) in headers:
                rows_of(RowKey(unique, ""))  # indexes the key column as the sheet holds it now
                taken = set(rows_by_key[header_key(unique)])
            for values in ch.rows:
                key = id_key(values.get(unique)) if unique else ""
                if key and key in taken:
                    why = f"同じ{unique}の行が書き込む前に入力されていたため、この行は追加しませんでした"
                    out.conflicts.append(WriteConflict(ch.ref, key, "", None, None, why))
                    continue
                if key:
                    taken.add(key)
                row: dict[int, CellValue] = {}
                for name, v in values.items():
                    col = columns.get(name, 0)
                    if col == 0:  # (each header looked up once, not once per cell of every row)
                        col = columns[name] = headers.get(header_key(name))
                    if col is None:
                        if not is_blank(v):
                            missing.add(name)
                        continue
                    row[col] = v
                rows.append(row)
            if missing:
                names = "」「".join(sorted(missing))
                out.conflicts.append(
                    WriteConflict(ch.ref, "", "", None, None, f"見出し「{names}」の列がないため行を追加しませんでした")
                )
                continue
            if isinstance(ch, ReplaceRows):
                out.replace = rows
                out.appends = []
            else:
                out.appends.extend(rows)
    out.deletes = sorted(deleting)
    for r in out.deletes:
        for rc in [rc for rc in out.sets if rc[0] == r]:
            del out.sets[rc]
    out.append_at = last + 1 - len([r for r in out.deletes if r <= last])
    return out


def place_marks(view: SheetView, ch: MarkCells) -> dict[tuple[int, int], str]:
    """The cells a MarkCells names, as (row, column number) in the sheet now; unknown keys left out."""
    headers = header_positions(view.header_row())
    rows: dict[str, list[int]] = {}
    if ch.key_column is not None:
        col = headers.get(header_key(ch.key_column))
        for r, v in enumerate(view.column_values(col) if col else [], start=2):
            k = id_key(v)
            if k:
                rows.setdefault(k, []).append(r)
    out: dict[tuple[int, int], str] = {}
    for (key, column), note in ch.marks.items():
        c = headers.get(header_key(column))
        if c is None:
            continue
        number = key[1:] if key.startswith("#") else key if ch.key_column is None else ""
        found = [int(number)] if number.isdigit() else rows.get(id_key(key), [])
        for r in found:  # a repeated key is marked on each of its rows
            out[(r, c)] = note
    return out


@dataclass
class GridView:
    """A :class:`SheetView` over a grid of rows (row 1 = header), as memory and Sheets hold tabs."""

    grid: list[list[CellValue]]

    def header_row(self) -> Sequence[CellValue]:
        return self.grid[0] if self.grid else []

    def last_row(self) -> int:
        last = len(self.grid)
        while last > 1 and all(is_blank(c) for c in self.grid[last - 1]):
            last -= 1
        return max(last, 1)

    def column_values(self, column: int) -> Sequence[CellValue]:
        return [row[column - 1] if column - 1 < len(row) else None for row in self.grid[1 : self.last_row()]]

    def value(self, row: int, column: int) -> CellValue:
        if row - 1 >= len(self.grid):
            return None
        cells = self.grid[row - 1]
        return cells[column - 1] if column - 1 < len(cells) else None


def apply_placement(grid: list[list[CellValue]], p: Placement) -> None:
    """Carry out a placement on a grid in place (memory, and Sheets' picture of what it writes)."""

    def put(r: int, c: int, v: CellValue) -> None:
        while len(grid) < r:
            grid.append([])
        row = grid[r - 1]
        while len(row) < c:
            row.append(None)
        row[c - 1] = v

    for (r, c), v in p.sets.items():
        put(r, c, v)
    for r in reversed(p.deletes):
        if 2 <= r <= len(grid):
            del grid[r - 1]
    if p.replace is not None:
        del grid[1:]
        rows, start = p.replace, 2
    else:
        del grid[GridView(grid).last_row() :]
        rows, start = p.appends, len(grid) + 1
    for i, values in enumerate(rows):
        grid.append([])
        for c, v in values.items():
            put(start + i, c, v)


class Reading:
    """Tabs asked for together and taken one at a time (:meth:`Store.read_ahead`). A backend may go on
    reading the next tabs while the caller works on the ones it has; :meth:`get` waits for its tab.
    A book that cannot be read raises its StoreError from :meth:`get` of its tabs, not from the
    others'. Use it as a context manager (or :meth:`close` it): reading stops when it closes."""

    def __init__(
        self,
        refs: Sequence[SheetRef],
        tables: Mapping[SheetRef, Table | None],
        errors: Mapping[str | None, StoreError],
    ) -> None:
        self.asked = tuple(dict.fromkeys(refs))
        self._tables = tables
        self._errors = errors

    def get(self, ref: SheetRef) -> Table | None:
        """The tab (None if the book has no such tab); a KeyError for a tab not asked for."""
        if ref.book in self._errors:
            raise self._errors[ref.book]
        return self._tables[ref]

    def close(self) -> None:
        pass

    def __enter__(self) -> Reading:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    def create_book(self, book: str | None, sheets: Sequence[Sheet], *, share_with: str = "") -> None:
        """Create a book with these tabs (headers, dropdowns, formats). Refuses to overwrite.
        ``share_with``: the address of whom a department book is for; a backend that shares books
        (Sheets, with gsheets.share_departments) shares the book it creates with them."""

    def book_version(self, book: str | None) -> str | None:
        """A token that changes whenever the book changes (mtime, revision); None if unknown."""
        return None

    def book_versions(self, books: Sequence[str | None], *, tabs: Sequence[str] = ()) -> dict[str | None, str | None]:
        """Change tokens of several books at once, as cheaply as the backend can (a stat per file,
        one Drive listing): a token differs whenever the book changed; None when the book is missing.
        ``tabs`` names the register tabs the caller depends on: a backend whose register also changes
        for reasons of its own (the Sheets lock log) answers for those tabs only."""
        return {b: self.book_version(b) for b in dict.fromkeys(books)}

    def own_versions(self, seen: Mapping[str | None, str], *, tabs: Sequence[str] = ()) -> dict[str | None, str | None]:
        """For books this store wrote, the token :meth:`book_versions` would give for the book exactly
        as its own last write left it — but only where the book was still at the version ``seen``
        (taken before the job read it) when that write began: a person's save between the job's read
        and its write is merged into the write, and must not pass for the job's own. None where the
        backend cannot vouch for it."""
        return dict.fromkeys(seen)

    # Where a book's version is a digest of the values read (the Sheets register), it need not be
    # looked at before reading: :meth:`read_version` gives it from the read itself.
    versions_from_reads: bool = False

    def changed_by_someone_else(self, book: str | None) -> bool:
        """Whether the book's version (as :meth:`book_version` last gave it) says that its last change
        was made by someone other than this program's own account (Drive's lastModifyingUser): a
        person typed in it after this program's last write. False when the backend cannot tell."""
        return False

    def read_version(self, book: str | None, *, tabs: Sequence[str] = ()) -> str | None:
        """The token :meth:`book_versions` would give for the book as this store last read these tabs
        (no request); None where the backend's versions do not come from reads."""
        return None

    def record_dir(self) -> Path | None:
        """Where the tool keeps small records of its own beside the books; None: in memory only."""
        return None

    def load_record(self, name: str) -> dict[str, Any] | None:
        """A record saved by :meth:`save_record` (None if there is none or it cannot be read)."""
        folder = self.record_dir()
        if folder is None:
            return self.__dict__.get("_records", {}).get(name)
        try:
            data = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def save_record(self, name: str, data: Mapping[str, Any] | None) -> None:
        """Keep (or, with None, empty) a small JSON record; written atomically; best effort."""
        folder = self.record_dir()
        if folder is None:
            records: dict[str, Any] = self.__dict__.setdefault("_records", {})
            if data is None:
                records.pop(name, None)
            else:
                records[name] = json.loads(json.dumps(data))
            return
        path = folder / f"{name}.json"
        with contextlib.suppress(OSError):
            if data is None:
                if path.exists():  # emptied, not deleted: the file keeps the mode the desk gave it
                    atomic_write(path, b"{}")
                return
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(data, ensure_ascii=False).encode("utf-8"))  # keeps modes like every file

    def busy_owner(self, book: str | None) -> str | None:
        """Who has the book open where writing it now would be lost (Excel owner file), else None."""
        return None

    def display_name(self, book: str | None) -> str:
        """How messages name a book."""
        return "台帳" if book is None else book

    @abstractmethod
    def _hold_lock(
        self, name: str, *, ttl_seconds: float, wait_seconds: float
    ) -> contextlib.AbstractContextManager[None]:
        """Hold a named lock stored with the register; BusyError if another holder's lock is alive."""

    @contextlib.contextmanager
    def lock(self, name: str = WRITE_LOCK, *, ttl_seconds: float, wait_seconds: float = 0) -> Iterator[None]:
        """Hold a named lock; taken again inside itself (``run`` → ``sync``) it is simply kept."""
        held: dict[tuple[int, str], int] = self.__dict__.setdefault("_held_locks", {})
        me = (threading.get_ident(), name)  # per thread: another thread is another holder
        if held.get(me):
            held[me] += 1
            try:
                yield
            finally:
                held[me] -= 1
            return
        with self._hold_lock(name, ttl_seconds=ttl_seconds, wait_seconds=wait_seconds):
            held[me] = 1
            try:
                yield
            finally:
                held.pop(me, None)

    def read_one(self, ref: SheetRef) -> Table | None:
        return self.read([ref])[ref]

    def read_ahead(self, refs: Sequence[SheetRef]) -> Reading:
        """Start reading these tabs; take each with :meth:`Reading.get` when it is needed. This
        default reads them all now in one :meth:`read` (which may read books side by side), and if a
        book cannot be read, one read per book, so that a broken book is that book's error only; a
        backend that can read while its caller works overrides it."""
        try:
            return Reading(refs, self.read(refs), {})
        except StoreError:
            pass
        tables: dict[SheetRef, Table | None] = {}
        errors: dict[str | None, StoreError] = {}
        for book in dict.fromkeys(r.book for r in refs):
            try:
                tables.update(self.read([r for r in refs if r.book == book]))
            except StoreError as e:
                errors[book] = e
        return Reading(refs, tables, errors)
