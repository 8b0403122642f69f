"""A local fake of the Google Sheets v4 and Drive v3 APIs and of Google's OAuth token endpoint.

The real gspread and google-auth code talk to it over HTTP on 127.0.0.1 (a random port): the
service account's JWT is checked against the public key of a key made for the test, every API call
needs the bearer token it handed out, and answers have Google's shapes (ragged rows, no ``values``
key for an empty range, quoted sheet titles in echoed ranges, ``{"error": {code, message, status}}``
bodies, 403 for a spreadsheet not shared with the caller, 404 for one that does not exist).
It counts requests per endpoint (``fake.calls``, each with its body's ``size`` in bytes), can add
latency, and can fail a chosen share of calls with 429, 500, 503, a dropped connection or a hang
(deterministically, from a seed) — before or after the call took effect. Only what the project uses is implemented.

**People.** ``fake.at(when, edit) -> Moment`` runs ``edit()`` once, inside the server, just before
the request ``when`` selects: ``When.first_write(key=None, *, nth=1)`` (values update/batchUpdate/
append/clear, ``…ByDataFilter`` or ``spreadsheets:batchUpdate``), ``When.request(n, *, key=None)``
(the n-th API request counted from ``at``), ``When.first(endpoint, *, key=None, nth=1)``.
``moment.fired`` / ``moment.before`` / ``moment.error`` say what happened. A person's edits (direct,
not requests; each bumps the Drive version and modifiedTime; ``as_user`` defaults to the owner; a
protected cell raises :class:`ProtectedCellError`; rows and columns are 1-based, columns also letters)::

    insert_rows(key, title, at, n=1, *, as_user=None, inherit=True)   # new rows become rows at…
    delete_rows(key, title, at, n=1, *, as_user=None)
    insert_columns(key, title, at, n=1, *, header=None, as_user=None)
    delete_columns(key, title, at, n=1, *, as_user=None)
    sort_range(key, title, by_column, descending=False, start_row=2, end_row=None, *, as_user=None)
    type_cell(key, title, a1_cell, value, *, as_user=None)            # parsed like USER_ENTERED
    append_row(key, title, values, *, as_user=None) -> row number     # typed below the last row
    rename_tab(key, title, new_title, *, as_user=None)
    rename_header(key, title, old, new, *, as_user=None)
    add_note(key, title, a1_cell, note, *, as_user=None); fill_cell(key, title, a1_cell, color, *, as_user=None)

Rows and columns carry their values, notes, formats, data validation, developer metadata and
protected ranges along (sort: single-row metadata; protection stays put, as in Sheets).

**Rules Google enforces.** Protected ranges (add/update/deleteProtectedRange, ``editors.users``,
``warningOnly``, ``unprotectedRanges``; the owner always edits; no editors named → the requester):
any write by a non-editor — values, clears, updateCells/repeatCell, deleteDimension — is a 403 with
:data:`PROTECTED_MESSAGE` and changes nothing; spreadsheets.get reports ``requestingUserCanEdit``
per caller. 50,000 characters a cell, 10,000,000 cells a spreadsheet, request bodies over
``fake.max_request_bytes`` (10 MB) refused with Google's 400 messages. ``fail_next("429",
retry_after=7)`` / ``inject_faults(…, retry_after=…)`` add a ``Retry-After`` header. spreadsheets.create
honours ``properties.locale`` / ``timeZone`` (defaults: ``FakeGoogle(locale=, time_zone=)``; a service
account's real defaults are ``locale="en_US", time_zone="Etc/GMT"``). values:append with
``insertDataOption=INSERT_ROWS`` inserts rows (without formats). spreadsheets:batchUpdate is atomic:
a failing request → nothing applied, a 400 "Invalid requests[i].kind: …". ``appendCells`` (sheetId,
rows, fields: a CellData mask) lands below the last row holding a value, adding rows to a full grid;
``updateCells`` writes every cell it names under its mask (a CellData without a value clears it);
spreadsheets.get's grid data shows a formula's effectiveValue as an errorValue (formulas are not
computed). Developer metadata: createDeveloperMetadata / updateDeveloperMetadata /
deleteDeveloperMetadata (ROW, COLUMN, SHEET, SPREADSHEET locations),
``developerMetadata:search``, ``developerMetadata/{id}``, ``values:batchGetByDataFilter`` and
``values:batchUpdateByDataFilter`` (a ROW anchor selects its whole row; values start in column A).

**Wiring.** The code under test reaches the fake through an injected transport, never a URL in the
configuration: ``fake.transport()`` is a ``requests`` adapter the store mounts on its session
(``GSheetsStore(..., transport=…)``), and ``fake.route_stores(monkeypatch)`` makes every store opened
from a configuration in this process use it. The credentials' ``token_uri`` points at the fake.

Pytest fixtures at the bottom: ``fake_google`` and ``gsheets_store_factory``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import itertools
import json
import math
import random
import re
import secrets
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
import requests.adapters
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SHEETS_MIME = "application/vnd.google-apps.spreadsheet"
FOLDER_MIME = "application/vnd.google-apps.folder"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # google-auth always signs for this audience
SHEETS_SCOPES = ("https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive")
DRIVE_SCOPES = ("https://www.googleapis.com/auth/drive", "https://www.googleapis.com/auth/drive.file")
EPOCH = datetime(1899, 12, 30)
DEFAULT_ROWS = 1000
DEFAULT_COLS = 26
SERVICE_ACCOUNT = "kouminrenkei@desk-project.iam.gserviceaccount.com"
A_PERSON = "tanto@pref.example.jp"  # who types into a spreadsheet in the helpers that edit as a person
# Google's documented limits (https://support.google.com/drive/answer/37603, the Sheets API usage limits)
CELL_CHARACTER_LIMIT = 50_000
SPREADSHEET_CELL_LIMIT = 10_000_000
REQUEST_BYTES_LIMIT = 10 * 1024 * 1024  # Google's front end: "Request payload size exceeds the limit: 10485760 bytes."
PROTECTED_MESSAGE = (
    "You are trying to edit a protected cell or object. "
    "Please contact the spreadsheet owner to remove protection if you need to edit."
)
# Requests that change a spreadsheet (the moments ``When.first_write`` counts)
WRITE_ENDPOINTS = frozenset(
    {
        "sheets.values.update",
        "sheets.values.batchUpdate",
        "sheets.values.append",
        "sheets.values.clear",
        "sheets.values.batchClear",
        "sheets.values.batchUpdateByDataFilter",
        "sheets.spreadsheets.batchUpdate",
    }
)


# ---------------------------------------------------------------- errors in Google's shapes
class ApiError(Exception):
    """An error answer. Sheets bodies are {code, message, status}; Drive adds ``errors`` [{reason…}]."""

    def __init__(self, code: int, message: str, status: str = "", *, reason: str = "", location: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.reason = reason
        self.location = location

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.reason:  # Drive style
            item = {"message": self.message, "domain": "global", "reason": self.reason}
            if self.reason in ("rateLimitExceeded", "userRateLimitExceeded", "storageQuotaExceeded"):
                item["domain"] = "usageLimits"
            if self.location:
                item.update(location=self.location, locationType="parameter")
            err["errors"] = [item]
        if self.status:
            err["status"] = self.status
        return {"error": err}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "INVALID_ARGUMENT")


def not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.", "NOT_FOUND")


def no_permission() -> ApiError:
    return ApiError(403, "The caller does not have permission", "PERMISSION_DENIED")


class ProtectedCellError(ApiError):
    """403 for an edit of a protected cell by someone who is not one of its editors."""

    def __init__(self) -> None:
        super().__init__(403, PROTECTED_MESSAGE, "PERMISSION_DENIED")


def too_long() -> ApiError:
    return bad_request(
        f"Your input contains more than the maximum of {CELL_CHARACTER_LIMIT} characters in a single cell."
    )


def too_many_cells() -> ApiError:
    return bad_request(
        "This action would increase the number of cells in the workbook above the limit of "
        f"{SPREADSHEET_CELL_LIMIT} cells."
    )


def drive_not_found(file_id: str) -> ApiError:
    return ApiError(404, f"File not found: {file_id}.", reason="notFound", location="fileId")


FAULT_BODIES: dict[str, tuple[int, dict[str, Any]]] = {
    "429": (
        429,
        {
            "error": {
                "code": 429,
                "message": "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute "
                "per user' of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "RATE_LIMIT_EXCEEDED",
                        "domain": "googleapis.com",
                        "metadata": {
                            "service": "sheets.googleapis.com",
                            "quota_limit": "WriteRequestsPerMinutePerUser",
                            "quota_limit_value": "60",
                            "consumer": "projects/000000000000",
                            "quota_metric": "sheets.googleapis.com/write_requests",
                            "quota_location": "global",
                        },
                    }
                ],
            }
        },
    ),
    "500": (500, {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}),
    "503": (503, {"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}}),
}
DRIVE_RATE_LIMIT = ApiError(403, "User rate limit exceeded.", reason="userRateLimitExceeded")


# ---------------------------------------------------------------- A1 notation
_CELL = re.compile(r"^([A-Za-z]{0,3})(\d*)$")
_SIMPLE_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOKS_LIKE_CELL = re.compile(r"^[A-Za-z]{1,3}\d+$")


def col_letters(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def quote_title(title: str) -> str:
    """How Google echoes a sheet title in a range: bare when simple, else quoted with '' escapes."""
    if _SIMPLE_TITLE.match(title) and not _LOOKS_LIKE_CELL.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def a1(title: str, r0: int, c0: int, r1: int, c1: int) -> str:
    """Echo of a 0-based [r0, r1) × [c0, c1) block."""
    start = f"{col_letters(c0)}{r0 + 1}"
    if r1 - r0 == 1 and c1 - c0 == 1:
        return f"{quote_title(title)}!{start}"
    return f"{quote_title(title)}!{start}:{col_letters(c1 - 1)}{r1}"


def split_range(spec: str) -> tuple[str | None, str | None]:
    """``'Sheet'!A1:B2`` → (title, cells); a bare word → (None, word)."""
    s = spec.strip()
    if s.startswith("'"):
        i, title = 1, []
        while True:
            if i >= len(s):
                raise bad_request(f"Unable to parse range: {spec}")
            ch = s[i]
            if ch == "'":
                if i + 1 < len(s) and s[i + 1] == "'":
                    title.append("'")
                    i += 2
                    continue
                i += 1
                break
            title.append(ch)
            i += 1
        rest = s[i:]
        if not rest:
            return "".join(title), None
        if not rest.startswith("!"):
            raise bad_request(f"Unable to parse range: {spec}")
        return "".join(title), rest[1:]
    if "!" in s:
        title, _, cells = s.partition("!")
        return title, cells
    return None, s


# ---------------------------------------------------------------- field masks ("a,b(c,d),e.f")
def parse_mask(mask: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}

    def parse(s: str, i: int, node: dict[str, Any]) -> int:
        name = ""
        while i < len(s):
            ch = s[i]
            if ch == ",":
                if name:
                    _add_path(node, name, None)
                name = ""
                i += 1
            elif ch == "(":
                child: dict[str, Any] = {}
                i = parse(s, i + 1, child)
                _add_path(node, name, child)
                name = ""
            elif ch == ")":
                if name:
                    _add_path(node, name, None)
                return i + 1
            elif ch.isspace():
                i += 1
            else:
                name += ch
                i += 1
        if name:
            _add_path(node, name, None)
        return i

    parse(mask, 0, tree)
    return tree


def _add_path(node: dict[str, Any], dotted: str, sub: dict[str, Any] | None) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        nxt = node.get(p)
        if nxt is None and p in node:
            return  # already selected whole
        node = node.setdefault(p, {})
    last = parts[-1]
    if sub is None:
        node[last] = None
    elif last in node and node[last] is None:
        return
    else:
        node.setdefault(last, {}).update(sub)


def apply_mask(obj: Any, tree: Mapping[str, Any] | None) -> Any:
    if tree is None or "*" in tree:
        return obj
    if isinstance(obj, list):
        return [apply_mask(x, tree) for x in obj]
    if not isinstance(obj, dict):
        return obj
    return {k: apply_mask(obj[k], sub) for k, sub in tree.items() if k in obj}


def mask_paths(mask: str) -> list[tuple[str, ...]]:
    """Leaf paths of a mask: 'userEnteredFormat(numberFormat,backgroundColor),note' → [(uEF, nF), …]."""
    out: list[tuple[str, ...]] = []

    def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        for k, sub in node.items():
            if sub is None:
                out.append((*prefix, k))
            else:
                walk(sub, (*prefix, k))

    walk(parse_mask(mask.replace("/", ".")), ())  # gspread writes 'gridProperties/frozenRowCount'
    return out


# ---------------------------------------------------------------- values and formats
class Formula(str):
    """A formula typed with USER_ENTERED (the fake does not compute it)."""


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DATE_IN = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
AUTO_DATE = {"type": "DATE", "pattern": "yyyy/mm/dd"}
AUTO_DATETIME = {"type": "DATE_TIME", "pattern": "yyyy/mm/dd h:mm:ss"}


def to_serial(value: date | datetime) -> float | int:
    if isinstance(value, datetime):
        delta = value.replace(tzinfo=None) - EPOCH
        serial = delta.days + delta.seconds / 86400
        return int(serial) if serial == int(serial) else serial
    return (value - EPOCH.date()).days


def from_serial(serial: float) -> datetime:
    days = math.floor(serial)
    seconds = round((serial - days) * 86400)
    return EPOCH + timedelta(days=days, seconds=seconds)


def user_entered(value: Any) -> tuple[Any, dict[str, Any] | None]:
    """A value as Sheets stores it when a person (or USER_ENTERED) types it; plus an automatic format."""
    if not isinstance(value, str):
        return value, None
    if value.startswith("'"):
        return value[1:], None
    if value.startswith("="):
        return Formula(value), None
    if value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE", None
    if _NUMBER.match(value):
        n = float(value)
        return (int(n) if n == int(n) and "." not in value and "e" not in value.lower() else n), None
    m = _DATE_IN.match(value)
    if m:
        y, mo, d, hh, mm, ss = m.groups()
        try:
            dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
        except ValueError:
            return value, None
        return to_serial(dt), (AUTO_DATETIME if hh else AUTO_DATE)
    return value, None


_PATTERN_TOKEN = re.compile(r'yyyy|yy|mmmm|mmm|mm|m|dd|d|hh|h|ss|s|"[^"]*"|\\.|.', re.IGNORECASE)


def render_date(serial: float, pattern: str) -> str:
    """Enough of Sheets' date/time patterns for the formats the project writes and a person's dates."""
    dt = from_serial(serial)
    tokens = [t for t in _PATTERN_TOKEN.findall(pattern)]
    lowered = [t.lower() for t in tokens]
    out = []
    for i, (tok, low) in enumerate(zip(tokens, lowered, strict=True)):
        prev = next((x for x in reversed(lowered[:i]) if x[0] in "hdmys" and x.isalpha()), "")
        nxt = next((x for x in lowered[i + 1 :] if x[0] in "hdmys" and x.isalpha()), "")
        if low == "yyyy":
            out.append(f"{dt.year:04d}")
        elif low == "yy":
            out.append(f"{dt.year % 100:02d}")
        elif low in ("mm", "m"):
            minute = prev.startswith("h") or nxt.startswith("s")
            v = dt.minute if minute else dt.month
            out.append(f"{v:02d}" if low == "mm" else str(v))
        elif low == "dd":
            out.append(f"{dt.day:02d}")
        elif low == "d":
            out.append(str(dt.day))
        elif low == "hh":
            out.append(f"{dt.hour:02d}")
        elif low == "h":
            out.append(str(dt.hour))
        elif low == "ss":
            out.append(f"{dt.second:02d}")
        elif low == "s":
            out.append(str(dt.second))
        elif tok.startswith('"'):
            out.append(tok[1:-1])
        elif tok.startswith("\\"):
            out.append(tok[1:])
        else:
            out.append(tok)
    return "".join(out)


def render_general(value: float) -> str:
    if isinstance(value, int) or value == int(value):
        return str(int(value))
    return f"{value:.10g}"


# ---------------------------------------------------------------- the model
Key = tuple[int, int]


@dataclass
class FakeSheet:
    sheet_id: int
    title: str
    index: int
    rows: list[list[Any]] = field(default_factory=list)  # stored values; None = empty
    row_count: int = DEFAULT_ROWS
    col_count: int = DEFAULT_COLS
    frozen_rows: int = 0
    frozen_cols: int = 0
    hidden: bool = False
    notes: dict[Key, str] = field(default_factory=dict)
    formats: dict[Key, dict[str, Any]] = field(default_factory=dict)  # userEnteredFormat per cell
    validations: dict[Key, dict[str, Any]] = field(default_factory=dict)
    protected: list[dict[str, Any]] = field(default_factory=list)
    dimensions: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    metadata: list[dict[str, Any]] = field(default_factory=list)  # developer metadata on this sheet or its rows/columns

    def clone(self) -> FakeSheet:
        c = copy.copy(self)
        c.rows = [list(r) for r in self.rows]
        c.notes = dict(self.notes)
        c.formats = dict(self.formats)  # format dicts are replaced, never changed in place
        c.validations = dict(self.validations)
        c.protected = copy.deepcopy(self.protected)
        c.dimensions = copy.deepcopy(self.dimensions)
        c.metadata = copy.deepcopy(self.metadata)
        return c

    def get(self, r: int, c: int) -> Any:
        if r < len(self.rows) and c < len(self.rows[r]):
            return self.rows[r][c]
        return None

    def put(self, r: int, c: int, value: Any) -> None:
        if value is None and (r >= len(self.rows) or c >= len(self.rows[r])):
            return
        while len(self.rows) <= r:
            self.rows.append([])
        row = self.rows[r]
        while len(row) <= c:
            row.append(None)
        row[c] = value

    def number_format(self, r: int, c: int) -> dict[str, Any] | None:
        fmt = self.formats.get((r, c))
        return fmt.get("numberFormat") if fmt else None

    def properties(self) -> dict[str, Any]:
        grid: dict[str, Any] = {"rowCount": self.row_count, "columnCount": self.col_count}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        if self.frozen_cols:
            grid["frozenColumnCount"] = self.frozen_cols
        props: dict[str, Any] = {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": grid,
        }
        if self.hidden:
            props["hidden"] = True
        return props

    # -- inspection helpers for tests
    def values(self) -> list[list[Any]]:
        """Stored values, trailing empty cells and rows trimmed."""
        out = [_trim(list(r)) for r in self.rows]
        while out and not out[-1]:
            out.pop()
        return out

    def format_at(self, a1_cell: str) -> dict[str, Any]:
        m = _CELL.match(a1_cell)
        assert m and m.group(1) and m.group(2), a1_cell
        return self.formats.get((int(m.group(2)) - 1, col_index(m.group(1))), {})

    def note_at(self, a1_cell: str) -> str | None:
        m = _CELL.match(a1_cell)
        assert m and m.group(1) and m.group(2), a1_cell
        return self.notes.get((int(m.group(2)) - 1, col_index(m.group(1))))

    def validation_at(self, a1_cell: str) -> dict[str, Any] | None:
        m = _CELL.match(a1_cell)
        assert m and m.group(1) and m.group(2), a1_cell
        return self.validations.get((int(m.group(2)) - 1, col_index(m.group(1))))


def _cell_index(a1_cell: str) -> Key:
    """ "B3" → (2, 1), 0-based."""
    m = _CELL.match(a1_cell)
    if not (m and m.group(1) and m.group(2)):
        raise ValueError(f"not a cell: {a1_cell!r}")
    return int(m.group(2)) - 1, col_index(m.group(1))


def _column_number(column: str | int) -> int:
    """ "C" or 3 → 3 (1-based)."""
    return column if isinstance(column, int) else col_index(column) + 1


def _in_grid_range(rng: Mapping[str, Any], r: int, c: int) -> bool:
    return rng.get("startRowIndex", 0) <= r < rng.get("endRowIndex", 1 << 30) and rng.get(
        "startColumnIndex", 0
    ) <= c < rng.get("endColumnIndex", 1 << 30)


def _trim(row: list[Any]) -> list[Any]:
    while row and row[-1] is None:
        row.pop()
    return row


def _shift(d: dict[Key, Any], axis: int, at: int, n: int) -> dict[Key, Any]:
    """Move keys when rows/columns are inserted (n > 0) or deleted (n < 0) at ``at``."""
    out: dict[Key, Any] = {}
    for k, v in d.items():
        pos = k[axis]
        if n < 0 and at <= pos < at - n:
            continue
        if pos >= at:
            pos += n
        out[(pos, k[1]) if axis == 0 else (k[0], pos)] = v
    return out


@dataclass
class FakeFile:
    id: str
    name: str
    mime_type: str
    owner: str
    parents: list[str] = field(default_factory=list)
    permissions: list[dict[str, Any]] = field(default_factory=list)
    created: str = ""
    modified: str = ""
    version: int = 1
    modified_by: str = ""  # the account that changed the file last (Drive's lastModifyingUser)
    shared_drive: bool = False  # folders: in a shared drive (service accounts may create files there)
    sheets: list[FakeSheet] = field(default_factory=list)
    locale: str = "ja_JP"
    time_zone: str = "Asia/Tokyo"
    next_protected_id: int = 1000
    metadata: list[dict[str, Any]] = field(default_factory=list)  # developer metadata on the spreadsheet itself
    next_metadata_id: int = 1_000_001

    def cell_count(self) -> int:
        return sum(s.row_count * s.col_count for s in self.sheets)

    def sheet(self, title: str) -> FakeSheet:
        for s in self.sheets:
            if s.title == title:
                return s
        raise KeyError(title)

    def find(self, title: str) -> FakeSheet | None:
        return next((s for s in self.sheets if s.title == title), None)

    def by_id(self, sheet_id: int) -> FakeSheet | None:
        return next((s for s in self.sheets if s.sheet_id == sheet_id), None)

    def reindex(self) -> None:
        self.sheets.sort(key=lambda s: s.index)
        for i, s in enumerate(self.sheets):
            s.index = i

    def drive_json(self, viewer: str) -> dict[str, Any]:
        """The file as Drive's files resource shows it to ``viewer`` (``lastModifyingUser.me``)."""
        out: dict[str, Any] = {
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "parents": list(self.parents),
            "createdTime": self.created,
            "modifiedTime": self.modified,
            "version": str(self.version),
            "trashed": False,
            "webViewLink": f"https://docs.google.com/spreadsheets/d/{self.id}/edit",
            "owners": [{"kind": "drive#user", "emailAddress": self.owner}],
        }
        by = self.modified_by or self.owner
        out["lastModifyingUser"] = {
            "kind": "drive#user",
            "displayName": by.split("@")[0],
            "emailAddress": by,
            "me": by == viewer,
        }
        return out


@dataclass(frozen=True)
class Call:
    """One request the fake answered (or failed on purpose)."""

    endpoint: str  # e.g. "sheets.values.batchGet", "drive.files.list", "oauth.token"
    method: str
    key: str | None  # spreadsheet / file id, when the URL names one
    status: int  # 0 for a dropped connection
    fault: str | None = None
    user: str | None = None
    size: int = 0  # bytes of the request body


@dataclass(frozen=True)
class When:
    """Which incoming request a person's edit comes just before (see :meth:`FakeGoogle.at`).

    A request matches when its endpoint is ``endpoint`` or under it (``"sheets.values"`` matches
    ``sheets.values.batchUpdate``; ``""`` matches every API call, never the token endpoint), it names
    spreadsheet ``key`` (None: any), and, with ``writes``, it is one of :data:`WRITE_ENDPOINTS`.
    The edit runs before the ``nth`` matching request counted from when it was registered.
    """

    endpoint: str = ""
    key: str | None = None
    writes: bool = False
    nth: int = 1

    @classmethod
    def first_write(cls, key: str | None = None, *, nth: int = 1) -> When:
        """Before the first (``nth``) request that writes (values or batchUpdate), of spreadsheet ``key``."""
        return cls(key=key, writes=True, nth=nth)

    @classmethod
    def request(cls, n: int, *, key: str | None = None) -> When:
        """Before the ``n``-th API request (of spreadsheet ``key``), counting from registration, 1-based."""
        return cls(key=key, nth=n)

    @classmethod
    def first(cls, endpoint: str, *, key: str | None = None, nth: int = 1) -> When:
        """Before the first (``nth``) request of ``endpoint`` (e.g. ``"sheets.values.append"``)."""
        return cls(endpoint=endpoint, key=key, nth=nth)

    def matches(self, endpoint: str, key: str | None) -> bool:
        if self.endpoint and endpoint != self.endpoint and not endpoint.startswith(self.endpoint + "."):
            return False
        if self.key is not None and key != self.key:
            return False
        return not self.writes or endpoint in WRITE_ENDPOINTS


@dataclass
class Moment:
    """A person's edit waiting for its request; ``fired`` tells a test it happened (and before what)."""

    when: When
    edit: Callable[[], Any]
    seen: int = 0
    fired: bool = False
    before: tuple[str, str | None] | None = None  # (endpoint, key) of the request it came before
    error: BaseException | None = None


@dataclass
class _Fault:
    kind: str  # "429" | "500" | "503" | "drop" | "hang" | "403rate"
    after_apply: bool = False
    retry_after: float | None = None  # 429: a Retry-After header (seconds)


@dataclass
class _Ctx:
    method: str
    query: dict[str, list[str]]
    body: Any
    user: str
    scopes: tuple[str, ...]

    def q(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[0] if vals else default


ROLE_RANK = {"reader": 1, "commenter": 2, "writer": 3, "fileOrganizer": 3, "organizer": 4, "owner": 5}


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeGoogle


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stalls
    server: _Server

    def do_GET(self) -> None:
        self.server.fake._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._handle(self, "POST")

    def do_PUT(self) -> None:
        self.server.fake._handle(self, "PUT")

    def do_PATCH(self) -> None:
        self.server.fake._handle(self, "PATCH")

    def do_DELETE(self) -> None:
        self.server.fake._handle(self, "DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        pass


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/v4/spreadsheets$"), "sheets.spreadsheets.create"),
    ("GET", re.compile(r"^/v4/spreadsheets/([^/:]+)$"), "sheets.spreadsheets.get"),
    ("POST", re.compile(r"^/v4/spreadsheets/([^/:]+):batchUpdate$"), "sheets.spreadsheets.batchUpdate"),
    ("GET", re.compile(r"^/v4/spreadsheets/([^/:]+)/values:batchGet$"), "sheets.values.batchGet"),
    ("POST", re.compile(r"^/v4/spreadsheets/([^/:]+)/values:batchUpdate$"), "sheets.values.batchUpdate"),
    ("POST", re.compile(r"^/v4/spreadsheets/([^/:]+)/values:batchClear$"), "sheets.values.batchClear"),
    (
        "POST",
        re.compile(r"^/v4/spreadsheets/([^/:]+)/values:batchGetByDataFilter$"),
        "sheets.values.batchGetByDataFilter",
    ),
    (
        "POST",
        re.compile(r"^/v4/spreadsheets/([^/:]+)/values:batchUpdateByDataFilter$"),
        "sheets.values.batchUpdateByDataFilter",
    ),
    ("POST", re.compile(r"^/v4/spreadsheets/([^/:]+)/developerMetadata:search$"), "sheets.developerMetadata.search"),
    ("GET", re.compile(r"^/v4/spreadsheets/([^/:]+)/developerMetadata/(\d+)$"), "sheets.developerMetadata.get"),
    ("POST", re.compile(r"^/v4/spreadsheets/([^/:]+)/values/([^/]+):append$"), "sheets.values.append"),
    ("POST", re.compile(r"^/v4/spreadsheets/([^/:]+)/values/([^/]+):clear$"), "sheets.values.clear"),
    ("GET", re.compile(r"^/v4/spreadsheets/([^/:]+)/values/([^/:]+)$"), "sheets.values.get"),
    ("PUT", re.compile(r"^/v4/spreadsheets/([^/:]+)/values/([^/:]+)$"), "sheets.values.update"),
    ("GET", re.compile(r"^/drive/v3/files$"), "drive.files.list"),
    ("POST", re.compile(r"^/drive/v3/files$"), "drive.files.create"),
    ("GET", re.compile(r"^/drive/v3/files/([^/]+)$"), "drive.files.get"),
    ("PATCH", re.compile(r"^/drive/v3/files/([^/]+)$"), "drive.files.update"),
    ("DELETE", re.compile(r"^/drive/v3/files/([^/]+)$"), "drive.files.delete"),
    ("POST", re.compile(r"^/drive/v3/files/([^/]+)/permissions$"), "drive.permissions.create"),
    ("GET", re.compile(r"^/drive/v3/files/([^/]+)/permissions$"), "drive.permissions.list"),
]


GOOGLE_API_HOSTS = frozenset({"sheets.googleapis.com", "www.googleapis.com"})


class FakeGoogleTransport(requests.adapters.HTTPAdapter):
    """Sends a request for Google's API hosts to the fake at ``url`` (same path and query); any other
    host is refused. ``FakeGoogle.transport()`` makes one; a fake in another process is named by its URL."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        if parts.hostname not in GOOGLE_API_HOSTS:
            raise requests.ConnectionError(f"the fake answers only Google API hosts, not {parts.hostname}")
        request.url = self.url + (request.url or "")[len(f"{parts.scheme}://{parts.netloc}") :]
        return super().send(request, *args, **kwargs)


class FakeGoogle:
    """Google Sheets + Drive + OAuth on one local port. Seed it directly; the code under test uses HTTP."""

    def __init__(self, *, latency: float = 0.0, locale: str = "ja_JP", time_zone: str = "Asia/Tokyo") -> None:
        self.latency = latency
        self.hang_seconds = 1.0
        self.locale = locale  # the defaults of a spreadsheet made without properties.locale / timeZone
        self.time_zone = time_zone
        self.max_request_bytes = REQUEST_BYTES_LIMIT
        self.edits: list[str] = []  # what people did (person edits), for a failing test's message
        self._moments: list[Moment] = []
        self._caller = ""  # who is making the request being handled (for protected ranges)
        self.service_accounts_have_no_quota = False  # Drive: SAs cannot own files outside shared drives
        self.files: dict[str, FakeFile] = {}
        self.calls: list[Call] = []
        self.errors: list[str] = []  # unexpected exceptions in the fake (a bug in the fake or a bad request)
        self._service_accounts: dict[str, rsa.RSAPublicKey] = {}
        self._users: dict[str, tuple[str, str, str]] = {}  # refresh_token -> (client_id, secret, email)
        self._tokens: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._lock = threading.RLock()
        self._rng = random.Random(0)
        self._fault_rate = 0.0
        self._fault_kinds: tuple[str, ...] = ()
        self._fault_after = 0.0
        self._fault_endpoints: frozenset[str] | None = None
        self._fault_retry_after: float | None = None
        self._scripted: list[tuple[str, _Fault]] = []  # (endpoint prefix, fault), consumed in order
        self._ids = itertools.count(1)
        self._clock = time.time
        self._last_modified = 0.0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> FakeGoogle:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGoogle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeGoogle not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    def transport(self) -> FakeGoogleTransport:
        """A ``requests`` transport adapter that sends calls to Google's API hosts here instead: give
        it to the store (``GSheetsStore(..., transport=fake.transport())``) and the real gspread and
        google-auth code talks to this fake."""
        return FakeGoogleTransport(self.url)

    def route_stores(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every Sheets store opened from a configuration in this process (``open_store``, the CLI
        run in-process with click's CliRunner, a gsheets: intake source) talks to this fake."""
        from kouminrenkei_sheets.store import factory

        real = factory.open_gsheets

        def open_here(config: Any, **kwargs: Any) -> Any:
            return real(config, **{"transport": self.transport(), **kwargs})

        monkeypatch.setattr(factory, "open_gsheets", open_here)

    # -- identities
    def add_service_account(self, email: str, public_key: rsa.RSAPublicKey) -> None:
        self._service_accounts[email] = public_key

    def service_account_info(
        self, email: str = SERVICE_ACCOUNT, key: rsa.RSAPrivateKey | None = None
    ) -> dict[str, Any]:
        """The JSON of a service-account key whose ``token_uri`` is this fake (the key is registered)."""
        key = key or private_key_for_tests()
        self.add_service_account(email, key.public_key())
        return service_account_json(self.token_uri, email, key)

    def add_authorized_user(
        self,
        email: str,
        *,
        client_id: str = "desk-client.apps.googleusercontent.com",
        client_secret: str = "desk-secret",
        refresh_token: str = "1//desk-refresh",
    ) -> dict[str, Any]:
        """An authorised-user file's JSON (``token_uri`` pointing here) for a person's Google account."""
        self._users[refresh_token] = (client_id, client_secret, email)
        return {
            "type": "authorized_user",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
            "token_uri": self.token_uri,
        }

    # -- seeding (direct, not counted as requests)
    def _new_id(self) -> str:
        return "1" + secrets.token_urlsafe(32)[:43].replace("-", "x").replace("_", "y")

    def _now_iso(self) -> str:
        with self._lock:
            t = max(self._clock(), self._last_modified + 0.001)
            self._last_modified = t
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(t * 1000) % 1000:03d}Z"

    def _touch(self, f: FakeFile, by: str) -> None:
        """A change to the file by ``by`` (an account's e-mail): Drive's modifiedTime, version and
        lastModifyingUser move on."""
        f.modified = self._now_iso()
        f.version += 1
        f.modified_by = by

    def add_folder(
        self,
        name: str = "公民連携",
        *,
        shared_with: Sequence[str] = (SERVICE_ACCOUNT,),
        role: str = "writer",
        shared_drive: bool = True,
        owner: str = "desk@pref.example.jp",
    ) -> str:
        fid = "0A" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")[:31]
        now = self._now_iso()
        folder = FakeFile(fid, name, FOLDER_MIME, owner, created=now, modified=now, shared_drive=shared_drive)
        folder.permissions = [self._perm(e, role) for e in shared_with]
        with self._lock:
            self.files[fid] = folder
        return fid

    def _perm(self, email: str, role: str) -> dict[str, Any]:
        return {
            "kind": "drive#permission",
            "id": str(next(self._ids)),
            "type": "user",
            "role": role,
            "emailAddress": email,
        }

    def add_spreadsheet(
        self,
        title: str = "無題のスプレッドシート",
        *,
        tabs: Mapping[str, Sequence[Sequence[Any]]] | None = None,
        shared_with: Sequence[str] = (SERVICE_ACCOUNT,),
        role: str = "writer",
        parents: Sequence[str] = (),
        owner: str = "desk@pref.example.jp",
        hidden: Sequence[str] = (),
    ) -> str:
        """A spreadsheet made by a person; ``tabs`` maps titles to grids typed as a person would."""
        key = self._new_id()
        now = self._now_iso()
        f = FakeFile(
            key,
            title,
            SHEETS_MIME,
            owner,
            list(parents),
            created=now,
            modified=now,
            locale=self.locale,
            time_zone=self.time_zone,
        )
        f.permissions = [self._perm(e, role) for e in shared_with]
        if not tabs:
            f.sheets = [FakeSheet(0, self._default_sheet_title(), 0)]
        else:
            for i, (name, grid) in enumerate(tabs.items()):
                s = FakeSheet(0 if i == 0 else 1000 + i, name, i, hidden=name in hidden)
                _fill(s, grid, as_person=True)
                f.sheets.append(s)
        with self._lock:
            self.files[key] = f
        return key

    def _default_sheet_title(self) -> str:
        return "シート1" if self.locale.startswith("ja") else "Sheet1"

    def share(self, file_id: str, email: str, role: str = "writer") -> None:
        with self._lock:
            self.files[file_id].permissions.append(self._perm(email, role))

    def unshare(self, file_id: str, email: str) -> None:
        with self._lock:
            f = self.files[file_id]
            f.permissions = [p for p in f.permissions if p.get("emailAddress") != email]

    def spreadsheet(self, key: str) -> FakeFile:
        return self.files[key]

    def sheet(self, key: str, title: str) -> FakeSheet:
        return self.files[key].sheet(title)

    def values(self, key: str, title: str) -> list[list[Any]]:
        """What is stored in a tab (trailing empties trimmed); dates as serial numbers."""
        with self._lock:
            return self.sheet(key, title).values()

    def put_values(
        self, key: str, title: str, grid: Sequence[Sequence[Any]], *, as_person: bool = True, hidden: bool = False
    ) -> FakeSheet:
        """Replace a tab's values (creating the tab), as a person typing them or as raw values."""
        with self._lock:
            f = self.files[key]
            s = f.find(title)
            if s is None:
                used = {x.sheet_id for x in f.sheets}
                sid = next(i for i in itertools.count(1000) if i not in used)
                s = FakeSheet(sid, title, len(f.sheets), hidden=hidden)
                f.sheets.append(s)
            s.rows = []
            _fill(s, grid, as_person=as_person)
            self._touch(f, A_PERSON)
            return s

    def edit(self, key: str, title: str, cell: str, value: Any, *, as_person: bool = True) -> None:
        """One cell typed by a person (``as_person``: parsed like the Sheets UI does)."""
        m = _CELL.match(cell)
        assert m and m.group(1) and m.group(2), cell
        r, c = int(m.group(2)) - 1, col_index(m.group(1))
        with self._lock:
            f = self.files[key]
            s = f.sheet(title)
            _grow(s, r + 1, c + 1)
            _put_typed(s, r, c, value, as_person=as_person)
            self._touch(f, A_PERSON)

    def delete_tab(self, key: str, title: str) -> None:
        with self._lock:
            f = self.files[key]
            f.sheets.remove(f.sheet(title))
            f.reindex()
            self._touch(f, A_PERSON)

    # -- people: edits at request boundaries (direct, not counted as requests)
    def at(self, when: When, edit: Callable[[], Any]) -> Moment:
        """Run ``edit`` once, inside the server, just before the request ``when`` selects is handled.

        ``edit`` is usually a person's edit: ``fake.at(When.first_write(key), lambda:
        fake.insert_rows(key, "照会", 2))``. The returned :class:`Moment` says whether it fired.
        An exception in ``edit`` is kept in ``moment.error`` and in ``fake.errors``.
        """
        moment = Moment(when, edit)
        with self._lock:
            self._moments.append(moment)
        return moment

    def _run_moments(self, endpoint: str, key: str | None) -> None:
        with self._lock:
            due = []
            for m in self._moments:
                if not m.fired and m.when.matches(endpoint, key):
                    m.seen += 1
                    if m.seen >= m.when.nth:
                        m.fired, m.before = True, (endpoint, key)
                        due.append(m)
            self._moments = [m for m in self._moments if not m.fired]
            for m in due:
                try:
                    m.edit()
                except Exception as e:
                    m.error = e
                    self.errors.append(f"a person's edit before {endpoint} failed:\n{traceback.format_exc()}")

    @contextlib.contextmanager
    def _person(
        self, key: str, title: str, as_user: str | None, what: str
    ) -> Iterator[tuple[FakeFile, FakeSheet, str]]:
        """A person's edit of one tab: they must be able to write the file; Drive's version moves on."""
        with self._lock:
            f = self.files[key]
            user = as_user or f.owner
            if self.role(f, user) < ROLE_RANK["writer"]:
                raise no_permission()
            yield f, f.sheet(title), user
            self._touch(f, as_user or A_PERSON)
            self.edits.append(f"{user}: {what} ({f.name} / {title})")

    def insert_rows(
        self, key: str, title: str, at: int, n: int = 1, *, as_user: str | None = None, inherit: bool = True
    ) -> None:
        """A person inserts ``n`` empty rows so that they become rows ``at``… (1-based; "insert above row
        ``at``"). Rows below move down with their notes, formats, validation, metadata and protection;
        the new rows take the formats and data validation of the row above (as the Sheets UI does)."""
        with self._person(key, title, as_user, f"{n} row(s) inserted at {at}") as (f, sheet, _):
            r = at - 1
            if not 0 <= r <= sheet.row_count:
                raise ValueError(f"row {at} is outside the grid ({sheet.row_count} rows)")
            if f.cell_count() + n * sheet.col_count > SPREADSHEET_CELL_LIMIT:
                raise too_many_cells()
            _insert(sheet, 0, r, n)
            if inherit and r > 0:
                for store in (sheet.formats, sheet.validations):
                    for (rr, c), v in list(store.items()):
                        if rr == r - 1:
                            for i in range(r, r + n):
                                store[(i, c)] = copy.deepcopy(v)

    def delete_rows(self, key: str, title: str, at: int, n: int = 1, *, as_user: str | None = None) -> None:
        """A person deletes rows ``at``…``at + n - 1`` (1-based); what is below moves up."""
        with self._person(key, title, as_user, f"{n} row(s) deleted at {at}") as (f, sheet, user):
            r = at - 1
            if not 0 <= r < r + n <= sheet.row_count:
                raise ValueError(f"rows {at}-{at + n - 1} are outside the grid ({sheet.row_count} rows)")
            self._check_rect(f, sheet, r, 0, r + n, sheet.col_count, user)
            _delete(sheet, 0, r, n)

    def insert_columns(
        self,
        key: str,
        title: str,
        at: str | int,
        n: int = 1,
        *,
        header: str | Sequence[str] | None = None,
        as_user: str | None = None,
    ) -> None:
        """A person inserts ``n`` columns so that they become column ``at`` (a letter, or 1-based) …,
        and types ``header`` (one title, or one per new column) into row 1 of them."""
        c = _column_number(at) - 1
        with self._person(key, title, as_user, f"{n} column(s) inserted at {col_letters(c)}") as (f, sheet, _):
            if not 0 <= c <= sheet.col_count:
                raise ValueError(f"column {at} is outside the grid ({sheet.col_count} columns)")
            if f.cell_count() + n * sheet.row_count > SPREADSHEET_CELL_LIMIT:
                raise too_many_cells()
            _insert(sheet, 1, c, n)
            titles = [header] if isinstance(header, str) else list(header or [])
            for i, text in enumerate(titles[:n]):
                _put_typed(sheet, 0, c + i, text, as_person=True)

    def delete_columns(self, key: str, title: str, at: str | int, n: int = 1, *, as_user: str | None = None) -> None:
        """A person deletes columns ``at``… (a letter, or 1-based); what is right of them moves left."""
        c = _column_number(at) - 1
        with self._person(key, title, as_user, f"{n} column(s) deleted at {col_letters(c)}") as (f, sheet, user):
            if not 0 <= c < c + n <= sheet.col_count:
                raise ValueError(f"columns {at}… are outside the grid ({sheet.col_count} columns)")
            self._check_rect(f, sheet, 0, c, sheet.row_count, c + n, user)
            _delete(sheet, 1, c, n)

    def sort_range(
        self,
        key: str,
        title: str,
        by_column: str | int,
        descending: bool = False,
        start_row: int = 2,
        end_row: int | None = None,
        *,
        as_user: str | None = None,
    ) -> list[int]:
        """A person sorts rows ``start_row``…``end_row`` (1-based, default: to the last row with a value)
        by one column: a header of row 1, a column letter, or a 1-based number. Whole rows move
        with their values, notes, formats, data validation and developer metadata; empty cells sort
        last, ties keep their order. Returns the old row numbers in their new order."""
        with self._person(key, title, as_user, f"sorted by {by_column}") as (f, sheet, user):
            c = self._column_of(sheet, by_column)
            last = len(sheet.values()) if end_row is None else end_row
            r0, r1 = start_row - 1, max(start_row - 1, last)
            if r1 > sheet.row_count:
                raise ValueError(f"row {last} is outside the grid ({sheet.row_count} rows)")
            if r1 - r0 < 2:
                return list(range(start_row, r1 + 1))
            self._check_rect(f, sheet, r0, 0, r1, sheet.col_count, user)
            filled = [r for r in range(r0, r1) if sheet.get(r, c) is not None]
            filled.sort(key=lambda r: _sort_key(sheet.get(r, c)), reverse=descending)
            order = filled + [r for r in range(r0, r1) if sheet.get(r, c) is None]
            _reorder_rows(sheet, r0, order)
            return [r + 1 for r in order]

    def type_cell(self, key: str, title: str, a1_cell: str, value: Any, *, as_user: str | None = None) -> None:
        """What a person types into one cell (parsed like USER_ENTERED: "2025/4/1" a date, "=…" a formula,
        "'0012" text; "" empties it)."""
        r, c = _cell_index(a1_cell)
        with self._person(key, title, as_user, f"typed {value!r} into {a1_cell}") as (f, sheet, user):
            if r >= sheet.row_count or c >= sheet.col_count:
                raise ValueError(f"{a1_cell} is outside the grid ({sheet.row_count} × {sheet.col_count})")
            if isinstance(value, str) and len(value) > CELL_CHARACTER_LIMIT:
                raise too_long()
            self._check_rect(f, sheet, r, c, r + 1, c + 1, user)
            _put_typed(sheet, r, c, value, as_person=True)

    def append_row(self, key: str, title: str, values: Sequence[Any], *, as_user: str | None = None) -> int:
        """A person types a row below the last row that has a value (adding grid rows if the sheet is
        full). Returns its 1-based row number."""
        with self._person(key, title, as_user, f"typed a row {list(values)!r} at the bottom") as (f, sheet, user):
            r = len(sheet.values())
            if any(isinstance(v, str) and len(v) > CELL_CHARACTER_LIMIT for v in values):
                raise too_long()
            self._check_rect(f, sheet, r, 0, r + 1, max(1, len(values)), user)
            if r + 1 > sheet.row_count and f.cell_count() + sheet.col_count > SPREADSHEET_CELL_LIMIT:
                raise too_many_cells()
            _grow(sheet, r + 1, len(values))
            for c, v in enumerate(values):
                if v is not None:
                    _put_typed(sheet, r, c, v, as_person=True)
            return r + 1

    def rename_tab(self, key: str, title: str, new_title: str, *, as_user: str | None = None) -> None:
        """A person renames a tab (sheet ids, protection and metadata stay)."""
        with self._person(key, title, as_user, f"tab renamed to {new_title}") as (f, sheet, _):
            if f.find(new_title) is not None:
                raise ValueError(f"a tab named {new_title!r} already exists")
            sheet.title = new_title

    def rename_header(self, key: str, title: str, old: str, new: str, *, as_user: str | None = None) -> None:
        """A person types a new title over the header ``old`` in row 1."""
        with self._person(key, title, as_user, f"header {old} renamed to {new}") as (f, sheet, user):
            c = self._column_of(sheet, old, headers_only=True)
            self._check_rect(f, sheet, 0, c, 1, c + 1, user)
            _put_typed(sheet, 0, c, new, as_person=True)

    def add_note(self, key: str, title: str, a1_cell: str, note: str, *, as_user: str | None = None) -> None:
        """A person puts a note on a cell ("" removes it)."""
        r, c = _cell_index(a1_cell)
        with self._person(key, title, as_user, f"note on {a1_cell}") as (f, sheet, user):
            self._check_rect(f, sheet, r, c, r + 1, c + 1, user)
            if note:
                sheet.notes[(r, c)] = note
            else:
                sheet.notes.pop((r, c), None)

    def fill_cell(
        self, key: str, title: str, a1_cell: str, color: Mapping[str, float], *, as_user: str | None = None
    ) -> None:
        """A person gives a cell a background colour ({"red": 1, "green": 0.9, "blue": 0.6})."""
        r, c = _cell_index(a1_cell)
        with self._person(key, title, as_user, f"fill on {a1_cell}") as (f, sheet, user):
            self._check_rect(f, sheet, r, c, r + 1, c + 1, user)
            sheet.formats[(r, c)] = {**sheet.formats.get((r, c), {}), "backgroundColor": dict(color)}

    def _column_of(self, sheet: FakeSheet, column: str | int, *, headers_only: bool = False) -> int:
        if isinstance(column, int):
            return column - 1
        header = sheet.rows[0] if sheet.rows else []
        hits = [i for i, v in enumerate(header) if v == column]
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise ValueError(f"header {column!r} is in more than one column")
        if headers_only or not re.fullmatch(r"[A-Za-z]{1,3}", column):
            raise ValueError(f"no header {column!r} in row 1 of {sheet.title}")
        return col_index(column)

    # -- protected ranges
    def can_edit(self, f: FakeFile, pr: Mapping[str, Any], user: str) -> bool:
        """The owner and the range's ``editors.users`` may edit a protected range (warnings never block)."""
        if pr.get("warningOnly") or user == f.owner:
            return True
        return user in pr.get("editors", {}).get("users", [])

    def _check_rect(self, f: FakeFile, sheet: FakeSheet, r0: int, c0: int, r1: int, c1: int, user: str) -> None:
        """403 when any cell of [r0, r1) × [c0, c1) is protected against ``user``."""
        if not user or r0 >= r1 or c0 >= c1:
            return
        for pr in sheet.protected:
            if self.can_edit(f, pr, user):
                continue
            rng = pr["range"]
            lo_r, hi_r = max(r0, rng.get("startRowIndex", 0)), min(r1, rng.get("endRowIndex", 1 << 30))
            lo_c, hi_c = max(c0, rng.get("startColumnIndex", 0)), min(c1, rng.get("endColumnIndex", 1 << 30))
            if lo_r >= hi_r or lo_c >= hi_c:
                continue
            holes = pr.get("unprotectedRanges", [])
            if not holes:
                raise ProtectedCellError()
            for r in range(lo_r, hi_r):
                for c in range(lo_c, hi_c):
                    if not any(_in_grid_range(u, r, c) for u in holes):
                        raise ProtectedCellError()

    def _check_cells(self, f: FakeFile, sheet: FakeSheet, cells: Iterator[Key], user: str) -> None:
        if not user or not sheet.protected:
            return
        for r, c in cells:
            self._check_rect(f, sheet, r, c, r + 1, c + 1, user)

    # -- faults and metrics
    def inject_faults(
        self,
        rate: float,
        *,
        kinds: Sequence[str] = ("429", "500", "503", "drop"),
        seed: int = 0,
        after_apply: float = 0.0,
        endpoints: Sequence[str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Fail ``rate`` of the API calls (never the token endpoint), chosen by a seeded RNG.

        ``after_apply`` is the share of those failures (500, 503, drop, hang) that happen after the
        call took effect — the answer is lost, not the change. ``retry_after``: 429 answers carry a
        ``Retry-After`` header of that many seconds.
        """
        with self._lock:
            self._fault_retry_after = retry_after
            self._fault_rate = rate
            self._fault_kinds = tuple(kinds)
            self._fault_after = after_apply
            self._fault_endpoints = frozenset(endpoints) if endpoints else None
            self._rng = random.Random(seed)

    def clear_faults(self) -> None:
        with self._lock:
            self._fault_rate = 0.0
            self._scripted.clear()

    def fail_next(
        self,
        kind: str,
        count: int = 1,
        *,
        endpoint: str = "",
        after_apply: bool = False,
        retry_after: float | None = None,
    ) -> None:
        """The next ``count`` calls whose endpoint starts with ``endpoint`` fail with ``kind``
        (``retry_after``: a 429 carries ``Retry-After: <seconds>``, as Google's front end may send)."""
        with self._lock:
            self._scripted.extend((endpoint, _Fault(kind, after_apply, retry_after)) for _ in range(count))

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def counts(self, *, key: str | None = None, include_token: bool = False) -> Counter[str]:
        """Requests per endpoint (failed attempts included), optionally for one spreadsheet."""
        with self._lock:
            return Counter(
                c.endpoint
                for c in self.calls
                if (include_token or c.endpoint != "oauth.token") and (key is None or c.key == key)
            )

    def count(self, endpoint: str = "", *, key: str | None = None) -> int:
        """Requests whose endpoint starts with ``endpoint`` (``"sheets"``, ``"sheets.values"`` …)."""
        return sum(n for e, n in self.counts(key=key).items() if e.startswith(endpoint))

    def _pick_fault(self, endpoint: str) -> _Fault | None:
        with self._lock:
            for i, (prefix, fault) in enumerate(self._scripted):
                if endpoint.startswith(prefix):
                    del self._scripted[i]
                    return fault
            if self._fault_rate <= 0:
                return None
            if self._fault_endpoints is not None and endpoint not in self._fault_endpoints:
                return None
            if self._rng.random() >= self._fault_rate:
                return None
            kind = self._rng.choice(self._fault_kinds)
            after = kind in ("500", "503", "drop", "hang") and self._rng.random() < self._fault_after
            return _Fault(kind, after, self._fault_retry_after)

    # -- HTTP plumbing
    def _handle(self, h: _Handler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if parts.path.startswith("/_fake/"):  # the control API for a fake in another process
            try:
                status, body = 200, self._control(parts.path[7:], json.loads(raw) if raw else {}, query)
            except (KeyError, ValueError, TypeError) as e:
                status, body = 400, {"error": {"code": 400, "message": repr(e), "status": "INVALID_ARGUMENT"}}
            _send(h, status, body)
            return
        if parts.path == "/token" and method == "POST":
            status, body = self._token(raw)
            self._record(Call("oauth.token", method, None, status))
            _send(h, status, body)
            return
        endpoint, groups = "", ()
        for m, pattern, name in _ROUTES:
            match = pattern.match(parts.path)
            if match and m == method:
                endpoint, groups = name, tuple(unquote(g) for g in match.groups())
                break
        if not endpoint:
            self._record(Call("unknown", method, None, 404))
            _send(
                h, 404, {"error": {"code": 404, "message": f"Not found: {method} {parts.path}", "status": "NOT_FOUND"}}
            )
            return
        key = groups[0] if groups else None
        self._run_moments(endpoint, key)
        if self.latency:
            time.sleep(self.latency)
        if len(raw) > self.max_request_bytes:
            big = bad_request(f"Request payload size exceeds the limit: {self.max_request_bytes} bytes.")
            self._record(Call(endpoint, method, key, big.code, size=len(raw)))
            _send(h, big.code, big.body())
            return
        auth = self._authenticate(h.headers.get("Authorization", ""))
        if isinstance(auth, ApiError):
            self._record(Call(endpoint, method, key, auth.code))
            _send(h, auth.code, auth.body())
            return
        user, scopes = auth
        fault = self._pick_fault(endpoint)
        if fault is not None and not fault.after_apply:
            self._send_fault(h, fault, Call(endpoint, method, key, 0, fault.kind, user))
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        ctx = _Ctx(method, query, body, user, scopes)
        try:
            with self._lock:
                self._caller = user
                status, answer = getattr(self, "_" + endpoint.replace(".", "_"))(ctx, *groups)
        except ApiError as e:
            status, answer = e.code, e.body()
        except Exception:  # a bug in the fake or a request it does not understand
            self.errors.append(traceback.format_exc())
            status, answer = 500, FAULT_BODIES["500"][1]
        if fault is not None:
            self._send_fault(h, fault, Call(endpoint, method, key, 0, fault.kind + "-after", user))
            return
        self._record(Call(endpoint, method, key, status, None, user, len(raw)))
        _send(h, status, answer)

    def _control(self, what: str, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        """Seed and watch the fake over HTTP (a benchmark runs it in its own process)."""
        if what == "service_account":
            key = serialization.load_pem_public_key(body["public_key"].encode())
            assert isinstance(key, rsa.RSAPublicKey)
            self.add_service_account(body["email"], key)
            return {}
        if what == "folder":
            return {
                "id": self.add_folder(
                    body.get("name", "公民連携"), shared_with=body.get("shared_with", [SERVICE_ACCOUNT])
                )
            }
        if what == "spreadsheet":
            key = self.add_spreadsheet(
                body.get("title", "無題"),
                parents=body.get("parents", []),
                shared_with=body.get("shared_with", [SERVICE_ACCOUNT]),
            )
            return {"key": key}
        if what == "latency":
            self.latency = float(body["seconds"])
            return {}
        if what == "type_cell":  # a person types one cell (their own account, as in the Sheets UI)
            self.edit(body["key"], body["title"], body["cell"], body["value"])
            return {}
        if what == "reset_calls":
            self.reset_calls()
            return {}
        if what == "counts":
            key = query.get("key", [None])[0]
            return {"counts": dict(self.counts(key=key)), "errors": list(self.errors)}
        raise KeyError(what)

    def _send_fault(self, h: _Handler, fault: _Fault, call: Call) -> None:
        if fault.kind == "drop":
            self._record(call)
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault.kind == "hang":
            self._record(call)
            time.sleep(self.hang_seconds)
            h.close_connection = True
            return
        if fault.kind == "403rate":
            self._record(Call(call.endpoint, call.method, call.key, 403, call.fault, call.user))
            _send(h, 403, DRIVE_RATE_LIMIT.body())
            return
        status, body = FAULT_BODIES[fault.kind]
        if call.endpoint.startswith("drive") and fault.kind == "429":
            body = ApiError(429, "Rate Limit Exceeded", reason="rateLimitExceeded").body()
        self._record(Call(call.endpoint, call.method, call.key, status, call.fault, call.user))
        headers = {}
        if fault.kind == "429" and fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        _send(h, status, body, headers)

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    # -- OAuth
    def _token(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
        grant = form.get("grant_type", "")
        if grant == JWT_GRANT:
            try:
                email, scopes = self._verify_jwt(form.get("assertion", ""))
            except ValueError as e:
                return 400, {"error": "invalid_grant", "error_description": str(e)}
        elif grant == "refresh_token":
            user = self._users.get(form.get("refresh_token", ""))
            if user is None or (user[0], user[1]) != (form.get("client_id"), form.get("client_secret")):
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
            email = user[2]
            scopes = tuple(form.get("scope", " ".join(SHEETS_SCOPES)).split())
        else:
            return 400, {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant}"}
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (email, scopes)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer", "scope": " ".join(scopes)}

    def _verify_jwt(self, assertion: str) -> tuple[str, tuple[str, ...]]:
        try:
            head_b64, payload_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            payload = json.loads(_b64url_decode(payload_b64))
            signature = _b64url_decode(sig_b64)
        except (ValueError, TypeError):
            raise ValueError("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe") from None
        if header.get("alg") != "RS256":
            raise ValueError("Invalid JWT Signature.")
        email = payload.get("iss", "")
        key = self._service_accounts.get(email)
        if key is None:
            raise ValueError("Invalid grant: account not found")
        try:
            key.verify(signature, f"{head_b64}.{payload_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise ValueError("Invalid JWT Signature.") from None
        now = time.time()
        if payload.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, self.token_uri):
            raise ValueError("Invalid JWT: Failed audience check.")
        if not (payload.get("iat", 0) - 300 <= now <= payload.get("exp", 0) + 300):
            raise ValueError("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe")
        return email, tuple(str(payload.get("scope", "")).split())

    def _authenticate(self, header: str) -> tuple[str, tuple[str, ...]] | ApiError:
        if not header.startswith("Bearer "):
            return ApiError(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 access token, login "
                "cookie or other valid authentication credential.",
                "UNAUTHENTICATED",
            )
        with self._lock:
            found = self._tokens.get(header[7:])
        if found is None:
            return ApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
                "UNAUTHENTICATED",
            )
        return found

    # -- access
    def role(self, f: FakeFile, user: str) -> int:
        if f.owner == user:
            return ROLE_RANK["owner"]
        best = 0
        for p in f.permissions:
            if p.get("type") == "anyone" or p.get("emailAddress") == user:
                best = max(best, ROLE_RANK.get(p.get("role", ""), 0))
        for parent in f.parents:
            folder = self.files.get(parent)
            if folder is not None:
                best = max(best, self.role(folder, user))
        return best

    def _spreadsheet(self, ctx: _Ctx, key: str, *, write: bool) -> FakeFile:
        if not any(s in ctx.scopes for s in SHEETS_SCOPES):
            raise ApiError(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED")
        f = self.files.get(key)
        if f is None or f.mime_type != SHEETS_MIME:
            raise not_found()
        if self.role(f, ctx.user) < (ROLE_RANK["writer"] if write else ROLE_RANK["reader"]):
            raise no_permission()
        return f

    def _drive_file(self, ctx: _Ctx, file_id: str) -> FakeFile:
        if not any(s in ctx.scopes for s in DRIVE_SCOPES):
            raise ApiError(403, "Request had insufficient authentication scopes.", reason="insufficientPermissions")
        f = self.files.get(file_id)
        if f is None or self.role(f, ctx.user) == 0:
            raise drive_not_found(file_id)
        return f

    # -- ranges
    def _resolve(self, f: FakeFile, spec: str, *, write: bool = False) -> tuple[FakeSheet, int, int, int, int]:
        title, cells = split_range(spec)
        if title is None:
            assert cells is not None
            sheet = f.find(cells)
            if sheet is not None:
                return sheet, 0, 0, sheet.row_count, sheet.col_count
            if not f.sheets:
                raise bad_request(f"Unable to parse range: {spec}")
            sheet = f.sheets[0]
        else:
            found = f.find(title)
            if found is None:
                raise bad_request(f"Unable to parse range: {spec}")
            sheet = found
            if not cells:
                return sheet, 0, 0, sheet.row_count, sheet.col_count
        assert cells is not None
        parts = cells.split(":")
        matches = [_CELL.match(p) for p in parts]
        if len(parts) > 2 or not all(matches):
            raise bad_request(f"Unable to parse range: {spec}")
        (l1, d1) = matches[0].groups()  # type: ignore[union-attr]
        if len(parts) == 1:
            if not l1 or not d1 or int(d1) == 0:
                raise bad_request(f"Unable to parse range: {spec}")
            r0, c0 = int(d1) - 1, col_index(l1)
            r1, c1 = r0 + 1, c0 + 1
        else:
            (l2, d2) = matches[1].groups()  # type: ignore[union-attr]
            if not (l1 or d1) or not (l2 or d2) or (d1 and int(d1) == 0) or (d2 and int(d2) == 0):
                raise bad_request(f"Unable to parse range: {spec}")
            r0 = int(d1) - 1 if d1 else 0
            c0 = col_index(l1) if l1 else 0
            r1 = int(d2) if d2 else sheet.row_count
            c1 = col_index(l2) + 1 if l2 else sheet.col_count
            r0, r1 = min(r0, r1 - 1), max(r0 + 1, r1)
            c0, c1 = min(c0, c1 - 1), max(c0 + 1, c1)
        if not write and (r1 > sheet.row_count or c1 > sheet.col_count):
            raise bad_request(
                f"Range ({a1(sheet.title, r0, c0, r1, c1)}) exceeds grid limits. "
                f"Max rows: {sheet.row_count}, max columns: {sheet.col_count}"
            )
        return sheet, r0, c0, r1, c1

    def _value_range(self, sheet: FakeSheet, r0: int, c0: int, r1: int, c1: int, ctx: _Ctx) -> dict[str, Any]:
        render = ctx.q("valueRenderOption", "FORMATTED_VALUE")
        dt_render = ctx.q("dateTimeRenderOption", "SERIAL_NUMBER")
        major = ctx.q("majorDimension", "ROWS")
        grid: list[list[Any]] = []
        for r in range(r0, min(r1, len(sheet.rows))):
            row = [_render(sheet, r, c, render, dt_render) for c in range(c0, min(c1, len(sheet.rows[r])))]
            grid.append(_trim_rendered(row))
        while grid and not grid[-1]:
            grid.pop()
        out: dict[str, Any] = {"range": a1(sheet.title, r0, c0, r1, c1), "majorDimension": major}
        if major == "COLUMNS" and grid:
            width = max(len(r) for r in grid)
            cols = [[r[c] if c < len(r) else "" for r in grid] for c in range(width)]
            grid = [_trim_rendered(c) for c in cols]
        if grid:
            out["values"] = grid
        return out

    # -- Sheets: values
    def _sheets_values_get(self, ctx: _Ctx, key: str, spec: str) -> tuple[int, dict[str, Any]]:
        f = self._spreadsheet(ctx, key, write=False)
        return 200, self._value_range(*self._resolve(f, spec), ctx)

    def _sheets_values_batchGet(self, ctx: _Ctx, key: str) -> tuple[int, dict[str, Any]]:
        f = self._spreadsheet(ctx, key, write=False)
        ranges = ctx.query.get("ranges", [])
        blocks = [self._resolve(f, spec) for spec in ranges]
        return 200, {"spreadsheetId": key, "valueRanges": [self._value_range(*b, ctx) for b in blocks]}

    def _write(
        self,
        f: FakeFile,
        spec: str,
        values: Any,
        major: str,
        option: str | None,
        *,
        dry: bool = False,
        user: str = "",
    ) -> dict[str, Any]:
        if option not in ("RAW", "USER_ENTERED"):
            raise bad_request("'valueInputOption' is required but not specified")
        if not isinstance(values, list) or not all(isinstance(r, list) for r in values):
            raise bad_request(
                f"Invalid value at 'data.values' (type.googleapis.com/google.protobuf.ListValue), {values!r}"
            )
        sheet, r0, c0, r1, c1 = self._resolve(f, spec, write=True)
        title, cells = split_range(spec)
        explicit_end = bool(cells and ":" in cells) or (title is not None and not cells)
        rows = values if major != "COLUMNS" else _transpose(values)
        height = len(rows)
        width = max((len(r) for r in rows), default=0)
        if explicit_end:
            if width > c1 - c0:
                raise bad_request(
                    f"Requested writing within range [{spec}], but tried writing to column [{col_letters(c1)}]"
                )
            if height > r1 - r0:
                raise bad_request(f"Requested writing within range [{spec}], but tried writing to row [{r1 + 1}]")
        if r0 + height > sheet.row_count or c0 + width > sheet.col_count:
            raise bad_request(
                f"Range ({a1(sheet.title, r0, c0, r0 + max(height, 1), c0 + max(width, 1))}) exceeds grid limits. "
                f"Max rows: {sheet.row_count}, max columns: {sheet.col_count}"
            )
        if any(isinstance(v, str) and len(v) > CELL_CHARACTER_LIMIT for row in rows for v in row):
            raise too_long()
        self._check_cells(
            f, sheet, ((r0 + i, c0 + j) for i, row in enumerate(rows) for j, v in enumerate(row) if v is not None), user
        )
        cells_written = 0
        if dry:
            return {}
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, dict | list):
                    raise bad_request(f"Invalid values[{i}][{j}]: {json.dumps(v)}")
                _put_typed(sheet, r0 + i, c0 + j, v, as_person=option == "USER_ENTERED")
                cells_written += 1
        return {
            "spreadsheetId": f.id,
            "updatedRange": a1(sheet.title, r0, c0, r0 + max(height, 1), c0 + max(width, 1)),
            "updatedRows": height,
            "updatedColumns": width,
            "updatedCells": cells_written,
        }

    def _sheets_values_update(self, ctx: _Ctx, key: str, spec: str) -> tuple[int, dict[str, Any]]:
        f = self._spreadsheet(ctx, key, write=True)
        body = ctx.body or {}
        out = self._write(
            f,
            spec,
            body.get("values", []),
            body.get("majorDimension", "ROWS"),
            ctx.q("valueInputOption"),
            user=ctx.user,
        )
        self._touch(f, ctx.user)
        return 200, out

    def _sheets_values_batchUpdate(self, ctx: _Ctx, key: str) -> tuple[int, dict[str, Any]]:
        f = self._spreadsheet(ctx, key, write=True)
        body = ctx.body or {}
        option = body.get("valueInputOption")
        data = body.get("data", [])
        # Check every range before writing any: a rejected batch changes nothing.
        for d in data:
            self._write(
                f,
                d.get("range", ""),
                d.get("values", []),
                d.get("majorDimension", "ROWS"),
                option,
                dry=True,
                user=ctx.user,
            )
        responses = [
            self._write(f, d.get("range", ""), d.get("values", []), d.get("majorDimension", "ROWS"), option)
            for d in data
        ]
        self._touch(f, ctx.user)
        return 200, {
            "spreadsheetId": key,
            "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "totalUpdatedColumns": max((r["updatedColumns"] for r in responses), default=0),
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "totalUpdatedSheets": len({r["updatedRange"].rsplit("!", 1)[0] for r in responses}),
            "responses": responses,
        }

    def _sheets_values_append(self, ctx: _Ctx, key: str, spec: str) -> tuple[int, dict[str, Any]]:
        f = self._spreadsheet(ctx, key, write=True)
        body = ctx.body or {}
        sheet, r0, c0, r1, c1 = self._resolve(f, spec, write=True)
        if r1 - r0 == 1 and c1 - c0 == 1:  # one cell: the table may extend to the right of it
            c1 = sheet.col_count
        rows = body.get("values", [])
        if body.get("majorDimension") == "COLUMNS":
            rows = _transpose(rows)

        # Find the "table": the first run of non-blank rows at or below the range's top row.
        def blank(r: int) -> bool:
            return all(sheet.get(r, c) is None for c in range(c0, min(c1, sheet.col_count)))

        start = r0
        while start < len(sheet.rows) and blank(start):
            start += 1
        table_range = None
        if start < len(sheet.rows):
            end = start
            while end + 1 < len(sheet.rows) and not blank(end + 1):
                end += 1
            width = max((len(sheet.rows[r]) for r in range(start, end + 1)), default=1)
            table_range = a1(sheet.title, start, c0, end + 1, max(c0 + 1, width))
            at = end + 1
        else:
            at = r0
        need = len(rows)
        saved = sheet.clone()
        try:
            if ctx.q("insertDataOption") == "INSERT_ROWS":
                _insert(sheet, 0, at, need)
            _grow(sheet, at + need, c0 + max((len(r) for r in rows), default=0))
            if f.cell_count() > SPREADSHEET_CELL_LIMIT:
                raise too_many_cells()
            out = self._write(
                f, a1(sheet.title, at, c0, at + 1, c0 + 1), rows, "ROWS", ctx.q("valueInputOption"), user=ctx.user
            )
        except ApiError:
            f.sheets[f.sheets.index(sheet)] = saved  # nothing applied
            raise
        self._touch(f, ctx.user)
        answer: dict[str, Any] = {"spreadsheetId": key, "updates": out}
        if table_range:
            answer["tableRange"] = table_range
        return 200, answer

    def _sheets_values_clear(self, ctx: _Ctx, key: str, spec: str) -> tuple[int, dict[str, Any]]:
        f = self._spreadsheet(ctx, key, write=True)
        cleared = self._clear(f, spec)
        self._touch(f, ctx.user)
        return 200, {"spreadsheetId": key, "clearedRange": cleared}

    def _sheets_values_batchClear(self, ctx: _Ctx, key: str) -> tuple[int, dict[str, Any]]:
        f = self._spreadsheet(ctx, key, write=True)
        saved = [s.clone() for s in f.sheets]  # all or nothing
        try:
            cleared = [self._clear(f, spec) for spec in (ctx.body or {}).get("ranges", [])]
        except ApiError:
            f.sheets = saved
            raise
        self._touch(f, ctx.user)
        return 200, {"spreadsheetId": key, "clearedRanges": cleared}

    def _clear(self, f: FakeFile, spec: str) -> str:
        sheet, r0, c0, r1, c1 = self._resolve(f, spec)
        self._check_rect(f, sheet, r0, c0, r1, c1, self._caller)
        for r in range(r0, min(r1, len(sheet.rows))):
            for c in range(c0, min(c1, len(sheet.rows[r]))):
                sheet.rows[r][c] = None
        return a1(sheet.title, r0, c0, r1, c1)

    # -- Sheets: spreadsheets
    def _spreadsheet_json(self, f: FakeFile, ctx: _Ctx) -> dict[str, Any]:
        fields = ctx.q("fields")
        ranges = ctx.query.get("ranges", [])
        with_grid = ctx.q("includeGridData", "false") == "true" or bool(fields and "data" in fields)
        wanted: dict[int, list[tuple[int, int, int, int]]] = {}
        for spec in ranges:
            sheet, r0, c0, r1, c1 = self._resolve(f, spec)
            wanted.setdefault(sheet.sheet_id, []).append((r0, c0, r1, c1))
        # the CellData parts the mask keeps (the rest is not built: the answer is the same, only sooner)
        parts = {k for k in CELL_PARTS if k in fields} if fields and "values(" in fields else set(CELL_PARTS)
        sheets = []
        for s in f.sheets:
            if ranges and s.sheet_id not in wanted:
                continue
            sj: dict[str, Any] = {"properties": s.properties()}
            if s.protected:
                sj["protectedRanges"] = [self._protected_json(f, pr, ctx.user) for pr in s.protected]
            if s.metadata:
                sj["developerMetadata"] = copy.deepcopy(s.metadata)
            if with_grid:
                blocks = wanted.get(s.sheet_id) or [(0, 0, s.row_count, s.col_count)]
                sj["data"] = [_grid_data(s, *b, parts=parts) for b in blocks]
            sheets.append(sj)
        out = {
            "spreadsheetId": f.id,
            "properties": {
                "title": f.name,
                "locale": f.locale,
                "autoRecalc": "ON_CHANGE",
                "timeZone": f.time_zone,
                "defaultFormat": {
                    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
                    "verticalAlignment": "BOTTOM",
                    "wrapStrategy": "OVERFLOW_CELL",
                },
            },
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{f.id}/edit",
        }
        if f.metadata:
            out["developerMetadata"] = copy.deepcopy(f.metadata)
        return apply_mask(out, parse_mask(fields)) if fields else out

    def _protected_json(self, f: FakeFile, pr: Mapping[str, Any], user: str) -> dict[str, Any]:
        """As the caller sees it: ``requestingUserCanEdit``, and ``editors`` only for an editor."""
        out = copy.deepcopy(dict(pr))
        out["requestingUserCanEdit"] = self.can_edit(f, pr, user)
        if not out["requestingUserCanEdit"]:
            out.pop("editors", None)
        return out

    def _sheets_spreadsheets_get(self, ctx: _Ctx, key: str) -> tuple[int, dict[str, Any]]:
        f = self._spreadsheet(ctx, key, write=False)
        return 200, self._spreadsheet_json(f, ctx)

    def _sheets_spreadsheets_create(self, ctx: _Ctx) -> tuple[int, dict[str, Any]]:
        if not any(s in ctx.scopes for s in SHEETS_SCOPES):
            raise ApiError(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED")
        if self.service_accounts_have_no_quota and ctx.user.endswith(".gserviceaccount.com"):
            raise ApiError(403, "The caller does not have permission", "PERMISSION_DENIED")
        body = ctx.body or {}
        key = self._new_id()
        now = self._now_iso()
        props = body.get("properties", {})
        title = props.get("title", "無題のスプレッドシート")
        f = FakeFile(
            key,
            title,
            SHEETS_MIME,
            ctx.user,
            created=now,
            modified=now,
            locale=props.get("locale", self.locale),
            time_zone=props.get("timeZone", self.time_zone),
        )
        for i, sj in enumerate(body.get("sheets", [])):
            f.sheets.append(_sheet_from_props(sj.get("properties", {}), default_id=i, index=i))
        if not f.sheets:
            f.sheets = [FakeSheet(0, "シート1" if f.locale.startswith("ja") else "Sheet1", 0)]
        f.reindex()
        if f.cell_count() > SPREADSHEET_CELL_LIMIT:
            raise too_many_cells()
        self.files[key] = f
        return 200, self._spreadsheet_json(f, _Ctx("GET", {}, None, ctx.user, ctx.scopes))

    def _sheets_spreadsheets_batchUpdate(self, ctx: _Ctx, key: str) -> tuple[int, dict[str, Any]]:
        f = self._spreadsheet(ctx, key, write=True)
        requests = (ctx.body or {}).get("requests", [])
        # Atomic, like Google: work on copies, keep them only if every request succeeds.
        saved_sheets, saved_name, saved_next = [s.clone() for s in f.sheets], f.name, f.next_protected_id
        saved_props = (f.locale, f.time_zone, copy.deepcopy(f.metadata), f.next_metadata_id)
        replies = []
        try:
            for i, req in enumerate(requests):
                if not isinstance(req, dict) or len(req) != 1:
                    raise bad_request(f"Invalid requests[{i}]: exactly one request kind is required.")
                [(kind, payload)] = req.items()
                handler = getattr(self, "_req_" + kind, None)
                if handler is None:
                    raise bad_request(
                        f"Invalid JSON payload received. Unknown name \"{kind}\" at 'requests[{i}]': Cannot find field."
                    )
                try:
                    replies.append(handler(f, payload) or {})
                    if f.cell_count() > SPREADSHEET_CELL_LIMIT:
                        raise too_many_cells()
                except ProtectedCellError:
                    raise
                except ApiError as e:
                    raise bad_request(f"Invalid requests[{i}].{kind}: {e.message}") from None
        except ApiError:
            f.sheets, f.name, f.next_protected_id = saved_sheets, saved_name, saved_next
            f.locale, f.time_zone, f.metadata, f.next_metadata_id = saved_props
            raise
        self._touch(f, ctx.user)
        return 200, {"spreadsheetId": key, "replies": replies}

    def _grid_sheet(self, f: FakeFile, grid_range: Mapping[str, Any]) -> tuple[FakeSheet, int, int, int, int]:
        sid = grid_range.get("sheetId", 0)
        sheet = f.by_id(sid)
        if sheet is None:
            raise ApiError(400, f"No grid with id: {sid}")
        r0 = grid_range.get("startRowIndex", 0)
        r1 = grid_range.get("endRowIndex", sheet.row_count)
        c0 = grid_range.get("startColumnIndex", 0)
        c1 = grid_range.get("endColumnIndex", sheet.col_count)
        if r1 > sheet.row_count or c1 > sheet.col_count or r0 < 0 or c0 < 0:
            raise ApiError(
                400,
                f"Range ({a1(sheet.title, r0, c0, max(r1, r0 + 1), max(c1, c0 + 1))}) exceeds grid limits. "
                f"Max rows: {sheet.row_count}, max columns: {sheet.col_count}",
            )
        return sheet, r0, c0, r1, c1

    def _req_addSheet(self, f: FakeFile, payload: Mapping[str, Any]) -> dict[str, Any]:
        props = dict(payload.get("properties", {}))
        title = props.get("title") or f"シート{len(f.sheets) + 1}"
        if f.find(title) is not None:
            raise ApiError(400, f'A sheet with the name "{title}" already exists. Please enter another name.')
        used = {s.sheet_id for s in f.sheets}
        sid = props.get("sheetId")
        if sid is None:
            sid = next(i for i in itertools.count(1_000_000) if i not in used)
        elif sid in used:
            raise ApiError(400, f"Sheet with id {sid} already exists.")
        props["title"] = title
        sheet = _sheet_from_props(props, default_id=sid, index=props.get("index", len(f.sheets)))
        sheet.sheet_id = sid
        for s in f.sheets:
            if s.index >= sheet.index:
                s.index += 1
        f.sheets.append(sheet)
        f.reindex()
        return {"addSheet": {"properties": sheet.properties()}}

    def _req_deleteSheet(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        sheet = f.by_id(payload.get("sheetId", -1))
        if sheet is None:
            raise ApiError(400, f"No sheet with id: {payload.get('sheetId')}")
        if len(f.sheets) == 1:
            raise ApiError(400, "You can't remove all the sheets in a document.")
        f.sheets.remove(sheet)
        f.reindex()

    def _req_updateSpreadsheetProperties(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        props = payload.get("properties", {})
        fields = payload.get("fields")
        names = {".".join(p) for p in mask_paths(fields)} if fields else set(props)
        if "*" in names:
            names = set(props)
        for name in names:
            if name == "title":
                f.name = props.get("title", f.name)
            elif name == "locale":
                f.locale = props.get("locale", f.locale)
            elif name == "timeZone":
                f.time_zone = props.get("timeZone", f.time_zone)
            elif name not in ("autoRecalc", "defaultFormat", "iterativeCalculationSettings", "spreadsheetTheme"):
                raise ApiError(400, f"Invalid field mask: {name}")

    def _req_updateSheetProperties(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        props = payload.get("properties", {})
        sheet = f.by_id(props.get("sheetId", 0))
        if sheet is None:
            raise ApiError(400, f"No grid with id: {props.get('sheetId')}")
        grid = props.get("gridProperties", {})
        for path in mask_paths(payload.get("fields", "")):
            name = ".".join(path)
            if name == "hidden":
                sheet.hidden = bool(props.get("hidden", False))
                if all(s.hidden for s in f.sheets):
                    raise ApiError(400, "You can't hide all the sheets in a document.")
            elif name == "title":
                title = props.get("title", "")
                other = f.find(title)
                if other is not None and other is not sheet:
                    raise ApiError(400, f'A sheet with the name "{title}" already exists. Please enter another name.')
                sheet.title = title
            elif name == "index":
                sheet.index = props.get("index", 0)
                f.reindex()
            elif name == "gridProperties.frozenRowCount":
                sheet.frozen_rows = grid.get("frozenRowCount", 0)
            elif name == "gridProperties.frozenColumnCount":
                sheet.frozen_cols = grid.get("frozenColumnCount", 0)
            elif name == "gridProperties.rowCount":
                sheet.row_count = grid.get("rowCount", sheet.row_count)
                del sheet.rows[sheet.row_count :]
            elif name == "gridProperties.columnCount":
                sheet.col_count = grid.get("columnCount", sheet.col_count)
            elif name in ("gridProperties", "*"):
                sheet.frozen_rows = grid.get("frozenRowCount", 0)
                sheet.frozen_cols = grid.get("frozenColumnCount", 0)
            elif name in ("tabColor", "tabColorStyle", "rightToLeft"):
                pass
            else:
                raise ApiError(400, f"Invalid field mask: {name}")

    def _req_setDataValidation(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        sheet, r0, c0, r1, c1 = self._grid_sheet(f, payload.get("range", {}))
        rule = payload.get("rule")
        if rule is not None:
            cond = rule.get("condition", {})
            if cond.get("type") == "ONE_OF_RANGE":
                ref = (cond.get("values") or [{}])[0].get("userEnteredValue", "")
                title, _ = split_range(ref.lstrip("="))
                if title is not None and f.find(title) is None:
                    raise ApiError(400, f"Invalid data validation range: {ref}")
        for r in range(r0, r1):
            for c in range(c0, c1):
                if rule is None:
                    sheet.validations.pop((r, c), None)
                else:
                    sheet.validations[(r, c)] = rule

    def _req_addProtectedRange(self, f: FakeFile, payload: Mapping[str, Any]) -> dict[str, Any]:
        pr = copy.deepcopy(dict(payload.get("protectedRange", {})))
        rng = pr.get("range", {})
        sheet, *_ = self._grid_sheet(f, rng)
        rng.setdefault("sheetId", sheet.sheet_id)
        pr["range"] = rng
        pr["protectedRangeId"] = f.next_protected_id
        f.next_protected_id += 1
        if pr.get("warningOnly") and pr.get("editors"):
            raise ApiError(400, "Editors are not supported with warningOnly protection.")
        if not pr.get("warningOnly") and "editors" not in pr and self._caller:
            pr["editors"] = {"users": [self._caller]}  # Google: the requesting user, when none are named
        for u in pr.get("unprotectedRanges", []):
            u.setdefault("sheetId", sheet.sheet_id)
        pr.pop("requestingUserCanEdit", None)  # computed for each caller (spreadsheets.get)
        sheet.protected.append(pr)
        return {"addProtectedRange": {"protectedRange": self._protected_json(f, pr, self._caller)}}

    def _find_protected(self, f: FakeFile, pid: Any) -> tuple[FakeSheet, dict[str, Any]]:
        for s in f.sheets:
            for pr in s.protected:
                if pr.get("protectedRangeId") == pid:
                    if self._caller and not self.can_edit(f, pr, self._caller):
                        raise ProtectedCellError()
                    return s, pr
        raise ApiError(400, f"No protected range with id: {pid}")

    def _req_updateProtectedRange(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        given = payload.get("protectedRange", {})
        sheet, pr = self._find_protected(f, given.get("protectedRangeId"))
        fields = payload.get("fields", "")
        if not fields:
            raise ApiError(400, "At least one field must be updated, but 'fields' is empty.")
        names = {p[0] for p in mask_paths(fields)}
        if "*" in names:
            names = {"range", "description", "warningOnly", "editors", "unprotectedRanges", "requestingUserCanEdit"}
        for name in names:
            if name not in ("range", "description", "warningOnly", "editors", "unprotectedRanges"):
                if name == "requestingUserCanEdit":
                    continue
                raise ApiError(400, f"Invalid field mask: {name}")
            if name in given:
                pr[name] = copy.deepcopy(given[name])
            else:
                pr.pop(name, None)
        if pr.get("warningOnly") and pr.get("editors"):
            raise ApiError(400, "Editors are not supported with warningOnly protection.")
        target, *_ = self._grid_sheet(f, pr.get("range", {}))
        pr["range"].setdefault("sheetId", target.sheet_id)
        if target is not sheet:
            sheet.protected.remove(pr)
            target.protected.append(pr)

    def _req_deleteProtectedRange(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        sheet, pr = self._find_protected(f, payload.get("protectedRangeId"))
        sheet.protected.remove(pr)

    def _req_repeatCell(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        sheet, r0, c0, r1, c1 = self._grid_sheet(f, payload.get("range", {}))
        paths = mask_paths(payload.get("fields", ""))
        cell = payload.get("cell", {})
        _check_length(cell)
        self._check_rect(f, sheet, r0, c0, r1, c1, self._caller)
        for r in range(r0, r1):
            for c in range(c0, c1):
                _apply_cell_data(sheet, r, c, cell, paths)

    def _req_updateCells(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        if "start" in payload:
            start = payload["start"]
            sheet = f.by_id(start.get("sheetId", 0))
            if sheet is None:
                raise ApiError(400, f"No grid with id: {start.get('sheetId')}")
            r0, c0 = start.get("rowIndex", 0), start.get("columnIndex", 0)
        else:
            sheet, r0, c0, _, _ = self._grid_sheet(f, payload.get("range", {}))
        paths = mask_paths(payload.get("fields", ""))
        rows = payload.get("rows", [])
        need_r = r0 + len(rows)
        need_c = c0 + max((len(r.get("values", [])) for r in rows), default=0)
        if need_r > sheet.row_count or need_c > sheet.col_count:
            raise ApiError(
                400,
                f"Range ({a1(sheet.title, r0, c0, need_r, max(need_c, c0 + 1))}) exceeds grid "
                f"limits. Max rows: {sheet.row_count}, max columns: {sheet.col_count}",
            )
        for row in rows:
            for cell in row.get("values", []):
                _check_length(cell)
        self._check_cells(
            f,
            sheet,
            ((r0 + i, c0 + j) for i, row in enumerate(rows) for j, _ in enumerate(row.get("values", []))),
            self._caller,
        )
        for i, row in enumerate(rows):
            for j, cell in enumerate(row.get("values", [])):
                _apply_cell_data(sheet, r0 + i, c0 + j, cell, paths)

    def _req_appendCells(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        """AppendCellsRequest: ``rows`` go below the last row holding a value in any column (not a
        note or a format), from column A; rows are added at the bottom of the grid when it is full
        (they carry no format). ``fields`` is a CellData mask, required, as in updateCells."""
        sheet = f.by_id(payload.get("sheetId", 0))
        if sheet is None:
            raise ApiError(400, f"No grid with id: {payload.get('sheetId', 0)}")
        mask = payload.get("fields", "")
        if not mask:
            raise ApiError(400, "At least one field must be specified.")
        paths = mask_paths(mask)
        rows = payload.get("rows", [])
        at = len(sheet.rows)
        while at > 0 and all(v is None for v in sheet.rows[at - 1]):
            at -= 1
        width = max((len(r.get("values", [])) for r in rows), default=0)
        if width > sheet.col_count:
            raise ApiError(
                400,
                f"Range ({a1(sheet.title, at, 0, at + max(len(rows), 1), width)}) exceeds grid "
                f"limits. Max rows: {sheet.row_count}, max columns: {sheet.col_count}",
            )
        for row in rows:
            for cell in row.get("values", []):
                _check_length(cell)
        sheet.row_count = max(sheet.row_count, at + len(rows))
        self._check_cells(
            f,
            sheet,
            ((at + i, j) for i, row in enumerate(rows) for j, _ in enumerate(row.get("values", []))),
            self._caller,
        )
        for i, row in enumerate(rows):
            for j, cell in enumerate(row.get("values", [])):
                _apply_cell_data(sheet, at + i, j, cell, paths)

    def _req_updateDimensionProperties(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        rng = payload.get("range", {})
        sheet = f.by_id(rng.get("sheetId", 0))
        if sheet is None:
            raise ApiError(400, f"No grid with id: {rng.get('sheetId')}")
        dim = rng.get("dimension", "ROWS")
        limit = sheet.row_count if dim == "ROWS" else sheet.col_count
        start, end = rng.get("startIndex", 0), rng.get("endIndex", limit)
        if end > limit:
            raise ApiError(400, f"Invalid dimension range: {start}-{end} (max {limit}).")
        props = payload.get("properties", {})
        for i in range(start, end):
            d = sheet.dimensions.setdefault((dim, i), {})
            for path in mask_paths(payload.get("fields", "")):
                if path[0] in props:
                    d[path[0]] = props[path[0]]
                else:
                    d.pop(path[0], None)

    def _dimension(self, f: FakeFile, rng: Mapping[str, Any]) -> tuple[FakeSheet, int, int, int]:
        sheet = f.by_id(rng.get("sheetId", 0))
        if sheet is None:
            raise ApiError(400, f"No grid with id: {rng.get('sheetId')}")
        axis = 0 if rng.get("dimension", "ROWS") == "ROWS" else 1
        return sheet, axis, rng.get("startIndex", 0), rng.get("endIndex", 0)

    def _req_insertDimension(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        sheet, axis, start, end = self._dimension(f, payload.get("range", {}))
        limit = sheet.row_count if axis == 0 else sheet.col_count
        if not 0 <= start < end or start > limit:
            raise ApiError(400, f"Invalid insert range: {start}-{end}.")
        _insert(sheet, axis, start, end - start)
        if payload.get("inheritFromBefore") and start > 0:
            for k, fmt in list(sheet.formats.items()):
                if k[axis] == start - 1:
                    for i in range(start, end):
                        sheet.formats[(i, k[1]) if axis == 0 else (k[0], i)] = copy.deepcopy(fmt)

    def _req_deleteDimension(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        sheet, axis, start, end = self._dimension(f, payload.get("range", {}))
        limit = sheet.row_count if axis == 0 else sheet.col_count
        if not 0 <= start < end or end > limit:
            raise ApiError(
                400,
                f"Range ({quote_title(sheet.title)}!{start + 1}:{end}) exceeds grid limits. "
                f"Max rows: {sheet.row_count}, max columns: {sheet.col_count}",
            )
        if end - start >= limit:
            raise ApiError(400, "You can't delete all the rows on the sheet.")
        if axis == 0:
            self._check_rect(f, sheet, start, 0, end, sheet.col_count, self._caller)
        else:
            self._check_rect(f, sheet, 0, start, sheet.row_count, end, self._caller)
        _delete(sheet, axis, start, end - start)

    def _req_appendDimension(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        sheet = f.by_id(payload.get("sheetId", 0))
        if sheet is None:
            raise ApiError(400, f"No grid with id: {payload.get('sheetId')}")
        n = int(payload.get("length", 0))
        if n <= 0:
            raise ApiError(400, "length must be greater than 0")
        if payload.get("dimension", "ROWS") == "ROWS":
            sheet.row_count += n
        else:
            sheet.col_count += n

    def _req_autoResizeDimensions(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        pass

    def _req_setBasicFilter(self, f: FakeFile, payload: Mapping[str, Any]) -> None:
        self._grid_sheet(f, payload.get("filter", {}).get("range", {}))

    # -- developer metadata
    def _all_metadata(self, f: FakeFile) -> Iterator[tuple[FakeSheet | None, dict[str, Any]]]:
        for md in f.metadata:
            yield None, md
        for s in f.sheets:
            for md in s.metadata:
                yield s, md

    def _req_createDeveloperMetadata(self, f: FakeFile, payload: Mapping[str, Any]) -> dict[str, Any]:
        md = copy.deepcopy(dict(payload.get("developerMetadata", {})))
        if not md.get("metadataKey"):
            raise ApiError(400, "metadataKey is required.")
        if md.get("visibility") not in ("DOCUMENT", "PROJECT"):
            raise ApiError(400, "Developer metadata visibility must be DOCUMENT or PROJECT.")
        mid = md.get("metadataId")
        used = {m["metadataId"] for _, m in self._all_metadata(f)}
        if mid is None:
            mid = f.next_metadata_id
            f.next_metadata_id += 1
        elif not isinstance(mid, int) or mid <= 0 or mid in used:
            raise ApiError(400, f"Developer metadata ID {mid} is invalid or already in use.")
        md["metadataId"] = mid
        sheet, md["location"] = self._metadata_location(f, md.get("location", {}))
        (f.metadata if sheet is None else sheet.metadata).append(md)
        return {"createDeveloperMetadata": {"developerMetadata": copy.deepcopy(md)}}

    def _metadata_location(self, f: FakeFile, loc: Mapping[str, Any]) -> tuple[FakeSheet | None, dict[str, Any]]:
        if loc.get("spreadsheet"):
            return None, {"locationType": "SPREADSHEET", "spreadsheet": True}
        if "sheetId" in loc:
            sheet = f.by_id(loc["sheetId"])
            if sheet is None:
                raise ApiError(400, f"No grid with id: {loc['sheetId']}")
            return sheet, {"locationType": "SHEET", "sheetId": sheet.sheet_id}
        rng = dict(loc.get("dimensionRange") or {})
        sheet = f.by_id(rng.get("sheetId", 0))
        if not rng or sheet is None:
            raise ApiError(400, "Developer metadata must have a location (spreadsheet, sheetId or dimensionRange).")
        dim = rng.get("dimension", "ROWS")
        limit = sheet.row_count if dim == "ROWS" else sheet.col_count
        start, end = rng.get("startIndex", 0), rng.get("endIndex", limit)
        if not 0 <= start < end <= limit:
            raise ApiError(400, f"Invalid dimension range: {start}-{end} (max {limit}).")
        kind = "ROW" if dim == "ROWS" else "COLUMN"
        out = {"sheetId": sheet.sheet_id, "dimension": dim, "startIndex": start, "endIndex": end}
        return sheet, {"locationType": kind, "dimensionRange": out}

    def _req_updateDeveloperMetadata(self, f: FakeFile, payload: Mapping[str, Any]) -> dict[str, Any]:
        given = payload.get("developerMetadata", {})
        names = {p[0] for p in mask_paths(payload.get("fields", ""))}
        if not names:
            raise ApiError(400, "At least one field must be updated, but 'fields' is empty.")
        found = self._matching_metadata(f, payload.get("dataFilters", []))
        for sheet, md in found:
            for name in names:
                if name == "location":
                    new_sheet, md["location"] = self._metadata_location(f, given.get("location", {}))
                    if new_sheet is not sheet:
                        (f.metadata if sheet is None else sheet.metadata).remove(md)
                        (f.metadata if new_sheet is None else new_sheet.metadata).append(md)
                elif name in ("metadataKey", "metadataValue", "visibility"):
                    if name in given:
                        md[name] = given[name]
                    else:
                        md.pop(name, None)
                else:
                    raise ApiError(400, f"Invalid field mask: {name}")
        return {"updateDeveloperMetadata": {"developerMetadata": [copy.deepcopy(md) for _, md in found]}}

    def _req_deleteDeveloperMetadata(self, f: FakeFile, payload: Mapping[str, Any]) -> dict[str, Any]:
        found = self._matching_metadata(f, [payload.get("dataFilter", {})])
        for sheet, md in found:
            (f.metadata if sheet is None else sheet.metadata).remove(md)
        return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": [md for _, md in found]}}

    def _matching_metadata(
        self, f: FakeFile, filters: Sequence[Mapping[str, Any]]
    ) -> list[tuple[FakeSheet | None, dict[str, Any]]]:
        out = []
        for sheet, md in self._all_metadata(f):
            if any(self._filter_selects(f, df, sheet, md) for df in filters):
                out.append((sheet, md))
        return out

    def _filter_selects(
        self, f: FakeFile, df: Mapping[str, Any], sheet: FakeSheet | None, md: Mapping[str, Any]
    ) -> bool:
        """Does DataFilter ``df`` select metadata ``md``? A lookup matches its fields; an A1 or grid
        range selects the metadata on rows, columns or sheets it intersects."""
        if "developerMetadataLookup" in df:
            return _lookup_matches(df["developerMetadataLookup"], md)
        if "a1Range" in df or "gridRange" in df:
            s, r0, c0, r1, c1 = (
                self._resolve(f, df["a1Range"]) if "a1Range" in df else self._grid_sheet(f, df["gridRange"])
            )
            if sheet is not s:
                return False
            rng = md["location"].get("dimensionRange")
            if rng is None:
                return True
            lo, hi = (r0, r1) if rng["dimension"] == "ROWS" else (c0, c1)
            return rng["startIndex"] < hi and lo < rng["endIndex"]
        raise ApiError(400, "A data filter needs developerMetadataLookup, a1Range or gridRange.")

    def _filter_ranges(self, f: FakeFile, df: Mapping[str, Any]) -> list[tuple[FakeSheet, int, int, int, int]]:
        """The grid ranges a DataFilter selects: a metadata row is the whole row, a column the whole column."""
        if "a1Range" in df:
            return [self._resolve(f, df["a1Range"])]
        if "gridRange" in df:
            return [self._grid_sheet(f, df["gridRange"])]
        if "developerMetadataLookup" not in df:
            raise bad_request("A data filter needs developerMetadataLookup, a1Range or gridRange.")
        out = []
        for sheet, md in self._all_metadata(f):
            if not _lookup_matches(df["developerMetadataLookup"], md):
                continue
            for s in [sheet] if sheet is not None else f.sheets:
                rng = md["location"].get("dimensionRange")
                if rng is None:
                    out.append((s, 0, 0, s.row_count, s.col_count))
                elif rng["dimension"] == "ROWS":
                    out.append((s, rng["startIndex"], 0, rng["endIndex"], s.col_count))
                else:
                    out.append((s, 0, rng["startIndex"], s.row_count, rng["endIndex"]))
        return out

    def _sheets_developerMetadata_search(self, ctx: _Ctx, key: str) -> tuple[int, dict[str, Any]]:
        f = self._spreadsheet(ctx, key, write=False)
        filters = (ctx.body or {}).get("dataFilters", [])
        matched = []
        for sheet, md in self._all_metadata(f):
            hits = [df for df in filters if self._filter_selects(f, df, sheet, md)]
            if hits:
                matched.append({"developerMetadata": copy.deepcopy(md), "dataFilters": copy.deepcopy(hits)})
        return 200, ({"matchedDeveloperMetadata": matched} if matched else {})

    def _sheets_developerMetadata_get(self, ctx: _Ctx, key: str, metadata_id: str) -> tuple[int, dict[str, Any]]:
        f = self._spreadsheet(ctx, key, write=False)
        for _, md in self._all_metadata(f):
            if str(md["metadataId"]) == metadata_id:
                return 200, copy.deepcopy(md)
        raise not_found()

    def _sheets_values_batchGetByDataFilter(self, ctx: _Ctx, key: str) -> tuple[int, dict[str, Any]]:
        f = self._spreadsheet(ctx, key, write=False)
        body = ctx.body or {}
        options = {k: [body[k]] for k in ("majorDimension", "valueRenderOption", "dateTimeRenderOption") if k in body}
        as_query = _Ctx(ctx.method, options, None, ctx.user, ctx.scopes)
        out = []
        for df in body.get("dataFilters", []):
            for block in self._filter_ranges(f, df):
                out.append({"valueRange": self._value_range(*block, as_query), "dataFilters": [copy.deepcopy(df)]})
        return 200, {"spreadsheetId": key, "valueRanges": out}

    def _sheets_values_batchUpdateByDataFilter(self, ctx: _Ctx, key: str) -> tuple[int, dict[str, Any]]:
        """Each entry's values go to every range its filter selects, from that range's top-left cell."""
        f = self._spreadsheet(ctx, key, write=True)
        body = ctx.body or {}
        option = body.get("valueInputOption")
        targets = []
        for d in body.get("data", []):
            for sheet, r0, c0, r1, c1 in self._filter_ranges(f, d.get("dataFilter", {})):
                spec = a1(sheet.title, r0, c0, r1, c1)
                if r1 - r0 == 1 and c1 - c0 == 1:
                    spec += ":" + spec.rsplit("!", 1)[1]  # a one-cell range is still a bound
                targets.append((spec, d))
        for spec, d in targets:  # check all before writing any
            self._write(f, spec, d.get("values", []), d.get("majorDimension", "ROWS"), option, dry=True, user=ctx.user)
        responses = []
        for spec, d in targets:
            r = self._write(f, spec, d.get("values", []), d.get("majorDimension", "ROWS"), option, user=ctx.user)
            responses.append({**{k: v for k, v in r.items() if k != "spreadsheetId"}, "dataFilter": d["dataFilter"]})
        self._touch(f, ctx.user)
        return 200, {
            "spreadsheetId": key,
            "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "totalUpdatedColumns": max((r["updatedColumns"] for r in responses), default=0),
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "totalUpdatedSheets": len({r["updatedRange"].rsplit("!", 1)[0] for r in responses}),
            "responses": responses,
        }

    # -- Drive
    def _drive_files_get(self, ctx: _Ctx, file_id: str) -> tuple[int, dict[str, Any]]:
        f = self._drive_file(ctx, file_id)
        fields = ctx.q("fields") or "kind,id,name,mimeType"
        return 200, apply_mask(f.drive_json(ctx.user), parse_mask(fields))

    def _drive_files_list(self, ctx: _Ctx) -> tuple[int, dict[str, Any]]:
        if not any(s in ctx.scopes for s in DRIVE_SCOPES):
            raise ApiError(403, "Request had insufficient authentication scopes.", reason="insufficientPermissions")
        match = _drive_query(ctx.q("q") or "")
        found = [f for f in self.files.values() if self.role(f, ctx.user) > 0 and match(f)]
        found.sort(key=lambda f: f.name)
        size = int(ctx.q("pageSize") or 100)
        offset = int(ctx.q("pageToken") or 0)
        page = found[offset : offset + size]
        out: dict[str, Any] = {
            "kind": "drive#fileList",
            "incompleteSearch": False,
            "files": [f.drive_json(ctx.user) for f in page],
        }
        if offset + size < len(found):
            out["nextPageToken"] = str(offset + size)
        fields = ctx.q("fields") or "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)"
        return 200, apply_mask(out, parse_mask(fields))

    def _drive_files_create(self, ctx: _Ctx) -> tuple[int, dict[str, Any]]:
        if not any(s in ctx.scopes for s in DRIVE_SCOPES):
            raise ApiError(403, "Request had insufficient authentication scopes.", reason="insufficientPermissions")
        body = ctx.body or {}
        parents = list(body.get("parents", []))
        in_shared_drive = False
        for p in parents:
            folder = self.files.get(p)
            if folder is None or self.role(folder, ctx.user) == 0:
                raise drive_not_found(p)
            if self.role(folder, ctx.user) < ROLE_RANK["writer"]:
                raise ApiError(
                    403,
                    "The user does not have sufficient permissions for this file.",
                    reason="insufficientFilePermissions",
                )
            in_shared_drive = in_shared_drive or folder.shared_drive
        if self.service_accounts_have_no_quota and ctx.user.endswith(".gserviceaccount.com") and not in_shared_drive:
            raise ApiError(403, "The user's Drive storage quota has been exceeded.", reason="storageQuotaExceeded")
        mime = body.get("mimeType", "application/octet-stream")
        fid = self._new_id()
        now = self._now_iso()
        f = FakeFile(
            fid,
            body.get("name", "無題"),
            mime,
            ctx.user,
            parents,
            created=now,
            modified=now,
            locale=self.locale,
            time_zone=self.time_zone,
        )
        if mime == SHEETS_MIME:
            f.sheets = [FakeSheet(0, self._default_sheet_title(), 0)]
        self.files[fid] = f
        fields = ctx.q("fields") or "kind,id,name,mimeType"
        return 200, apply_mask(f.drive_json(ctx.user), parse_mask(fields))

    def _drive_files_update(self, ctx: _Ctx, file_id: str) -> tuple[int, dict[str, Any]]:
        f = self._drive_file(ctx, file_id)
        if self.role(f, ctx.user) < ROLE_RANK["writer"]:
            raise ApiError(
                403,
                "The user does not have sufficient permissions for this file.",
                reason="insufficientFilePermissions",
            )
        if (ctx.body or {}).get("name"):
            f.name = ctx.body["name"]
        for p in (ctx.q("addParents") or "").split(","):
            if p and p not in f.parents:
                f.parents.append(p)
        for p in (ctx.q("removeParents") or "").split(","):
            if p in f.parents:
                f.parents.remove(p)
        self._touch(f, ctx.user)
        return 200, apply_mask(f.drive_json(ctx.user), parse_mask(ctx.q("fields") or "kind,id,name,mimeType"))

    def _drive_files_delete(self, ctx: _Ctx, file_id: str) -> tuple[int, dict[str, Any] | None]:
        f = self._drive_file(ctx, file_id)
        if self.role(f, ctx.user) < ROLE_RANK["owner"]:
            raise ApiError(
                403,
                "The user does not have sufficient permissions for this file.",
                reason="insufficientFilePermissions",
            )
        del self.files[file_id]
        return 204, None

    def _drive_permissions_create(self, ctx: _Ctx, file_id: str) -> tuple[int, dict[str, Any]]:
        f = self._drive_file(ctx, file_id)
        if self.role(f, ctx.user) < ROLE_RANK["writer"]:
            raise ApiError(
                403,
                "The user does not have sufficient permissions for this file.",
                reason="insufficientFilePermissions",
            )
        body = ctx.body or {}
        kind, role = body.get("type"), body.get("role")
        if kind not in ("user", "group", "domain", "anyone") or role not in ROLE_RANK:
            raise ApiError(400, "The permission type field is required.", reason="required", location="permission.type")
        email = body.get("emailAddress")
        if kind in ("user", "group") and not email:
            raise ApiError(
                400,
                "The permission emailAddress field is required.",
                reason="required",
                location="permission.emailAddress",
            )
        for p in f.permissions:  # same address again: Google updates the existing permission
            if email and p.get("emailAddress") == email:
                p["role"] = role
                return 200, {"kind": "drive#permission", "id": p["id"], "type": p["type"], "role": role}
        perm = (
            self._perm(email or "", role)
            if email
            else {"kind": "drive#permission", "id": "anyoneWithLink", "type": kind, "role": role}
        )
        perm["type"] = kind
        perm["notified"] = (ctx.q("sendNotificationEmail") or "true").lower() == "true"
        perm["emailMessage"] = ctx.q("emailMessage") or ""
        f.permissions.append(perm)
        return 200, {"kind": "drive#permission", "id": perm["id"], "type": kind, "role": role}

    def _drive_permissions_list(self, ctx: _Ctx, file_id: str) -> tuple[int, dict[str, Any]]:
        f = self._drive_file(ctx, file_id)
        return 200, {"kind": "drive#permissionList", "permissions": copy.deepcopy(f.permissions)}


# ---------------------------------------------------------------- helpers used by the handlers
def _send(
    h: BaseHTTPRequestHandler, status: int, body: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
) -> None:
    data = b"" if body is None else json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8")
    try:
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        if body is not None:
            h.send_header("Content-Type", "application/json; charset=UTF-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    except OSError:  # the client gave up (a timeout test)
        pass


def _transpose(values: list[list[Any]]) -> list[list[Any]]:
    width = max((len(c) for c in values), default=0)
    return [[col[r] if r < len(col) else None for col in values] for r in range(width)]


def _trim_rendered(row: list[Any]) -> list[Any]:
    while row and (row[-1] is None or row[-1] == ""):
        row.pop()
    return ["" if v is None else v for v in row]


def _render(sheet: FakeSheet, r: int, c: int, render: str | None, dt_render: str | None) -> Any:
    v = sheet.get(r, c)
    if v is None:
        return None
    if isinstance(v, Formula):
        return str(v) if render == "FORMULA" else "#NAME?"
    if isinstance(v, bool):
        return ("TRUE" if v else "FALSE") if render == "FORMATTED_VALUE" else v
    if isinstance(v, int | float):
        fmt = sheet.number_format(r, c)
        is_time = bool(fmt and fmt.get("type") in ("DATE", "DATE_TIME", "TIME"))
        if is_time and (render == "FORMATTED_VALUE" or dt_render == "FORMATTED_STRING"):
            return render_date(v, fmt.get("pattern") or "yyyy/mm/dd")  # type: ignore[union-attr]
        if render == "FORMATTED_VALUE":
            return render_general(v)
        return int(v) if isinstance(v, float) and v == int(v) else v
    return v


CELL_PARTS = ("userEnteredValue", "effectiveValue", "formattedValue", "userEnteredFormat", "note", "dataValidation")


def _grid_data(
    sheet: FakeSheet, r0: int, c0: int, r1: int, c1: int, *, parts: set[str] | frozenset[str] = frozenset(CELL_PARTS)
) -> dict[str, Any]:
    rows = []
    last = 0
    for r in range(r0, r1):
        values = []
        for c in range(c0, c1):
            cd: dict[str, Any] = {}
            v = sheet.get(r, c)
            if v is not None:
                if "userEnteredValue" in parts:
                    cd["userEnteredValue"] = _extended(v)
                if "effectiveValue" in parts:
                    # the fake does not compute formulas: as Google shows one it cannot, an error value
                    cd["effectiveValue"] = (
                        {"errorValue": {"type": "NAME", "message": "Unknown function"}}
                        if isinstance(v, Formula)
                        else _extended(v)
                    )
                if "formattedValue" in parts:
                    cd["formattedValue"] = _render(sheet, r, c, "FORMATTED_VALUE", None)
            if "userEnteredFormat" in parts and (r, c) in sheet.formats:
                cd["userEnteredFormat"] = copy.deepcopy(sheet.formats[(r, c)])
            if "note" in parts and (r, c) in sheet.notes:
                cd["note"] = sheet.notes[(r, c)]
            if "dataValidation" in parts and (r, c) in sheet.validations:
                cd["dataValidation"] = copy.deepcopy(sheet.validations[(r, c)])
            values.append(cd)
        while values and not values[-1]:
            values.pop()
        rows.append({"values": values} if values else {})
        if values:
            last = len(rows)
    return {"startRow": r0, "startColumn": c0, "rowData": rows[:last]}


def _extended(v: Any) -> dict[str, Any]:
    if isinstance(v, Formula):
        return {"formulaValue": str(v)}
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int | float):
        return {"numberValue": v}
    return {"stringValue": str(v)}


def _apply_cell_data(sheet: FakeSheet, r: int, c: int, cell: Mapping[str, Any], paths: list[tuple[str, ...]]) -> None:
    for path in paths:
        top = path[0]
        if top == "*":
            _apply_cell_data(
                sheet, r, c, cell, [("userEnteredValue",), ("userEnteredFormat",), ("note",), ("dataValidation",)]
            )
        elif top == "userEnteredValue":
            uev = cell.get("userEnteredValue")
            if uev is None:
                sheet.put(r, c, None)
            elif "stringValue" in uev:
                sheet.put(r, c, uev["stringValue"] if uev["stringValue"] != "" else None)
            elif "numberValue" in uev:
                sheet.put(r, c, uev["numberValue"])
            elif "boolValue" in uev:
                sheet.put(r, c, bool(uev["boolValue"]))
            elif "formulaValue" in uev:
                sheet.put(r, c, Formula(uev["formulaValue"]))
        elif top == "note":
            note = cell.get("note")
            if note:
                sheet.notes[(r, c)] = note
            else:
                sheet.notes.pop((r, c), None)
        elif top == "dataValidation":
            if cell.get("dataValidation"):
                sheet.validations[(r, c)] = cell["dataValidation"]
            else:
                sheet.validations.pop((r, c), None)
        elif top == "userEnteredFormat":
            given = cell.get("userEnteredFormat") or {}
            fmt = dict(sheet.formats.get((r, c), {}))
            if len(path) == 1:  # request payloads are never changed later, so they can be shared
                fmt = dict(given)
            else:
                sub = path[1]
                if sub in given:
                    fmt[sub] = given[sub]
                else:
                    fmt.pop(sub, None)
            if fmt:
                sheet.formats[(r, c)] = fmt
            else:
                sheet.formats.pop((r, c), None)
        else:
            raise ApiError(400, f"Invalid field mask: {'.'.join(path)}")


def _lookup_matches(lookup: Mapping[str, Any], md: Mapping[str, Any]) -> bool:
    """A DeveloperMetadataLookup: every field it names must match (location: exactly, or intersecting)."""
    for name in ("metadataId", "metadataKey", "metadataValue", "visibility"):
        if name in lookup and md.get(name) != lookup[name]:
            return False
    loc = md["location"]
    if "locationType" in lookup and loc["locationType"] != lookup["locationType"]:
        return False
    want = lookup.get("metadataLocation")
    if not want:
        return True
    exact = lookup.get("locationMatchingStrategy", "EXACT_LOCATION") == "EXACT_LOCATION"
    if want.get("spreadsheet"):
        return loc["locationType"] == "SPREADSHEET" or not exact
    have_sheet = loc.get("sheetId", loc.get("dimensionRange", {}).get("sheetId"))
    if "sheetId" in want:
        return have_sheet == want["sheetId"] and (not exact or loc["locationType"] == "SHEET")
    rng, mine = want.get("dimensionRange") or {}, loc.get("dimensionRange")
    if mine is None or mine["sheetId"] != rng.get("sheetId", 0) or mine["dimension"] != rng.get("dimension", "ROWS"):
        return False
    start, end = rng.get("startIndex", 0), rng.get("endIndex", 1 << 30)
    if exact:
        return (mine["startIndex"], mine["endIndex"]) == (start, end)
    return mine["startIndex"] < end and start < mine["endIndex"]


def _check_length(cell: Mapping[str, Any]) -> None:
    uev = cell.get("userEnteredValue") or {}
    text = uev.get("stringValue") or uev.get("formulaValue") or ""
    if len(text) > CELL_CHARACTER_LIMIT:
        raise too_long()


def _put_typed(sheet: FakeSheet, r: int, c: int, value: Any, *, as_person: bool) -> None:
    if isinstance(value, str) and value == "":
        sheet.put(r, c, None)
        return
    if as_person:
        value, auto = user_entered(value)
        if auto is not None and not sheet.number_format(r, c):
            sheet.formats[(r, c)] = {**sheet.formats.get((r, c), {}), "numberFormat": dict(auto)}
    sheet.put(r, c, value)


def _fill(sheet: FakeSheet, grid: Sequence[Sequence[Any]], *, as_person: bool) -> None:
    height = len(grid)
    width = max((len(r) for r in grid), default=0)
    _grow(sheet, height, width)
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            if v is None:
                continue
            if isinstance(v, datetime | date):
                dt = v if isinstance(v, datetime) else datetime(v.year, v.month, v.day)
                sheet.put(r, c, to_serial(dt))
                auto = AUTO_DATETIME if isinstance(v, datetime) else AUTO_DATE
                sheet.formats[(r, c)] = {**sheet.formats.get((r, c), {}), "numberFormat": dict(auto)}
                continue
            _put_typed(sheet, r, c, v, as_person=as_person)


def _grow(sheet: FakeSheet, rows: int, cols: int) -> None:
    sheet.row_count = max(sheet.row_count, rows)
    sheet.col_count = max(sheet.col_count, cols)


def _insert(sheet: FakeSheet, axis: int, at: int, n: int) -> None:
    """Rows (axis 0) or columns (1) inserted at 0-based ``at``: everything at or after it moves on by ``n``."""
    if axis == 0:
        if at < len(sheet.rows):
            sheet.rows[at:at] = [[] for _ in range(n)]
        sheet.row_count += n
    else:
        for row in sheet.rows:
            if at < len(row):
                row[at:at] = [None] * n
        sheet.col_count += n
    _shift_everything(sheet, axis, at, n)


def _delete(sheet: FakeSheet, axis: int, at: int, n: int) -> None:
    """Rows or columns [at, at + n) deleted: their cells, notes, formats, metadata go; the rest moves up/left."""
    if axis == 0:
        del sheet.rows[at : at + n]
        sheet.row_count -= n
    else:
        for row in sheet.rows:
            del row[at : at + n]
        sheet.col_count -= n
    _shift_everything(sheet, axis, at, -n)


def _shift_everything(sheet: FakeSheet, axis: int, at: int, n: int) -> None:
    sheet.notes = _shift(sheet.notes, axis, at, n)
    sheet.formats = _shift(sheet.formats, axis, at, n)
    sheet.validations = _shift(sheet.validations, axis, at, n)
    dim = "ROWS" if axis == 0 else "COLUMNS"
    moved: dict[tuple[str, int], dict[str, Any]] = {}
    for (d, i), props in sheet.dimensions.items():
        if d != dim:
            moved[(d, i)] = props
        elif n < 0 and at <= i < at - n:
            continue
        else:
            moved[(d, i + n if i >= at else i)] = props
    sheet.dimensions = moved
    kept = []
    for pr in sheet.protected:
        if _shift_grid_range(pr["range"], axis, at, n):
            pr["unprotectedRanges"] = [u for u in pr.get("unprotectedRanges", []) if _shift_grid_range(u, axis, at, n)]
            if not pr["unprotectedRanges"]:
                del pr["unprotectedRanges"]
            kept.append(pr)
    sheet.protected = kept
    kept = []
    for md in sheet.metadata:
        rng = md["location"].get("dimensionRange")
        if rng is not None and rng.get("dimension") == dim:
            span = _shift_span(rng.get("startIndex", 0), rng.get("endIndex", 0), at, n)
            if span is None:
                continue  # every row or column it was on is gone, and so is the metadata
            rng["startIndex"], rng["endIndex"] = span
        kept.append(md)
    sheet.metadata = kept


def _shift_span(start: int, end: int, at: int, n: int) -> tuple[int, int] | None:
    """A half-open span after an insert (n > 0) or delete (n < 0) at ``at``; None when nothing is left."""
    if n >= 0:
        return (start + n if start >= at else start), (end + n if end > at else end)
    gone = -n
    start = start if start < at else max(at, start - gone)
    end = end if end <= at else max(at, end - gone)
    return (start, end) if start < end else None


def _shift_grid_range(rng: dict[str, Any], axis: int, at: int, n: int) -> bool:
    """Move a GridRange in place (unbounded sides stay unbounded); False when it was deleted whole."""
    lo, hi = ("startRowIndex", "endRowIndex") if axis == 0 else ("startColumnIndex", "endColumnIndex")
    start = rng.get(lo, 0)
    end = rng.get(hi, 1 << 30)
    span = _shift_span(start, end, at, n)
    if span is None:
        return False
    if lo in rng:
        rng[lo] = span[0]
    if hi in rng:
        rng[hi] = span[1]
    return True


def _reorder_rows(sheet: FakeSheet, r0: int, order: Sequence[int]) -> None:
    """Rows r0… take the contents of rows ``order`` (old 0-based indices): values, notes, formats,
    data validation and single-row developer metadata move with them (row heights stay, as in Sheets)."""
    new_of = {old: r0 + i for i, old in enumerate(order)}
    r1 = r0 + len(order)
    while len(sheet.rows) < r1:
        sheet.rows.append([])
    old_rows = sheet.rows[r0:r1]
    sheet.rows[r0:r1] = [old_rows[old - r0] for old in order]

    def move(d: dict[Key, Any]) -> dict[Key, Any]:
        return {((new_of.get(r, r)), c): v for (r, c), v in d.items()}

    sheet.notes = move(sheet.notes)
    sheet.formats = move(sheet.formats)
    sheet.validations = move(sheet.validations)
    for md in sheet.metadata:
        rng = md["location"].get("dimensionRange")
        if rng and rng.get("dimension") == "ROWS" and rng.get("endIndex", 0) - rng.get("startIndex", 0) == 1:
            start = rng["startIndex"]
            if start in new_of:
                rng["startIndex"], rng["endIndex"] = new_of[start], new_of[start] + 1


def _sort_key(value: Any) -> tuple[int, Any]:
    """Sheets' order: numbers, then text (case-insensitive), then TRUE/FALSE; empty cells always last."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value).casefold())


def _sheet_from_props(props: Mapping[str, Any], *, default_id: int, index: int) -> FakeSheet:
    grid = props.get("gridProperties", {})
    return FakeSheet(
        props.get("sheetId", default_id),
        props.get("title", "シート1"),
        index,
        row_count=grid.get("rowCount", DEFAULT_ROWS),
        col_count=grid.get("columnCount", DEFAULT_COLS),
        frozen_rows=grid.get("frozenRowCount", 0),
        frozen_cols=grid.get("frozenColumnCount", 0),
        hidden=bool(props.get("hidden", False)),
    )


_Q_CLAUSE = re.compile(
    r"""^\s*(?:
        (?P<lit>['"])(?P<parent>[^'"]+)(?P=lit)\s+in\s+parents |
        parents\s+in\s+(?P<lit2>['"])(?P<parent2>[^'"]+)(?P=lit2) |
        (?P<field>mimeType|name|trashed)\s*(?P<op>=|!=|contains)\s*(?P<val>'[^']*'|"[^"]*"|true|false)
    )\s*$""",
    re.VERBOSE,
)


def _drive_query(q: str) -> Callable[[FakeFile], bool]:
    """Drive's ``q`` for the clauses the project and gspread use, joined with ``and``."""
    tests: list[Callable[[FakeFile], bool]] = []
    for clause in re.split(r"\s+and\s+", q.strip()) if q.strip() else []:
        m = _Q_CLAUSE.match(clause)
        if not m:
            raise ApiError(400, "Invalid Value", reason="invalid", location="q")
        parent = m.group("parent") or m.group("parent2")
        if parent:
            tests.append(lambda f, p=parent: p in f.parents)
            continue
        fld, op, val = m.group("field"), m.group("op"), m.group("val").strip("'\"")
        if fld == "trashed":
            tests.append(lambda f, v=val: (v == "true") is False)
            continue

        def test(f: FakeFile, fld: str = fld, op: str = op, val: str = val) -> bool:
            have = f.mime_type if fld == "mimeType" else f.name
            return have == val if op == "=" else have != val if op == "!=" else val in have

        tests.append(test)
    return lambda f: all(t(f) for t in tests)


def serve_forever(port_queue: Any, latency: float = 0.0) -> None:
    """Run a fake in this process (for ``multiprocessing``): its URL goes to ``port_queue``."""
    fake = FakeGoogle(latency=latency).start()
    port_queue.put(fake.url)
    threading.Event().wait()


# ---------------------------------------------------------------- keys, clocks and the store factory
@functools.lru_cache(maxsize=2)
def private_key_for_tests(n: int = 0) -> rsa.RSAPrivateKey:
    """An RSA key made once per test session (making one takes tens of milliseconds)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeClock:
    """A monotonic clock whose ``sleep`` only moves time forward (no test ever waits)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self._wall0 = datetime.now(UTC)
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.t += max(0.0, seconds)

    def now(self) -> datetime:
        with self._lock:
            return self._wall0 + timedelta(seconds=self.t - 1000.0)


def service_account_json(token_uri: str, email: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """A service-account key file's content, shaped like the ones Google Cloud hands out."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "type": "service_account",
        "project_id": "desk-project",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem.decode(),
        "client_email": email,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }


def public_key_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


class GSheetsStoreFactory:
    """Fresh GSheetsStores over one fake: a register spreadsheet and a Drive folder shared with the SA.

    ``factory()`` → a store whose register is an empty spreadsheet (call ``create_book(None, …)``
    as ``init`` does), departments in their own spreadsheets in the folder (``departments="books"``)
    or as register tabs. ``factory.another(store)`` → a second store on the same register (another
    process). Every store gets a :class:`FakeClock` (``store.clock``): the rate limiter, backoff
    and lock waits never sleep for real.
    """

    def __init__(self, fake: FakeGoogle, tmp_path: Path) -> None:
        self.fake = fake
        self.tmp_path = tmp_path
        self._n = itertools.count(1)

    def config(
        self,
        *,
        register: str | None = None,
        folder: str | None = None,
        departments: str = "tabs",
        credentials: Path | None = None,
        **gsheets: Any,
    ) -> Any:
        from kouminrenkei_sheets.config import config_from_dict

        n = next(self._n)
        if credentials is None:
            credentials = write_json(self.tmp_path / f"service-account-{n}.json", self.fake.service_account_info())
        if folder is None:
            folder = self.fake.add_folder()
        if register is None:
            register = self.fake.add_spreadsheet("公民連携台帳", parents=[folder])
        settings = {
            "credentials": str(credentials),
            "drive_folder": folder,
            "max_retries": 3,
            **gsheets,
        }
        data = {"store": {"backend": "gsheets", "register": register, "departments": departments}, "gsheets": settings}
        return config_from_dict(data, base_dir=self.tmp_path)

    def __call__(self, *, clock: FakeClock | None = None, **kwargs: Any) -> FakeBackedGSheetsStore:
        return FakeBackedGSheetsStore(self.config(**kwargs), fake=self.fake, clock=clock or FakeClock())

    def another(self, store: Any, *, clock: FakeClock | None = None) -> FakeBackedGSheetsStore:
        return FakeBackedGSheetsStore(store.config, fake=self.fake, clock=clock or FakeClock())


def _store_class() -> type:
    from kouminrenkei_sheets.store.gsheets import GSheetsStore

    return GSheetsStore


class FakeBackedGSheetsStore(_store_class()):  # type: ignore[misc]
    """A GSheetsStore with the test helpers MemoryStore has (``put_table``) and its fake at hand."""

    def __init__(self, config: Any, *, fake: FakeGoogle, clock: FakeClock) -> None:
        from kouminrenkei_sheets.store.factory import gsheets_options

        options = gsheets_options(config)
        super().__init__(options, transport=fake.transport(), sleep=clock.sleep, clock=clock.monotonic, now=clock.now)
        self.config = config  # the tests' handle on the desk's configuration (the store keeps only its options)
        self.fake = fake
        self.clock = clock

    def key_of(self, book: str | None) -> str:
        """The spreadsheet key of a book (creating a department spreadsheet in the folder if needed)."""
        key = self.resolve_key(book)
        if key is None:
            assert book is not None
            title = book.rsplit("/", 1)[-1]
            key = self.fake.add_spreadsheet(title, parents=[self.options.drive_folder])
            self.forget()
        return key

    def put_table(self, ref: Any, grid: list[list[Any]], hidden: bool = False) -> None:
        """Seed a tab's grid directly in the fake (as raw values; dates as date cells); not a request."""
        self.fake.put_values(self.key_of(ref.book), ref.sheet, grid, as_person=False, hidden=hidden)
        self.forget()


# ---------------------------------------------------------------- pytest fixtures
@pytest.fixture
def fake_google() -> Iterator[FakeGoogle]:
    """A running fake Google (Sheets, Drive, OAuth) on 127.0.0.1, stopped after the test."""
    with FakeGoogle() as fake:
        yield fake
        assert not fake.errors, "the fake Google API failed unexpectedly:\n" + "\n".join(fake.errors)


@pytest.fixture
def gsheets_store_factory(fake_google: FakeGoogle, tmp_path: Path) -> GSheetsStoreFactory:
    """``gsheets_store_factory()`` → a fresh GSheetsStore (empty register) over this test's fake."""
    return GSheetsStoreFactory(fake_google, tmp_path)


@pytest.fixture
def fake(fake_google: FakeGoogle) -> FakeGoogle:
    """The short name the Sheets tests use for :func:`fake_google`."""
    return fake_google


@pytest.fixture
def factory(gsheets_store_factory: GSheetsStoreFactory) -> GSheetsStoreFactory:
    """The short name the Sheets tests use for :func:`gsheets_store_factory`."""
    return gsheets_store_factory
