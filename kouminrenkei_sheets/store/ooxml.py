"""Two rules of the .xlsx format that openpyxl leaves to its caller, in one place for every writer
and reader of cells: the ``_xHHHH_`` escape of cell text, and cells whose value is not stored.

Excel writes a character it cannot put in XML as ``_xHHHH_`` and a literal ``_x0041_`` typed by a
person as ``_x005F_x0041_``; calamine decodes both, openpyxl neither (it writes text as given).
So text the tool writes through openpyxl is escaped here, and text it reads back through openpyxl
is decoded here, and ``_x0041_x000D_`` comes back exactly as typed.
"""

from __future__ import annotations

import html
import re

from ..values import ERROR_VALUES, Unknown

_ESCAPABLE = re.compile("_(?=x[0-9A-Fa-f]{4}_)")  # every "_" that starts an escape, overlapping ones too
_ESCAPED = re.compile("_x([0-9A-Fa-f]{4})_")


def escape_text(text: str) -> str:
    """Cell text as the file must hold it so that Excel and calamine show it as typed."""
    return _ESCAPABLE.sub("_x005F_", text) if "_x" in text else text


def unescape_text(text: str) -> str:
    """Cell text as the file holds it (openpyxl's view) → the text a person sees."""
    if "_x" not in text:
        return text
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


# ---------------------------------------------------------------- cells whose value is unknown
# calamine reads an error cell (t="e") and a formula without a stored result as empty; openpyxl's
# data_only view gives None for the latter. Neither may be read as a blank, so the worksheet's XML is
# looked at for them — only when it holds a formula or an error at all (a fast byte search).
_F_TAG_END = re.compile(rb"f[\s>/]")  # (a literal first: scanned at memchr speed, unlike "<(\w+:)?f")
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_REF = re.compile(rb'\br="([A-Z]{1,3})(\d+)"')
_TYPE = re.compile(rb'\bt="(\w+)"')
_FORMULA = re.compile(rb"<(?:\w+:)?f\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?f>)", re.S)
_VALUE = re.compile(rb"<(?:\w+:)?v>(.*?)</(?:\w+:)?v>", re.S)


def _has_formula(sheet_xml: bytes) -> bool:
    """Whether the part holds an ``<f>`` element (with or without a namespace prefix)."""
    return any(sheet_xml[m.start() - 1 : m.start()] in (b"<", b":") for m in _F_TAG_END.finditer(sheet_xml))


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


def unknown_cells(sheet_xml: bytes) -> dict[tuple[int, int], Unknown]:
    """(row, column number) → :class:`Unknown` for every error cell and every formula cell with no
    stored result in one worksheet part. A formula with a stored result is known: its result counts."""
    out: dict[tuple[int, int], Unknown] = {}
    if b't="e"' not in sheet_xml and not _has_formula(sheet_xml):
        return out
    for m in _CELL.finditer(sheet_xml):
        attrs, body = m.group(1), m.group(2) or b""
        t = _TYPE.search(attrs)
        kind = t.group(1) if t else b"n"
        formula = _FORMULA.search(body)
        if kind != b"e" and formula is None:
            continue
        ref = _REF.search(attrs)
        if ref is None:
            continue  # a cell without its address (rare writers): cannot be placed
        at = (int(ref.group(2)), _column_number(ref.group(1)))
        value = _VALUE.search(body)
        stored = html.unescape(value.group(1).decode("utf-8", "replace")) if value else ""
        if kind == b"e":
            out[at] = Unknown(stored.strip() or "#N/A", "error")
        elif kind != b"str" and not stored.strip():
            # (t="str" with an empty <v> is a formula whose result is the empty text: known)
            text = formula.group(1) if formula is not None and formula.group(1) else b""
            shown = html.unescape(text.decode("utf-8", "replace")).strip()
            out[at] = Unknown("=" + shown if shown else "=（共有数式）", "formula")
    return out


def error_value(text: str) -> Unknown | None:
    """A cell read as text that is a spreadsheet error value (Google Sheets sends "#NAME?" as text)."""
    return Unknown(text, "error") if text in ERROR_VALUES else None
