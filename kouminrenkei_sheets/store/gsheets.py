"""The gsheets backend: the register and department sheets as Google spreadsheets (gspread + google-auth).

Reads cost one ``values:batchGet`` per spreadsheet for every tab asked for (the spreadsheet's
metadata only when its structure must be checked, then cached for the run). Writes cost one
``values:batchUpdate`` (valueInputOption RAW, so text starting with ``=`` stays text) per changed
spreadsheet, plus one ``spreadsheets:batchUpdate`` only when tabs, rows, formats or marks change;
either is cut into several when its body would pass Google's 2 MB recommendation.
Every call goes through a client-side rate limit and bounded exponential backoff with jitter (at
least the ``Retry-After`` a 429 asks for); after that a :class:`~kouminrenkei_sheets.errors.ServiceError`
(exit 4). Spreadsheets the store creates get locale ja_JP and the desk's time zone (passed in); on
department tabs the desk-owned columns and the header row are protected ranges whose only editor is
the account the store runs as, and a write refused by a protected range is its own message.

How values travel: rows are read unformatted, dates as serial numbers, text always as text. In a
date column (a header the schema types as a date) a number is a date, written back as a serial
number under the column's date format; datetimes keep whole seconds. Elsewhere the tool writes a
date as ``2025/4/1`` text (it reads back as that text: compare by meaning, as sync does), and a
date a person types there comes back as the serial number Sheets keeps. An empty string is an
empty cell. The tool's own state lives in hidden tabs: ``_lock`` (the sync lock, an append-only
claim log) and ``_marks`` (where the tool's cell notes are).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import re
import socket
import threading
import time
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import google.auth.exceptions
import google.oauth2.credentials
import requests
from google.auth.credentials import Credentials
from google.oauth2 import service_account
from gspread.exceptions import APIError, NoValidUrlKeyFound
from gspread.http_client import HTTPClient
from gspread.urls import DRIVE_FILES_API_V3_URL
from gspread.utils import absolute_range_name, extract_id_from_url, rowcol_to_a1
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from ..clock import desk_zone, zone
from ..config import Config
from ..errors import BusyError, ConfigError, KouminrenkeiError, ServiceError, StoreError
from ..schema import (
    CHOICE_LISTS,
    CHOICES,
    DEPARTMENT_SHEET,
    DEPARTMENTS,
    SHEETS,
    Column,
    Owner,
    Sheet,
    ValueType,
    is_department_sheet,
)
from .base import (
    MARK_FILL,
    AppendRows,
    ApplyResult,
    CellValue,
    Change,
    DeleteRow,
    EnsureSheet,
    GridView,
    MarkCells,
    ReplaceRows,
    SetCell,
    SheetRef,
    Store,
    Table,
    WriteConflict,
    apply_placement,
    busy_message,
    group_by_book,
    header_key,
    header_positions,
    place,
    place_marks,
    table_from_grid,
)
from .ooxml import error_value

SCOPES = ("https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive")
ENDPOINT_ENV = "KOUMINRENKEI_GSHEETS_ENDPOINT"  # tests only: like gsheets.endpoint, for a config made by init
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")
SHEETS_MIME = "application/vnd.google-apps.spreadsheet"
SPREADSHEET_LOCALE = "ja_JP"  # of the spreadsheets the tool creates
LOCK_TAB = "_lock"
MARKS_TAB = "_marks"
INTERNAL_TABS = (LOCK_TAB, MARKS_TAB)
LOCK_HEADERS = ("名前", "トークン", "保持者", "期限", "状態", "記録日時")
MARKS_HEADERS = ("シート", "キー列", "キー", "列", "メモ")  # a mark names its row by key, not number
PROTECTED_MARK = "protected cell or object"  # in Google's 403 for an edit of a protected range
DATE_PATTERN = "yyyy/m/d"
DATETIME_PATTERN = "yyyy/m/d h:mm:ss"
NEW_TAB_ROWS = 1000
SPARE_COLUMNS = 10  # room for the columns a department adds for itself
GROW_ROWS = 500  # rows added at once when a tab fills up, so growing is rare
CHOICE_ROWS = 300  # how far down the 選択肢 lists may grow and still feed the dropdowns
LOCK_COMPACT_AT = 50  # dead lock claims kept before the holder deletes them
VERSION_TTL = 10.0  # seconds a spreadsheet's Drive version is trusted without asking again
RETRY_AFTER_MAX = 300.0  # a longer Retry-After is waited this long, then the retries go on
MAX_URL_RANGES = 12_000  # bytes of ranges in one GET's URL (Google refuses very long URLs)
MAX_REQUEST_BYTES = 2_000_000  # Google: keep a request's body under 2 MB (10 MB is refused outright)
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
DRIVE_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
META_FIELDS = (
    "properties.title,sheets(properties(sheetId,title,index,hidden,"
    "gridProperties(rowCount,columnCount,frozenRowCount)),protectedRanges.protectedRangeId)"
)
_KEY = re.compile(r"^[A-Za-z0-9_-]{25,}$")
_DEFAULT_TAB = re.compile(r"^(シート|Sheet)\s?\d+$")
_ECHO = re.compile(r"!([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?$")
_EPOCH = datetime(1899, 12, 30)
_MAX_SERIAL = 2958466  # 9999-12-31


def _rgb(argb: str) -> dict[str, float]:
    return {k: int(argb[i : i + 2], 16) / 255 for k, i in (("red", 2), ("green", 4), ("blue", 6))}


LOCK_SHEET = Sheet(LOCK_TAB, tuple(Column(h) for h in LOCK_HEADERS), hidden=True)
MARKS_SHEET = Sheet(MARKS_TAB, tuple(Column(h) for h in MARKS_HEADERS), hidden=True)
MARK_COLOR = _rgb(MARK_FILL)
HEADER_COLOR = _rgb("FFDDEBF7")
DESK_HEADER_COLOR = _rgb("FFE7E6E6")
T = TypeVar("T")
Grid = list[list[CellValue]]


# ---------------------------------------------------------------- values on the wire
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


def _blank(v: CellValue) -> bool:
    return v is None or v == ""


def _same(a: CellValue, b: CellValue) -> bool:
    if _blank(a) or _blank(b):
        return _blank(a) and _blank(b)
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


def as_key(ident: str) -> str | None:
    """The spreadsheet key in a key or a URL; None for a name (looked up in the Drive folder)."""
    s = ident.strip()
    if s.startswith(("http://", "https://")):
        try:
            return extract_id_from_url(s)
        except NoValidUrlKeyFound:
            return None
    return s if _KEY.match(s) else None


def title_of(book: str) -> str:
    """The spreadsheet title of a book named like a file ('departments/防災政策課.xlsx' → '防災政策課')."""
    p = PurePosixPath(book.replace("\\", "/"))
    return p.stem if p.suffix.lower() in (".xlsx", ".xlsm") else p.name


# ---------------------------------------------------------------- credentials
def load_credentials(config: Config) -> tuple[Credentials, str | None]:
    """google-auth credentials from a service-account key or an authorised-user file, and the address
    Google knows them by (what a spreadsheet must be shared with)."""
    configured = config.gsheets.credentials
    text = configured or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")
    if not text:
        raise ConfigError(
            "Google の認証情報がありません。kouminrenkei.toml の gsheets.credentials にサービスアカウントの鍵"
            "（JSON）のパスを書くか、環境変数 GOOGLE_APPLICATION_CREDENTIALS を設定してください。"
        )
    path = config.resolve(text) if configured else Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"Google の認証情報 {path} が見つかりません（gsheets.credentials を確認してください）。")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise ConfigError(
            f"Google の認証情報 {path} を JSON として読めません。鍵ファイルが壊れているので、"
            "Google Cloud コンソールで作り直してください。"
        ) from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        try:
            creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ConfigError(
                f"サービスアカウントの鍵 {path} が壊れています（{reason}）。"
                "Google Cloud コンソールで鍵を作り直してください。"
            ) from None
        return creds, creds.service_account_email
    if kind == "authorized_user":
        missing = sorted({"client_id", "client_secret", "refresh_token"} - set(info))
        if missing:
            raise ConfigError(f"認可済みユーザーのファイル {path} に {', '.join(missing)} がありません。")
        creds = google.oauth2.credentials.Credentials(
            token=None,
            refresh_token=info["refresh_token"],
            token_uri=info.get("token_uri") or GOOGLE_TOKEN_URI,
            client_id=info["client_id"],
            client_secret=info["client_secret"],
            scopes=list(SCOPES),
        )
        return creds, info.get("account") or None
    raise ConfigError(
        f"{path} はサービスアカウントの鍵でも認可済みユーザーのファイルでもありません（type = {kind!r}）。"
    )


# ---------------------------------------------------------------- rate limit and retries
class RateLimiter:
    """Fewer than ``per_minute`` calls in any 60 seconds (a sliding window); waits until one fits."""

    def __init__(
        self, per_minute: int, *, clock: Callable[[], float], sleep: Callable[[float], None], period: float = 60.0
    ) -> None:
        self.limit = max(1, per_minute - 1)  # stay under the quota, never at it
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._times and self._times[0] + self.period <= now:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                # at least a millisecond: a wait below the clock's float resolution would never pass
                wait = max(self._times[0] + self.period - now, 0.001)
            self.waited += wait
            self._sleep(wait)


class _Transient(Exception):
    """A failure worth retrying: quota (429), a 5xx, a timeout or a dropped connection."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After), if it said


def retry_after(response: requests.Response | None) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds (delta-seconds or an HTTP date), capped."""
    value = response.headers.get("Retry-After", "").strip() if response is not None else ""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


class _BadRange(Exception):
    """The API could not parse a range: the tab it names does not exist (any more)."""


def _status(e: APIError) -> int:
    return e.response.status_code if e.response is not None else e.code


def _drive_reason(e: APIError) -> str:
    errors = e.error.get("errors") if isinstance(e.error, Mapping) else None
    return str(errors[0].get("reason", "")) if errors else ""


def _describe(e: BaseException) -> str:
    if isinstance(e, APIError):
        code = _status(e)
        if code == 429 or _drive_reason(e) in DRIVE_RATE_REASONS:
            return f"{code} 利用上限（1 分あたりのリクエスト数）を超えました"
        return f"{code} {e.error.get('status') or 'エラー'}: {e.error.get('message', '')}".strip()
    if isinstance(e, requests.Timeout):
        return "応答がありません（タイムアウト）"
    if isinstance(e, requests.ConnectionError):
        return "接続が切れました"
    return f"{type(e).__name__}: {e}"


class GoogleHTTPClient(HTTPClient):
    """gspread's HTTP client aimed at Google (or ``endpoint`` in tests), rate limited, with bounded retries.

    gspread's own BackOffHTTPClient retries without bound; this one tries ``max_retries`` more times
    with exponential backoff and jitter, then raises ServiceError.
    """

    def __init__(
        self,
        auth: Credentials,
        session: requests.Session | None = None,
        *,
        endpoint: str = "",
        max_retries: int = 5,
        reads_per_minute: int = 60,
        writes_per_minute: int = 60,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        backoff_max: float = 32.0,
    ) -> None:
        super().__init__(auth, session)
        self.set_timeout(timeout)
        self.endpoint = endpoint.rstrip("/")
        self.max_retries = max(0, max_retries)
        self.backoff_max = backoff_max
        self.read_limiter = RateLimiter(reads_per_minute, clock=clock, sleep=sleep)
        self.write_limiter = RateLimiter(writes_per_minute, clock=clock, sleep=sleep)
        self.sleep = sleep
        self.attempts: Counter[str] = Counter()  # "GET sheets", "POST drive" … every try, retries included
        self.retries = 0

    def url(self, url: str) -> str:
        if self.endpoint:
            for host in GOOGLE_HOSTS:
                if url.startswith(host):
                    return self.endpoint + url[len(host) :]
        return url

    def request(
        self,
        method: str,
        endpoint: str,
        params: Any = None,
        data: Any = None,
        json: Any = None,
        files: Any = None,
        headers: Any = None,
    ) -> requests.Response:
        response = self.call(method, endpoint, params=params, data=data, json=json, files=files, headers=headers)
        assert response is not None
        return response

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        params: Any = None,
        data: Any = None,
        json: Any = None,
        files: Any = None,
        headers: Any = None,
        idempotent: bool = True,
        applied: Callable[[], bool] | None = None,
    ) -> requests.Response | None:
        """One API call with retries. A call that is not ``idempotent`` is retried after an
        ambiguous failure (the answer lost, maybe not the change) only when ``applied()`` says it
        did not take effect; if it did, None is returned."""
        url = self.url(endpoint)
        api = "sheets" if "/v4/spreadsheets" in url else "drive"
        limiter = None
        if api == "sheets":
            limiter = self.read_limiter if method.upper() == "GET" else self.write_limiter
        backoff = wait_exponential_jitter(initial=1, max=self.backoff_max, jitter=1)

        def wait(state: RetryCallState) -> float:
            """The backoff, or longer when the server said how long to wait (Retry-After)."""
            failed = state.outcome.exception() if state.outcome is not None else None
            asked = failed.retry_after if isinstance(failed, _Transient) else None
            return max(backoff(state), asked or 0.0)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait,
            retry=retry_if_exception_type(_Transient),
            sleep=self.sleep,
            reraise=True,
        )
        last = ""
        try:
            for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.retries += 1
                    if limiter is not None:
                        limiter.acquire()
                    self.attempts[f"{method.upper()} {api}"] += 1
                    ambiguous = True
                    asked: float | None = None
                    try:
                        return super().request(
                            method, url, params=params, data=data, json=json, files=files, headers=headers
                        )
                    except APIError as e:
                        code = _status(e)
                        rate = code == 429 or (code == 403 and _drive_reason(e) in DRIVE_RATE_REASONS)
                        if code not in RETRY_STATUS and not rate:
                            raise
                        last, ambiguous = _describe(e), not rate
                        asked = retry_after(e.response)
                    except (requests.ConnectTimeout, google.auth.exceptions.TransportError) as e:
                        last, ambiguous = _describe(e), False
                    except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
                        last = _describe(e)
                    except google.auth.exceptions.RefreshError as e:
                        if not getattr(e, "retryable", False):
                            raise
                        last, ambiguous = f"認証サーバー: {e}", False
                    if ambiguous and not idempotent:
                        if applied is None:
                            raise ServiceError(
                                f"Google スプレッドシートへの書き込みの結果が分かりません（{last}）。"
                                "内容を確認してから再実行してください。"
                            )
                        if applied():
                            return None
                    raise _Transient(last, asked)
        except _Transient:
            raise ServiceError(
                f"Google スプレッドシートの API が {self.max_retries + 1} 回続けて失敗しました（最後: {last}）。"
                "しばらく待ってから再実行してください。"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------- what the store remembers in a run
@dataclass
class _TabMeta:
    sheet_id: int
    title: str
    index: int
    hidden: bool
    rows: int
    cols: int
    protected: int = 0


@dataclass
class _Tab:
    """A tab's values as last read or written in this run (decoded, row 1 = headers)."""

    grid: Grid
    rows: int  # the tab's grid size
    cols: int


@dataclass
class _Book:
    book: str | None
    key: str
    meta: dict[str, _TabMeta] | None = None  # loaded only when the structure must be checked
    tabs: dict[str, _Tab] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


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

    def map_row(self, row: int) -> int | None:
        """Where a row number ends up after this plan's deletes (None: deleted)."""
        for d in self.deletes:
            if row - 1 == d:
                return None
            if row - 1 > d:
                row -= 1
        return row


class GSheetsStore(Store):
    """The register and department spreadsheets on Google Sheets, through gspread and google-auth."""

    backend = "gsheets"

    def __init__(
        self,
        config: Config,
        *,
        credentials: Credentials | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        max_workers: int = 8,
        time_zone: tzinfo | None = None,
    ) -> None:
        self.config = config
        self.zone = time_zone or zone()  # the desk's: new spreadsheets' timeZone, the lock log's times
        settings = config.gsheets
        if credentials is None:
            credentials, account = load_credentials(config)
        else:
            account = getattr(credentials, "service_account_email", None)
        self.account = account
        self.http = GoogleHTTPClient(
            credentials,
            endpoint=settings.endpoint or os.environ.get(ENDPOINT_ENV, ""),
            max_retries=settings.max_retries,
            reads_per_minute=settings.reads_per_minute,
            writes_per_minute=settings.writes_per_minute,
            sleep=sleep,
            clock=clock,
            timeout=timeout,
        )
        self._sleep = sleep
        self._clock = clock
        self._now = now or (lambda: datetime.now(UTC))
        self.max_request_bytes = MAX_REQUEST_BYTES
        self.max_workers = max(1, max_workers)
        self.reads: dict[str | None, int] = {}  # requests per book, like MemoryStore's counters
        self.writes: dict[str | None, int] = {}
        self._books: dict[str | None, _Book] = {}
        self._listing: dict[str, str] | None = None  # spreadsheet titles in the Drive folder → keys
        self._versions: dict[str, tuple[float, str]] = {}  # key → (when fetched, version)
        self._date_columns = dict(DATE_COLUMNS)
        self._lock = threading.RLock()
        self._listing_lock = threading.RLock()

    @classmethod
    def from_config(cls, config: Config) -> GSheetsStore:
        return cls(config, time_zone=desk_zone(config))

    # -- naming and errors
    def display_name(self, book: str | None) -> str:
        return "台帳" if book is None else book

    def _share_hint(self) -> str:
        if self.account and self.account.endswith(".gserviceaccount.com"):
            return f"スプレッドシートをサービスアカウント {self.account} と共有（編集者）してください。"
        who = f"（{self.account}）" if self.account else ""
        return f"認証した Google アカウント{who}に編集権限があるか確認してください。"

    def _error(self, e: APIError, book: str | None, key: str, action: str) -> KouminrenkeiError:
        code = _status(e)
        message = str(e.error.get("message", "")) if isinstance(e.error, Mapping) else str(e)
        name = self.display_name(book)
        if code == 403 and _drive_reason(e) == "storageQuotaExceeded":
            return StoreError(
                f"Google ドライブに「{name}」を作れません"
                f"（{self.account or 'このアカウント'} には保存容量がありません）。"
                "gsheets.drive_folder に共有ドライブのフォルダを指定してください。"
            )
        if code == 403 and PROTECTED_MARK in message:
            return StoreError(self._protected_message(book, key))
        if code == 403:
            return StoreError(f"「{name}」（{key}）を開けません。{self._share_hint()}")
        if code == 404:
            return StoreError(
                f"「{name}」が見つかりません（スプレッドシート {key}）。キーまたは URL を確認し、{self._share_hint()}"
            )
        if code == 401:
            return ConfigError(f"Google の認証に失敗しました（{message}）。認証情報を確認してください。")
        if 400 <= code < 500:
            return StoreError(f"「{name}」の{action}を Google が受け付けませんでした: {message}")
        return ServiceError(f"Google スプレッドシートの API がエラーを返しました（{code}: {message}）。")

    def _protected_message(self, book: str | None, key: str) -> str:
        """What a write into a protected range was refused for: the ranges this account may not edit
        (tab, cells, description) and who may (one spreadsheets.get; Google names a range's editors
        only to its editors, so else the owner, when Drive says who that is)."""
        name = self.display_name(book)
        ranges: list[str] = []
        with contextlib.suppress(APIError, requests.RequestException, KouminrenkeiError):
            fields = "sheets(properties(sheetId,title),protectedRanges(range,description,requestingUserCanEdit))"
            data = self.http.fetch_sheet_metadata(key, params={"fields": fields})
            titles = {s["properties"].get("sheetId", 0): s["properties"]["title"] for s in data.get("sheets", [])}
            for sheet in data.get("sheets", []):
                for pr in sheet.get("protectedRanges", []):
                    if pr.get("requestingUserCanEdit", True):
                        continue
                    rng = pr.get("range", {})
                    where = f"シート「{titles.get(rng.get('sheetId', 0), '?')}」の {_grid_a1(rng)}"
                    if pr.get("description"):
                        where += f"（説明: {pr['description']}）"
                    ranges.append(where)
        who = ""
        with contextlib.suppress(APIError, requests.RequestException, KouminrenkeiError, KeyError, IndexError):
            params = {"fields": "owners(emailAddress)", "supportsAllDrives": True}
            owners = self.http.request("get", f"{DRIVE_FILES_API_V3_URL}/{key}", params=params).json().get("owners")
            who = owners[0]["emailAddress"] if owners else ""
        shown = "、".join(ranges[:3]) + (f" ほか {len(ranges) - 3} か所" if len(ranges) > 3 else "")
        account = self.account or "このアカウント"
        editors = f"保護の編集者に登録された人とオーナー（{who}）" if who else "保護の編集者に登録された人とオーナー"
        return (
            f"「{name}」の保護された範囲{(' ' + shown + ' ') if shown else ''}には書き込めません。"
            f"編集できるのは{editors}だけで、{account} は含まれていません。"
            f"「データ > シートと範囲を保護」でその範囲の編集者に {account} を加えてください。"
        )

    def _api(self, book: str | None, key: str, action: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except APIError as e:
            raise self._error(e, book, key, action) from None
        except google.auth.exceptions.RefreshError as e:
            detail = str(e.args[0]) if e.args else str(e)
            who = f"サービスアカウント {self.account} の鍵" if self.account else "認証情報"
            raise ConfigError(
                f"Google が{who}を受け付けません（{detail}）。"
                "鍵が削除・無効化されていないか確認し、必要なら作り直してください。"
            ) from None

    @staticmethod
    def _raw(fn: Callable[[], T]) -> T:
        """Run an API call, turning "Unable to parse range" (a tab that is not there) into _BadRange."""
        try:
            return fn()
        except APIError as e:
            if _status(e) == 400 and "Unable to parse range" in str(e.error.get("message", "")):
                raise _BadRange(str(e.error.get("message"))) from None
            raise

    def _count(self, counter: dict[str | None, int], book: str | None) -> None:
        with self._lock:
            counter[book] = counter.get(book, 0) + 1

    # -- finding spreadsheets
    def _folder(self) -> str:
        folder = self.config.gsheets.drive_folder
        if not folder:
            raise ConfigError(
                "担当課のスプレッドシートを名前で探すには gsheets.drive_folder に Google ドライブのフォルダIDを"
                "設定してください（または担当課シートの「ブック」列にスプレッドシートのキーか URL を書いてください）。"
            )
        return folder

    def _list_folder(self) -> dict[str, str]:
        """Titles → keys of the spreadsheets in the Drive folder (one request; versions cached too)."""
        folder = self._folder()
        found: dict[str, str] = {}
        params: dict[str, Any] = {
            "q": f"'{folder}' in parents and mimeType = '{SHEETS_MIME}' and trashed = false",
            "pageSize": 1000,
            "supportsAllDrives": True,
            "includeItemsFromAllDrives": True,
            "fields": "nextPageToken,files(id,name,modifiedTime,version)",
        }
        now = self._clock()
        while True:
            data = self._api(
                None, folder, "一覧", lambda: self.http.request("get", DRIVE_FILES_API_V3_URL, params=params).json()
            )
            for f in data.get("files", []):
                found.setdefault(f["name"], f["id"])
                self._versions[f["id"]] = (now, f"{f.get('modifiedTime', '')}#{f.get('version', '')}")
            token = data.get("nextPageToken")
            if not token:
                break
            params["pageToken"] = token
        with self._lock:
            self._listing = found
        return found

    def resolve_key(self, book: str | None) -> str | None:
        """The spreadsheet key of a book: the register's key or URL, a book given as a key or URL, or a
        spreadsheet of that name in the Drive folder. None if there is no such spreadsheet."""
        ident = self.config.store.register if book is None else book
        key = as_key(ident)
        if key:
            return key
        if book is None and not self.config.gsheets.drive_folder:
            raise ConfigError(
                f"store.register = {ident!r} はスプレッドシートのキーでも URL でもありません。"
                "台帳にする Google スプレッドシートの URL を指定してください。"
            )
        with self._listing_lock:  # threads reading many books share one listing
            listing = self._listing if self._listing is not None else self._list_folder()
        return listing.get(title_of(ident))

    def _book(self, book: str | None) -> _Book:
        with self._lock:
            b = self._books.get(book)
        if b is not None:
            return b
        key = self.resolve_key(book)
        if key is None:
            what = "台帳" if book is None else f"ブック「{self.display_name(book)}」"
            raise StoreError(
                f"{what}が見つかりません（Google ドライブのフォルダ {self.config.gsheets.drive_folder}）。"
            )
        with self._lock:
            return self._books.setdefault(book, _Book(book, key))

    def forget(self) -> None:
        """Drop everything cached in this run (metadata, values, folder listing, versions)."""
        with self._lock:
            self._books.clear()
            self._listing = None
            self._versions.clear()

    # -- metadata ("structure")
    def _load_meta(self, b: _Book, *, force: bool = False) -> dict[str, _TabMeta]:
        if b.meta is not None and not force:
            return b.meta
        self._count(self.reads, b.book)
        data = self._api(
            b.book, b.key, "読み込み", lambda: self.http.fetch_sheet_metadata(b.key, params={"fields": META_FIELDS})
        )
        meta: dict[str, _TabMeta] = {}
        for s in data.get("sheets", []):
            p = s.get("properties", {})
            grid = p.get("gridProperties", {})
            meta[p["title"]] = _TabMeta(
                p.get("sheetId", 0),
                p["title"],
                p.get("index", 0),
                bool(p.get("hidden", False)),
                grid.get("rowCount", 0),
                grid.get("columnCount", 0),
                len(s.get("protectedRanges", [])),
            )
        b.meta = meta
        return meta

    def sheet_names(self, book: str | None = None) -> list[str]:
        b = self._book(book)
        with b.lock:
            meta = self._load_meta(b, force=True)
        return [m.title for m in sorted(meta.values(), key=lambda m: m.index) if m.title not in INTERNAL_TABS]

    def sheet_titles_by_gid(self, book: str) -> dict[str, str]:
        """Tab titles by their sheet id (the ``gid`` in a Sheets URL)."""
        b = self._book(book)
        with b.lock:
            meta = self._load_meta(b)
        return {str(m.sheet_id): m.title for m in meta.values()}

    def book_exists(self, book: str | None) -> bool:
        """Whether the book exists. The register must be more than an empty default tab (an empty
        spreadsheet is where ``init`` builds it); a department spreadsheet found in the Drive folder
        exists without another request."""
        try:
            key = self.resolve_key(book)
        except StoreError:
            return False
        if key is None:
            return False
        if book is not None:
            known = self._books.get(book)
            if as_key(book) is None or (known is not None and known.meta is not None):
                return True
            if self._listing is not None and key in self._listing.values():
                return True
            return self.book_version(book) is not None
        b = self._books.get(book) or _Book(book, key)
        try:
            with b.lock:
                meta = self._load_meta(b, force=True)
        except StoreError as e:
            if "見つかりません" in str(e):
                return False
            raise
        with self._lock:
            self._books.setdefault(book, b)
        return any(not _DEFAULT_TAB.match(t) for t in meta)

    # -- versions (Drive's modifiedTime)
    def book_version(self, book: str | None) -> str | None:
        """Drive's modifiedTime and version of the spreadsheet: one Drive call, and for the department
        spreadsheets in the folder one listing serves them all. Cached for ``VERSION_TTL`` seconds and
        dropped when this store writes data; the lock's own rows in the register do not count."""
        try:
            key = self.resolve_key(book)
        except (StoreError, ConfigError):
            return None
        if key is None:
            return None
        cached = self._versions.get(key)
        if cached is not None and self._clock() - cached[0] < VERSION_TTL:
            return cached[1]
        if self.config.gsheets.drive_folder and (self._listing is None or key in self._listing.values()):
            self._list_folder()  # one listing gives every spreadsheet in the folder its version
            cached = self._versions.get(key)
            if cached is not None:
                return cached[1]
        params = {"fields": "id,modifiedTime,version", "supportsAllDrives": True}
        try:
            data = self.http.request("get", f"{DRIVE_FILES_API_V3_URL}/{key}", params=params).json()
        except APIError as e:
            if _status(e) == 404:
                return None
            raise self._error(e, book, key, "確認") from None
        version = f"{data.get('modifiedTime', '')}#{data.get('version', '')}"
        self._versions[key] = (self._clock(), version)
        return version

    def _changed(self, b: _Book) -> None:
        self._versions.pop(b.key, None)

    def book_versions(self, books: Sequence[str | None], *, tabs: Sequence[str] = ()) -> dict[str | None, str | None]:
        """One Drive listing for the department spreadsheets in the folder (:meth:`book_version`), and for
        the register, when ``tabs`` are named, a digest of those tabs' values in one values:batchGet:
        every job's lock claim is a row in the register, so its Drive version moves on every run."""
        wanted = list(dict.fromkeys(books))
        out: dict[str | None, str | None] = {}
        for book in wanted:
            if book is None and tabs:
                b = self._book(None)
                with b.lock:
                    fetched = self._fetch(b, list(tabs))
                out[None] = _content_token({t: fetched[t].grid for t in tabs if t in fetched}, self._date_columns)
            else:
                out[book] = self.book_version(book)
        return out

    versions_from_reads = True

    def read_version(self, book: str | None, *, tabs: Sequence[str] = ()) -> str | None:
        b = self._books.get(book)
        if book is not None or not tabs or b is None:
            return None
        with b.lock:
            return _content_token({t: b.tabs[t].grid for t in tabs if t in b.tabs}, self._date_columns)

    def record_dir(self) -> Path | None:
        """The config's folder (this machine's own records; another machine keeps its own)."""
        return self.config.base_dir / ".kouminrenkei" / f"gsheets-{self.resolve_key(None) or 'register'}"

    # -- reading
    def read(self, refs: Sequence[SheetRef]) -> dict[SheetRef, Table | None]:
        by_book: dict[str | None, list[str]] = {}
        for ref in refs:
            by_book.setdefault(ref.book, []).append(ref.sheet)
        books = list(by_book)
        results = self._parallel(lambda book: self._read_book(book, by_book[book]), books)
        tables = dict(zip(books, results, strict=True))
        out: dict[SheetRef, Table | None] = {}
        for ref in refs:
            got = tables[ref.book][ref.sheet]
            if got is None:
                out[ref] = None
                continue
            table = table_from_grid(ref, got[0], hidden=got[1])
            table.marks = dict(got[2])
            out[ref] = table
        return out

    def _read_book(self, book: str | None, sheets: list[str]) -> dict[str, tuple[Grid, bool, dict[Any, str]] | None]:
        b = self._book(book)
        with b.lock:
            wanted = [s for s in dict.fromkeys(sheets) if s not in INTERNAL_TABS]
            fetched = self._fetch(b, wanted, marks=True)
            marks = self._marks_by_tab(b) if MARKS_TAB in fetched else {}
            out: dict[str, tuple[Grid, bool, dict[Any, str]] | None] = {}
            for title in dict.fromkeys(sheets):
                tab = fetched.get(title)
                if tab is None:
                    out[title] = None
                    continue
                hidden = b.meta[title].hidden if b.meta and title in b.meta else title.startswith("_")
                out[title] = ([list(r) for r in tab.grid], hidden, marks.get(title, {}))
            return out

    def _fetch(self, b: _Book, titles: Sequence[str], *, marks: bool = False) -> dict[str, _Tab]:
        """One values:batchGet for these tabs (and the marks tab when known); missing tabs left out."""
        for attempt in range(2):
            ask = [t for t in titles if b.meta is None or t in b.meta]
            # The register's marks tab is asked for unseen (init makes it); elsewhere only when known.
            known = MARKS_TAB in b.meta if b.meta is not None else b.book is None
            if marks and known and MARKS_TAB not in ask:
                ask.append(MARKS_TAB)
            if not ask:
                return {}
            self._count(self.reads, b.book)
            params = {
                "valueRenderOption": "UNFORMATTED_VALUE",
                "dateTimeRenderOption": "SERIAL_NUMBER",
                "majorDimension": "ROWS",
            }
            ranges = [absolute_range_name(t) for t in ask]

            def get(ranges: list[str] = ranges, params: dict[str, Any] = params) -> Any:
                return self._raw(lambda: self.http.values_batch_get(b.key, ranges, params=params))

            try:
                data = self._api(b.book, b.key, "読み込み", get)
            except _BadRange:
                if attempt == 0:
                    self._load_meta(b, force=True)  # a tab is missing: now the structure must be checked
                    continue
                raise
            out: dict[str, _Tab] = {}
            for title, vr in zip(ask, data.get("valueRanges", []), strict=False):
                rows, cols = _echo_size(vr.get("range", ""))
                out[title] = b.tabs[title] = _Tab(self._decode_grid(vr.get("values", [])), rows, cols)
            return out
        return {}

    def _decode_grid(self, raw: list[list[Any]]) -> Grid:
        if not raw:
            return []
        header = ["" if h is None else str(h) for h in raw[0]]
        kinds = [self._date_columns.get(header_key(h)) for h in header]
        grid: Grid = [list(header)]
        width = len(kinds)
        for row in raw[1:]:
            if len(row) > width:
                kinds += [None] * (len(row) - width)
                width = len(kinds)
            grid.append([decode(v, k) for v, k in zip(row, kinds, strict=False)])
        return grid

    def _mark_records(self, b: _Book) -> dict[str, MarkCells]:
        """The tool's notes as the ``_marks`` tab records them: per tab, (row key, column) -> note."""
        tab = b.tabs.get(MARKS_TAB)
        out: dict[str, tuple[str | None, dict[tuple[str, str], str]]] = {}
        if tab is None or not tab.grid:
            return {}
        at = header_positions(tab.grid[0])
        old_layout = header_key("キー") not in at  # (記録 by row number, before marks had keys)
        for row in tab.grid[1:]:

            def cell(name: str, row: list[CellValue] = row) -> CellValue:
                i = at.get(header_key(name))
                return row[i - 1] if i is not None and i - 1 < len(row) else None

            sheet, column, note = cell("シート"), cell("列"), cell("メモ")
            if old_layout:
                number = cell("行")
                key_column, key = None, str(int(number)) if isinstance(number, int | float) else ""
            else:
                kc = cell("キー列")
                key_column = None if kc in (None, "") else str(kc)
                key = "" if cell("キー") is None else str(cell("キー"))
            if not sheet or not column or not key:
                continue
            entry = out.setdefault(str(sheet), (key_column, {}))
            entry[1][(key, str(column))] = "" if note is None else str(note)
        return {sheet: MarkCells(SheetRef(sheet, b.book), kc, marks) for sheet, (kc, marks) in out.items()}

    def _marks_by_tab(self, b: _Book) -> dict[str, dict[tuple[int, str], str]]:
        """Where the tool's notes are now: (row number, column header) per tab, from the cached grids."""
        out: dict[str, dict[tuple[int, str], str]] = {}
        for sheet, record in self._mark_records(b).items():
            tab = b.tabs.get(sheet)
            if tab is None or not tab.grid:
                continue
            header = tab.grid[0]
            at = place_marks(GridView(tab.grid), record)
            out[sheet] = {(r, header_key(header[c - 1])): note for (r, c), note in at.items()}
        return out

    def _parallel(self, fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        if len(items) <= 1 or self.max_workers == 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(items))) as pool:
            futures = [pool.submit(fn, i) for i in items]
            errors = [f.exception() for f in futures]
        for e in errors:
            if e is not None:
                raise e
        return [f.result() for f in futures]

    # -- writing
    def apply(self, changes: Sequence[Change], *, skip_busy: bool = False) -> ApplyResult:
        """One values:batchUpdate per changed spreadsheet (plus a spreadsheets:batchUpdate when the
        structure, formats or marks change); spreadsheets where nothing changes are not written.

        People edit while jobs run, and Google Sheets has no conditional write: so each written
        spreadsheet's tabs are read afresh first (one values:batchGet) and every change is resolved
        by row key and header against that read; a cell changed since the job read it is reported
        in ``ApplyResult.conflicts`` and left as the person wrote it."""
        grouped = group_by_book(changes)
        books = list(grouped)
        done = self._parallel(lambda book: self._apply_book(book, grouped[book]), books)
        result = ApplyResult()
        for book, (wrote, conflicts) in zip(books, done, strict=True):
            if wrote:
                result.written.append(self.display_name(book))
            result.conflicts.extend(conflicts)
        return result

    def _apply_book(
        self,
        book: str | None,
        changes: list[Change],
        *,
        drop_tabs: Sequence[str] = (),
        properties: Mapping[str, Any] | None = None,
    ) -> tuple[bool, list[WriteConflict]]:
        b = self._book(book)
        with b.lock:
            by_tab: dict[str, list[Change]] = {}
            for ch in changes:
                by_tab.setdefault(ch.ref.sheet, []).append(ch)
            for ch in changes:
                if isinstance(ch, EnsureSheet):
                    for column in ch.sheet.columns:
                        if column.is_date:
                            self._date_columns.setdefault(header_key(column.name), column.type)
            structural = any(isinstance(c, EnsureSheet | DeleteRow | MarkCells) for c in changes)
            if structural and b.meta is None:
                self._load_meta(b)
            # what the tabs hold now, not what this run read earlier
            fresh = [t for t, chs in by_tab.items() if any(not isinstance(c, EnsureSheet) for c in chs)]
            marks_needed = any(isinstance(c, MarkCells | DeleteRow) for c in changes)
            marks_known = b.meta is not None and MARKS_TAB in b.meta
            if marks_needed and marks_known:
                fresh.append(MARKS_TAB)
            for t in fresh:
                b.tabs.pop(t, None)
            need = [t for t in by_tab if t not in b.tabs and (b.meta is None or t in b.meta)]
            if marks_needed and marks_known and MARKS_TAB not in need:
                need.append(MARKS_TAB)
            if need:
                self._fetch(b, need)
            conflicts: list[WriteConflict] = []
            plans = [self._plan_tab(b, title, chs, conflicts) for title, chs in by_tab.items()]
            marks_plan = self._plan_marks(b, plans) if marks_needed else None
            requests = self._structure_requests(b, plans, marks_plan)
            if requests and drop_tabs:  # the empty default tab of a new book goes in the same write
                requests += [{"deleteSheet": {"sheetId": (b.meta or {})[t].sheet_id}} for t in drop_tabs]
            if properties:  # a new spreadsheet's locale and time zone, in the same write
                fields = ",".join(properties)
                requests.insert(0, {"updateSpreadsheetProperties": {"properties": dict(properties), "fields": fields}})
            data = [vr for p in plans for vr in self._value_ranges(p)]
            if marks_plan is not None:
                data += self._value_ranges(marks_plan)
            if not requests and not data:
                return False, conflicts
            try:
                if requests:
                    self._batch_update(b, requests, plans, marks_plan, drop_tabs)
                for part in split_value_ranges(data, self.max_request_bytes):  # one request unless > 2 MB
                    self._count(self.writes, b.book)
                    body = {"valueInputOption": "RAW", "data": part}
                    self._api(
                        b.book, b.key, "書き込み", functools.partial(self.http.values_batch_update, b.key, body=body)
                    )
            except BaseException:  # what the sheet holds now is unknown: read it again next time
                for p in [*plans, *([marks_plan] if marks_plan else [])]:
                    b.tabs.pop(p.title, None)
                b.meta = None
                self._changed(b)
                raise
            for p in [*plans, *([marks_plan] if marks_plan else [])]:
                b.tabs[p.title] = _Tab(_trimmed(p.grid), p.rows, p.cols)
            self._changed(b)
            return True, conflicts

    def _plan_tab(self, b: _Book, title: str, changes: list[Change], conflicts: list[WriteConflict]) -> _TabPlan:
        ensures = [c for c in changes if isinstance(c, EnsureSheet)]
        tab = b.tabs.get(title)
        if tab is None:
            if not ensures:
                raise StoreError(f"「{self.display_name(b.book)}」にシート「{title}」がありません。")
            sheet = ensures[0].sheet
            width = len(sheet.headers)
            plan = _TabPlan(
                title,
                [],
                [list(sheet.headers)],
                NEW_TAB_ROWS,
                max(26, width + SPARE_COLUMNS),
                new=sheet,
                hidden=ensures[0].hidden or sheet.hidden,
            )
        else:
            base = [list(r) for r in tab.grid]
            plan = _TabPlan(title, base, [list(r) for r in tab.grid] or [[]], tab.rows, tab.cols)
        plan.changes = list(changes)
        if tab is not None:
            header = plan.grid[0]
            for ens in ensures:
                have = {header_key(h) for h in header}
                for column in ens.sheet.columns:
                    if header_key(column.name) not in have:
                        plan.new_columns.append((len(header), column))
                        header.append(column.name)
                        have.add(header_key(column.name))
        work = plan.grid
        edits = [c for c in changes if isinstance(c, SetCell | DeleteRow | AppendRows | ReplaceRows)]
        if edits:
            placed = place(SheetRef(title, b.book), GridView(work), edits)
            conflicts.extend(placed.conflicts)
            for r in reversed(placed.deletes):  # bottom first: each index holds while deleting
                if r - 1 < len(plan.base):
                    del plan.base[r - 1]
                plan.deletes.append(r - 1)
            apply_placement(work, placed)
        plan.rows -= len(plan.deletes)
        if plan.new is not None:
            if len(work) > plan.rows:
                plan.rows = len(work) + GROW_ROWS
            plan.cols = max(plan.cols, max(len(r) for r in work) + SPARE_COLUMNS)
        return plan

    def _plan_marks(self, b: _Book, plans: list[_TabPlan]) -> _TabPlan | None:
        """The tool's notes: which cells change, and the ``_marks`` tab rewritten to match.

        Marks are recorded by row key and header, so they follow rows that people sort or move;
        a note or fill a person put on a cell is never cleared or replaced (see :meth:`_notes`)."""
        records = self._mark_records(b)
        tab = b.tabs.get(MARKS_TAB)
        changed = False
        for p in plans:
            if not p.grid:
                continue
            before = records.get(p.title)
            wanted = before
            for ch in p.changes:
                if isinstance(ch, MarkCells):
                    wanted = ch
            if wanted is None:
                continue
            # where the recorded marks are now, before and after this plan's row deletes
            old_at = place_marks(GridView(p.grid), before) if before is not None else {}
            new_at = place_marks(GridView(p.grid), wanted)
            if wanted is not before and (before is None or dict(wanted.marks) != dict(before.marks)
                                         or wanted.key_column != before.key_column):  # fmt: skip
                changed = True
                records[p.title] = wanted
            if new_at != old_at:
                p.marks = new_at
                p.old_marks = old_at
        touched = [p for p in plans if p.marks is not None]
        if touched:
            notes = self._notes(b, touched)
            for p in touched:
                assert p.marks is not None
                here = notes.get(p.title, {})
                ours = {**p.old_marks}
                # a cell whose note is no longer the tool's (a person wrote one) is theirs
                p.old_marks = {rc: n for rc, n in ours.items() if here.get(rc, n) == n}
                p.marks = {rc: n for rc, n in p.marks.items() if here.get(rc) in (None, "", n) or rc in p.old_marks}
        if not changed:
            return None
        rows: Grid = [list(MARKS_HEADERS)]
        for sheet, record in records.items():
            for (key, column), note in sorted(record.marks.items()):
                rows.append([sheet, record.key_column or "", key, column, note])
        if tab is None:
            return _TabPlan(
                MARKS_TAB,
                [],
                rows,
                max(NEW_TAB_ROWS, len(rows) + GROW_ROWS),
                26,
                new=MARKS_SHEET,
                hidden=True,
            )
        return _TabPlan(MARKS_TAB, [list(r) for r in tab.grid], rows, tab.rows, tab.cols)

    def _notes(self, b: _Book, plans: list[_TabPlan]) -> dict[str, dict[tuple[int, int], str]]:
        """The notes the cells a mark write touches hold now (one spreadsheets.get of just those cells)."""
        ranges: list[str] = []
        cells: list[tuple[str, int, int]] = []
        for p in plans:
            if p.new is not None:
                continue
            gone = sorted(d + 1 for d in p.deletes)  # rows this plan deletes, as numbered before it
            for r, c in {*(p.marks or {}), *p.old_marks}:
                now = r
                for d in gone:
                    if d <= now:
                        now += 1
                ranges.append(absolute_range_name(p.title, rowcol_to_a1(now, c)))
                cells.append((p.title, r, c))
        if not ranges:
            return {}
        out: dict[str, dict[tuple[int, int], str]] = {}
        # One tab per request (the answer lists tabs in their own order, ranges in ours) and short
        # enough a URL: thousands of marked cells would be refused (414) in one.
        batches: list[list[int]] = []
        length = 0
        for i, rng in enumerate(ranges):
            n = len(rng.encode("utf-8")) * 3 + 10  # percent-encoded, with "&ranges="
            if not batches or cells[batches[-1][0]][0] != cells[i][0] or length + n > MAX_URL_RANGES:
                batches.append([])
                length = 0
            batches[-1].append(i)
            length += n
        for batch in batches:
            self._count(self.reads, b.book)
            params: dict[str, Any] = {
                "ranges": [ranges[i] for i in batch],
                "fields": "sheets(data(rowData(values(note))))",
            }
            data = self._api(
                b.book, b.key, "読み込み", functools.partial(self.http.fetch_sheet_metadata, b.key, params=params)
            )
            grids = [g for s in data.get("sheets", []) for g in s.get("data", [])]
            for i, grid in zip(batch, grids, strict=False):
                title, r, c = cells[i]
                rows = grid.get("rowData", [])
                values = rows[0].get("values", []) if rows else []
                note = values[0].get("note", "") if values else ""
                out.setdefault(title, {})[(r, c)] = note
        return out

    # -- the spreadsheets:batchUpdate part
    def _structure_requests(self, b: _Book, plans: list[_TabPlan], marks: _TabPlan | None) -> list[dict[str, Any]]:
        reqs: list[dict[str, Any]] = []
        meta = b.meta or {}
        has_choices = CHOICES in meta or any(p.new is not None and p.title == CHOICES for p in plans)
        all_plans = [*plans, *([marks] if marks is not None and marks.new is not None else [])]
        used = {m.sheet_id for m in meta.values()}
        for p in all_plans:  # new tabs first: later requests refer to them
            if p.new is None:
                continue
            p.sheet_id = _sheet_id(p.title, used)
            used.add(p.sheet_id)
            reqs.append(
                {
                    "addSheet": {
                        "properties": {
                            "sheetId": p.sheet_id,
                            "title": p.title,
                            "index": len(meta) + len(reqs),
                            "hidden": p.hidden,
                            "gridProperties": {"rowCount": p.rows, "columnCount": p.cols},
                        }
                    }
                }
            )
        for p in all_plans:
            if p.new is not None:
                assert p.sheet_id is not None
                reqs += self._sheet_requests(p.new, p.sheet_id, p.rows, has_choices=has_choices)
                continue
            sid: int | None = meta[p.title].sheet_id if p.title in meta else None
            if not (
                p.deletes
                or p.new_columns
                or p.marks is not None
                or len(p.grid) > p.rows
                or max(len(r) for r in p.grid) > p.cols
            ):
                continue
            if sid is None:
                self._load_meta(b, force=True)
                meta = b.meta or {}
                sid = meta[p.title].sheet_id
            for d in p.deletes:
                reqs.append(
                    {
                        "deleteDimension": {
                            "range": {"sheetId": sid, "dimension": "ROWS", "startIndex": d, "endIndex": d + 1}
                        }
                    }
                )
            width = max(len(r) for r in p.grid)
            if width > p.cols:
                grow = width - p.cols + SPARE_COLUMNS
                reqs.append({"appendDimension": {"sheetId": sid, "dimension": "COLUMNS", "length": grow}})
                p.cols += grow
            if len(p.grid) > p.rows:
                grow = _growth(p.rows, len(p.grid))
                reqs.append({"appendDimension": {"sheetId": sid, "dimension": "ROWS", "length": grow}})
                reqs += self._row_formats(sid, p, p.rows, p.rows + grow, has_choices=has_choices)
                p.rows += grow
            schema = _schema_for(p.title)
            for i, given in p.new_columns:
                name = str(p.grid[0][i])
                column = given or (schema.column(name) if schema and schema.has(name) else None)
                if column is not None:
                    reqs += self._column_requests(sid, i, column, p.rows, has_choices=has_choices, department=False)
                else:
                    kind = self._date_columns.get(header_key(p.grid[0][i]))
                    if kind is not None:
                        reqs.append(_number_format(sid, i, 1, p.rows, kind))
            if p.marks is not None:
                reqs += _mark_requests(sid, p.old_marks, p.marks)
        if marks is not None and marks.new is None and len(marks.grid) > marks.rows:
            sid = meta[MARKS_TAB].sheet_id
            grow = _growth(marks.rows, len(marks.grid))
            reqs.append({"appendDimension": {"sheetId": sid, "dimension": "ROWS", "length": grow}})
            marks.rows += grow
        return reqs

    def _row_formats(self, sid: int, p: _TabPlan, start: int, end: int, *, has_choices: bool) -> list[dict[str, Any]]:
        """Date formats and dropdowns for rows added at the bottom of a tab."""
        schema = _schema_for(p.title)
        out: list[dict[str, Any]] = []
        for i, h in enumerate(p.grid[0]):
            column = schema.column(str(h)) if schema and schema.has(str(h)) else None
            kind = column.type if column and column.is_date else self._date_columns.get(header_key(h))
            if kind is not None:
                out.append(_number_format(sid, i, start, end, kind))
            if column is not None:
                rule = _validation(column, has_choices)
                if rule is not None:
                    out.append({"setDataValidation": {"range": _cols(sid, i, start, end), "rule": rule}})
        return out

    def _sheet_requests(self, sheet: Sheet, sid: int, rows: int, *, has_choices: bool) -> list[dict[str, Any]]:
        """Headers, widths, formats, dropdowns, frozen header and (department tabs) protected desk columns."""
        department = is_department_sheet(sheet) or any(c.source for c in sheet.columns)
        reqs: list[dict[str, Any]] = []
        for i, column in enumerate(sheet.columns):
            reqs += self._column_requests(sid, i, column, rows, has_choices=has_choices, department=department)
        grid = {"frozenRowCount": 1}
        fields = "gridProperties.frozenRowCount"
        if sheet.key:
            grid["frozenColumnCount"] = 1
            fields += ",gridProperties.frozenColumnCount"
        reqs.append(
            {"updateSheetProperties": {"properties": {"sheetId": sid, "gridProperties": grid}, "fields": fields}}
        )
        if department:
            editors = {"users": [self.account]} if self.account else None
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
        self, sid: int, i: int, column: Column, rows: int, *, has_choices: bool, department: bool
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

    def _batch_update(
        self,
        b: _Book,
        requests: list[dict[str, Any]],
        plans: list[_TabPlan],
        marks: _TabPlan | None,
        drop_tabs: Sequence[str] = (),
    ) -> None:
        """The structure write. Adding tabs or rows is not idempotent: after a lost answer the
        metadata says whether it took effect, so it is never done twice."""
        expected = {p.title: p.rows for p in [*plans, *([marks] if marks else [])]}

        def applied() -> bool:
            meta = self._load_meta(b, force=True)
            done = all(t in meta and meta[t].rows == rows for t, rows in expected.items())
            return done and not any(t in meta for t in drop_tabs)

        url = f"https://sheets.googleapis.com/v4/spreadsheets/{b.key}:batchUpdate"
        # Over 2 MB (marks and formats of thousands of rows) it goes in parts; what is not idempotent
        # goes first, in its order, so only the first part needs the "did it take effect?" check.
        ordered = [r for r in requests if _risky(r)] + [r for r in requests if not _risky(r)]
        for part in split_requests(ordered, self.max_request_bytes):
            self._count(self.writes, b.book)
            careful = any(_risky(r) for r in part)  # in practice only the first part
            send = functools.partial(
                self.http.call, "post", url, json={"requests": part}, idempotent=not careful, applied=applied
            )
            self._api(b.book, b.key, "書式・構成の変更", send)
        meta = b.meta if b.meta is not None else {}
        for p in [*plans, *([marks] if marks else [])]:
            if p.title in meta:
                meta[p.title].rows, meta[p.title].cols = p.rows, p.cols
            elif p.sheet_id is not None:
                meta[p.title] = _TabMeta(p.sheet_id, p.title, len(meta), p.hidden, p.rows, p.cols)
        for t in drop_tabs:
            meta.pop(t, None)
        b.meta = meta

    # -- the values:batchUpdate part
    def _value_ranges(self, p: _TabPlan) -> list[dict[str, Any]]:
        """Only the cells that differ, as few rectangles as possible; unchanged cells inside a
        rectangle are sent as null, which the API leaves alone (formulas and notes survive)."""
        header = p.grid[0] if p.grid else []
        kinds = [self._date_columns.get(header_key(h)) for h in header]
        blocks: list[tuple[int, int, int, list[list[Any]]]] = []  # (first row, first col, last col, rows)
        height = max(len(p.base), len(p.grid))
        for r in range(height):
            old = p.base[r] if r < len(p.base) else []
            new = p.grid[r] if r < len(p.grid) else []
            width = max(len(old), len(new))
            diff = [
                c for c in range(width) if not _same(old[c] if c < len(old) else None, new[c] if c < len(new) else None)
            ]
            if not diff:
                continue
            c0, c1 = diff[0], diff[-1]
            wanted = set(diff)
            values = [
                encode(new[c] if c < len(new) else None, kinds[c] if c < len(kinds) and r > 0 else None)
                if c in wanted
                else None
                for c in range(c0, c1 + 1)
            ]
            last = blocks[-1] if blocks else None
            if last and last[0] + len(last[3]) == r and last[1] == c0 and last[2] == c1:
                last[3].append(values)
            else:
                blocks.append((r, c0, c1, [values]))
        return [
            {
                "range": absolute_range_name(
                    p.title, f"{rowcol_to_a1(r + 1, c0 + 1)}:{rowcol_to_a1(r + len(rows), c1 + 1)}"
                ),
                "majorDimension": "ROWS",
                "values": rows,
            }
            for r, c0, c1, rows in blocks
        ]

    # -- creating books
    def create_book(self, book: str | None, sheets: Sequence[Sheet]) -> None:
        """The register (an existing, empty spreadsheet shared with the account) or a department
        spreadsheet created in the Drive folder (shared with the department when configured)."""
        key = self.resolve_key(book)
        created = False
        if key is None:
            if book is not None and as_key(book) is not None:
                raise StoreError(f"スプレッドシート {book} が見つかりません。{self._share_hint()}")
            key = self._create_spreadsheet(book)
            created = True
        b = self._books.get(book) or _Book(book, key)
        with self._lock:
            self._books[book] = b
        with b.lock:
            meta = self._load_meta(b, force=True)
            taken = [s.name for s in sheets if s.name in meta]
            if taken:
                raise StoreError(
                    f"「{self.display_name(book)}」は既にあります（シート: {'、'.join(taken)}）。上書きはしません。"
                )
            defaults = [t for t in meta if _DEFAULT_TAB.match(t)]
            if created or not defaults:  # a spreadsheet made just now has an empty default tab
                empty_defaults = defaults
            else:
                empty_defaults = [t for t, tab in self._fetch(b, defaults).items() if not any(tab.grid)]
            changes: list[Change] = [EnsureSheet(SheetRef(s.name, book), s, hidden=s.hidden) for s in sheets]
            if book is None and MARKS_TAB not in meta:  # reading the register never has to look for it
                changes.append(EnsureSheet(SheetRef(MARKS_TAB, book), MARKS_SHEET, hidden=True))
            if any(s.name == CHOICES for s in sheets):
                lists = list(CHOICE_LISTS.values())
                depth = max(len(v) for v in lists)
                rows = tuple(
                    {name: (values[i] if i < len(values) else None) for name, values in CHOICE_LISTS.items()}
                    for i in range(depth)
                )
                changes.append(AppendRows(SheetRef(CHOICES, book), rows))
            # Drive makes a spreadsheet in the account's locale (a service account's: en_US, GMT):
            # a Japanese desk's gets ja_JP (dates typed 2025/4/1, 和暦 formats) and the desk's time zone.
            properties = {"locale": SPREADSHEET_LOCALE, "timeZone": str(self.zone)} if created else None
            self._apply_book(book, changes, drop_tabs=empty_defaults, properties=properties)
        if created and book is not None and self.config.gsheets.share_departments:
            email = self._department_email(book)
            if email:
                self.share(book, email)

    def _create_spreadsheet(self, book: str | None) -> str:
        folder = self._folder()
        title = title_of(self.config.store.register if book is None else book)
        body = {"name": title, "mimeType": SHEETS_MIME, "parents": [folder]}
        found: list[str] = []

        def applied() -> bool:
            key = self._list_folder().get(title)
            if key:
                found.append(key)
            return bool(key)

        self._count(self.writes, book)
        try:
            response = self.http.call(
                "post",
                DRIVE_FILES_API_V3_URL,
                json=body,
                params={"supportsAllDrives": True},
                idempotent=False,
                applied=applied,
            )
        except APIError as e:
            if _status(e) in (403, 404) and _drive_reason(e) != "storageQuotaExceeded":
                raise StoreError(
                    f"Google ドライブのフォルダ {folder} に「{title}」を作れません。gsheets.drive_folder を確認し、"
                    f"フォルダを{self.account or 'このアカウント'}と共有（編集者）してください。"
                ) from None
            raise self._error(e, book, folder, "作成") from None
        key = response.json()["id"] if response is not None else found[0]
        with self._lock:
            if self._listing is not None:
                self._listing[title] = key
        return key

    def _department_email(self, book: str) -> str:
        """The 連絡先メール of the department whose book this is, from the register's 担当課 master."""
        from ..departments import departments_from_table  # the master's one reader; imported late (layers)

        ref = SheetRef(DEPARTMENTS)
        try:
            table = self.read([ref])[ref]
        except KouminrenkeiError:
            return ""
        for dept in departments_from_table(self.config, table).values():
            if dept.ref.book == book:
                return dept.email
        return ""

    def share(self, book: str | None, email: str, *, role: str = "writer") -> None:
        """Share a spreadsheet with a person (the department's address); Google e-mails them."""
        b = self._book(book)
        self._count(self.writes, book)
        self._api(
            book,
            b.key,
            "共有",
            lambda: self.http.insert_permission(
                b.key,
                email,
                perm_type="user",
                role=role,
                notify=True,
                email_message="公民連携デスクからの照会に回答するためのスプレッドシートです。",
            ),
        )

    # -- the lock: an append-only claim log in the register's hidden _lock tab
    @contextlib.contextmanager
    def _hold_lock(self, name: str, *, ttl_seconds: float, wait_seconds: float = 0) -> Iterator[None]:
        """Claims are appended (the API orders appends), then the log is read back: the first live
        claim holds the lock. A claim dies when released or expired; the holder trims dead claims."""
        holder = f"{self.config.actor}@{socket.gethostname()} (pid {os.getpid()})"
        deadline = self._clock() + wait_seconds
        b = self._book(None)
        while True:
            token = uuid.uuid4().hex  # a fresh claim each try: a released token never counts again
            expires = (self._now() + timedelta(seconds=ttl_seconds)).astimezone(self.zone)
            self._lock_append(b, [name, token, holder, expires.isoformat(timespec="seconds"), "claim", self._stamp()])
            first, my_row, dead_above = self._lock_state(b, name, token)
            if first is not None and first[0] == token:
                break
            self._lock_append(b, [name, token, holder, "", "release", self._stamp()])
            if self._clock() >= deadline:
                who = f"{first[1]}、期限 {_local(first[2], self.zone)}" if first else ""
                raise BusyError(busy_message(who))
            self._sleep(min(2.0, max(0.1, deadline - self._clock())))
        if my_row is not None and dead_above == my_row - 2 and dead_above >= LOCK_COMPACT_AT:
            self._lock_compact(b, my_row)
        try:
            yield
        finally:
            with contextlib.suppress(KouminrenkeiError):  # if this fails the claim simply expires
                self._lock_append(b, [name, token, holder, "", "release", self._stamp()])

    def _stamp(self) -> str:
        return self._now().astimezone(self.zone).isoformat(timespec="seconds")

    def _lock_append(self, b: _Book, row: list[Any]) -> None:
        params: dict[str, Any] = {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"}
        for attempt in range(2):
            self._count(self.writes, None)
            try:
                # A lost answer may leave the same claim twice: harmless, a token counts once.
                self.http.values_append(b.key, absolute_range_name(LOCK_TAB, "A1"), params, {"values": [row]})
                return
            except APIError as e:
                if attempt == 0 and _status(e) == 400 and "Unable to parse range" in str(e.error.get("message")):
                    with b.lock:
                        self._load_meta(b, force=True)
                        if LOCK_TAB not in (b.meta or {}):
                            self._apply_book(None, [EnsureSheet(SheetRef(LOCK_TAB), LOCK_SHEET, hidden=True)])
                    continue
                raise self._error(e, None, b.key, "ロックの記録") from None

    def _lock_state(self, b: _Book, name: str, token: str) -> tuple[tuple[str, str, str] | None, int | None, int]:
        """The first live claim (token, holder, expiry), our claim's row and how many rows above it are dead."""
        with b.lock:
            if b.meta is not None and LOCK_TAB not in b.meta:
                b.meta = None  # the claim just made the tab: the cached structure is out of date
            tab = self._fetch(b, [LOCK_TAB]).get(LOCK_TAB)
        rows = tab.grid[1:] if tab else []
        released = {str(r[1]) for r in rows if len(r) > 4 and r[4] == "release"}
        now = self._now()
        first = None
        my_row = None
        dead_above = 0  # rows above our claim that no live claim needs (release records, dead claims)
        for i, r in enumerate(rows, start=2):
            cells = [*r, None, None, None, None, None][:5]
            lock_name, claim, who, expiry, state = (str(c) if c is not None else "" for c in cells)
            alive = False
            if state == "claim":
                try:
                    alive = claim not in released and datetime.fromisoformat(expiry) > now
                except ValueError:
                    alive = False
                if lock_name == name and alive and first is None:
                    first = (claim, who, expiry)
                if claim == token and my_row is None:
                    my_row = i
                    continue
            if my_row is None and not alive:
                dead_above += 1
        return first, my_row, dead_above

    def _lock_compact(self, b: _Book, my_row: int) -> None:
        """Delete the log rows above our live claim (all dead: we hold the lock). Best effort."""
        with b.lock:
            meta = self._load_meta(b)
            if LOCK_TAB not in meta or my_row <= 2:
                return
            sid = meta[LOCK_TAB].sheet_id
            req = {
                "deleteDimension": {
                    "range": {"sheetId": sid, "dimension": "ROWS", "startIndex": 1, "endIndex": my_row - 1}
                }
            }
            url = f"https://sheets.googleapis.com/v4/spreadsheets/{b.key}:batchUpdate"
            self._count(self.writes, None)
            with contextlib.suppress(KouminrenkeiError, APIError):
                self.http.call("post", url, json={"requests": [req]}, idempotent=False, applied=lambda: True)
            b.meta = None
            b.tabs.pop(LOCK_TAB, None)


# ---------------------------------------------------------------- request builders
def _local(iso: str, tz: tzinfo) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y/%m/%d %H:%M")
    except ValueError:
        return iso


NOT_IDEMPOTENT = ("addSheet", "deleteDimension", "appendDimension", "addProtectedRange", "deleteSheet")


def _risky(request: Mapping[str, Any]) -> bool:
    """A structure request that must not be done twice (after a lost answer, check before retrying)."""
    return any(k in request for k in NOT_IDEMPOTENT)


def _wire_size(obj: Any) -> int:
    """Bytes of ``obj`` as requests sends it (json.dumps, non-ASCII escaped)."""
    return len(json.dumps(obj))


def split_requests(requests: Sequence[dict[str, Any]], limit: int) -> list[list[dict[str, Any]]]:
    """spreadsheets:batchUpdate requests in order, cut into bodies of at most ``limit`` bytes each."""
    parts: list[list[dict[str, Any]]] = []
    size = limit + 1
    for request in requests:
        n = _wire_size(request) + 2
        if size + n > limit and (not parts or parts[-1]):
            parts.append([])
            size = len('{"requests": []}')
        parts[-1].append(request)
        size += n
    return parts


_A1_RANGE = re.compile(r"^(.*)!([A-Z]+)(\d+):([A-Z]+)(\d+)$")


def split_value_ranges(data: Sequence[dict[str, Any]], limit: int) -> list[list[dict[str, Any]]]:
    """values:batchUpdate ranges cut into bodies of at most ``limit`` bytes each; a range too big
    for one body is cut into blocks of whole rows (each cell still lands where it was meant to)."""
    pieces: list[dict[str, Any]] = []
    budget = limit - len('{"valueInputOption": "RAW", "data": []}') - 2
    for vr in data:
        if _wire_size(vr) <= budget:
            pieces.append(vr)
            continue
        m = _A1_RANGE.match(vr["range"])
        assert m is not None, vr["range"]  # every range the store writes is a rectangle
        title, first, last, top = m.group(1), m.group(2), m.group(4), int(m.group(3))
        rows: list[list[Any]] = []
        size = 0
        for row in [*vr["values"], None]:
            n = _wire_size(row) + 2 if row is not None else 0
            if rows and (row is None or size + n + 200 > budget):
                end = top + len(rows) - 1
                pieces.append({"range": f"{title}!{first}{top}:{last}{end}", "majorDimension": "ROWS", "values": rows})
                top, rows, size = end + 1, [], 0
            if row is not None:
                rows.append(row)
                size += n
    parts: list[list[dict[str, Any]]] = []
    size = budget + 1
    for vr in pieces:
        n = _wire_size(vr) + 2
        if size + n > budget:
            parts.append([])
            size = 0
        parts[-1].append(vr)
        size += n
    return parts


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
            cells = []
            for c, v in enumerate(row):
                wire = encode(v, kinds[c] if i > 0 and c < len(kinds) else None)
                if isinstance(wire, float) and wire.is_integer():
                    wire = int(wire)
                cells.append(wire)
            while cells and cells[-1] == "":
                cells.pop()
            if cells or i == 0:
                h.update(f"{i}:".encode() + json.dumps(cells, ensure_ascii=False, default=str).encode())
                h.update(b"\n")
    return "c:" + h.hexdigest()


def _trimmed(grid: Grid) -> Grid:
    out = [list(r) for r in grid]
    while len(out) > 1 and all(_blank(v) for v in out[-1]):
        out.pop()
    return out
