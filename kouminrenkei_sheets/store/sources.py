"""Read an outside table (a form's answers) as a :class:`Table`: a .csv, a .xlsx, or a Google Sheets tab.

Jobs such as intake name a source by a string; only this module knows how each kind is opened,
so openpyxl and gspread stay inside ``store/``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError, UsageError
from .base import CellValue, SheetRef, Table, table_from_grid

if TYPE_CHECKING:
    from ..config import Config
    from .base import Store

GSHEETS_PREFIX = "gsheets:"
_SHEETS_URL = re.compile(r"https?://docs\.google\.com/spreadsheets/d/([A-Za-z0-9_-]+)[^#]*(?:#(.*))?$")
CSV_SUFFIXES = (".csv",)
XLSX_SUFFIXES = (".xlsx", ".xlsm")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SourceSpec:
    """Where a source is: a local file (and maybe a tab) or a Google spreadsheet (and maybe a tab)."""

    kind: str  # "csv" | "xlsx" | "gsheets"
    location: str  # a file path or a spreadsheet key
    tab: str = ""
    gid: str = ""  # from a Sheets URL's #gid=…

    @property
    def label(self) -> str:
        if self.kind == "gsheets":
            return f"{GSHEETS_PREFIX}{self.location}" + (f"#{self.tab}" if self.tab else "")
        name = Path(self.location).name
        return f"{name}#{self.tab}" if self.tab else name


def is_remote(source: str) -> bool:
    """Whether a source names a Google spreadsheet rather than a local file."""
    s = source.strip()
    return s.startswith(GSHEETS_PREFIX) or bool(_SHEETS_URL.match(s))


def parse_source(source: str) -> SourceSpec:
    """Understand ``file.csv``, ``book.xlsx[#タブ]``, ``gsheets:KEY[#タブ]`` or a Google Sheets URL."""
    s = source.strip()
    if not s:
        raise UsageError("取込元が空です。CSV・Excel ファイル、または gsheets:キー#タブ名 を指定してください。")
    if s.startswith(GSHEETS_PREFIX):
        key, _, tab = s[len(GSHEETS_PREFIX) :].partition("#")
        if not key.strip():
            raise UsageError(f"取込元 {s} にスプレッドシートのキーがありません（例: gsheets:キー#フォームの回答 1）。")
        return SourceSpec("gsheets", key.strip(), tab.strip())
    m = _SHEETS_URL.match(s)
    if m:
        fragment = m.group(2) or ""
        gid = fragment[4:] if fragment.startswith("gid=") else ""
        return SourceSpec("gsheets", m.group(1), "" if gid else fragment.strip(), gid)
    path, tab = s, ""
    if not Path(s).exists() and "#" in s:
        path, _, tab = s.rpartition("#")
    suffix = Path(path).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return SourceSpec("csv", path, tab.strip())
    if suffix in XLSX_SUFFIXES:
        return SourceSpec("xlsx", path, tab.strip())
    raise UsageError(
        f"取込元 {s} の形式が分かりません。.csv・.xlsx のファイル、または gsheets:キー#タブ名 "
        "（Google スプレッドシートのURLも可）を指定してください。"
    )


def decode_csv_bytes(data: bytes, name: str = "CSV") -> str:
    """Text of a CSV file: UTF-8 with or without BOM, else cp932 (Excel's Shift_JIS)."""
    encodings = ("utf-8",) if data.startswith(_BOM) else ("utf-8", "cp932")
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UsageError(f"{name} の文字コードが分かりません。UTF-8（BOM 付き可）か Shift_JIS（cp932）で保存してください。")


def read_csv(path: Path, ref: SheetRef) -> Table:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"取込元 {path} が見つかりません。") from None
    except OSError as e:
        raise StoreError(f"取込元 {path} を読めません: {e.strerror or e}") from None
    text = decode_csv_bytes(data, str(path))
    try:
        grid: list[list[CellValue]] = [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as e:
        raise UsageError(f"{path} を CSV として読めません: {e}") from None
    return table_from_grid(ref, grid)


def read_xlsx(path: Path, tab: str) -> Table:
    from .xlsx import XlsxStore

    if not path.is_file():
        raise UsageError(f"取込元 {path} が見つかりません。")
    book = XlsxStore(path, base_dir=path.parent)
    names = book.sheet_names()
    if not names:
        raise UsageError(f"{path} にシートがありません。")
    sheet = tab or names[0]
    if sheet not in names:
        raise UsageError(f"{path} にシート「{sheet}」がありません（あるシート: {'、'.join(names)}）。")
    table = book.read([SheetRef(sheet)])[SheetRef(sheet)]
    assert table is not None
    return table


def read_gsheets(spec: SourceSpec, config: Config, store: Store | None) -> Table:
    """A tab of a Google spreadsheet, read through the gsheets backend (the desk's own if it is one)."""
    from .factory import open_gsheets
    from .gsheets import GSheetsStore

    backend = store if isinstance(store, GSheetsStore) else open_gsheets(config)
    names = backend.sheet_names(spec.location)
    if not names:
        raise UsageError(f"スプレッドシート {spec.location} にシートがありません。")
    tab = spec.tab
    if spec.gid:
        by_gid = backend.sheet_titles_by_gid(spec.location)
        if spec.gid not in by_gid:
            raise UsageError(
                f"URL のタブ（gid={spec.gid}）が分かりません。gsheets:{spec.location}#タブ名 の形で指定してください。"
            )
        tab = by_gid[spec.gid]
    sheet = tab or names[0]
    if sheet not in names:
        raise UsageError(
            f"スプレッドシート {spec.location} にシート「{sheet}」がありません（あるシート: {'、'.join(names)}）。"
        )
    ref = SheetRef(sheet, spec.location)
    table = backend.read([ref])[ref]
    assert table is not None
    return table


def read_source(source: str, config: Config, store: Store | None = None) -> tuple[SourceSpec, Table]:
    """Read a whole outside table (first row = the questions) and say where it came from."""
    spec = parse_source(source)
    if spec.kind == "csv":
        return spec, read_csv(Path(spec.location), SheetRef(spec.tab or Path(spec.location).stem, spec.location))
    if spec.kind == "xlsx":
        return spec, read_xlsx(Path(spec.location), spec.tab)
    return spec, read_gsheets(spec, config, store)
