"""Plain .xlsx files for people to download (publication lists, reports), written reproducibly.

Not a backend: no register, no dropdowns. The same rows give the same bytes (fixed document
dates and zip entry times), every string is written as text (never run as a formula), dates as
date cells and numbers as numbers, and the file appears atomically (:func:`files.atomic_write`).
Every tab prints landscape, one page wide, with its header row on each page (:func:`print_setup`,
used by the register's and departments' books too); a tab may carry native Excel charts drawn
from its own columns.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from ..files import write_file
from .base import CellValue
from .cells import ISO_DATE_FORMAT, ISO_DATETIME_FORMAT, set_cell_value

# A fixed moment for the document properties and the zip entries, so the bytes never depend on
# when the file was written (zip cannot store dates before 1980).
FIXED_TIME = datetime(2000, 1, 1, 0, 0, 0)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
DATE_FORMAT = ISO_DATE_FORMAT
DATETIME_FORMAT = ISO_DATETIME_FORMAT


SHEET_TITLE_LIMIT = 31  # Excel's limit on a tab name
_BAD_TITLE_CHARS = frozenset("[]:*?/\\")


@dataclass(frozen=True)
class ExportChart:
    """A native bar chart of a tab's own columns: categories from one column, one series per value column."""

    title: str
    category_column: int  # 1-based column of the labels
    value_columns: Sequence[int]  # 1-based columns of the numbers, one series each
    horizontal: bool = True  # bars (long Japanese labels read better) or columns
    x_title: str = ""
    y_title: str = ""


@dataclass(frozen=True)
class ExportSheet:
    """One tab of an exported workbook: a title, header cells and rows of plain values."""

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[CellValue]]
    widths: Sequence[int] = ()  # column widths in characters; empty = from the contents
    charts: Sequence[ExportChart] = ()


class _FixedTimeZip(zipfile.ZipFile):
    """A ZipFile that stamps every entry written by name with the same fixed time."""

    def writestr(
        self,
        zinfo_or_arcname: str | zipfile.ZipInfo,
        data: Any,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        if isinstance(zinfo_or_arcname, str):
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zinfo_or_arcname = info
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(
        self,
        filename: str | os.PathLike[str],
        arcname: str | os.PathLike[str] | None = None,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        # openpyxl writes worksheets from temporary files, which would carry their mtime.
        name = os.fspath(arcname if arcname is not None else filename)
        self.writestr(str(name), Path(filename).read_bytes())


def _set(cell: Cell, value: CellValue) -> None:
    """The one cell writer (store/cells.py), with the ISO date formats of exported files."""
    set_cell_value(cell, value, date_format=DATE_FORMAT, datetime_format=DATETIME_FORMAT)


def _width(values: Sequence[CellValue]) -> int:
    longest = 0
    for v in values:
        text = "" if v is None else str(v)
        # East Asian characters take two columns in Excel's width unit.
        line = max(text.split("\n"), key=len) if text else ""
        longest = max(longest, sum(2 if ord(ch) > 0x2E7F else 1 for ch in line))
    return min(max(longest + 2, 8), 60)


def workbook_bytes(sheets: Sequence[ExportSheet]) -> bytes:
    """The .xlsx file's bytes for these tabs; identical input gives identical bytes."""
    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    for spec in sheets:
        if not spec.title or len(spec.title) > SHEET_TITLE_LIMIT or _BAD_TITLE_CHARS & set(spec.title):
            raise ValueError(f"not a usable sheet title: {spec.title!r}")
        ws = wb.create_sheet(spec.title)
        for c, header in enumerate(spec.headers, start=1):
            cell = ws.cell(row=1, column=c)
            _set(cell, header)
            cell.font = bold
        for r, values in enumerate(spec.rows, start=2):
            for c, value in enumerate(values, start=1):
                cell = ws.cell(row=r, column=c)
                _set(cell, value)
                if isinstance(value, str) and "\n" in value:
                    cell.alignment = wrap
        ws.freeze_panes = "A2"
        for c in range(1, len(spec.headers) + 1):
            letter = ws.cell(row=1, column=c).column_letter
            if c <= len(spec.widths):
                ws.column_dimensions[letter].width = spec.widths[c - 1]
            else:
                column = [spec.headers[c - 1], *(row[c - 1] if c <= len(row) else None for row in spec.rows)]
                ws.column_dimensions[letter].width = _width(column)
        print_setup(ws)
        _add_charts(ws, spec)
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.creator = "kouminrenkei"
    buffer = io.BytesIO()
    # ExcelWriter directly: Workbook.save would stamp "modified" with the current time.
    with _FixedTimeZip(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).write_data()
    return buffer.getvalue()


def print_setup(ws: Worksheet) -> None:
    """Landscape A4, fit to one page wide (any number tall), the header row repeated on each page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.print_options.gridLines = True


def _add_charts(ws: Worksheet, spec: ExportSheet) -> None:
    """Each chart to the right of the table, one under the other."""
    if not spec.rows:
        return
    last = len(spec.rows) + 1
    anchor_col = ws.cell(row=1, column=len(spec.headers) + 2).column_letter
    top = 1
    for chart_spec in spec.charts:
        chart = BarChart()
        chart.type = "bar" if chart_spec.horizontal else "col"
        chart.title = chart_spec.title
        chart.x_axis.title = chart_spec.x_title or None
        chart.y_axis.title = chart_spec.y_title or None
        chart.legend = None if len(chart_spec.value_columns) == 1 else chart.legend
        if chart_spec.horizontal:
            chart.x_axis.scaling.orientation = "maxMin"  # first row on top, as in the table
        height = max(7.5, 0.6 * len(spec.rows) + 3)
        chart.height, chart.width = height, 16
        for column in chart_spec.value_columns:
            data = Reference(ws, min_col=column, max_col=column, min_row=1, max_row=last)
            chart.add_data(data, titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=chart_spec.category_column, min_row=2, max_row=last))
        ws.add_chart(chart, f"{anchor_col}{top}")
        top += int(height / 0.5) + 2  # rows are about 0.5 cm high


def write_xlsx(path: str | os.PathLike[str], sheets: Sequence[ExportSheet]) -> Path:
    """Write a workbook with these tabs atomically."""
    return write_file(path, workbook_bytes(sheets))
