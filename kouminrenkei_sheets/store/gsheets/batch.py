"""The request bodies of the Sheets store's writes, built from a plan of each tab, and cut to size.

A spreadsheet's write is one ``spreadsheets:batchUpdate`` (Google applies it whole or not at all):
the 変更履歴 rows as ``appendCells`` (:func:`_append_cells`), the tabs, rows and columns, formats,
dropdowns, protected ranges and the tool's marks, then only the cells that differ as
``updateCells`` (:func:`_cell_updates`). The body is cut into parts under Google's 2 MB
recommendation (:func:`split_requests`). No network here.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gspread.utils import absolute_range_name, rowcol_to_a1

from ...schema import (
    CHOICE_LISTS,
    CHOICES,
    DEPARTMENT_SHEET,
    SHEETS,
    Column,
    Owner,
    Sheet,
    ValueType,
    is_department_sheet,
)
from ..base import MARK_FILL, Change, header_key
from .codec import Grid, _same, encode

DATE_PATTERN = "yyyy/m/d"
DATETIME_PATTERN = "yyyy/m/d h:mm:ss"
SPARE_COLUMNS = 10  # room for the columns a department adds for itself
GROW_ROWS = 500  # rows added at once when a tab fills up, so growing is rare
CHOICE_ROWS = 300  # how far down the 選択肢 lists may grow and still feed the dropdowns
MAX_REQUEST_BYTES = 2_000_000  # Google: keep a request's body under 2 MB (10 MB is refused outright)


def _rgb(argb: str) -> dict[str, float]:
    return {k: int(argb[i : i + 2], 16) / 255 for k, i in (("red", 2), ("green", 4), ("blue", 6))}


MARK_COLOR = _rgb(MARK_FILL)
HEADER_COLOR = _rgb("FFDDEBF7")
DESK_HEADER_COLOR = _rgb("FFE7E6E6")


@dataclass
class _TabPlan:
    """What one apply does to one tab."""

    title: str
    base: Grid  # the values on the server once the row deletes are done
    grid: Grid  # the values wanted
    rows: int
    cols: int
    deletes: list[int] = field(default_factory=list)  # 0-based row indexes, in order
    new: Sheet | None = None  # the tab is created from this schema
    hidden: bool = False
    new_columns: list[tuple[int, Column | None]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    sheet_id: int | None = None  # of a tab this plan creates
    marks: dict[tuple[int, int], str] | None = None  # (row, column number) → note; None = unchanged
    old_marks: dict[tuple[int, int], str] = field(default_factory=dict)  # on the sheet once rows are deleted


NOT_IDEMPOTENT = ("addSheet", "deleteDimension", "appendDimension", "addProtectedRange", "deleteSheet")


def _risky(request: Mapping[str, Any]) -> bool:
    """A structure request that must not be done twice (after a lost answer, check before retrying)."""
    return any(k in request for k in NOT_IDEMPOTENT)


def _wire_size(obj: Any) -> int:
    """Bytes of ``obj`` as requests sends it (json.dumps, non-ASCII escaped)."""
    return len(json.dumps(obj))


def split_requests(requests: Sequence[dict[str, Any]], limit: int) -> list[list[dict[str, Any]]]:
    """spreadsheets:batchUpdate requests in order, cut into bodies of at most ``limit`` bytes each; an
    ``updateCells`` or ``appendCells`` too big for one body is cut into blocks of whole rows (each
    cell still lands where it was meant to, appended rows stay in their order)."""
    budget = limit - len('{"requests": []}') - 2
    pieces = [piece for request in requests for piece in _cut(request, budget)]
    parts: list[list[dict[str, Any]]] = []
    size = limit + 1
    for request in pieces:
        n = _wire_size(request) + 2
        if size + n > limit and (not parts or parts[-1]):
            parts.append([])
            size = len('{"requests": []}')
        parts[-1].append(request)
        size += n
    return parts


def _cut(request: dict[str, Any], budget: int) -> list[dict[str, Any]]:
    [(kind, body)] = request.items()
    if kind not in ("updateCells", "appendCells") or "rows" not in body or _wire_size(request) <= budget:
        return [request]
    out: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    size = 0
    first = body["start"]["rowIndex"] if kind == "updateCells" else 0
    for row in [*body["rows"], None]:
        n = _wire_size(row) + 2 if row is not None else 0
        if rows and (row is None or size + n + 300 > budget):
            piece = {**body, "rows": rows}
            if kind == "updateCells":
                piece["start"] = {**body["start"], "rowIndex": first}
                first += len(rows)
            out.append({kind: piece})
            rows, size = [], 0
        if row is not None:
            rows.append(row)
            size += n
    return out


def _grid_a1(rng: Mapping[str, Any]) -> str:
    """A GridRange in A1 form: 'A:I' for whole columns, 'J1:N1', '2:5' for whole rows."""
    r0, r1 = rng.get("startRowIndex"), rng.get("endRowIndex")
    c0, c1 = rng.get("startColumnIndex"), rng.get("endColumnIndex")

    def letters(c: int) -> str:
        return rowcol_to_a1(1, c + 1).rstrip("0123456789")

    top, bottom = (r0 or 0) + 1, r1
    if c0 is None and c1 is None:
        return f"{top}:{bottom}" if bottom else "シート全体"
    left, right = letters(c0 or 0), letters((c1 or 26) - 1) if c1 else ""
    if (r0 or 0) == 0 and r1 is None:
        return f"{left}:{right}" if right else f"{left}列以降"
    return f"{left}{top}:{right}{bottom or ''}"


def _sheet_id(title: str, used: set[int]) -> int:
    sid = zlib.crc32(title.encode("utf-8")) & 0x7FFFFFFF
    while sid in used or sid == 0:
        sid = (sid + 1) & 0x7FFFFFFF
    return sid


def _growth(rows: int, needed: int) -> int:
    """Rows to add to a full tab: what is needed and half as much again, so growing stays rare."""
    return max(needed - rows + GROW_ROWS, rows // 2)


def _cols(sid: int, i: int, start: int, end: int) -> dict[str, int]:
    return {"sheetId": sid, "startRowIndex": start, "endRowIndex": end, "startColumnIndex": i, "endColumnIndex": i + 1}


def _number_format(sid: int, i: int, start: int, end: int, kind: ValueType) -> dict[str, Any]:
    pattern = DATETIME_PATTERN if kind is ValueType.DATETIME else DATE_PATTERN
    fmt = {"type": "DATE_TIME" if kind is ValueType.DATETIME else "DATE", "pattern": pattern}
    return {
        "repeatCell": {
            "range": _cols(sid, i, start, end),
            "cell": {"userEnteredFormat": {"numberFormat": fmt}},
            "fields": "userEnteredFormat.numberFormat",
        }
    }


def _validation(column: Column, has_choices: bool) -> dict[str, Any] | None:
    """A dropdown for a choice column (the 選択肢 tab's list when the book has it). Multi-choice
    columns get none: Sheets would flag every cell holding several choices."""
    if column.type is not ValueType.CHOICE or not column.choices or column.choices not in CHOICE_LISTS:
        return None
    if has_choices:
        letter = rowcol_to_a1(1, list(CHOICE_LISTS).index(column.choices) + 1).rstrip("0123456789")
        ref = f"={absolute_range_name(CHOICES)}!${letter}$2:${letter}${CHOICE_ROWS}"
        condition = {"type": "ONE_OF_RANGE", "values": [{"userEnteredValue": ref}]}
    else:
        condition = {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": v} for v in CHOICE_LISTS[column.choices]]}
    return {
        "condition": condition,
        "strict": False,
        "showCustomUi": True,
        "inputMessage": f"「{column.name}」は選択肢（{column.choices}）から選んでください。",
    }


def _protected_runs(sheet: Sheet) -> list[tuple[int, int, bool]]:
    """(first, end, whole column?) runs: desk-owned columns whole, department-owned ones header only."""
    runs: list[tuple[int, int, bool]] = []
    for i, column in enumerate(sheet.columns):
        whole = column.owner is Owner.DESK
        if runs and runs[-1][1] == i and runs[-1][2] == whole:
            runs[-1] = (runs[-1][0], i + 1, whole)
        else:
            runs.append((i, i + 1, whole))
    return runs


def _mark_requests(
    sid: int, old: Mapping[tuple[int, int], str], new: Mapping[tuple[int, int], str]
) -> list[dict[str, Any]]:
    reqs: list[dict[str, Any]] = []
    for (row, col), _note in old.items():
        if (row, col) not in new:
            reqs.append(
                {
                    "updateCells": {
                        "start": {"sheetId": sid, "rowIndex": row - 1, "columnIndex": col - 1},
                        "rows": [{"values": [{}]}],
                        "fields": "note,userEnteredFormat.backgroundColor",
                    }
                }
            )
    for (row, col), note in new.items():
        if old.get((row, col)) != note:
            cell = {"note": note, "userEnteredFormat": {"backgroundColor": MARK_COLOR}}
            reqs.append(
                {
                    "updateCells": {
                        "start": {"sheetId": sid, "rowIndex": row - 1, "columnIndex": col - 1},
                        "rows": [{"values": [cell]}],
                        "fields": "note,userEnteredFormat.backgroundColor",
                    }
                }
            )
    return reqs


def _schema_for(title: str) -> Sheet | None:
    """The schema of a tab by its title: a register tab, else (not the tool's own) a department tab."""
    if title in SHEETS:
        return SHEETS[title]
    return None if title.startswith("_") else DEPARTMENT_SHEET


def _row_formats(
    sid: int, p: _TabPlan, start: int, end: int, *, has_choices: bool, date_columns: Mapping[str, ValueType]
) -> list[dict[str, Any]]:
    """Date formats and dropdowns for rows added at the bottom of a tab."""
    schema = _schema_for(p.title)
    out: list[dict[str, Any]] = []
    for i, h in enumerate(p.grid[0]):
        column = schema.column(str(h)) if schema and schema.has(str(h)) else None
        kind = column.type if column and column.is_date else date_columns.get(header_key(h))
        if kind is not None:
            out.append(_number_format(sid, i, start, end, kind))
        if column is not None:
            rule = _validation(column, has_choices)
            if rule is not None:
                out.append({"setDataValidation": {"range": _cols(sid, i, start, end), "rule": rule}})
    return out


def _sheet_requests(
    sheet: Sheet, sid: int, rows: int, *, has_choices: bool, account: str | None
) -> list[dict[str, Any]]:
    """Headers, widths, formats, dropdowns, frozen header and (department tabs) protected desk columns."""
    department = is_department_sheet(sheet) or any(c.source for c in sheet.columns)
    reqs: list[dict[str, Any]] = []
    for i, column in enumerate(sheet.columns):
        reqs += _column_requests(sid, i, column, rows, has_choices=has_choices, department=department)
    grid = {"frozenRowCount": 1}
    fields = "gridProperties.frozenRowCount"
    if sheet.key:
        grid["frozenColumnCount"] = 1
        fields += ",gridProperties.frozenColumnCount"
    reqs.append({"updateSheetProperties": {"properties": {"sheetId": sid, "gridProperties": grid}, "fields": fields}})
    if department:
        editors = {"users": [account]} if account else None
        for start, end, whole in _protected_runs(sheet):
            pr: dict[str, Any] = {
                "range": {
                    "sheetId": sid,
                    "startRowIndex": 0,
                    "startColumnIndex": start,
                    "endColumnIndex": end,
                    **({} if whole else {"endRowIndex": 1}),
                },
                "description": "公民連携デスクが管理する列（同期で上書きされます）"
                if whole
                else "見出し（列名は変えないでください）",
            }
            if editors:
                pr["editors"] = editors
            reqs.append({"addProtectedRange": {"protectedRange": pr}})
    return reqs


def _column_requests(
    sid: int, i: int, column: Column, rows: int, *, has_choices: bool, department: bool
) -> list[dict[str, Any]]:
    color = DESK_HEADER_COLOR if department and column.owner is Owner.DESK else HEADER_COLOR
    header: dict[str, Any] = {
        "userEnteredFormat": {
            "textFormat": {"bold": True},
            "backgroundColor": color,
            "wrapStrategy": "WRAP",
            "verticalAlignment": "MIDDLE",
        }
    }
    fields = "userEnteredFormat(textFormat,backgroundColor,wrapStrategy,verticalAlignment)"
    if column.note:
        header["note"] = column.note
        fields += ",note"
    reqs: list[dict[str, Any]] = [
        {
            "updateCells": {
                "start": {"sheetId": sid, "rowIndex": 0, "columnIndex": i},
                "rows": [{"values": [header]}],
                "fields": fields,
            }
        },
        {
            "updateDimensionProperties": {
                "range": {"sheetId": sid, "dimension": "COLUMNS", "startIndex": i, "endIndex": i + 1},
                "properties": {"pixelSize": (column.width + 2) * 8},
                "fields": "pixelSize",
            }
        },
    ]
    if column.is_date:
        reqs.append(_number_format(sid, i, 1, rows, column.type))
    elif column.type in (ValueType.PHONE, ValueType.CORPORATE_NUMBER, ValueType.ID):
        reqs.append(
            {
                "repeatCell": {
                    "range": _cols(sid, i, 1, rows),
                    "cell": {"userEnteredFormat": {"numberFormat": {"type": "TEXT"}}},
                    "fields": "userEnteredFormat.numberFormat",
                }
            }
        )
    rule = _validation(column, has_choices)
    if rule is not None:
        reqs.append({"setDataValidation": {"range": _cols(sid, i, 1, rows), "rule": rule}})
    return reqs


# ---------------------------------------------------------------- cells as CellData (RAW semantics)
# Google's ErrorValue.type → the text the values API sends for it (what codec.decode knows as an error)
ERROR_TEXT = {
    "NULL_VALUE": "#NULL!",
    "DIVIDE_BY_ZERO": "#DIV/0!",
    "VALUE": "#VALUE!",
    "REF": "#REF!",
    "NAME": "#NAME?",
    "NUM": "#NUM!",
    "N_A": "#N/A",
    "ERROR": "#ERROR!",
    "LOADING": "Loading...",
}


def _cell_data(wire: Any) -> dict[str, Any]:
    """A wire value (what :func:`~.codec.encode` gives) as the CellData ``updateCells`` writes under the
    mask ``userEnteredValue``, as valueInputOption RAW would: text stays text ("=1+1" too), a number a
    number; "" is a CellData without a value (the cell is cleared)."""
    if wire is None or wire == "":
        return {}
    if isinstance(wire, bool):
        return {"userEnteredValue": {"boolValue": wire}}
    if isinstance(wire, int | float):
        return {"userEnteredValue": {"numberValue": wire}}
    return {"userEnteredValue": {"stringValue": str(wire)}}


def _effective(cell: Mapping[str, Any]) -> Any:
    """A CellData's effectiveValue as the values API sends it unformatted (None: an empty cell)."""
    ev = cell.get("effectiveValue")
    if not ev:
        return None
    if "stringValue" in ev:
        return ev["stringValue"]
    if "numberValue" in ev:
        return ev["numberValue"]
    if "boolValue" in ev:
        return bool(ev["boolValue"])
    if "errorValue" in ev:
        return ERROR_TEXT.get(str(ev["errorValue"].get("type", "")), "#ERROR!")
    return None


def _wire_of(cell: Mapping[str, Any]) -> Any:
    """The wire value a CellData this store built writes ("" for none): how a lost answer is checked."""
    uev = cell.get("userEnteredValue") or {}
    for kind in ("stringValue", "numberValue", "boolValue"):
        if kind in uev:
            return uev[kind]
    return ""


def _grid_rows(grid: Mapping[str, Any]) -> list[list[Any]]:
    """A GridData (spreadsheets.get) as the rows values:batchGet would give: unformatted, trailing
    empty cells and rows left out."""
    rows: list[list[Any]] = []
    for row in grid.get("rowData", []):
        cells = [_effective(c) for c in row.get("values", [])]
        while cells and cells[-1] is None:
            cells.pop()
        rows.append(cells)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _cell_updates(p: _TabPlan, sid: int, date_columns: Mapping[str, ValueType]) -> list[dict[str, Any]]:
    """``updateCells`` of only the cells that differ. A request writes every cell it names, so runs of
    adjacent changed cells go one request each (runs over the same columns of consecutive rows share
    one); an unchanged cell is never written (formulas and notes survive)."""
    header = p.grid[0] if p.grid else []
    kinds = [date_columns.get(header_key(h)) for h in header]
    blocks: list[tuple[int, int, int, list[list[dict[str, Any]]]]] = []  # (row, first col, end col, rows)
    open_runs: dict[tuple[int, int], int] = {}  # (first col, end col) → index of the block ending on the row above
    for r in range(max(len(p.base), len(p.grid))):
        old = p.base[r] if r < len(p.base) else []
        new = p.grid[r] if r < len(p.grid) else []
        width = max(len(old), len(new))
        diff = [
            c for c in range(width) if not _same(old[c] if c < len(old) else None, new[c] if c < len(new) else None)
        ]
        runs: list[tuple[int, int]] = []
        for c in diff:
            if runs and runs[-1][1] == c:
                runs[-1] = (runs[-1][0], c + 1)
            else:
                runs.append((c, c + 1))
        still: dict[tuple[int, int], int] = {}
        for c0, c1 in runs:
            cells = [
                _cell_data(encode(new[c] if c < len(new) else None, kinds[c] if c < len(kinds) and r > 0 else None))
                for c in range(c0, c1)
            ]
            at = open_runs.get((c0, c1))
            if at is not None:
                blocks[at][3].append(cells)
            else:
                at = len(blocks)
                blocks.append((r, c0, c1, [cells]))
            still[(c0, c1)] = at
        open_runs = still
    return [
        {
            "updateCells": {
                "start": {"sheetId": sid, "rowIndex": r, "columnIndex": c0},
                "rows": [{"values": cells} for cells in rows],
                "fields": "userEnteredValue",
            }
        }
        for r, c0, _c1, rows in blocks
    ]


def _column_format(column: Column | None, kind: ValueType | None) -> dict[str, Any] | None:
    """The number format the tool gives a column's cells (as :func:`_column_requests` does)."""
    if kind is not None:
        pattern = DATETIME_PATTERN if kind is ValueType.DATETIME else DATE_PATTERN
        return {"type": "DATE_TIME" if kind is ValueType.DATETIME else "DATE", "pattern": pattern}
    if column is not None and column.type in (ValueType.PHONE, ValueType.CORPORATE_NUMBER, ValueType.ID):
        return {"type": "TEXT"}
    return None


APPEND_FIELDS = "userEnteredValue,userEnteredFormat.numberFormat"


def _append_cells(
    title: str, sid: int, header: Sequence[str], rows: Sequence[list[Any]], date_columns: Mapping[str, ValueType]
) -> dict[str, Any]:
    """``appendCells`` of a log's rows (wire values in ``header``'s order) below its last row with data.

    values:append with INSERT_ROWS inserted rows for them, whose formats were whatever Google's row
    insertion gave (the fake: none); appendCells fills the grid's empty rows first (they have the
    column formats the tool set when it made the tab) and adds plain rows when it is full. So each
    cell brings its column's number format (a date a date format, an ID text) under the mask
    ``userEnteredValue,userEnteredFormat.numberFormat``: the same format wherever it lands."""
    schema = _schema_for(title)
    formats: list[dict[str, Any] | None] = []
    for h in header:
        column = schema.column(str(h)) if schema and schema.has(str(h)) else None
        kind = column.type if column is not None and column.is_date else date_columns.get(header_key(h))
        formats.append(_column_format(column, kind))
    out = []
    for row in rows:
        cells = []
        for c, wire in enumerate(row):
            cell = _cell_data(wire)
            fmt = formats[c] if c < len(formats) else None
            if fmt is not None:
                cell["userEnteredFormat"] = {"numberFormat": dict(fmt)}
            cells.append(cell)
        out.append({"values": cells})
    return {"appendCells": {"sheetId": sid, "rows": out, "fields": APPEND_FIELDS}}
