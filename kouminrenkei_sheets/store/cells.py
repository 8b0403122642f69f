"""The one xlsx cell writer, shared by the register backend (store/xlsx.py) and the exported workbooks
(store/export.py): text stays text, control characters become visible, dates become date cells."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from .base import CellValue
from .ooxml import escape_text

# How the register shows dates (as staff type them) …
DATE_FORMAT = "yyyy/m/d"
DATETIME_FORMAT = "yyyy/m/d h:mm"
# … and how exported reports and publications do (ISO, as open data asks)
ISO_DATE_FORMAT = "yyyy-mm-dd"
ISO_DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


def clean_text(value: str) -> str:
    """Control characters an .xlsx cannot hold, shown as visible control pictures (not dropped)."""
    return ILLEGAL_CHARACTERS_RE.sub(lambda m: chr(0x2400 + ord(m.group()[0])), value)


def set_cell_value(
    cell: Any, value: CellValue, *, date_format: str = DATE_FORMAT, datetime_format: str = DATETIME_FORMAT
) -> None:
    """Write a value as data: text stays text (even ``=…`` or ``#N/A``), a literal ``_x0041_`` stays as
    typed, control characters are shown, dates become date cells in the given format."""
    if isinstance(value, str):
        cell.value = escape_text(clean_text(value))
        if value.startswith(("=", "#")):
            cell.data_type = "s"  # openpyxl would otherwise store a formula, or "#N/A" as an error
    elif isinstance(value, datetime):
        cell.value = value
        cell.number_format = datetime_format
    elif isinstance(value, date):
        cell.value = value
        cell.number_format = date_format
    else:
        cell.value = value
