"""Cell values on the Sheets wire: decode what the API gives, encode what the store writes, date serials.

Pure functions, no network (tested on their own): rows are read unformatted, dates as serial
numbers; in a date column (a header the schema types as a date) a number is a date, elsewhere the
tool writes a date as ``2025/4/1`` text. An empty string is an empty cell.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from ...schema import DEPARTMENT_SHEET, SHEETS, ValueType
from ..base import CellValue, header_key
from ..ooxml import error_value

NEW_TAB_ROWS = 1000
_ECHO = re.compile(r"!([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?$")
_EPOCH = datetime(1899, 12, 30)
_MAX_SERIAL = 2958466  # 9999-12-31
Grid = list[list[CellValue]]


def _date_kinds() -> dict[str, ValueType]:
    """Headers that hold dates anywhere in the schema; their numbers are date serials."""
    out: dict[str, ValueType] = {}
    for sheet in (*SHEETS.values(), DEPARTMENT_SHEET):
        for column in sheet.columns:
            if column.is_date:
                out.setdefault(header_key(column.name), column.type)
    return out


DATE_COLUMNS = _date_kinds()


def to_serial(value: date) -> int | float:
    """A date as a spreadsheet serial number (days since 1899-12-30); datetimes to the second."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone().replace(tzinfo=None)
        delta = value - _EPOCH
        seconds = delta.seconds + (1 if delta.microseconds >= 500_000 else 0)
        return delta.days if seconds == 0 else delta.days + seconds / 86400
    return (value - _EPOCH.date()).days


def from_serial(serial: float, kind: ValueType) -> date:
    days = math.floor(serial)
    seconds = round((serial - days) * 86400)
    moment = _EPOCH + timedelta(days=days, seconds=seconds)
    return moment.date() if kind is ValueType.DATE and seconds == 0 else moment


def date_text(value: date) -> str:
    """A date as the tool writes it into a column that does not hold dates (as a person reads it)."""
    if isinstance(value, datetime):
        return f"{value.year}/{value.month}/{value.day} {value.hour}:{value.minute:02d}:{value.second:02d}"
    return f"{value.year}/{value.month}/{value.day}"


def decode(value: Any, kind: ValueType | None) -> CellValue:
    """A cell as the API gave it (UNFORMATTED_VALUE, SERIAL_NUMBER) → a CellValue; ``kind`` is the
    date type of the column, None for a column that does not hold dates."""
    if type(value) is str:  # the common case first: tens of thousands of cells per read
        if value[:1] == "#" and (unknown := error_value(value)) is not None:
            return unknown  # an error value (#NAME?, #REF! …): not a value the tool can know
        return value or None
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if kind is not None and 1 <= value < _MAX_SERIAL:
            return from_serial(value, kind)
        return value
    return str(value)


def encode(value: CellValue, kind: ValueType | None) -> Any:
    """A CellValue as written with valueInputOption RAW ("" clears a cell)."""
    if value is None:
        return ""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, date):
        return to_serial(value) if kind is not None else date_text(value)
    return str(value)


def _empty(v: CellValue) -> bool:
    """A cell with nothing in it, as the API sends one. Not values.is_blank: a cell holding a space is
    text someone typed, and the store compares what cells hold, exactly (jobs decide what is blank)."""
    return v is None or v == ""


def _same(a: CellValue, b: CellValue) -> bool:
    if _empty(a) or _empty(b):
        return _empty(a) and _empty(b)
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b
    return type(a) is type(b) and a == b


def _echo_size(echo: str) -> tuple[int, int]:
    """Rows and columns of a tab from the range the API echoes for the whole tab."""
    m = _ECHO.search(echo)
    if not m:
        return NEW_TAB_ROWS, 26
    letters, digits = (m.group(3), m.group(4)) if m.group(3) else (m.group(1), m.group(2))
    col = 0
    for ch in letters:
        col = col * 26 + ord(ch) - 64
    return int(digits), col


def _content_token(tabs: Mapping[str, Grid], date_columns: Mapping[str, ValueType]) -> str:
    """A digest of tabs' values as they travel on the wire (so a value as the tool wrote it and the
    same value read back agree); trailing blank cells and rows do not count."""
    h = hashlib.blake2b(digest_size=16)
    for title in sorted(tabs):
        grid = _trimmed(tabs[title]) if tabs[title] else []
        header = grid[0] if grid else []
        kinds = [date_columns.get(header_key(x)) for x in header]
        h.update(json.dumps(title).encode())
        for i, row in enumerate(grid):
            cells = _wire_row([encode(v, kinds[c] if i > 0 and c < len(kinds) else None) for c, v in enumerate(row)])
            if cells or i == 0:
                h.update(f"{i}:".encode() + json.dumps(cells, ensure_ascii=False, default=str).encode())
                h.update(b"\n")
    return "c:" + h.hexdigest()


def _wire_row(cells: list[Any]) -> list[Any]:
    """A row of wire values as the API keeps them: a whole float is its int, trailing empty cells do not count."""
    out = [int(v) if isinstance(v, float) and v.is_integer() else v for v in cells]
    while out and out[-1] == "":
        out.pop()
    return out


def _trimmed(grid: Grid) -> Grid:
    out = [list(r) for r in grid]
    while len(out) > 1 and all(_empty(v) for v in out[-1]):
        out.pop()
    return out
