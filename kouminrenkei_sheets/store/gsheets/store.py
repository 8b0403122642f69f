"""The gsheets backend: the register and department sheets as Google spreadsheets (gspread + google-auth).

Reads cost one ``values:batchGet`` per spreadsheet for every tab asked for (the spreadsheet's
metadata only when its structure must be checked, then cached for the run). A changed spreadsheet
costs one fresh read just before its write (a spreadsheets.get of the ranges written: values and
sheetIds together) and one ``spreadsheets:batchUpdate``, which Google applies whole or not at all:
the 変更履歴 rows as ``appendCells`` first, then tabs, rows, formats and marks, then the cells that
differ as ``updateCells`` (a ``stringValue`` stays text, "=1+1" too, as valueInputOption RAW did);
it is cut into several only when its body would pass Google's 2 MB recommendation. 変更履歴 (a
log only ever appended to) is never read back: its header row comes in the read made before the
write, its rows go in that header's column order. The lock's claim log is read back in the same
values:batchGet as the register tabs a job reads first (``LOCK_PREFETCH``), so that read is free.
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
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import google.auth.exceptions
import requests
from google.auth.credentials import Credentials
from gspread.exceptions import APIError, NoValidUrlKeyFound
from gspread.urls import DRIVE_FILES_API_V3_URL
from gspread.utils import absolute_range_name, extract_id_from_url, rowcol_to_a1

from ...clock import zone
from ...errors import ConfigError, KouminrenkeiError, ServiceError, StoreError
from ...schema import CHOICE_LISTS, CHOICES, DEPARTMENTS, HISTORY, PROPOSALS, REFERRALS, SYNC_STATE, Column, Sheet
from ..base import (
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
    group_by_book,
    header_key,
    header_positions,
    place,
    place_marks,
    table_from_grid,
)
from .batch import (
    GROW_ROWS,
    MAX_REQUEST_BYTES,
    SPARE_COLUMNS,
    _append_cells,
    _cell_updates,
    _column_requests,
    _grid_a1,
    _grid_rows,
    _growth,
    _mark_requests,
    _number_format,
    _risky,
    _row_formats,
    _schema_for,
    _sheet_id,
    _sheet_requests,
    _TabPlan,
    _wire_of,
    split_requests,
)
from .client import (
    GoogleHTTPClient,
    _BadRange,
    _drive_reason,
    _status,
    authorized_session,
    load_credentials,
)
from .codec import DATE_COLUMNS, NEW_TAB_ROWS, Grid, _content_token, _echo_size, _trimmed, _wire_row, decode, encode
from .lock import LOCK_TAB, LockLog

SHEETS_MIME = "application/vnd.google-apps.spreadsheet"
APPEND_ONLY_TABS = frozenset({HISTORY})  # only ever appended to: appended without being read back
SPREADSHEET_LOCALE = "ja_JP"  # of the spreadsheets the tool creates
MARKS_TAB = "_marks"
# The register's tabs a job holding the lock reads first (sync: all four; refer, intake, validate: some):
# read in the same request as the lock's claim log, so that first read costs nothing.
LOCK_PREFETCH = (PROPOSALS, REFERRALS, DEPARTMENTS, SYNC_STATE)
INTERNAL_TABS = (LOCK_TAB, MARKS_TAB)
MARKS_HEADERS = ("シート", "キー列", "キー", "列", "メモ")  # a mark names its row by key, not number
MARKS_SHEET = Sheet(MARKS_TAB, tuple(Column(h) for h in MARKS_HEADERS), hidden=True)
PROTECTED_MARK = "protected cell or object"  # in Google's 403 for an edit of a protected range
VERSION_TTL = 10.0  # seconds a spreadsheet's Drive version is trusted without asking again
MAX_URL_RANGES = 12_000  # bytes of ranges in one GET's URL (Google refuses very long URLs)
# a write's fresh read (spreadsheets.get of just the ranges it changes): ids, sizes and values
GRID_FIELDS = (
    "sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),data(rowData(values(effectiveValue))))"
)
META_FIELDS = (
    "properties.title,sheets(properties(sheetId,title,index,hidden,"
    "gridProperties(rowCount,columnCount,frozenRowCount)),protectedRanges.protectedRangeId)"
)
_KEY = re.compile(r"^[A-Za-z0-9_-]{25,}$")
_DEFAULT_TAB = re.compile(r"^(シート|Sheet)\s?\d+$")
T = TypeVar("T")


@dataclass(frozen=True)
class GSheetsOptions:
    """What the store needs from the desk's configuration (``store.factory`` builds it from the
    [store] and [gsheets] sections): the store never reads the whole configuration."""

    register: str  # the register spreadsheet: a key or URL (or a title in the Drive folder)
    drive_folder: str = ""  # where department spreadsheets are found and created
    credentials: Path | None = None  # the key file gsheets.credentials names; None: GOOGLE_APPLICATION_CREDENTIALS
    share_departments: bool = False  # share a department spreadsheet the store creates with its address
    reads_per_minute: int = 60
    writes_per_minute: int = 60
    max_retries: int = 5
    actor: str = "kouminrenkei"  # who holds the lock, as its log names them
    base_dir: Path = field(default_factory=Path.cwd)  # the config's folder: this machine's records


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


def _by_someone_else(drive_file: Mapping[str, Any]) -> bool:
    """Drive's lastModifyingUser is someone other than the caller (it is left out for a change
    made by no signed-in user: nothing is told then)."""
    user = drive_file.get("lastModifyingUser")
    return isinstance(user, dict) and user.get("me") is False


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
    ids: dict[str, int] = field(default_factory=dict)  # sheetIds a grid read gave (without the metadata)
    prefetched: set[str] = field(default_factory=set)  # tabs read with the lock's claim, for the next read
    looked: tuple[Grid, frozenset[str]] | None = None  # the lock log and the tabs a look before the lock read


class GSheetsStore(Store):
    """The register and department spreadsheets on Google Sheets, through gspread and google-auth."""

    backend = "gsheets"

    def __init__(
        self,
        options: GSheetsOptions,
        *,
        credentials: Credentials | None = None,
        transport: requests.adapters.BaseAdapter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        max_workers: int = 8,
        time_zone: tzinfo | None = None,
    ) -> None:
        self.options = options
        self.zone = time_zone or zone()  # the desk's: new spreadsheets' timeZone, the lock log's times
        if credentials is None:
            credentials, account = load_credentials(options.credentials)
        else:
            account = getattr(credentials, "service_account_email", None)
        self.account = account
        self.http = GoogleHTTPClient(
            credentials,
            authorized_session(credentials, transport),
            max_retries=options.max_retries,
            reads_per_minute=options.reads_per_minute,
            writes_per_minute=options.writes_per_minute,
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
        self._by_others: dict[str, bool] = {}  # key → its last change was not this account's (Drive says)
        self._date_columns = dict(DATE_COLUMNS)
        self._lock = threading.RLock()
        self._listing_lock = threading.RLock()
        self._lock_log = LockLog(self)

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
        folder = self.options.drive_folder
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
            "fields": "nextPageToken,files(id,name,modifiedTime,version,lastModifyingUser(me))",
        }
        now = self._clock()
        while True:
            data = self._api(
                None, folder, "一覧", lambda: self.http.request("get", DRIVE_FILES_API_V3_URL, params=params).json()
            )
            for f in data.get("files", []):
                found.setdefault(f["name"], f["id"])
                self._versions[f["id"]] = (now, f"{f.get('modifiedTime', '')}#{f.get('version', '')}")
                self._by_others[f["id"]] = _by_someone_else(f)
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
        ident = self.options.register if book is None else book
        key = as_key(ident)
        if key:
            return key
        if book is None and not self.options.drive_folder:
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
            raise StoreError(f"{what}が見つかりません（Google ドライブのフォルダ {self.options.drive_folder}）。")
        with self._lock:
            return self._books.setdefault(book, _Book(book, key))

    def forget(self) -> None:
        """Drop everything cached in this run (metadata, values, folder listing, versions): the next
        read asks the API again, as a new run would."""
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
        if self.options.drive_folder and (self._listing is None or key in self._listing.values()):
            self._list_folder()  # one listing gives every spreadsheet in the folder its version
            cached = self._versions.get(key)
            if cached is not None:
                return cached[1]
        params = {"fields": "id,modifiedTime,version,lastModifyingUser(me)", "supportsAllDrives": True}
        try:
            data = self.http.request("get", f"{DRIVE_FILES_API_V3_URL}/{key}", params=params).json()
        except APIError as e:
            if _status(e) == 404:
                return None
            raise self._error(e, book, key, "確認") from None
        version = f"{data.get('modifiedTime', '')}#{data.get('version', '')}"
        self._versions[key] = (self._clock(), version)
        self._by_others[key] = _by_someone_else(data)
        return version

    def changed_by_someone_else(self, book: str | None) -> bool:
        try:
            key = self.resolve_key(book)
        except (StoreError, ConfigError):
            return False
        return key is not None and key in self._versions and self._by_others.get(key, False)

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
                    if all(t in b.prefetched for t in tabs):  # read under the lock just now (``run``)
                        fetched = {t: b.tabs[t] for t in tabs if t in b.tabs}
                    else:
                        # with the lock's log: if no job claims the lock before this run does, what
                        # was read here is what the run reads under the lock (:meth:`_adopt_look`)
                        b.tabs.pop(LOCK_TAB, None)
                        fetched = self._fetch(b, [*tabs, LOCK_TAB])
                        log = fetched[LOCK_TAB].grid if LOCK_TAB in fetched else []
                        b.looked = ([list(r) for r in log], frozenset(tabs))
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
        return self.options.base_dir / ".kouminrenkei" / f"gsheets-{self.resolve_key(None) or 'register'}"

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
            ready = [t for t in [*wanted, MARKS_TAB] if t in b.prefetched]  # read with the lock's claim
            fetched = {t: b.tabs[t] for t in ready if t in b.tabs}
            b.prefetched.difference_update(ready)  # served once: a later read asks again
            missing = [t for t in wanted if t not in ready]
            if missing or not ready:
                fetched.update(self._fetch(b, missing, marks=MARKS_TAB not in ready))
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

    def _fetch(
        self,
        b: _Book,
        titles: Sequence[str],
        *,
        marks: bool = False,
        headers: dict[str, list[str] | None] | None = None,
    ) -> dict[str, _Tab]:
        """One values:batchGet for these tabs (and the marks tab when known); missing tabs left out.
        The tabs named in ``headers`` come in the same request with their header row only, filled in
        there (None: no such tab); they are not cached."""
        only_header = headers if headers is not None else {}
        for attempt in range(2):
            ask = [t for t in titles if b.meta is None or t in b.meta]
            # The register's marks tab is asked for unseen (init makes it); elsewhere only when known.
            known = MARKS_TAB in b.meta if b.meta is not None else b.book is None
            if marks and known and MARKS_TAB not in ask:
                ask.append(MARKS_TAB)
            heads = [t for t in only_header if b.meta is None or t in b.meta]
            if not ask and not heads:
                return {}
            params = {
                "valueRenderOption": "UNFORMATTED_VALUE",
                "dateTimeRenderOption": "SERIAL_NUMBER",
                "majorDimension": "ROWS",
            }
            ranges = [absolute_range_name(t) for t in ask] + [absolute_range_name(t, "1:1") for t in heads]

            def get(ranges: list[str] = ranges, params: dict[str, Any] = params) -> Any:
                return self._raw(lambda: self.http.values_batch_get(b.key, ranges, params=params))

            data = self._read_or_retry(b, get, attempt)
            if data is None:
                continue
            out: dict[str, _Tab] = {}
            answers = data.get("valueRanges", [])
            for title, vr in zip(ask, answers, strict=False):
                rows, cols = _echo_size(vr.get("range", ""))
                out[title] = b.tabs[title] = _Tab(self._decode_grid(vr.get("values", [])), rows, cols)
            for title, vr in zip(heads, answers[len(ask) :], strict=False):
                values = vr.get("values") or [[]]
                only_header[title] = ["" if h is None else str(h) for h in values[0]]
            return out
        return {}

    def _prefetch(self, b: _Book, titles: Sequence[str]) -> dict[str, _Tab]:
        """:meth:`_fetch` of ``titles`` and the tabs a job under the lock reads first (``LOCK_PREFETCH``
        and the marks), in one values:batchGet; those are kept for the next :meth:`read` of the
        register, which then costs no request (:meth:`_drop_prefetch` if the lock was not ours)."""
        looked = b.looked[1] if b.looked is not None else frozenset()
        extra = [t for t in LOCK_PREFETCH if t not in titles and t not in looked]
        for t in [*extra, MARKS_TAB]:
            b.tabs.pop(t, None)
        fetched = self._fetch(b, [*titles, *extra], marks=True)
        b.prefetched = {*extra, MARKS_TAB} if MARKS_TAB in fetched else set(extra)
        return fetched

    @staticmethod
    def _adopt_look(b: _Book, my_row: int | None) -> None:
        """The lock is ours: the tabs read before it (:meth:`book_versions`) count as read under it
        when the log above our claim is exactly the log as it was then: no job claimed the lock in
        between, so none wrote (every job that writes holds it). People's edits meanwhile are what
        the fresh read before each write is for, as for any edit after a read."""
        looked, b.looked = b.looked, None
        tab = b.tabs.get(LOCK_TAB)
        if looked is None or tab is None or my_row is None:
            return
        then, tabs = looked
        if then and tab.grid[: my_row - 1] == then:
            b.prefetched |= tabs

    @staticmethod
    def _drop_prefetch(b: _Book) -> None:
        b.prefetched.clear()
        b.looked = None

    def _read_or_retry(self, b: _Book, get: Callable[[], Any], attempt: int) -> Any | None:
        """One read request; None when a tab it names is missing on the first try (the structure is
        loaded afresh, and the caller asks again with what it now knows)."""
        self._count(self.reads, b.book)
        try:
            return self._api(b.book, b.key, "読み込み", get)
        except _BadRange:
            if attempt == 0:
                self._load_meta(b, force=True)  # a tab is missing: now the structure must be checked
                return None
            raise

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
        """One spreadsheets:batchUpdate per changed spreadsheet (logs, structure, formats, marks and
        cells together); spreadsheets where nothing changes are not written.

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
            b.prefetched.clear()  # from here on the tabs are read as they are at write time
            by_tab: dict[str, list[Change]] = {}
            for ch in changes:
                by_tab.setdefault(ch.ref.sheet, []).append(ch)
            for ch in changes:
                if isinstance(ch, EnsureSheet):
                    for column in ch.sheet.columns:
                        if column.is_date:
                            self._date_columns.setdefault(header_key(column.name), column.type)
            logs = self._take_logs(b, by_tab)
            log_headers: dict[str, list[str] | None] = dict.fromkeys(logs)
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
            if need or logs:
                self._fetch_for_write(b, need, log_headers)
            conflicts: list[WriteConflict] = []
            plans = [self._plan_tab(b, title, chs, conflicts) for title, chs in by_tab.items()]
            appends = [(t, self._log_rows(b, t, chs, log_headers.get(t), conflicts)) for t, chs in logs.items()]
            appends = [(t, rows) for t, rows in appends if rows]
            marks_plan = self._plan_marks(b, plans) if marks_needed else None
            structure = self._structure_requests(b, plans, marks_plan)
            if structure and drop_tabs:  # the empty default tab of a new book goes in the same write
                structure += [{"deleteSheet": {"sheetId": (b.meta or {})[t].sheet_id}} for t in drop_tabs]
            if properties:  # a new spreadsheet's locale and time zone, in the same write
                fields = ",".join(properties)
                structure.insert(0, {"updateSpreadsheetProperties": {"properties": dict(properties), "fields": fields}})
            cells: list[dict[str, Any]] = []
            for p in [*plans, *([marks_plan] if marks_plan else [])]:
                if p.grid:
                    sid = p.sheet_id if p.sheet_id is not None else self._sheet_id_of(b, p.title)
                    cells += _cell_updates(p, sid, self._date_columns)
            if not structure and not cells and not appends:
                return False, conflicts
            log_requests = [
                _append_cells(t, self._sheet_id_of(b, t), log_headers[t] or [], rows, self._date_columns)
                for t, rows in appends
            ]
            try:
                self._write_batch(b, log_requests, structure, cells, plans, marks_plan, drop_tabs)
            except BaseException:  # what the sheet holds now is unknown: read it again next time
                for p in [*plans, *([marks_plan] if marks_plan else [])]:
                    b.tabs.pop(p.title, None)
                for title in logs:
                    b.tabs.pop(title, None)
                b.meta = None
                b.ids.clear()
                self._changed(b)
                raise
            for p in [*plans, *([marks_plan] if marks_plan else [])]:
                b.tabs[p.title] = _Tab(_trimmed(p.grid), p.rows, p.cols)
            self._changed(b)
            return True, conflicts

    def _fetch_for_write(self, b: _Book, titles: list[str], headers: dict[str, list[str] | None]) -> None:
        """The tabs a write changes, as they are now, with their sheetIds (``updateCells`` and
        ``appendCells`` name a tab by id): from the metadata when this run has it and one
        values:batchGet, else one spreadsheets.get of just those ranges (values, ids and grid sizes
        together). ``headers`` are filled in as in :meth:`_fetch`."""
        for attempt in range(2):
            if b.meta is not None:
                self._fetch(b, titles, headers=headers)
                return
            ranges = [absolute_range_name(t) for t in titles] + [absolute_range_name(t, "1:1") for t in headers]
            params: dict[str, Any] = {"ranges": ranges, "fields": GRID_FIELDS}

            def get(params: dict[str, Any] = params) -> Any:
                return self._raw(lambda: self.http.fetch_sheet_metadata(b.key, params=params))

            data = self._read_or_retry(b, get, attempt)
            if data is None:
                continue
            for sheet in data.get("sheets", []):
                props = sheet.get("properties", {})
                title = props.get("title", "")
                b.ids[title] = props.get("sheetId", 0)
                blocks = sheet.get("data", [])
                raw = _grid_rows(blocks[0]) if blocks else []
                if title in titles:
                    grid = props.get("gridProperties", {})
                    size = (grid.get("rowCount", NEW_TAB_ROWS), grid.get("columnCount", 26))
                    b.tabs[title] = _Tab(self._decode_grid(raw), *size)
                elif title in headers:
                    headers[title] = ["" if h is None else str(h) for h in (raw[0] if raw else [])]
            return

    def _sheet_id_of(self, b: _Book, title: str) -> int:
        if b.meta is not None and title in b.meta:
            return b.meta[title].sheet_id
        if title in b.ids:
            return b.ids[title]
        return self._load_meta(b, force=True)[title].sheet_id

    @staticmethod
    def _take_logs(b: _Book, by_tab: dict[str, list[Change]]) -> dict[str, list[Change]]:
        """The logs only ever appended to (変更履歴) among the tabs of an apply, taken out of ``by_tab``:
        they are not read back; their header row comes with the fresh read, their rows go in an
        ``appendCells`` in the order of that header."""
        logs = {
            t: chs
            for t, chs in by_tab.items()
            if t in APPEND_ONLY_TABS and all(isinstance(c, AppendRows) and c.unique is None for c in chs)
        }
        for t in logs:
            del by_tab[t]
            b.tabs.pop(t, None)
        return logs

    def _log_rows(
        self, b: _Book, title: str, changes: list[Change], header: list[str] | None, conflicts: list[WriteConflict]
    ) -> list[list[Any]]:
        """The rows of an append-only tab's AppendRows as they go on the wire, columns in the order of
        ``header`` (the tab's header row as read just now: a person may have moved columns)."""
        if header is None:
            raise StoreError(f"「{self.display_name(b.book)}」にシート「{title}」がありません。")
        placed = place(SheetRef(title, b.book), GridView([list(header)]), changes)
        conflicts.extend(placed.conflicts)
        kinds = [self._date_columns.get(header_key(h)) for h in header]
        rows = []
        for row in placed.appends:  # column numbers from 1
            width = max(row, default=0)
            rows.append([encode(row.get(c), kinds[c - 1] if c - 1 < len(kinds) else None) for c in range(1, width + 1)])
        return rows

    def _write_batch(
        self,
        b: _Book,
        logs: list[dict[str, Any]],
        structure: list[dict[str, Any]],
        cells: list[dict[str, Any]],
        plans: list[_TabPlan],
        marks: _TabPlan | None,
        drop_tabs: Sequence[str] = (),
    ) -> None:
        """The spreadsheet's one write: a spreadsheets:batchUpdate, which Google applies whole or not
        at all, so the 変更履歴 rows land with the cells they record, never one without the other.

        Over 2 MB it goes in parts, in this order: the log rows first (a value is never overwritten
        unrecorded), then what is not idempotent (tabs and rows added or deleted), then the rest.
        After a lost answer a part with log rows is checked by reading the log's tail once (the
        rows there: it landed, whole), a part adding or deleting tabs or rows by the metadata; so
        nothing is ever done twice."""
        expected = {p.title: p.rows for p in [*plans, *([marks] if marks else [])]}
        risky = [r for r in structure if _risky(r)]
        ordered = [*logs, *risky, *[r for r in structure if not _risky(r)], *cells]
        url = f"https://sheets.googleapis.com/v4/spreadsheets/{b.key}:batchUpdate"
        for part in split_requests(ordered, self.max_request_bytes):
            appended: dict[int, list[list[Any]]] = {}
            for r in part:
                if "appendCells" in r:
                    rows = [[_wire_of(c) for c in row.get("values", [])] for row in r["appendCells"]["rows"]]
                    appended.setdefault(r["appendCells"]["sheetId"], []).extend(rows)

            def applied(part: list[dict[str, Any]] = part, appended: dict[int, list[list[Any]]] = appended) -> bool:
                if appended:
                    return all(
                        self._log_ends_with(b, self._title_of_id(b, sid), rows) for sid, rows in appended.items()
                    )
                meta = self._load_meta(b, force=True)
                done = all(t in meta and meta[t].rows == rows for t, rows in expected.items())
                return done and not any(t in meta for t in drop_tabs)

            careful = bool(appended) or any(_risky(r) for r in part)
            self._count(self.writes, b.book)
            send = functools.partial(
                self.http.call, "post", url, json={"requests": part}, idempotent=not careful, applied=applied
            )
            self._api(b.book, b.key, "書き込み", send)
        if not structure:
            return
        meta = b.meta if b.meta is not None else {}
        for p in [*plans, *([marks] if marks else [])]:
            if p.title in meta:
                meta[p.title].rows, meta[p.title].cols = p.rows, p.cols
            elif p.sheet_id is not None:
                meta[p.title] = _TabMeta(p.sheet_id, p.title, len(meta), p.hidden, p.rows, p.cols)
        for t in drop_tabs:
            meta.pop(t, None)
        b.meta = meta

    def _title_of_id(self, b: _Book, sid: int) -> str:
        for title, known in [*((m.title, m.sheet_id) for m in (b.meta or {}).values()), *b.ids.items()]:
            if known == sid:
                return title
        raise AssertionError(f"no tab with id {sid}")  # pragma: no cover - the id came from these

    def _log_ends_with(self, b: _Book, title: str, rows: list[list[Any]]) -> bool:
        """Whether the log's last rows are these (read once, after a lost answer)."""
        b.tabs.pop(title, None)
        tab = self._fetch(b, [title]).get(title)
        b.tabs.pop(title, None)
        if tab is None or len(tab.grid) <= len(rows):
            return False
        kinds = [self._date_columns.get(header_key(h)) for h in tab.grid[0]]
        tail = [
            [encode(v, kinds[c] if c < len(kinds) else None) for c, v in enumerate(r)] for r in tab.grid[-len(rows) :]
        ]
        return [_wire_row(r) for r in tail] == [_wire_row(r) for r in rows]

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
                reqs += _sheet_requests(p.new, p.sheet_id, p.rows, has_choices=has_choices, account=self.account)
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
                reqs += _row_formats(
                    sid, p, p.rows, p.rows + grow, has_choices=has_choices, date_columns=self._date_columns
                )
                p.rows += grow
            schema = _schema_for(p.title)
            for i, given in p.new_columns:
                name = str(p.grid[0][i])
                column = given or (schema.column(name) if schema and schema.has(name) else None)
                if column is not None:
                    reqs += _column_requests(sid, i, column, p.rows, has_choices=has_choices, department=False)
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

    # -- creating books
    def create_book(self, book: str | None, sheets: Sequence[Sheet], *, share_with: str = "") -> None:
        """The register (an existing, empty spreadsheet shared with the account) or a department
        spreadsheet created in the Drive folder (shared with ``share_with``, the department's
        address, when gsheets.share_departments is on)."""
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
        if created and book is not None and self.options.share_departments and share_with:
            self.share(book, share_with)

    def _create_spreadsheet(self, book: str | None) -> str:
        folder = self._folder()
        title = title_of(self.options.register if book is None else book)
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

    # -- the lock: an append-only claim log in the register's hidden _lock tab (lock.py)
    def _hold_lock(
        self, name: str, *, ttl_seconds: float, wait_seconds: float = 0
    ) -> contextlib.AbstractContextManager[None]:
        return self._lock_log.hold(name, ttl_seconds=ttl_seconds, wait_seconds=wait_seconds)
