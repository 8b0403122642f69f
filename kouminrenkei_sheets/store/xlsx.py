"""The xlsx backend: the register and department workbooks as .xlsx files on a (shared) folder.

Reads are fast (calamine); writes rewrite only the worksheet parts a batch changes
(:mod:`.xlsxpatch`), or, for the changes that module leaves alone, load the whole workbook with
openpyxl so formatting, formulas and columns the tool does not own survive. Either way the file is
replaced atomically (temp file + rename).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import re
import socket
import threading
import time
import weakref
import zipfile
from collections.abc import Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from filelock import FileLock, Timeout
from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from python_calamine import CalamineWorkbook

from ..errors import BusyError, StoreError, WorkbookBusyError
from ..files import atomic_write
from ..schema import (
    CHOICE_LISTS,
    CHOICES,
    Column,
    Owner,
    Sheet,
    ValueType,
    is_department_sheet,
)
from .base import (
    MARK_FILL,
    TOOL_AUTHOR,
    ApplyResult,
    CellValue,
    Change,
    EnsureSheet,
    MarkCells,
    Placement,
    Reading,
    SheetRef,
    Store,
    Table,
    WriteConflict,
    busy_message,
    group_by_book,
    group_by_sheet,
    header_key,
    place,
    place_marks,
    table_from_grid,
)
from .cells import DATE_FORMAT, DATETIME_FORMAT, set_cell_value
from .export import print_setup
from .ooxml import unescape_text, unknown_cells
from .xlsxpatch import OPEN_ROWS, PatchedBook, Unsupported, owner_locks, sheet_parts

HEADER_FILL = PatternFill("solid", fgColor="FFDDEBF7")
DESK_HEADER_FILL = PatternFill("solid", fgColor="FFE7E6E6")
MARK = PatternFill("solid", fgColor=MARK_FILL)
NO_FILL = PatternFill(fill_type=None)
STATE_DIR = ".kouminrenkei"  # the tool's own files beside the register (locks)
CHOICE_ROWS = 300  # how far down the 選択肢 lists may grow and still feed the dropdowns
# OPEN_ROWS (from xlsxpatch): empty rows below a department sheet's last referral whose answer cells
# are unlocked ahead of time: programs that ignore a column's style (some viewers, imports) still
# let staff type there.
OWNER_STALE_HOURS = 12  # the default of store.owner_file_stale_hours
OWN_COLUMNS = 20  # columns right of the schema's, unlocked for the notes staff add
LOCKED = Protection(locked=True)
UNLOCKED = Protection(locked=False)
_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


# ---------------------------------------------------------------- owner file (Excel has it open)
def owner_file(path: Path) -> Path:
    """Excel's lock file beside an open workbook: ``~$`` + the name (first two characters replaced
    for long names by some versions, so both forms are checked by :func:`find_owner_file`)."""
    return path.with_name("~$" + path.name)


def find_owner_file(path: Path) -> Path | None:
    for candidate in (path.with_name("~$" + path.name), path.with_name("~$" + path.name[2:])):
        if candidate.exists() and candidate != path:
            return candidate
    return None


def read_owner_name(owner: Path) -> str:
    """The user name Excel writes in its owner file (ANSI copy first, UTF-16 copy at byte 54); "" if none."""
    try:
        data = owner.read_bytes()
    except OSError:
        return ""
    name = ""
    if len(data) > 56 and data[54]:
        n = data[54]
        with contextlib.suppress(UnicodeDecodeError):
            name = data[56 : 56 + 2 * n].decode("utf-16-le")
    if not name and data:
        n = data[0]
        for enc in ("utf-8", "cp932"):
            try:
                name = data[1 : 1 + n].decode(enc)
                break
            except UnicodeDecodeError:
                continue
    return name.strip().strip("\x00").strip()


def _age_text(seconds: float) -> str:
    hours = int(seconds // 3600)
    return f"{hours // 24}日" if hours >= 48 else f"{max(hours, 1)}時間"


def owner_file_notice(book_name: str, owner: Path, *, stale_hours: float, now: float | None = None) -> tuple[str, str]:
    """What to tell a person about an owner file: (the whole sentence, a short reason for a summary).

    Excel deletes its owner file when it closes the workbook; one left by a crash or a lost network
    connection stays forever. So an old one is named as probably stale, with how to remove it, but
    the tool still does not write: only a person can tell that nobody has the book open.
    """
    name = read_owner_name(owner)
    who = f"{name} さん" if name else "だれか"
    unnamed = "" if name else f"（所有者ファイル {owner.name} に利用者名が書かれていません）"
    try:
        age = (time.time() if now is None else now) - owner.stat().st_mtime
    except OSError:
        age = 0.0
    if stale_hours > 0 and age >= stale_hours * 3600:
        when = _age_text(age)
        return (
            f"{book_name} には {when}前に作られた Excel の所有者ファイル {owner} があります{unnamed}。"
            "Excel が異常終了して残ったものかもしれません。だれも開いていないことを確かめてから、"
            "このファイルを削除して再実行してください（エクスプローラーでは隠しファイルです）。"
            "削除されるまでは書き込みません。",
            f"{who}が開いています（{when}前からの所有者ファイル {owner.name}。残っただけなら削除してください）",
        )
    return (
        f"{book_name} は {who}が Excel で開いているため書き込めません{unnamed}。閉じてから再実行してください。",
        f"{who}が開いています",
    )


def write_owner_file(path: Path, user: str) -> Path:
    """Write an owner file the way Excel does (used by tests and by the demo)."""
    owner = owner_file(path)
    ansi = user.encode("cp932", errors="replace")[:53]
    data = bytes([len(ansi)]) + ansi
    data = data.ljust(54, b" ")
    wide = user.encode("utf-16-le")
    data += bytes([len(user), 0]) + wide
    owner.write_bytes(data.ljust(165, b"\x00"))
    return owner


# ---------------------------------------------------------------- formatting a sheet from the schema
def _validation_for(column: Column, col_letter: str, choice_refs: dict[str, str] | None) -> DataValidation | None:
    if column.type not in (ValueType.CHOICE, ValueType.MULTI_CHOICE) or not column.choices:
        return None
    if choice_refs and column.choices in choice_refs:
        formula = choice_refs[column.choices]
    else:
        joined = ",".join(CHOICE_LISTS[column.choices])
        if len(joined) > 250:
            return None
        formula = f'"{joined}"'
    multi = column.type is ValueType.MULTI_CHOICE
    dv = DataValidation(
        type="list",
        formula1=formula,
        allow_blank=True,
        showDropDown=False,  # (sic) False means: show the arrow
        showErrorMessage=not multi,  # several values may be typed in a multi-choice cell
        errorStyle="warning",
        errorTitle="選択肢にない値",
        error=f"「{column.name}」は選択肢（{column.choices}）から選んでください。",
        promptTitle=column.name if multi else None,
        prompt="複数選ぶときは「、」で区切って入力してください。" if multi else None,
        showInputMessage=multi,
    )
    dv.add(f"{col_letter}2:{col_letter}1048576")
    return dv


def format_sheet(ws: Worksheet, sheet: Sheet, *, choice_refs: dict[str, str] | None, protect: bool) -> None:
    """Headers, widths, date formats, dropdowns, frozen header; department tabs get locked desk columns."""
    for i, column in enumerate(sheet.columns, start=1):
        letter = get_column_letter(i)
        cell = ws.cell(row=1, column=i, value=column.name)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        cell.fill = DESK_HEADER_FILL if protect and column.owner is Owner.DESK else HEADER_FILL
        if column.note:
            cell.comment = Comment(column.note, "公民連携デスク")
        dim = ws.column_dimensions[letter]
        dim.width = column.width + 2
        if column.type is ValueType.DATE:
            dim.number_format = DATE_FORMAT
        elif column.type is ValueType.DATETIME:
            dim.number_format = DATETIME_FORMAT
        elif column.type in (ValueType.PHONE, ValueType.CORPORATE_NUMBER, ValueType.ID):
            dim.number_format = "@"  # keep leading zeros
        if protect:
            dim.protection = LOCKED if column.owner is Owner.DESK else UNLOCKED
        dv = _validation_for(column, letter, choice_refs)
        if dv is not None:
            ws.add_data_validation(dv)
    ws.freeze_panes = "B2" if sheet.key else "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(sheet.columns))}1"
    print_setup(ws)
    if protect:
        # Desk-owned columns locked; answers, and columns staff add on the right, stay editable.
        for i in range(len(sheet.columns) + 1, len(sheet.columns) + 1 + OWN_COLUMNS):
            ws.column_dimensions[get_column_letter(i)].protection = UNLOCKED
        ws.protection.sheet = True
        ws.protection.formatColumns = False
        ws.protection.formatCells = False
        ws.protection.insertColumns = False
        ws.protection.sort = False
        ws.protection.autoFilter = False
        settle_protection(ws)
    if sheet.hidden:
        ws.sheet_state = "hidden"


def cell_locks(ws: Worksheet) -> dict[int, bool] | None:
    """Column number -> locked, for the schema's columns of a protected department sheet; None elsewhere.

    Excel decides by the *cell's* style whether a cell of a protected sheet may be typed in (the
    column's style only counts for cells that do not exist yet), so every cell the tool writes there
    carries its own: desk-owned columns locked, the department's answer columns unlocked. Columns
    are found by header, wherever the department moved them.
    """
    if not ws.protection.sheet:
        return None
    return owner_locks(_headers(ws))


def settle_protection(ws: Worksheet, locks: dict[int, bool] | None = None) -> None:
    """Every referral row, and :data:`OPEN_ROWS` empty rows below, locked or unlocked by owner."""
    locks = cell_locks(ws) if locks is None else locks
    if not locks:
        return
    last = _last_row(ws)
    for col, locked in locks.items():
        for row in range(2, last + 1 + OPEN_ROWS):
            cell = ws._cells.get((row, col))
            if cell is None:
                if locked:
                    continue  # no cell: the column's style (locked) applies
                cell = ws.cell(row=row, column=col)
            if cell.protection.locked != locked:
                cell.protection = LOCKED if locked else UNLOCKED


def choice_refs_for(sheet_names: Sequence[str]) -> dict[str, str] | None:
    """Dropdown sources in the 選択肢 tab, when the book has one."""
    if CHOICES not in sheet_names:
        return None
    refs = {}
    for i, name in enumerate(CHOICE_LISTS, start=1):
        letter = get_column_letter(i)
        refs[name] = f"{CHOICES}!${letter}$2:${letter}${CHOICE_ROWS}"
    return refs


def build_workbook(sheets: Sequence[Sheet]) -> Workbook:
    """A new workbook with these tabs formatted from the schema (the 選択肢 tab filled in)."""
    wb = Workbook()
    wb.remove(wb.active)
    refs = choice_refs_for([s.name for s in sheets])
    for sheet in sheets:
        ws = wb.create_sheet(sheet.name)
        format_sheet(ws, sheet, choice_refs=refs, protect=is_department_sheet(sheet))
        if sheet.name == CHOICES:
            for c, values in enumerate(CHOICE_LISTS.values(), start=1):
                for r, v in enumerate(values, start=2):
                    ws.cell(row=r, column=c, value=v)
    return wb


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def atomic_save(wb: Workbook, path: Path, *, unchanged_since: tuple[int, int] | None = None) -> bool:
    """Save next to the target and rename over it (:func:`files.atomic_write`), so a crash never
    leaves half a file and the file keeps who may open it.

    With ``unchanged_since`` (the file's mtime and size when it was loaded) the file is replaced
    only if nobody saved it meanwhile; False means it was left alone.
    """
    return _replace_file(path, wb.save, unchanged_since=unchanged_since)


def _replace_file(path: Path, writer: Any, *, unchanged_since: tuple[int, int] | None) -> bool:
    check = None if unchanged_since is None else (lambda: _stat(path) == unchanged_since)
    try:
        return atomic_write(path, writer, unchanged=check)
    except PermissionError:
        raise StoreError(f"{path} に書き込めません（他のプログラムが使用中か、権限がありません）。") from None
    except OSError as e:
        raise StoreError(f"{path} に書き込めません: {e.strerror or e}") from None


# ---------------------------------------------------------------- reading the tool's notes fast
def _read_marks(archive: zipfile.ZipFile, sheet_path: str) -> dict[tuple[int, int], str]:
    """Notes written by the tool on one sheet: (row, column number) -> text, straight from the zip."""
    rels_path = posixpath.join(posixpath.dirname(sheet_path), "_rels", posixpath.basename(sheet_path) + ".rels")
    try:
        rels = ElementTree.fromstring(archive.read(rels_path))
    except KeyError:
        return {}
    out: dict[tuple[int, int], str] = {}
    for rel in rels.iter(f"{_REL_NS}Relationship"):
        if not rel.get("Type", "").endswith("/comments"):
            continue
        target = rel.get("Target", "")
        target = (
            target.lstrip("/")
            if target.startswith("/")
            else posixpath.normpath(posixpath.join(posixpath.dirname(sheet_path), target))
        )
        try:
            root = ElementTree.fromstring(archive.read(target))
        except KeyError:
            continue
        authors = [a.text or "" for a in root.iterfind("m:authors/m:author", _NS)]
        for comment in root.iterfind("m:commentList/m:comment", _NS):
            author_id = int(comment.get("authorId", "0"))
            if author_id >= len(authors) or authors[author_id] != TOOL_AUTHOR:
                continue
            m = re.fullmatch(r"([A-Z]+)(\d+)", comment.get("ref", ""))
            if not m:
                continue
            text = "".join(t.text or "" for t in comment.iter(f"{{{_NS['m']}}}t"))
            out[(int(m.group(2)), column_index_from_string(m.group(1)))] = text
    return out


class XlsxStore(Store):
    """The register at ``register`` and department books relative to ``base_dir``."""

    backend = "xlsx"

    def __init__(
        self,
        register: Path | str,
        *,
        base_dir: Path | str | None = None,
        owner_stale_hours: float = OWNER_STALE_HOURS,
    ) -> None:
        self.register = Path(register)
        self.owner_stale_hours = owner_stale_hours  # an Excel owner file older than this is probably stale
        self.base_dir = Path(base_dir) if base_dir is not None else self.register.parent
        self.saves = 0  # how many files this store wrote (tests assert "wrote nothing")
        self._saved: dict[str | None, tuple[str, str | None]] = {}  # book -> versions around our save
        # tabs as last read, with the file's (mtime, size) then: while the file is unchanged, a write
        # resolves its plan against them instead of decoding the worksheet again
        self._read_tabs: dict[tuple[str | None, str], tuple[tuple[int, int], weakref.ref[Table]]] = {}

    # -- locating books
    def path(self, book: str | None) -> Path:
        if book is None:
            return self.register
        p = Path(book).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def display_name(self, book: str | None) -> str:
        if book is None:
            return f"台帳（{self.register.name}）"
        return book

    def book_exists(self, book: str | None) -> bool:
        return self.path(book).is_file()

    def book_version(self, book: str | None) -> str | None:
        try:
            st = self.path(book).stat()
        except OSError:
            return None
        return f"{st.st_mtime_ns}:{st.st_size}"

    def own_versions(self, seen: Mapping[str | None, str], *, tabs: Sequence[str] = ()) -> dict[str | None, str | None]:
        """The file's mtime and size taken the moment our save replaced it, if the file we loaded to
        write was the one the job had seen."""
        out: dict[str | None, str | None] = {}
        for book, version in seen.items():
            before, after = self._saved.get(book, ("", None))
            out[book] = after if before == version else None
        return out

    def record_dir(self) -> Path | None:
        return self.state_dir() / f"{self.register.name}.records"

    def busy_owner(self, book: str | None) -> str | None:
        owner = find_owner_file(self.path(book))
        return read_owner_name(owner) if owner else None

    def _busy_notice(self, book: str | None) -> tuple[str, str] | None:
        owner = find_owner_file(self.path(book))
        if owner is None:
            return None
        return owner_file_notice(self.display_name(book), owner, stale_hours=self.owner_stale_hours)

    def _missing(self, book: str | None) -> StoreError:
        what = "台帳" if book is None else "担当課のブック"
        return StoreError(f"{what} {self.path(book)} が見つかりません（kouminrenkei init で作成できます）。")

    # -- reading
    def _open_read(self, book: str | None) -> Any:
        path = self.path(book)
        if not path.is_file():
            raise self._missing(book)
        try:
            return load_workbook(path, read_only=True, data_only=True)
        except PermissionError:
            raise self._unreadable(path) from None
        except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError):
            raise StoreError(f"{path} は Excel ブック（.xlsx）として読めません。") from None

    def read(self, refs: Sequence[SheetRef]) -> dict[SheetRef, Table | None]:
        with _Pipeline(self, refs, threaded=False) as reading:
            return {ref: reading.get(ref) for ref in refs}

    def read_ahead(self, refs: Sequence[SheetRef]) -> Reading:
        """calamine parses the books' tabs in turn on a thread of its own (its compiled parse lets go of
        the interpreter), while the caller turns the tabs parsed so far into tables and checks them."""
        return _Pipeline(self, refs, threaded=True)

    def _opened(self, ref: SheetRef, version: tuple[int, int] | None, table: Table | None) -> None:
        """Remember a tab as read (with the file's version then), for a write that follows."""
        if table is not None and version is not None:
            self._read_tabs[(ref.book, ref.sheet)] = (version, weakref.ref(table))

    def _unreadable(self, path: Path) -> StoreError:
        return StoreError(f"{path} を開けません（他のプログラムが使用中か、権限がありません）。")

    def _as_read(self, book: str | None, version: tuple[int, int] | None) -> dict[str, Table]:
        """The tabs of a book last read when the file was at ``version`` (it has not changed since)."""
        out = {}
        for (b, sheet), (seen, ref) in list(self._read_tabs.items()):
            table = ref()
            if table is None:
                del self._read_tabs[(b, sheet)]
            elif b == book and seen == version:
                out[sheet] = table
        return out

    def _read_openpyxl(self, book: str | None, refs: Sequence[SheetRef]) -> dict[SheetRef, Table | None]:
        out: dict[SheetRef, Table | None] = {}
        wb = self._open_read(book)
        try:
            for ref in refs:
                if ref.sheet not in wb.sheetnames:
                    out[ref] = None
                    continue
                ws = wb[ref.sheet]
                grid = [
                    [unescape_text(v) if isinstance(v, str) else v for v in r] for r in ws.iter_rows(values_only=True)
                ]
                _overlay_unknown(grid, unknown_cells(wb._archive.read(ws._worksheet_path)))
                table = table_from_grid(ref, grid, hidden=ws.sheet_state != "visible")
                _attach_marks(table, _read_marks(wb._archive, ws._worksheet_path))
                out[ref] = table
        except (zipfile.BadZipFile, KeyError, ValueError, ElementTree.ParseError):
            raise StoreError(f"{self.path(book)} は Excel ブック（.xlsx）として読めません。") from None
        finally:
            wb.close()
        return out

    def sheet_names(self, book: str | None = None) -> list[str]:
        path = self.path(book)
        if not path.is_file():
            raise self._missing(book)
        try:  # the names from the workbook part alone: a tenth of what opening the book with openpyxl costs
            with zipfile.ZipFile(path) as archive:
                return list(sheet_parts(archive))
        except PermissionError:
            raise self._unreadable(path) from None
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, ElementTree.ParseError):
            pass  # (a book laid out another way, or not a book: openpyxl says which)
        wb = self._open_read(book)
        try:
            return list(wb.sheetnames)
        finally:
            wb.close()

    # -- writing
    def create_book(self, book: str | None, sheets: Sequence[Sheet], *, share_with: str = "") -> None:
        path = self.path(book)
        if path.exists():
            raise StoreError(f"{path} は既にあります。上書きはしません。")
        atomic_save(build_workbook(sheets), path)
        self.saves += 1

    def apply(self, changes: Sequence[Change], *, skip_busy: bool = False) -> ApplyResult:
        result = ApplyResult()
        grouped = group_by_book(changes)
        busy = {book: self._busy_notice(book) for book in grouped}
        if not skip_busy:
            for book, notice in busy.items():
                if notice is not None:
                    raise WorkbookBusyError(notice[0], path=str(self.path(book)), owner=self.busy_owner(book))
        for book, chs in grouped.items():
            notice = busy[book]
            if notice is not None:
                result.skipped[self.display_name(book)] = notice[1]
                continue
            conflicts, wrote = self._apply_book(book, chs)
            result.conflicts.extend(conflicts)
            if wrote:
                result.written.append(self.display_name(book))
        return result

    def _apply_book(self, book: str | None, changes: list[Change]) -> tuple[list[WriteConflict], bool]:
        """Load the book as it is now, resolve every change by key and header against it, save.

        Someone may save the file between our load and our save (a colleague's Excel, a job on
        another machine that does not share the lock folder): then the work is done again on what
        they saved, so their save is never replaced by ours.
        """
        path = self.path(book)
        for _attempt in range(5):
            if not path.is_file():
                raise self._missing(book)
            before = _stat(path)
            done = self._patch_book(path, book, changes, before)
            if done is None:  # a change only openpyxl makes: the whole book loaded and saved
                wb = self._load_for_write(path)
                conflicts, changed = self._edit_workbook(wb, book, changes)
                done = conflicts, changed, changed and atomic_save(wb, path, unchanged_since=before)
            conflicts, changed, saved = done
            if not changed:
                return conflicts, False
            if saved:
                self.saves += 1
                self._saved[book] = (f"{before[0]}:{before[1]}" if before else "", self.book_version(book))
                return conflicts, True
        raise StoreError(f"{path} は書き込む間に何度も別の人に保存されました。後で再実行してください。")

    def _patch_book(
        self, path: Path, book: str | None, changes: list[Change], before: tuple[int, int] | None
    ) -> tuple[list[WriteConflict], bool, bool] | None:
        """Write the changes by rewriting only the parts they touch (:mod:`.xlsxpatch`): (conflicts,
        anything to write, written); None when a change needs openpyxl (nothing written then)."""
        try:
            with zipfile.ZipFile(path) as archive:
                patched = PatchedBook(archive, book, changes, as_read=self._as_read(book, before))
                if not patched.changed:
                    return patched.conflicts, False, False
                return patched.conflicts, True, _replace_file(path, patched.writer(), unchanged_since=before)
        except Unsupported:
            return None
        except PermissionError:
            raise self._unreadable(path) from None
        except (zipfile.BadZipFile, KeyError, ValueError, ElementTree.ParseError, UnicodeDecodeError):
            return None  # openpyxl tells what it cannot read

    def _load_for_write(self, path: Path) -> Workbook:
        try:
            return load_workbook(path)
        except PermissionError:
            raise self._unreadable(path) from None
        except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError):
            raise StoreError(f"{path} は Excel ブック（.xlsx）として読めません。") from None

    def _edit_workbook(self, wb: Workbook, book: str | None, changes: list[Change]) -> tuple[list[WriteConflict], bool]:
        conflicts: list[WriteConflict] = []
        changed = False
        for name, sheet_changes in group_by_sheet(changes).items():
            for ch in sheet_changes:
                if isinstance(ch, EnsureSheet):
                    changed |= self._ensure_sheet(wb, ch)
            if name not in wb.sheetnames:
                raise StoreError(f"{self.display_name(book)} にシート「{name}」がありません。")
            ws = wb[name]
            edits = [c for c in sheet_changes if not isinstance(c, EnsureSheet | MarkCells)]
            if edits:
                placed = place(SheetRef(name, book), _WorksheetView(ws), edits)
                conflicts.extend(placed.conflicts)
                if not placed.empty:
                    _carry_out(ws, placed)
                    settle_protection(ws)
                    changed = True
            for ch in sheet_changes:
                if isinstance(ch, MarkCells):
                    changed |= _mark(ws, place_marks(_WorksheetView(ws), ch))
        return conflicts, changed

    def _ensure_sheet(self, wb: Workbook, ch: EnsureSheet) -> bool:
        if ch.ref.sheet in wb.sheetnames:
            ws = wb[ch.ref.sheet]
            have = {header_key(c.value) for c in ws[1] if c.value is not None}
            added = False
            for column in ch.sheet.columns:
                if header_key(column.name) not in have:
                    _column(ws, column.name)
                    added = True
            return added
        ws = wb.create_sheet(ch.ref.sheet)
        format_sheet(ws, ch.sheet, choice_refs=choice_refs_for(wb.sheetnames), protect=is_department_sheet(ch.sheet))
        if ch.hidden:
            ws.sheet_state = "hidden"
        return True

    def state_dir(self) -> Path:
        """Where the tool keeps its own files beside the register (the lock): one folder staff can ignore."""
        return self.register.parent / STATE_DIR

    @contextlib.contextmanager
    def _hold_lock(self, name: str, *, ttl_seconds: float, wait_seconds: float = 0) -> Iterator[None]:
        """A lock file in ``.kouminrenkei/`` beside the register holding its holder and expiry."""
        folder = self.state_dir()
        try:
            folder.mkdir(exist_ok=True)
        except OSError as e:
            raise StoreError(f"{folder} を作れません: {e.strerror or e}") from None
        lock_path = folder / f"{self.register.name}.{name}.lock"
        guard = FileLock(str(lock_path) + ".guard", timeout=10)
        me = {"host": socket.gethostname(), "pid": os.getpid(), "token": f"{time.time_ns()}"}
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                with guard:
                    holder = _read_lock(lock_path)
                    if holder is None or holder.get("expires", 0) < time.time():
                        _write_lock(lock_path, {**me, "expires": time.time() + ttl_seconds})
                        break
            except Timeout:
                holder = {"host": "?", "pid": "?"}
            if time.monotonic() >= deadline:
                who = f"{holder.get('host')} のプロセス {holder.get('pid')}" if holder else ""
                raise BusyError(busy_message(who))
            time.sleep(0.2)
        try:
            yield
        finally:
            with guard:
                holder = _read_lock(lock_path)
                if holder and holder.get("token") == me["token"]:
                    with contextlib.suppress(FileNotFoundError):
                        lock_path.unlink()


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_lock(path: Path, data: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(data).encode("utf-8"))


_HEADERS: weakref.WeakKeyDictionary[Worksheet, dict[str, int]] = weakref.WeakKeyDictionary()


def _headers(ws: Worksheet) -> dict[str, int]:
    """Header key -> column number, worked out once per sheet (``ws[1]`` scans every cell of the sheet)."""
    cached = _HEADERS.get(ws)
    if cached is None:
        cached = {}
        for cell in ws[1]:
            k = header_key(cell.value)
            if k and k not in cached:
                cached[k] = cell.column
        _HEADERS[ws] = cached
    return cached


def _next_free_column(ws: Worksheet) -> int:
    used = [c.column for c in ws[1] if c.value is not None and str(c.value).strip()]
    return (max(used) if used else 0) + 1


def _column(ws: Worksheet, name: str) -> int:
    headers = _headers(ws)
    found = headers.get(header_key(name))
    if found is not None:
        return found
    col = _next_free_column(ws)
    ws.cell(row=1, column=col, value=name).font = Font(bold=True)
    headers[header_key(name)] = col
    return col


def _last_row(ws: Worksheet) -> int:
    # One pass over the cells the sheet holds: ``ws[r]`` recomputes max_column on every call and
    # creates the cells it visits, which made appending quadratic in formatted empty rows.
    last = 1
    for (r, _), cell in ws._cells.items():
        if r > last:
            v = cell.value
            if v is not None and not (isinstance(v, str) and not v.strip()):
                last = r
    return last


class _WorksheetView:
    """A loaded openpyxl sheet as :func:`place` sees it."""

    def __init__(self, ws: Worksheet) -> None:
        self.ws = ws
        self._last: int | None = None

    def header_row(self) -> list[CellValue]:
        if self.ws.max_row < 1:
            return []
        return [v for v in next(self.ws.iter_rows(min_row=1, max_row=1, values_only=True))]

    def last_row(self) -> int:
        if self._last is None:
            self._last = _last_row(self.ws)
        return self._last

    def column_values(self, column: int) -> list[CellValue]:
        last = self.last_row()
        if last < 2:
            return []
        rows = self.ws.iter_rows(min_row=2, max_row=last, min_col=column, max_col=column, values_only=True)
        return [unescape_text(r[0]) if isinstance(r[0], str) else r[0] for r in rows]

    def value(self, row: int, column: int) -> CellValue:
        cell = self.ws._cells.get((row, column))  # (reading must not create cells)
        value = None if cell is None else cell.value
        return unescape_text(value) if isinstance(value, str) else value


def _carry_out(ws: Worksheet, placed: Placement) -> None:
    for (r, c), value in placed.sets.items():
        set_cell_value(ws.cell(row=r, column=c), value)
    for r in reversed(placed.deletes):
        ws.delete_rows(r)
    if placed.replace is not None:
        last = _last_row(ws)
        if last >= 2:
            ws.delete_rows(2, last - 1)
        rows, start = placed.replace, 2
    else:
        rows, start = placed.appends, _last_row(ws) + 1
    for i, values in enumerate(rows):
        for c, value in values.items():
            if value is not None:
                set_cell_value(ws.cell(row=start + i, column=c), value)


def _mark(ws: Worksheet, wanted: dict[tuple[int, int], str]) -> bool:
    """The tool's marks exactly on ``wanted``; a note someone else wrote, and its fill, stay."""
    changed = False
    for row in ws.iter_rows():
        for cell in row:
            comment = cell.comment
            if comment is not None and comment.author == TOOL_AUTHOR and (cell.row, cell.column) not in wanted:
                cell.comment = None
                changed = True
                if cell.fill is not None and cell.fill.fgColor is not None and cell.fill.fgColor.rgb == MARK_FILL:
                    cell.fill = NO_FILL
    for (row, col), note in wanted.items():
        cell = ws.cell(row=row, column=col)
        if cell.comment is not None and cell.comment.author != TOOL_AUTHOR:
            continue  # a person's own note on that cell: theirs, not ours to replace
        if cell.comment is None or cell.comment.text != note:
            c = Comment(note, TOOL_AUTHOR)
            c.width, c.height = 320, 120
            cell.comment = c
            changed = True
        if cell.fill is None or cell.fill.fill_type is None:  # a fill the person chose stays
            cell.fill = MARK
            changed = True
    return changed


TEMPLATE_NAMES = ("register.xlsx", "department.xlsx")
_FIXED_TIME = datetime(2025, 4, 1, 9, 0, 0)


def save_template(path: Path, sheets: Sequence[Sheet]) -> None:
    """Write a ready-made template (fixed document dates, so rebuilding changes nothing needlessly)."""
    wb = build_workbook(sheets)
    wb.properties.creator = "kouminrenkei-sheets"
    wb.properties.created = _FIXED_TIME
    wb.properties.modified = _FIXED_TIME
    atomic_save(wb, path)


def _attach_marks(table: Table, marks: dict[tuple[int, int], str]) -> None:
    for (r, c), note in marks.items():
        if 1 <= c <= len(table.headers) and header_key(table.headers[c - 1]):
            table.marks[(r, header_key(table.headers[c - 1]))] = note


def _calamine_value(v: Any) -> CellValue:
    """calamine's cell values in the shapes openpyxl gives: blanks None, whole numbers int."""
    if v == "" or v is None:
        return None
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    if isinstance(v, str | int | float | bool | date):
        return v
    return str(v)  # times and durations: shown as text, validated as such


# The types a cell of these columns is passed as it is, but for the empty text (a blank cell): None.
_PASSED = frozenset({str, date, datetime, bool, int})


def _calamine_rows(raw: list[list[Any]]) -> Sequence[Sequence[CellValue]]:
    """:func:`_calamine_value` of every cell, column by column: a column of text, dates and whole
    numbers (nearly all of them) needs only its blanks turned into None (and its text shared), one
    comprehension with no Python call per cell; a column with other values (floats, times) goes through
    it cell by cell."""
    if not raw or not raw[0] or any(len(row) != len(raw[0]) for row in raw):  # (ragged: only after an overlay)
        return [[v if v.__class__ is str and v else _calamine_value(v) for v in row] for row in raw]
    columns: list[list[CellValue]] = []
    # the same text in many cells (課, 回答, a proposal's 件名 on each of its referrals …) held once, not
    # once per cell: a large register's tables are a third smaller (only exact str: never an Unknown)
    shared: dict[str, str] = {}
    once = shared.setdefault
    for cells in zip(*raw, strict=True):
        kinds = set(map(type, cells))
        if kinds == {str}:
            columns.append([once(v, v) if v else None for v in cells])
        elif kinds <= _PASSED:
            columns.append([None if v == "" else once(v, v) if v.__class__ is str else v for v in cells])
        else:
            columns.append([v if v.__class__ is str and v else _calamine_value(v) for v in cells])
    return list(zip(*columns, strict=True))


def _overlay_unknown(grid: list[list[Any]], cells: dict[tuple[int, int], Any]) -> None:
    """Error cells and formulas without a stored result: read as what they are, never as blanks."""
    for (r, c), value in cells.items():
        while len(grid) < r:
            grid.append([])
        row = grid[r - 1]
        if len(row) < c:
            row.extend([None] * (c - len(row)))
        row[c - 1] = value


@dataclass
class _Parsed:
    """A tab calamine has parsed, waiting to be made a table (with what its XML says beside)."""

    sheet: Any  # python_calamine.CalamineSheet
    archive: zipfile.ZipFile  # the book as calamine read it (the same bytes)
    part: str | None  # its worksheet part in the zip
    hidden: bool

    def table(self, ref: SheetRef, said: _Said | None) -> Table:
        """The tab as a table; ``said``: what its XML says, if already looked at (see _Pipeline.get)."""
        raw = self.sheet.to_python(skip_empty_area=False)
        self.sheet = None
        unknown, marks = said if said is not None else _xml_says(self.archive, self.part)
        if unknown:  # (an Unknown is text, which the conversion passes as it is)
            _overlay_unknown(raw, unknown)
        # calamine's text is Rust strings, which cannot hold a lone surrogate: none to look for
        table = table_from_grid(ref, _calamine_rows(raw), hidden=self.hidden, no_surrogates=True)
        _attach_marks(table, marks)
        return table


# What a worksheet's XML says that calamine does not: its error cells and formulas without a result,
# and the tool's notes.
_Said = tuple[dict[tuple[int, int], Any], dict[tuple[int, int], str]]


def _xml_says(archive: zipfile.ZipFile, part: str | None) -> _Said:
    if not part:
        return {}, {}
    return unknown_cells(archive.read(part)), _read_marks(archive, part)


_END = object()  # (the end of the steps)


class _Fallback:
    """calamine could not read this book: openpyxl reads what is left of it."""


_FALLBACK = _Fallback()


class _Pipeline(Reading):
    """Tabs read in turn, book by book, in the order asked; :meth:`get` makes a parsed tab a table on
    the caller's thread, and a book calamine rejects is read with openpyxl.

    ``threaded``: a thread of its own parses the tabs with calamine (whose compiled parse lets go of the
    interpreter, so it runs beside the caller checking the tabs it has). Without it, :meth:`get` parses
    what it needs as it is asked: one parsed tab in memory at a time, as a read that only converts
    gains little from the thread and would keep the thread's allocations (a malloc arena of its own)."""

    def __init__(self, store: XlsxStore, refs: Sequence[SheetRef], *, threaded: bool) -> None:
        super().__init__(refs, {}, {})
        self._store = store
        self._refs = list(self.asked)
        self._parsed: dict[SheetRef, Future[_Parsed | _Fallback | None]] = {r: Future() for r in self._refs}
        self._done: dict[SheetRef, Table | None] = {}
        self._versions: dict[str | None, tuple[int, int] | None] = {}
        self._stop = threading.Event()
        self._zips: dict[str | None, tuple[zipfile.ZipFile, dict[str, str]]] = {}  # book -> its zip and parts
        self._said: dict[SheetRef, _Said] = {}
        self._ahead = 0  # how far _look_ahead has gone in the tabs asked
        self._steps = self._parse_all()
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run_steps, name="kouminrenkei-read", daemon=True)
            self._thread.start()

    # -- parsing, one step per tab (on the reading thread, or in get)
    def _run_steps(self) -> None:
        for _ in self._steps:
            pass

    def _parse_all(self) -> Generator[None, None, None]:
        for book in dict.fromkeys(r.book for r in self._refs):
            wanted = [r for r in self._refs if r.book == book]
            try:
                yield from self._parse_book(book, wanted)
            except Exception as e:  # (handed to whoever asks for these tabs)
                error = e if isinstance(e, StoreError) else StoreError(f"{self._store.path(book)} を読めません: {e}")
                for ref in wanted:
                    if not self._parsed[ref].done():
                        self._parsed[ref].set_exception(error)
            if self._stop.is_set():
                return

    def _parse_book(self, book: str | None, wanted: list[SheetRef]) -> Generator[None, None, None]:
        path = self._store.path(book)
        if not path.is_file():
            raise self._store._missing(book)
        try:
            # The file read once: calamine and the zip (error cells, notes) see the same version of it,
            # even if someone saves the book while its tabs are read.
            with path.open("rb") as f:
                st = os.fstat(f.fileno())
                data = f.read()
            self._versions[book] = (st.st_mtime_ns, st.st_size)
            workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
            try:
                visible = {m.name: str(m.visible).endswith("Visible") for m in workbook.sheets_metadata}
                archive = zipfile.ZipFile(io.BytesIO(data))
                parts = sheet_parts(archive)
                self._zips[book] = (archive, parts)  # (from here on the caller's only: see _look_ahead)
                for ref in wanted:
                    if self._stop.is_set():
                        raise StoreError("読み込みを中断しました。")
                    if ref.sheet not in visible:
                        self._parsed[ref].set_result(None)
                        continue
                    parsed = _Parsed(
                        workbook.get_sheet_by_name(ref.sheet), archive, parts.get(ref.sheet), not visible[ref.sheet]
                    )
                    self._parsed[ref].set_result(parsed)
                    del parsed  # (not kept here while the tab is converted and the next parsed)
                    yield
            finally:
                workbook.close()
        except PermissionError:
            raise self._store._unreadable(path) from None
        except StoreError:
            raise
        except Exception:  # calamine rejects some files openpyxl reads: the rest of this book goes that way
            for ref in wanted:
                if not self._parsed[ref].done():
                    self._parsed[ref].set_result(_FALLBACK)

    # -- on the caller's thread
    def get(self, ref: SheetRef) -> Table | None:
        if ref in self._done:
            return self._done[ref]
        future = self._parsed[ref]
        if self._thread is None:
            while not future.done() and next(self._steps, _END) is not _END:
                pass
        else:
            while not future.done() and self._look_ahead():
                pass
        parsed = future.result()
        if isinstance(parsed, _Parsed):
            try:
                table = parsed.table(ref, self._said.pop(ref, None))
            except Exception:  # (a cell calamine gives in a shape the conversion does not know)
                parsed = _FALLBACK
            else:
                self._keep({ref: table})
                return table
        if isinstance(parsed, _Fallback):
            rest = [r for r in self._refs if r.book == ref.book and r not in self._done]
            self._keep(self._store._read_openpyxl(ref.book, rest))
            return self._done[ref]
        self._done[ref] = None
        return None

    def _look_ahead(self) -> bool:
        """While the caller would wait for calamine, it reads what the XML of the next tabs says (the
        zip's part inflated and searched: work the parse leaves to this thread in any case). False when
        there is no such tab yet."""
        while self._ahead < len(self._refs):
            ref = self._refs[self._ahead]
            opened = self._zips.get(ref.book)
            if opened is None:
                return False  # (its book is not open yet: the ones after it neither)
            self._ahead += 1
            if ref in self._done or ref.sheet not in opened[1]:
                continue
            with contextlib.suppress(Exception):  # (said again, and dealt with, when the tab is made a table)
                self._said[ref] = _xml_says(opened[0], opened[1][ref.sheet])
            return True
        return False

    def _keep(self, tables: Mapping[SheetRef, Table | None]) -> None:
        for ref, table in tables.items():
            self._done[ref] = table
            self._store._opened(ref, self._versions.get(ref.book), table)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._steps.close()
