"""Writing a planned batch into an .xlsx by rewriting only the worksheet parts it changes.

openpyxl loads and saves a whole workbook to change a few cells: for a large register that is most
of a sync. Here the zip is copied entry by entry, every part the batch does not touch exactly as it
was (notes, drawings, validations, defined names, themes …); a changed worksheet keeps everything
outside its rows as it was (column widths, frozen panes, protection, dropdowns) and every row it
does not change byte for byte; a written cell keeps its style (``s``), a new cell takes its
column's; a date gets a date format (a new style appended to styles.xml when the cell has none).
What this module does not do — deleting rows, the tool's notes, new tabs or columns, overwriting a
formula, a 1904 workbook, XML it does not recognise — raises :class:`Unsupported`, and the caller
writes that book with openpyxl instead (the same result, slower).
"""

from __future__ import annotations

import html
import math
import posixpath
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import BinaryIO
from xml.etree import ElementTree

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel, to_excel

from ..schema import DEPARTMENT_SHEET, department_answer_columns, department_desk_columns
from ..values import replace_surrogates
from .base import (
    AppendRows,
    CellValue,
    Change,
    DeleteRow,
    EnsureSheet,
    MarkCells,
    Placement,
    ReplaceRows,
    SetCell,
    SheetRef,
    SheetView,
    Table,
    WriteConflict,
    group_by_sheet,
    header_key,
    header_positions,
    place,
)
from .cells import DATE_FORMAT, DATETIME_FORMAT, clean_text
from .ooxml import escape_text, unescape_text

COMPRESS_LEVEL = 3  # zlib's fast levels: a third of the default's time for files a fifth larger
OPEN_ROWS = 100  # as xlsx.OPEN_ROWS: empty rows below the last referral whose answer cells are unlocked
_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"

_ROW = re.compile(rb"<row\b([^>]*?)(?:/>|>(.*?)</row>)", re.S)
_ROW_HEAD = re.compile(rb'<row r="(\d+)"[^>]*?(/?)>')
_CELL = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
_CELL_HEAD = re.compile(rb'<c r="([A-Z]{1,3})\d+"([^>]*)>')
_FAST_CELL = re.compile(rb'(?=<c r="([A-Z]{1,3})(\d+)")(<c\b[^>]*?(?:/>|>.*?</c>))', re.S)
_ROW_NUMBER = re.compile(rb'\sr="(\d+)"')
_CELL_REF = re.compile(rb'\sr="([A-Z]{1,3})(\d+)"')
_STYLE = re.compile(rb'\ss="(\d+)"')
_TYPE = re.compile(rb'\st="(\w+)"')
_SPANS = re.compile(rb'\s(?:r|spans)="[^"]*"')
_VALUE = re.compile(rb"<v>(.*?)</v>", re.S)
_FORMULA = re.compile(rb"<f\b[^>]*?(?:/>|>(.*?)</f>)", re.S)
_TEXT = re.compile(rb"<t\b[^>]*?(?:/>|>(.*?)</t>)", re.S)
_PHONETIC = re.compile(rb"<rPh\b.*?</rPh>", re.S)
_COL = re.compile(rb"<col\b([^>]*?)/?>")
_ATTR = re.compile(rb'\s([\w:]+)="([^"]*)"')
_DIMENSION = re.compile(rb'<dimension ref="([A-Z]{1,3})?(\d+)?(?::([A-Z]{1,3})(\d+))?"\s*/>')
_PROTECTED = re.compile(rb'<sheetProtection\b[^>]*\ssheet="(?:1|true)"')
_DATE1904 = re.compile(rb'\sdate1904="(?:1|true)"')
_XF = re.compile(rb"<xf\b([^>]*?)(/>|>(.*?)</xf>)", re.S)
_PROTECTION = re.compile(rb"<protection\b([^>]*?)/>")
_NUMFMT = re.compile(rb'<numFmt\b[^>]*?numFmtId="(\d+)"[^>]*?formatCode="([^"]*)"[^>]*/>')
# Excel's built-in date formats that openpyxl's table lacks (the Japanese locale's 27–36, 50–58)
_LOCALE_DATES = frozenset((*range(27, 37), *range(50, 59)))


class Unsupported(Exception):
    """A change or a file this module does not write; the caller uses openpyxl for the book."""


def sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Tab name -> the worksheet's part in the zip."""
    wb = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter(f"{_REL_NS}Relationship")}
    out = {}
    for sheet in wb.iterfind("m:sheets/m:sheet", _NS):
        target = targets.get(sheet.get(_R_ID), "")
        out[sheet.get("name", "")] = (
            target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        )
    return out


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


def _xml_text(raw: bytes) -> str:
    text = raw.decode("utf-8")
    return html.unescape(text) if "&" in text else text


def _escape(text: str) -> bytes:
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (read from a broken file) cannot be written
        return replace_surrogates(text).encode("utf-8")


def _attrs(raw: bytes) -> dict[bytes, bytes]:
    return dict(_ATTR.findall(raw))


def _rich_text(body: bytes) -> str:
    """The text of an ``<is>`` or ``<si>`` element: its runs, without the phonetic guide (ruby)."""
    if b"<rPh" in body:
        body = _PHONETIC.sub(b"", body)
    return "".join(_xml_text(m.group(1)) for m in _TEXT.finditer(body) if m.group(1))


class Styles:
    """styles.xml's cell formats: which are dates or locked, and new ones appended when needed."""

    def __init__(self, xml: bytes) -> None:
        self.xml = xml
        start = xml.find(b"<cellXfs")
        end = xml.find(b"</cellXfs>")
        if start < 0 or end < 0:
            raise Unsupported("styles.xml without cellXfs")
        self._open_end = xml.index(b">", start) + 1
        self._close = end
        self.xfs: list[tuple[bytes, bytes]] = [(m.group(1), m.group(3) or b"") for m in _XF.finditer(xml, start, end)]
        self.formats: dict[int, str] = {int(i): _xml_text(code) for i, code in _NUMFMT.findall(xml)}
        self.added: list[bytes] = []
        self.new_formats: dict[int, str] = {}
        self._variants: dict[tuple[int, str | None, bool | None], int] = {}
        self._dates: dict[int, bool] = {}
        self._locks: dict[int, bool] = {}

    def _xf(self, s: int) -> tuple[bytes, bytes]:
        if s < len(self.xfs):
            return self.xfs[s]
        if s - len(self.xfs) < len(self.added):
            m = _XF.match(self.added[s - len(self.xfs)])
            assert m is not None
            return m.group(1), m.group(3) or b""
        return self.xfs[0] if self.xfs else (b"", b"")

    def format_id(self, s: int) -> int:
        return int(_attrs(self._xf(s)[0]).get(b"numFmtId", b"0"))

    def format_code(self, s: int) -> str:
        i = self.format_id(s)
        return self.formats.get(i) or self.new_formats.get(i) or BUILTIN_FORMATS.get(i, "General")

    def is_date(self, s: int) -> bool:
        found = self._dates.get(s)
        if found is None:
            found = self._dates[s] = self.format_id(s) in _LOCALE_DATES or is_date_format(self.format_code(s))
        return found

    def locked(self, s: int) -> bool:
        found = self._locks.get(s)
        if found is None:
            m = _PROTECTION.search(self._xf(s)[1])
            found = m is None or _attrs(m.group(1)).get(b"locked", b"1") not in (b"0", b"false")
            self._locks[s] = found
        return found

    def variant(self, s: int, *, number_format: str | None = None, locked: bool | None = None) -> int:
        """The style ``s`` with another number format and/or lock, appended once per book."""
        key = (s, number_format, locked)
        if key in self._variants:
            return self._variants[key]
        attrs, body = self._xf(s)
        if number_format is not None:
            fid = self._format_id_for(number_format)
            attrs = re.sub(rb'\s(?:numFmtId|applyNumberFormat)="[^"]*"', b"", attrs)
            attrs += b' numFmtId="%d" applyNumberFormat="1"' % fid
        if locked is not None:
            old = _PROTECTION.search(body)
            hidden = _attrs(old.group(1)).get(b"hidden") if old else None
            body = _PROTECTION.sub(b"", body)
            protection = b'<protection locked="%s"%s/>' % (
                b"1" if locked else b"0",
                b' hidden="' + hidden + b'"' if hidden else b"",
            )
            at = body.find(b"</alignment>")
            if at >= 0:
                at += len(b"</alignment>")
            else:
                m = re.search(rb"<alignment\b[^>]*/>", body)
                at = m.end() if m else 0
            body = body[:at] + protection + body[at:]
            attrs = re.sub(rb'\sapplyProtection="[^"]*"', b"", attrs) + b' applyProtection="1"'
        self.added.append(b"<xf" + attrs + (b">" + body + b"</xf>" if body else b"/>"))
        number = len(self.xfs) + len(self.added) - 1
        self._variants[key] = number
        return number

    def _format_id_for(self, code: str) -> int:
        for i, have in (*self.formats.items(), *self.new_formats.items()):
            if have == code:
                return i
        for i, have in BUILTIN_FORMATS.items():
            if have == code:
                return i
        i = max((164 - 1, *self.formats, *self.new_formats)) + 1
        self.new_formats[i] = code
        return i

    @property
    def changed(self) -> bool:
        return bool(self.added)

    def patched(self) -> bytes:
        xml = self.xml
        start = xml.find(b"<cellXfs")
        count = len(self.xfs) + len(self.added)
        opening = re.sub(rb'\scount="\d+"', b"", xml[start : self._open_end - 1]) + b' count="%d">' % count
        out = xml[:start] + opening + xml[self._open_end : self._close] + b"".join(self.added) + xml[self._close :]
        if self.new_formats:
            fmts = b"".join(
                b'<numFmt numFmtId="%d" formatCode="%s"/>' % (i, html.escape(c, quote=True).encode("utf-8"))
                for i, c in self.new_formats.items()
            )
            m = re.search(rb"<numFmts\b[^>]*?(/>|>)", out)
            if m is None:
                root = re.search(rb"<styleSheet\b[^>]*>", out)
                if root is None:
                    raise Unsupported("styles.xml without styleSheet")
                out = (
                    out[: root.end()]
                    + b'<numFmts count="%d">' % len(self.new_formats)
                    + fmts
                    + b"</numFmts>"
                    + out[root.end() :]
                )
            else:
                total = len(self.formats) + len(self.new_formats)
                opening = b'<numFmts count="%d">' % total
                if m.group(1) == b"/>":
                    out = out[: m.start()] + opening + fmts + b"</numFmts>" + out[m.end() :]
                else:
                    close = out.index(b"</numFmts>", m.end())
                    out = out[: m.start()] + opening + out[m.end() : close] + fmts + out[close:]
        return out


class _Book:
    """What the worksheets of one book share: its shared strings and styles (read when needed)."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self._strings: list[str] | None = None
        self._styles: Styles | None = None
        if _DATE1904.search(archive.read("xl/workbook.xml")):
            raise Unsupported("1904 date system")

    def _part(self, kind: str) -> str | None:
        rels = ElementTree.fromstring(self.archive.read("xl/_rels/workbook.xml.rels"))
        for rel in rels.iter(f"{_REL_NS}Relationship"):
            if rel.get("Type", "").endswith("/" + kind):
                target = rel.get("Target", "")
                return (
                    target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
                )
        return None

    @property
    def strings(self) -> list[str]:
        if self._strings is None:
            part = self._part("sharedStrings")
            xml = self.archive.read(part) if part else b""
            self._strings = [
                _rich_text(m.group(1) or b"") for m in re.finditer(rb"<si\b[^>]*?(?:/>|>(.*?)</si>)", xml, re.S)
            ]
        return self._strings

    @property
    def styles(self) -> Styles:
        if self._styles is None:
            part = self._part("styles")
            if part is None:
                raise Unsupported("no styles part")
            self._styles = Styles(self.archive.read(part))
            self.styles_part = part
        return self._styles


class _Row:
    """One ``<row>`` element: where it lies in the sheet's XML (no copy), or, once written, its cells."""

    __slots__ = ("_cells", "a_end", "a_start", "b_end", "b_start", "dirty", "end", "index", "number", "src", "start")

    def __init__(self, number: int, src: bytes = b"", m: re.Match[bytes] | None = None, index: int = -1) -> None:
        self.number = number
        self.src = src  # the sheet's rows as read (shared by every row, not copied)
        self.index = index  # the row's place among the rows as read (-1: a new row)
        if m is None:
            self.start = self.end = self.a_start = self.a_end = self.b_start = self.b_end = 0
        else:
            self.start, self.end = m.span()
            self.a_start, self.a_end = m.span(1)
            self.b_start, self.b_end = m.span(2) if m.group(2) is not None else (self.end, self.end)
        self._cells: dict[int, bytes] | None = None if m is not None else {}
        self.dirty = m is None

    @classmethod
    def spanning(cls, number: int, src: bytes, index: int, spans: tuple[int, int, int, int, int, int]) -> _Row:
        """A row as read, from where its element, attributes and body lie (see :meth:`SheetPart.rows`)."""
        row = cls.__new__(cls)
        row.number, row.src, row.index = number, src, index
        row.start, row.end, row.a_start, row.a_end, row.b_start, row.b_end = spans
        row._cells = None
        row.dirty = False
        return row

    @property
    def cells(self) -> dict[int, bytes]:
        """Column number -> the cell's whole element (parsed on first use)."""
        if self._cells is None:
            src, b, e = self.src, self.b_start, self.b_end
            # (Excel and openpyxl write the address first: one pass; anything else, the careful one)
            fast = _FAST_CELL.findall(src, b, e)
            if len(fast) == _cell_count(src, b, e) and all(int(r) == self.number for _, r, _ in fast):
                self._cells = {_column_number(letters): whole for letters, _, whole in fast}
                return self._cells
            cells: dict[int, bytes] = {}
            for m in _CELL.finditer(src, b, e):
                ref = _CELL_REF.search(m.group(1))
                if ref is None or int(ref.group(2)) != self.number:
                    raise Unsupported("a cell without its address")
                cells[_column_number(ref.group(1))] = m.group(0)
            self._cells = cells
        return self._cells

    def xml(self) -> bytes:
        if not self.dirty:
            return self.src[self.start : self.end]
        cells = self.cells
        body = b"".join(cells[c] for c in sorted(cells))
        attrs = _SPANS.sub(b"", self.src[self.a_start : self.a_end])
        return b'<row r="%d"%s>%s</row>' % (self.number, attrs, body)


class SheetPart:
    """One worksheet part, split into the XML around its rows and the rows themselves."""

    def __init__(self, xml: bytes, book: _Book) -> None:
        self.book = book
        if xml.startswith(b"<?xml") and not re.match(
            rb"<\?xml[^>]*encoding=\"utf-8\"|<\?xml(?![^>]*encoding)", xml, re.I
        ):
            raise Unsupported("not UTF-8")
        start = xml.find(b"<sheetData")
        if start < 0:
            raise Unsupported("no sheetData")
        open_end = xml.index(b">", start) + 1
        if xml[open_end - 2 : open_end] == b"/>":
            self.prefix, body, self.suffix = xml[:start] + b"<sheetData>", b"", b"</sheetData>" + xml[open_end:]
        else:
            close = xml.rindex(b"</sheetData>")
            self.prefix, body, self.suffix = xml[:open_end], xml[open_end:close], xml[close:]
        self.body = body
        self._rows: dict[int, _Row] | None = None  # split on first use: appending needs only the end
        self._kept: int | None = None  # appended or replaced at the end: body[:_kept] stays, then _tail
        self._tail: list[_Row] = []
        self._head: bytes | None = None
        self._top = 0
        self._column_styles: dict[int, int] | None = None
        self._dates: dict[tuple[int, bool], int] = {}
        self._last: int | None = None
        self.max_column = 0

    @property
    def rows(self) -> dict[int, _Row]:
        """Row number -> row, every row of the sheet (split on first use)."""
        if self._rows is None:
            assert self._kept is None
            found = self._split_written_rows()
            if found is None:
                found = {}
                previous = 0
                body = self.body
                for i, m in enumerate(_ROW.finditer(body)):
                    previous = self._number(m, previous)
                    found[previous] = _Row(previous, body, m, i)
            self._rows = found
        return self._rows

    def _split_written_rows(self) -> dict[int, _Row] | None:
        """The rows as Excel, LibreOffice and openpyxl write them (``<row r="N" …>``, ascending), found
        by their opening tags and the ``</row>`` after each: a large tab costs a scan, not a regular
        expression's lazy match over every row's cells. None when the XML is otherwise (the careful path)."""
        body = self.body
        find = body.find
        rows: dict[int, _Row] = {}
        previous = 0
        for i, m in enumerate(_ROW_HEAD.finditer(body)):
            number = int(m.group(1))
            if number <= previous:
                return None
            previous = number
            start, head_end = m.start(), m.end()
            if m.group(2):  # <row … />
                spans = (start, head_end, start + 4, m.start(2), head_end, head_end)
            else:
                close = find(b"</row>", head_end)
                if close < 0:
                    return None
                spans = (start, close + 6, start + 4, head_end - 1, head_end, close)
            rows[number] = _Row.spanning(number, body, i, spans)
        if len(rows) != body.count(b"<row"):
            return None  # a row tag of another shape somewhere
        return rows

    @staticmethod
    def _number(m: re.Match[bytes], previous: int) -> int:
        number = _ROW_NUMBER.search(m.group(1))
        if number is None or int(number.group(1)) <= previous:
            raise Unsupported("rows without numbers or out of order")
        return int(number.group(1))

    def _row_at(self, pos: int) -> tuple[_Row, int]:
        m = _ROW.match(self.body, pos)
        if m is None:
            raise Unsupported("a row the writer cannot read")
        number = self._number(m, 0)
        return _Row(number, self.body, m), m.end()

    def _last_in_body(self) -> tuple[int, int, int]:
        """Without splitting the rows: (the last row holding anything, where its element ends, where
        the first row's element ends, 0 without a row 1), looked for from the end of the sheet."""
        body = self.body
        first_end = 0
        start = body.find(b"<row")
        if start >= 0:
            first, end = self._row_at(start)
            first_end = end if first.number == 1 else 0
        pos = len(body)
        while True:
            i = body.rfind(b"<row", 0, pos)
            if i < 0:
                return 1, first_end, first_end
            row, end = self._row_at(i)
            if row.number <= 1:
                return 1, end, first_end
            if any(not _blank(self.cell_value(c)) for c in row.cells.values()):
                return row.number, end, first_end
            pos = i

    # -- reading (what :func:`place` sees: the values openpyxl would show)
    def cell_value(self, cell: bytes | None) -> CellValue:
        if cell is None:
            return None
        m = _CELL.match(cell)
        assert m is not None
        attrs, body = m.group(1), m.group(2)
        if not body:
            return None
        t = _TYPE.search(attrs)
        kind = t.group(1) if t else b"n"
        formula = _FORMULA.search(body)
        if formula is not None:
            return "=" + (_xml_text(formula.group(1)) if formula.group(1) else "")
        if kind == b"inlineStr":
            return unescape_text(_rich_text(body))
        v = _VALUE.search(body)
        if v is None:
            return None
        raw = v.group(1)
        if kind == b"s":
            strings = self.book.strings
            i = int(raw)
            return unescape_text(strings[i]) if i < len(strings) else None
        if kind in (b"str", b"e"):
            return unescape_text(_xml_text(raw))
        if kind == b"b":
            return raw.strip() in (b"1", b"true")
        if kind == b"d":
            return datetime.fromisoformat(raw.decode())
        text = raw.decode().strip()
        if not text:
            return None
        number: int | float = int(text) if re.fullmatch(r"-?\d+", text) else float(text)
        s = _STYLE.search(attrs)
        if s is not None and self.book.styles.is_date(int(s.group(1))):
            return from_excel(number)
        return number

    def value(self, row: int, column: int) -> CellValue:
        r = self.rows.get(row)
        return None if r is None else self.cell_value(r.cells.get(column))

    def header_row(self) -> list[CellValue]:
        if self._rows is None:
            start = self.body.find(b"<row")
            first = self._row_at(start)[0] if start >= 0 else None
            first = first if first is not None and first.number == 1 else None
        else:
            first = self.rows.get(1)
        if first is None or not first.cells:
            return []
        cells = first.cells
        return [self.cell_value(cells.get(c)) for c in range(1, max(cells) + 1)]

    def last_row(self) -> int:
        if self._last is None and self._rows is None:
            self._last = self._last_in_body()[0]
        if self._last is None:
            self._last = 1
            for number in sorted(self.rows, reverse=True):
                if number <= 1:
                    break
                if any(not _blank(self.cell_value(c)) for c in self.rows[number].cells.values()):
                    self._last = number
                    break
        return self._last

    def column_values(self, column: int) -> list[CellValue]:
        return [self.value(r, column) for r in range(2, self.last_row() + 1)]

    # -- writing
    def column_style(self, column: int) -> int:
        if self._column_styles is None:
            self._column_styles = {}
            cols_start = self.prefix.find(b"<cols>")
            if cols_start >= 0:
                block = self.prefix[cols_start : self.prefix.find(b"</cols>", cols_start)]
                for m in _COL.finditer(block):
                    a = _attrs(m.group(1))
                    if b"style" in a:
                        for c in range(int(a.get(b"min", b"1")), min(int(a.get(b"max", b"1")), 16384) + 1):
                            self._column_styles[c] = int(a[b"style"])
        return self._column_styles.get(column, 0)

    def _row(self, number: int) -> _Row:
        row = self.rows.get(number)
        if row is None:
            row = self.rows[number] = _Row(number)
        return row

    def put(self, row: int, column: int, value: CellValue) -> None:
        """Write one value the way :func:`cells.set_cell_value` does, keeping the cell's style."""
        r = self._row(row)
        cells = r.cells
        old = cells.get(column)
        if old is None:
            if value is None:
                return
            style = self.column_style(column)
        else:
            if b"<f" in old:
                raise Unsupported("a formula would be overwritten")
            found = _STYLE.search(old, 0, old.find(b">"))
            style = int(found.group(1)) if found else 0
        cells[column] = self._cell(row, column, value, style)
        r.dirty = True
        self._last = None
        if column > self.max_column:
            self.max_column = column

    def _cell(self, row: int, column: int, value: CellValue, style: int) -> bytes:
        ref = get_column_letter(column).encode() + str(row).encode()
        if value is None:
            return b'<c r="%s" s="%d"/>' % (ref, style) if style else b'<c r="%s"/>' % ref
        if value.__class__ is str:
            text = value
            assert isinstance(text, str)
            if not text.isprintable():  # (printable text has no control character to show)
                text = clean_text(text)
            if "_x" in text:
                text = escape_text(text)
            kind = b' t="inlineStr"'
            body = b'<is><t xml:space="preserve">' + _escape(text) + b"</t></is>"
        elif isinstance(value, bool):
            kind, body = b' t="b"', b"<v>%d</v>" % int(value)
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                raise Unsupported("not a finite number")
            kind, body = b"", b"<v>" + repr(value).encode() + b"</v>"
        elif isinstance(value, date):
            style = self._date_style(style, isinstance(value, datetime))
            if isinstance(value, datetime):
                value = value.replace(tzinfo=None)
            kind, body = b"", b"<v>" + repr(to_excel(value)).encode() + b"</v>"
        elif isinstance(value, str):
            return self._cell(row, column, str(value), style)
        else:
            raise Unsupported(f"a value of type {type(value).__name__}")
        if style:
            return b'<c r="%s" s="%d"%s>%s</c>' % (ref, style, kind, body)
        return b'<c r="%s"%s>%s</c>' % (ref, kind, body)

    def _date_style(self, style: int, with_time: bool) -> int:
        """The style itself when it shows dates (and times, for a datetime), else one that does."""
        key = (style, with_time)
        found = self._dates.get(key)
        if found is None:
            styles = self.book.styles
            if with_time:
                ok = styles.is_date(style) and "h" in styles.format_code(style).lower()
                found = style if ok else styles.variant(style, number_format=DATETIME_FORMAT)
            else:
                found = style if styles.is_date(style) else styles.variant(style, number_format=DATE_FORMAT)
            self._dates[key] = found
        return found

    def _put_row(self, number: int, values: dict[int, CellValue]) -> None:
        """A row that is not in the sheet yet, written whole (appends below the last row, ReplaceRows)."""
        if number in self.rows:
            for c, value in values.items():
                if value is not None:
                    self.put(number, c, value)
            return
        row = self.rows[number] = _Row(number)
        cells: dict[int, bytes] = {}
        for c in sorted(values):
            value = values[c]
            if value is not None:
                cells[c] = self._cell(number, c, value, self.column_style(c))
                if c > self.max_column:
                    self.max_column = c
        row._cells = cells
        row.dirty = True
        self._last = None

    def carry_out(self, placed: Placement) -> None:
        """As xlsx._carry_out does on an openpyxl sheet (deletes are not handled here)."""
        if placed.deletes:
            raise Unsupported("deleting rows")
        if not placed.sets and self._rows is None and not self.protected() and self._at_the_end(placed):
            return
        if placed.replace is not None:
            last = self.last_row()
            if any(n > last for n in self.rows):
                raise Unsupported("rows below the table")  # openpyxl would move them up
        for (r, c), value in placed.sets.items():
            self.put(r, c, value)
        if placed.replace is not None:
            for n in [n for n in self.rows if n >= 2]:
                del self.rows[n]
            self._last = None
            rows, start = placed.replace, 2
        else:
            rows, start = placed.appends, self.last_row() + 1
        for i, values in enumerate(rows):
            self._put_row(start + i, values)

    def _at_the_end(self, placed: Placement) -> bool:
        """Rows appended below the last one, or every row below the header replaced, without splitting
        the rows above (変更履歴 grows on every run): False when rows below the last need the careful path."""
        last, end, first_end = self._last_in_body()
        if self.body[end:].strip():
            return False  # rows below the last holding anything (formatted, empty)
        if placed.replace is not None:
            self._kept, rows, start = first_end, placed.replace, 2
            self._head = self.body[:first_end]  # (the rows below are let go: only the header row stays)
            self.body = b""
        else:
            self._kept, rows, start = end, placed.appends, last + 1
        self._rows = {}
        for i, values in enumerate(rows):
            self._put_row(start + i, values)
        self._tail = [self._rows[n] for n in sorted(self._rows)]
        self._top = start + len(rows) - 1 if rows else last if placed.replace is None else int(first_end > 0)
        return True

    def protected(self) -> bool:
        return bool(_PROTECTED.search(self.suffix) or _PROTECTED.search(self.prefix))

    def settle(self) -> None:
        """As xlsx.settle_protection: referral rows (and OPEN_ROWS below) locked or unlocked by owner —
        the rows this write changes and the open rows below the last; a row it leaves as it was keeps
        the protection the write that made it gave it (settling every row of every book written would
        cost each sync a pass over every department row)."""
        if not self.protected():
            return
        locks = owner_locks(header_positions(self.header_row()))
        if not locks:
            return
        styles = self.book.styles
        last = self.last_row()
        rows = self.rows
        for number in range(2, last + 1 + OPEN_ROWS):
            row = rows.get(number)
            if number <= last and (row is None or not row.dirty):
                continue
            present = _cell_styles(row) if row is not None else {}
            for col, locked in locks.items():
                s = present.get(col)
                if s is None:
                    if locked:
                        continue  # no cell: the column's style (locked) applies
                    base = self.column_style(col)
                    s = base if not styles.locked(base) else styles.variant(base, locked=False)
                    row = self._row(number)
                    row.cells[col] = self._cell(number, col, None, s)
                    row.dirty = True
                elif styles.locked(s) != locked:
                    assert row is not None
                    cell = row.cells[col]
                    head_end = cell.find(b">")
                    head = _STYLE.sub(b"", cell[:head_end])
                    mark = b' s="%d"' % styles.variant(s, locked=locked)
                    head = head[:-1] + mark + b"/" if head.endswith(b"/") else head + mark
                    row.cells[col] = head + cell[head_end:]
                    row.dirty = True

    def chunks(self) -> list[bytes | memoryview]:
        """The new part, in pieces: runs of rows left as they were are views of the XML as read (no
        copy), so a large sheet costs its size once, not once more for every step of the rewrite."""
        prefix = self.prefix
        out: list[bytes | memoryview] = []
        if self._kept is not None:
            top = self._top
            out.append(self._head if self._head is not None else memoryview(self.body)[: self._kept])
            out.extend(r.xml() for r in self._tail)
        else:
            top = max(self.rows, default=0)
            view = memoryview(self.body)
            run: _Row | None = None  # the first of the rows left as they were, being gathered
            last: _Row | None = None
            for n in sorted(self.rows):
                row = self.rows[n]
                if not row.dirty and last is not None and run is not None and row.index == last.index + 1:
                    last = row
                    continue
                if run is not None and last is not None:
                    out.append(view[run.start : last.end])
                    run = last = None
                if row.dirty:
                    out.append(row.xml())
                else:
                    run = last = row
            if run is not None and last is not None:
                out.append(view[run.start : last.end])
        m = _DIMENSION.search(prefix)
        if m is not None and top:
            old_col = _column_number(m.group(3) or m.group(1) or b"A")
            col = get_column_letter(max(old_col, self.max_column)).encode()
            prefix = prefix[: m.start()] + b'<dimension ref="A1:%s%d"/>' % (col, top) + prefix[m.end() :]
        return [prefix, *out, self.suffix]

    def xml(self) -> bytes:
        return b"".join(self.chunks())


def _cell_count(src: bytes, start: int, end: int) -> int:
    return sum(src.count(m, start, end) for m in (b"<c ", b"<c>", b"<c/", b"<c\t", b"<c\n", b"<c\r"))


def _cell_styles(row: _Row) -> dict[int, int]:
    """Column number -> style of every cell of a row (one regex pass over a row as written)."""
    if row._cells is None and not row.dirty:
        found = _CELL_HEAD.findall(row.src, row.b_start, row.b_end)
        if len(found) == _cell_count(row.src, row.b_start, row.b_end):
            out = {}
            for letters, attrs in found:
                m = _STYLE.search(attrs) if b"s=" in attrs else None
                out[_column_number(letters)] = int(m.group(1)) if m else 0
            return out
    out = {}
    for col, cell in row.cells.items():
        m = _STYLE.search(cell, 0, cell.find(b">"))
        out[col] = int(m.group(1)) if m else 0
    return out


def _blank(value: CellValue) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def owner_locks(headers: dict[str, int]) -> dict[int, bool] | None:
    """Column number -> locked, for a protected department sheet's schema columns (found by header):
    desk-owned columns locked, the department's answer columns unlocked; None when it is not one."""
    answers = [headers[k] for k in (header_key(c.name) for c in department_answer_columns()) if k in headers]
    if header_key(DEPARTMENT_SHEET.key) not in headers or not answers:
        return None
    locks = dict.fromkeys(answers, False)
    for column in department_desk_columns():
        found = headers.get(header_key(column.name))
        if found is not None:
            locks[found] = True
    return locks


_HANDLED = (SetCell, AppendRows, ReplaceRows)


class TableView:
    """A tab as the job read it, seen as :func:`place` sees a sheet (the file unchanged since the read)."""

    def __init__(self, table: Table) -> None:
        self.headers = list(table.headers)
        self.keys = [header_key(h) for h in table.headers]
        self.rows = {row.number: row.values for row in table.rows}
        self.last = max(self.rows, default=1)

    def header_row(self) -> list[CellValue]:
        return list(self.headers)

    def last_row(self) -> int:
        return self.last

    def value(self, row: int, column: int) -> CellValue:
        values = self.rows.get(row)
        if values is None or not 1 <= column <= len(self.keys):
            return None
        return values.get(self.keys[column - 1])

    def column_values(self, column: int) -> list[CellValue]:
        return [self.value(r, column) for r in range(2, self.last + 1)]


class PatchedBook:
    """A book's changes worked out against the file as it is now, ready to be written as a new zip."""

    def __init__(
        self,
        archive: zipfile.ZipFile,
        book_id: str | None,
        changes: Sequence[Change],
        *,
        as_read: Mapping[str, Table] | None = None,
    ) -> None:
        """``as_read``: tabs as the job read them from this very file (unchanged since), so the plan is
        resolved against those values instead of the worksheet's XML decoded once more."""
        self.archive = archive
        self.conflicts: list[WriteConflict] = []
        self.parts: dict[str, list[bytes | memoryview]] = {}
        # parts resolved against the tabs as read, carried out only as the new zip is written: a
        # large register's worksheets are held one at a time, not all at once
        self._deferred: dict[str, Placement] = {}
        self._book = book = _Book(archive)
        paths = sheet_parts(archive)
        for name, sheet_changes in group_by_sheet(changes).items():
            if name not in paths or any(isinstance(c, DeleteRow | MarkCells) for c in sheet_changes):
                raise Unsupported("a change openpyxl makes")
            known = (as_read or {}).get(name)
            sheet: SheetPart | None = None
            view: SheetView
            if known is None:
                view = sheet = SheetPart(archive.read(paths[name]), book)
            else:
                view = TableView(known)
            for ch in sheet_changes:
                if isinstance(ch, EnsureSheet):
                    have = set(header_positions(view.header_row()))
                    if any(header_key(c.name) not in have for c in ch.sheet.columns):
                        raise Unsupported("a column to add")
            edits = [c for c in sheet_changes if isinstance(c, _HANDLED)]
            if not edits:
                continue
            placed = place(SheetRef(name, book_id), view, edits)
            self.conflicts.extend(placed.conflicts)
            if placed.empty:
                continue
            if sheet is None:
                self._deferred[paths[name]] = placed
            else:
                self.parts[paths[name]] = self._carried(sheet, placed)
        self._styles_part = book._part("styles") if self._deferred else None
        self._settle_styles()

    @staticmethod
    def _carried(sheet: SheetPart, placed: Placement) -> list[bytes | memoryview]:
        sheet.carry_out(placed)
        sheet.settle()
        return sheet.chunks()

    def _carry_out_deferred(self, part: str) -> list[bytes | memoryview]:
        placed = self._deferred.pop(part)
        return self._carried(SheetPart(self.archive.read(part), self._book), placed)

    def _settle_styles(self) -> None:
        styles = self._book._styles
        if styles is not None and styles.changed:
            self.parts[self._book.styles_part] = [styles.patched()]

    @property
    def changed(self) -> bool:
        return bool(self.parts or self._deferred)

    def writer(self) -> Callable[[BinaryIO], None]:
        def write(f: BinaryIO) -> None:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as out:
                for info in self.archive.infolist():
                    if info.filename == self._styles_part:
                        # the date styles the sheets carried out need: those still to come (styles
                        # before worksheets in this zip) are carried out now, held until their turn
                        for waiting in list(self._deferred):
                            self.parts[waiting] = self._carry_out_deferred(waiting)
                        self._settle_styles()
                    if info.filename in self._deferred:
                        chunks: list[bytes | memoryview] | None = self._carry_out_deferred(info.filename)
                    else:
                        chunks = self.parts.pop(info.filename, None)
                    copy = zipfile.ZipInfo(info.filename, info.date_time)  # (the source's must not change)
                    copy.external_attr = info.external_attr
                    if chunks is None:
                        copy.compress_type = info.compress_type
                        out.writestr(copy, self.archive.read(info))
                        continue
                    copy.compress_type = zipfile.ZIP_DEFLATED
                    copy.file_size = sum(len(c) for c in chunks)  # (known: no Zip64 header some Excels refuse)
                    with out.open(copy, "w") as part:
                        for chunk in chunks:
                            part.write(chunk)

        return write
