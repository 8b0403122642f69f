"""Publication for the prefecture's website: one folder with index.html and open data (CSV, xlsx, JSON).

Only proposals marked 公表 = 可 in a published status appear, and past 交流 (exchange meetings and
forums) marked 公表 = 可. Personal columns are never read into the output, and every field a row lists
in アイデア保護 is withheld in every file, chart and count. The same register gives byte-identical files
(given the same 更新日), so a desk can diff them and keep them in version control.

Decisions (documented for the desk; the open-data columns are in docs/opendata.md):

- 日付 is the first readable date of 協定締結日, 協定開始日, 公表日, 受付日; the column 日付の種別 says
  which one it is. The row's 年度 (and ``--fiscal-year``) follows that date; a 交流's follows 開催日.
- 連携先名称 is the 提案者名. For a 県→企業等 proposal the partners are the 連携先名称 of the register,
  else the recipients of its referrals who answered 連携可 (the 提案者名 when there are none), and the
  proposing department is a 担当課.
- 担当課 are the departments (課 of the 担当課 master) whose referral answered 連携可.
- Every format says the same: a withheld field is 「非公表」, a 年度 is 「令和7年度」, dates are
  YYYY-MM-DD in the data files and 和暦 on the page.
- CSV: UTF-8 with BOM, CRLF line ends (what Excel expects), several values in one cell separated by
  ";" (as open-data datasets do). A cell a spreadsheet would run as a formula (starting with = + - @,
  tab or CR) gets a leading ' in the CSV only; the xlsx stores text cells as text, which never runs.
- The cp932 (Shift_JIS) copy keeps every row: a character cp932 cannot hold becomes 〓 (the geta mark
  that Japanese typesetting uses for a missing glyph) and the result lists where. renkei.csv is exact.
- A row whose アイデア保護 names something that is not a protectable column is not published at all
  (the desk meant to protect *something*); the result says which row and why.
- A 交流 appears once its 開催日 has passed (on or before the day of publication). Its 成果 lists only
  proposals that are themselves published; the others are not named, not even by ID.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from . import clock
from .config import Config
from .departments import departments_from_table
from .errors import StoreError
from .files import write_file
from .pages import template_environment
from .schema import (
    CHOICES,
    DEPARTMENTS,
    EXCHANGE_FORMS,
    EXCHANGE_PROTECTABLE,
    EXCHANGE_SHEET,
    EXCHANGES,
    FIELDS,
    MUNICIPALITIES,
    PROPOSAL_SHEET,
    PROPOSALS,
    PROTECTABLE,
    REFERRAL_SHEET,
    REFERRALS,
    Answer,
    Direction,
    Method,
    Publication,
    Status,
    column_name,
)
from .store.base import CellValue, Row, SheetRef, Store, Table
from .store.export import ExportSheet, workbook_bytes
from .values import (
    ValueProblem,
    fiscal_year,
    fiscal_year_code,
    fiscal_year_label,
    is_blank,
    match_choice,
    match_multi_choice,
    normalize_text,
    parse_date,
    parse_fiscal_year_code,
    split_list,
    to_wareki,
)
from .workflow import answer_key, choice_key, choice_list, read_protection

HTML_NAME = "index.html"
CSV_NAME = "renkei.csv"
CP932_NAME = "renkei_cp932.csv"
XLSX_NAME = "renkei.xlsx"
JSON_NAME = "renkei.json"
EXCHANGE_CSV_NAME = "kouryu.csv"
EXCHANGE_CP932_NAME = "kouryu_cp932.csv"
EXCHANGE_JSON_NAME = "kouryu.json"


ID = column_name(PROPOSAL_SHEET, "提案ID")
RECEIVED = column_name(PROPOSAL_SHEET, "受付日")
DIRECTION = column_name(PROPOSAL_SHEET, "提案方向")
PROPOSER = column_name(PROPOSAL_SHEET, "提案者名")
TITLE = column_name(PROPOSAL_SHEET, "件名")
OUTLINE = column_name(PROPOSAL_SHEET, "概要")
FIELDS_COLUMN = column_name(PROPOSAL_SHEET, "連携分野")
METHOD = column_name(PROPOSAL_SHEET, "連携手法")
MUNICIPALITIES_COLUMN = column_name(PROPOSAL_SHEET, "関係市町村")
STATUS = column_name(PROPOSAL_SHEET, "ステータス")
PROTECTION = column_name(PROPOSAL_SHEET, "アイデア保護")
PUBLICATION = column_name(PROPOSAL_SHEET, "公表")
SIGNED = column_name(PROPOSAL_SHEET, "協定締結日")
STARTS = column_name(PROPOSAL_SHEET, "協定開始日")
PUBLISHED_ON = column_name(PROPOSAL_SHEET, "公表日")
ACCEPTING_PARTNER = column_name(PROPOSAL_SHEET, "連携先名称")
REFERRAL_ID = column_name(REFERRAL_SHEET, "照会ID")
REFERRAL_PROPOSAL = column_name(REFERRAL_SHEET, "提案ID")
RECIPIENT = column_name(REFERRAL_SHEET, "照会先")
ANSWER = column_name(REFERRAL_SHEET, "回答")

# Where the published date comes from, in order of preference.
DATE_SOURCES: tuple[str, ...] = (SIGNED, STARTS, PUBLISHED_ON, RECEIVED)

X_ID = column_name(EXCHANGE_SHEET, "交流ID")
X_HELD = column_name(EXCHANGE_SHEET, "開催日")
X_NAME = column_name(EXCHANGE_SHEET, "名称")
X_FORM = column_name(EXCHANGE_SHEET, "形式")
X_PARTNERS = column_name(EXCHANGE_SHEET, "参加企業等")
X_DEPARTMENTS = column_name(EXCHANGE_SHEET, "参加課")
X_OUTLINE = column_name(EXCHANGE_SHEET, "概要")
X_PUBLICATION = column_name(EXCHANGE_SHEET, "公表")
X_PROTECTION = column_name(EXCHANGE_SHEET, "アイデア保護")
X_RESULTS = column_name(EXCHANGE_SHEET, "成果")

# The open-data columns, in file order (自治体標準オープンデータセット style: 全国地方公共団体コード, ID
# and 地方公共団体名 first; docs/opendata.md is their documentation and a test holds them to it).
C_CODE = "全国地方公共団体コード"
C_ID = "ID"
C_GOVERNMENT = "地方公共団体名"
C_FY = "年度"
C_PARTNER = "連携先名称"
C_TITLE = "名称"
C_METHOD = "連携手法"
C_FIELDS = "連携分野"
C_DATE = "日付"
C_DATE_KIND = "日付の種別"
C_STATUS = "状況"
C_OUTLINE = "概要"
C_MUNICIPALITIES = "関係市町村"
C_DEPARTMENTS = "担当課"
OUTPUT_COLUMNS: tuple[str, ...] = (
    C_CODE, C_ID, C_GOVERNMENT, C_FY, C_PARTNER, C_TITLE, C_METHOD, C_FIELDS, C_DATE, C_DATE_KIND,
    C_STATUS, C_OUTLINE, C_MUNICIPALITIES, C_DEPARTMENTS,
)  # fmt: skip
C_HELD = "開催日"
C_FORM = "形式"
C_PARTICIPANTS = "参加企業等"
C_PARTICIPATING = "参加課"
C_RESULTS = "成果"
EXCHANGE_COLUMNS: tuple[str, ...] = (
    C_CODE, C_ID, C_GOVERNMENT, C_FY, C_TITLE, C_HELD, C_FORM, C_PARTICIPANTS, C_PARTICIPATING,
    C_OUTLINE, C_RESULTS,
)  # fmt: skip

MULTI_SEPARATOR = ";"  # several values in one CSV/xlsx cell
PROTECTED_LABEL = "非公表"  # what every format holds where a protected field would be
CP932_SUBSTITUTE = "〓"  # stands for a character Shift_JIS cannot hold
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_STATUS_CLASS = {Status.AGREED: "agreed", Status.IMPLEMENTING: "implementing", Status.COMPLETED: "completed"}


@dataclass(frozen=True)
class Publisher:
    """Who publishes: the first columns of every open-data row."""

    code: str  # 全国地方公共団体コード
    name: str  # 地方公共団体名


def _many(values: Sequence[str] | None) -> str:
    return PROTECTED_LABEL if values is None else MULTI_SEPARATOR.join(values)


def _shown(value: str | None) -> str:
    return PROTECTED_LABEL if value is None else value


@dataclass(frozen=True)
class PublishedRow:
    """One partnership as published. A protected field is None (withheld), never its value."""

    proposal_id: str
    fiscal_year: int
    partners: tuple[str, ...]
    title: str | None
    method: str
    fields: tuple[str, ...] | None
    date: date
    date_kind: str  # the register column the date comes from
    status: str
    outline: str | None
    municipalities: tuple[str, ...] | None
    departments: tuple[str, ...]
    sheet_row: int = 0  # row in 提案 (for messages; not published)

    def record(self, by: Publisher) -> dict[str, Any]:
        """The row as JSON publishes it, keys in OUTPUT_COLUMNS order: lists for several values,
        「非公表」 for a withheld field."""

        def many(values: Sequence[str] | None) -> list[str] | str:
            return PROTECTED_LABEL if values is None else list(values)

        values: list[Any] = [
            by.code, self.proposal_id, by.name, fiscal_year_label(self.fiscal_year), list(self.partners),
            _shown(self.title), self.method, many(self.fields), self.date.isoformat(), self.date_kind,
            self.status, _shown(self.outline), many(self.municipalities), list(self.departments),
        ]  # fmt: skip
        return dict(zip(OUTPUT_COLUMNS, values, strict=True))

    def cells(self, by: Publisher) -> list[CellValue]:
        """The row as CSV and xlsx hold it, in OUTPUT_COLUMNS order (text not yet neutralised)."""
        return [
            by.code, self.proposal_id, by.name, fiscal_year_label(self.fiscal_year),
            MULTI_SEPARATOR.join(self.partners),
            _shown(self.title), self.method, _many(self.fields), self.date, self.date_kind,
            self.status, _shown(self.outline), _many(self.municipalities), MULTI_SEPARATOR.join(self.departments),
        ]  # fmt: skip


@dataclass(frozen=True)
class PublishedResult:
    """A proposal that came out of a 交流, as the page names it."""

    proposal_id: str
    title: str | None  # None: the proposal protects its 件名


@dataclass(frozen=True)
class PublishedExchange:
    """One past exchange meeting or forum as published. A protected field is None (withheld)."""

    exchange_id: str
    fiscal_year: int
    held: date
    name: str
    form: str
    partners: tuple[str, ...] | None
    departments: tuple[str, ...]
    outline: str | None
    results: tuple[PublishedResult, ...] | None
    sheet_row: int = 0

    def _result_ids(self) -> list[str] | str:
        return PROTECTED_LABEL if self.results is None else [r.proposal_id for r in self.results]

    def record(self, by: Publisher) -> dict[str, Any]:
        partners: list[str] | str = PROTECTED_LABEL if self.partners is None else list(self.partners)
        values: list[Any] = [
            by.code, self.exchange_id, by.name, fiscal_year_label(self.fiscal_year), self.name, self.held.isoformat(),
            self.form, partners, list(self.departments), _shown(self.outline), self._result_ids(),
        ]  # fmt: skip
        return dict(zip(EXCHANGE_COLUMNS, values, strict=True))

    def cells(self, by: Publisher) -> list[CellValue]:
        results = self._result_ids()
        return [
            by.code, self.exchange_id, by.name, fiscal_year_label(self.fiscal_year), self.name, self.held,
            self.form, _many(self.partners), MULTI_SEPARATOR.join(self.departments), _shown(self.outline),
            results if isinstance(results, str) else MULTI_SEPARATOR.join(results),
        ]  # fmt: skip


@dataclass(frozen=True)
class PublishNotice:
    """Something in the register that kept a row (or a value) out of the publication."""

    sheet: str
    row: int
    column: str
    value: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "row": self.row, "column": self.column, "value": self.value,
                "message": self.message}  # fmt: skip

    def __str__(self) -> str:
        return f"{self.sheet} {self.row}行目「{self.column}」: {self.message}"


@dataclass(frozen=True)
class Cp932Replacement:
    """Characters of one row that the cp932 CSV holds as 〓, because Shift_JIS has no code for them."""

    file: str
    row_id: str
    characters: Mapping[str, str]  # output column -> the characters cp932 cannot hold

    @property
    def message(self) -> str:
        where = "、".join(f"{col}の「{chars}」" for col, chars in self.characters.items())
        utf8 = CSV_NAME if self.file == CP932_NAME else EXCHANGE_CSV_NAME
        return (
            f"{self.row_id}: {where}を Shift_JIS（cp932）で表せないため、{self.file} では「{CP932_SUBSTITUTE}」に"
            f"置き換えました（{utf8} にはそのまま載っています）。"
        )


@dataclass(frozen=True)
class Count:
    label: str
    count: int


@dataclass
class PublishResult:
    """What :func:`publish` wrote, and what it kept out."""

    out_dir: Path
    files: list[Path]
    rows: list[PublishedRow]
    by_year: list[Count]
    by_field: list[Count]
    by_method: list[Count]
    fiscal_year: int | None = None
    withheld: int = 0  # rows in a published status whose 公表 is not 可
    notices: list[PublishNotice] = field(default_factory=list)
    cp932_replaced: list[Cp932Replacement] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)  # stale files of an earlier run
    exchanges: list[PublishedExchange] = field(default_factory=list)
    updated: date | None = None
    refreshed: list[Path] = field(default_factory=list)  # the other folders it owns, rewritten too

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "files": [str(p) for p in self.files],
            "count": len(self.rows),
            "exchanges": len(self.exchanges),
            "fiscal_year": self.fiscal_year,
            "updated": self.updated.isoformat() if self.updated else None,
            "withheld": self.withheld,
            "by_year": {c.label: c.count for c in self.by_year},
            "by_field": {c.label: c.count for c in self.by_field},
            "by_method": {c.label: c.count for c in self.by_method},
            "notices": [n.to_dict() for n in self.notices],
            "cp932_replaced": [o.message for o in self.cp932_replaced],
            "removed": [str(p) for p in self.removed],
            "refreshed": [str(p) for p in self.refreshed],
        }


# ---------------------------------------------------------------- reading the register
def _text(value: CellValue) -> str:
    """A text cell as published: what the person typed, trimmed, line breaks as \\n."""
    if value is None:
        return ""
    s = value if isinstance(value, str) else normalize_text(value)
    return s.replace("\r\n", "\n").replace("\r", "\n").strip()


def _items(value: CellValue, choices: Sequence[str]) -> tuple[str, ...]:
    """The values of a multi-choice cell: the canonical choices, or (for unknown items) the text as typed."""
    try:
        return tuple(match_multi_choice(value, choices))
    except ValueProblem:
        pass
    out: list[str] = []
    for part in split_list(_text(value), as_typed=True):
        try:
            item = match_choice(part, choices)
        except ValueProblem:
            item = part
        if item not in out:
            out.append(item)
    return tuple(out)


def _protected(
    row: Row, sheet: str = PROPOSALS, protectable: Sequence[str] = PROTECTABLE
) -> tuple[set[str], PublishNotice | None]:
    """The columns a row protects, or a notice when アイデア保護 cannot be read (then nothing is published)."""
    raw = row.get(PROTECTION)
    protection = read_protection(raw, protectable)
    if protection.problem is None:
        return set(protection.columns), None
    what = "この提案" if sheet == PROPOSALS else "この交流"
    message = f"{protection.problem} 保護する項目が読めないため、{what}は公表しませんでした。"
    return set(protection.columns), PublishNotice(sheet, row.number, PROTECTION, _text(raw), message)


def _published_date(row: Row) -> tuple[date, str] | None:
    for column in DATE_SOURCES:
        value = row.get(column)
        if is_blank(value):
            continue
        try:
            return parse_date(value), column
        except ValueProblem:
            continue
    return None


def _referrals_by_proposal(table: Table | None) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    if table is None:
        return out
    for r in table.rows:
        out.setdefault(normalize_text(r.get(REFERRAL_PROPOSAL)), []).append(r)
    for rows in out.values():
        rows.sort(key=lambda r: (normalize_text(r.get(REFERRAL_ID)), r.number))
    return out


def collect_rows(
    config: Config, tables: Mapping[SheetRef, Table | None]
) -> tuple[list[PublishedRow], int, list[PublishNotice]]:
    """The publishable rows of the register (all 年度), how many were withheld, and notices."""
    proposals = tables.get(SheetRef(PROPOSALS))
    if proposals is None:
        raise StoreError(f"台帳にシート「{PROPOSALS}」がありません。")
    if not proposals.has(PROTECTION):
        # Without the column nobody can tell what the partners asked to protect: publish nothing.
        raise StoreError(
            f"台帳の「{PROPOSALS}」シートに列「{PROTECTION}」がないため、保護する項目が分からず公表できません。"
            "列を戻してから再実行してください。"
        )
    referrals = _referrals_by_proposal(tables.get(SheetRef(REFERRALS)))
    master = departments_from_table(config, tables.get(SheetRef(DEPARTMENTS)))
    choices = tables.get(SheetRef(CHOICES))
    field_choices = choice_list(choices, "連携分野", FIELDS)
    method_choices = choice_list(choices, "連携手法", Method.ALL)
    town_choices = choice_list(choices, "市町村", MUNICIPALITIES)

    rows: list[PublishedRow] = []
    notices: list[PublishNotice] = []
    withheld = 0
    for row in proposals.rows:
        status = choice_key(row.get(STATUS))
        if status not in Status.PUBLISHED:
            continue
        if choice_key(row.get(PUBLICATION)) != Publication.YES:
            withheld += 1
            continue
        protected, notice = _protected(row)
        if notice is not None:
            notices.append(notice)
            continue
        when = _published_date(row)
        if when is None:
            notices.append(
                PublishNotice(PROPOSALS, row.number, SIGNED, "",
                       f"{'・'.join(DATE_SOURCES)}のどれも日付として読めないため、公表しませんでした。")
            )  # fmt: skip
            continue
        pid = normalize_text(row.get(ID))
        partners, departments = _parties(row, referrals.get(pid, []), master)
        try:
            method = match_choice(row.get(METHOD), method_choices)
        except ValueProblem:
            method = _text(row.get(METHOD))
        rows.append(
            PublishedRow(
                proposal_id=pid,
                fiscal_year=fiscal_year(when[0]),
                partners=tuple(partners),
                title=None if TITLE in protected else _text(row.get(TITLE)),
                method=method,
                fields=None if FIELDS_COLUMN in protected else _items(row.get(FIELDS_COLUMN), field_choices),
                date=when[0],
                date_kind=when[1],
                status=status,
                outline=None if OUTLINE in protected else _text(row.get(OUTLINE)),
                municipalities=(
                    None if MUNICIPALITIES_COLUMN in protected else _items(row.get(MUNICIPALITIES_COLUMN), town_choices)
                ),
                departments=tuple(departments),
                sheet_row=row.number,
            )
        )
    rows.sort(key=lambda r: (r.fiscal_year, r.date, r.proposal_id, r.sheet_row))
    return rows, withheld, notices


def _parties(row: Row, referrals: Sequence[Row], master: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The partners and the departments a published proposal names: the proposer and the departments
    that answered 連携可; for a 県→企業等 proposal the accepting partners, the proposing section first."""
    proposer = _text(row.get(PROPOSER))
    to_partners = choice_key(row.get(DIRECTION)) == choice_key(Direction.PREFECTURE_TO_PARTNER)

    def is_department(name: str) -> bool:
        return name in master if master else not to_partners

    feasible = [
        normalize_text(r.get(RECIPIENT))
        for r in referrals
        if answer_key(r.get(ANSWER)) == Answer.YES and not is_blank(r.get(RECIPIENT))
    ]
    departments = [n for n in dict.fromkeys(feasible) if is_department(n)]
    partners = [proposer] if proposer else []
    if to_partners:
        named = list(split_list(_text(row.get(ACCEPTING_PARTNER)), as_typed=True))
        partners = named or [n for n in dict.fromkeys(feasible) if not is_department(n)] or partners
        if normalize_text(proposer) and normalize_text(proposer) not in departments:
            departments.insert(0, normalize_text(proposer))
    return partners, departments


def collect_exchanges(
    tables: Mapping[SheetRef, Table | None], rows: Sequence[PublishedRow], *, today: date
) -> tuple[list[PublishedExchange], list[PublishNotice]]:
    """The past 交流 marked 公表 = 可, oldest first. 成果 names only proposals in ``rows`` (published)."""
    table = tables.get(SheetRef(EXCHANGES))
    if table is None:
        return [], []
    if not table.has(PROTECTION):
        raise StoreError(
            f"台帳の「{EXCHANGES}」シートに列「{PROTECTION}」がないため、保護する項目が分からず公表できません。"
            "列を戻してから再実行してください。"
        )
    published = {r.proposal_id: r for r in rows}
    choices = tables.get(SheetRef(CHOICES))
    forms = choice_list(choices, "交流形式", EXCHANGE_FORMS)
    out: list[PublishedExchange] = []
    notices: list[PublishNotice] = []
    for row in table.rows:
        if choice_key(row.get(X_PUBLICATION)) != Publication.YES:
            continue
        try:
            held = parse_date(row.get(X_HELD))
        except ValueProblem:
            notices.append(PublishNotice(EXCHANGES, row.number, X_HELD, _text(row.get(X_HELD)),
                                  "開催日が日付として読めないため、公表しませんでした。"))  # fmt: skip
            continue
        if held > today:
            continue  # not held yet
        protected, notice = _protected(row, EXCHANGES, EXCHANGE_PROTECTABLE)
        if notice is not None:
            notices.append(notice)
            continue
        try:
            form = match_choice(row.get(X_FORM), forms)
        except ValueProblem:
            form = _text(row.get(X_FORM))
        results = tuple(
            PublishedResult(pid, published[pid].title) for pid in split_list(row.get(X_RESULTS)) if pid in published
        )
        out.append(
            PublishedExchange(
                exchange_id=normalize_text(row.get(X_ID)),
                fiscal_year=fiscal_year(held),
                held=held,
                name=_text(row.get(X_NAME)),
                form=form,
                partners=None
                if X_PARTNERS in protected
                else tuple(split_list(_text(row.get(X_PARTNERS)), as_typed=True)),
                departments=tuple(split_list(row.get(X_DEPARTMENTS))),
                outline=None if X_OUTLINE in protected else _text(row.get(X_OUTLINE)),
                results=None if X_RESULTS in protected else results,
                sheet_row=row.number,
            )
        )
    out.sort(key=lambda x: (x.held, x.exchange_id, x.sheet_row))
    return out, notices


def _ordered_counts(counter: Counter[str], order: Sequence[str]) -> list[Count]:
    known = [Count(label, counter[label]) for label in order if counter[label]]
    rest = sorted(label for label in counter if label not in order)
    return known + [Count(label, counter[label]) for label in rest]


def count_rows(
    rows: Sequence[PublishedRow], field_order: Sequence[str] = FIELDS
) -> tuple[list[Count], list[Count], list[Count]]:
    """Counts per 年度, per field (a protected 連携分野 is not counted) and per form."""
    years = Counter(r.fiscal_year for r in rows)
    by_year = [Count(fiscal_year_label(fy), years[fy]) for fy in sorted(years)]
    fields: Counter[str] = Counter()
    for r in rows:
        if r.fields is not None:
            fields.update(set(r.fields))
    methods = Counter(r.method or "（記載なし）" for r in rows)
    return by_year, _ordered_counts(fields, field_order), _ordered_counts(methods, Method.ALL)


# ---------------------------------------------------------------- writing
def neutralise(value: CellValue) -> CellValue:
    """A CSV cell that a spreadsheet would run as a formula, made inert with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_cell(value: CellValue) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(neutralise(value))


def _csv_text(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def csv_bytes(columns: Sequence[str], rows: Sequence[Sequence[CellValue]]) -> bytes:
    """An open-data CSV: UTF-8 with BOM, CRLF, ISO dates, formulas neutralised."""
    return _csv_text(columns, [[_csv_cell(v) for v in r] for r in rows]).encode("utf-8-sig")


def cp932_bytes(
    columns: Sequence[str], rows: Sequence[Sequence[CellValue]], *, file: str = CP932_NAME
) -> tuple[bytes, list[Cp932Replacement]]:
    """The Shift_JIS copy of a CSV: every row kept, a character cp932 cannot hold written as 〓 and listed.
    ``rows`` start with the 全国地方公共団体コード and the row's ID, which names it in the list."""
    out: list[list[str]] = []
    replaced: list[Cp932Replacement] = []
    for r in rows:
        cells = [_csv_cell(v) for v in r]
        bad: dict[str, str] = {}
        for column, text in zip(columns, cells, strict=True):
            chars = "".join(dict.fromkeys(ch for ch in text if not _cp932_ok(ch)))
            if chars:
                bad[column] = chars
        if bad:
            replaced.append(Cp932Replacement(file, cells[1], bad))
            cells = ["".join(ch if _cp932_ok(ch) else CP932_SUBSTITUTE for ch in text) for text in cells]
        out.append(cells)
    return _csv_text(columns, out).encode("cp932"), replaced


def _cp932_ok(ch: str) -> bool:
    try:
        ch.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def _json(document: Mapping[str, Any]) -> bytes:
    # Keys in the order built (rows follow `columns`), not sorted: dicts keep insertion order.
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def json_bytes(
    rows: Sequence[PublishedRow],
    counts: tuple[list[Count], list[Count], list[Count]],
    meta: Mapping[str, Any],
    by: Publisher,
) -> bytes:
    by_year, by_field, by_method = counts
    document = {
        **meta,
        "columns": list(OUTPUT_COLUMNS),
        "count": len(rows),
        # Lists, not objects: the labels keep the page's order.
        "counts": {
            C_FY: [{"label": c.label, "count": c.count} for c in by_year],
            C_FIELDS: [{"label": c.label, "count": c.count} for c in by_field],
            C_METHOD: [{"label": c.label, "count": c.count} for c in by_method],
        },
        "rows": [r.record(by) for r in rows],
    }
    return _json(document)


def exchange_json_bytes(exchanges: Sequence[PublishedExchange], meta: Mapping[str, Any], by: Publisher) -> bytes:
    document = {
        **meta,
        "columns": list(EXCHANGE_COLUMNS),
        "count": len(exchanges),
        "rows": [x.record(by) for x in exchanges],
    }
    return _json(document)


def xlsx_bytes(rows: Sequence[PublishedRow], exchanges: Sequence[PublishedExchange], by: Publisher) -> bytes:
    """renkei.xlsx: 連携一覧 and 交流一覧. Text cells are stored as text (never formulas), as typed."""
    return workbook_bytes(
        [
            ExportSheet("連携一覧", OUTPUT_COLUMNS, [r.cells(by) for r in rows]),
            ExportSheet("交流一覧", EXCHANGE_COLUMNS, [x.cells(by) for x in exchanges]),
        ]
    )


@dataclass(frozen=True)
class _Chart:
    id: str
    title: str
    label_header: str
    items: list[dict[str, Any]]
    note: str = ""


def _chart(id_: str, title: str, label_header: str, counts: Sequence[Count], note: str = "") -> _Chart:
    top = max((c.count for c in counts), default=0)
    items = [
        {"label": c.label, "count": c.count, "width": max(2, round(100 * c.count / top)) if top else 0} for c in counts
    ]
    return _Chart(id_, title, label_header, items, note)


def _display_row(r: PublishedRow) -> dict[str, Any]:
    def joined(values: Sequence[str] | None) -> str | None:
        return None if values is None else "、".join(values)

    return {
        "id": r.proposal_id,
        "partner": "、".join(r.partners),
        "title": r.title,
        "method": r.method,
        "fields": joined(r.fields),
        "date_iso": r.date.isoformat(),
        "date": to_wareki(r.date),
        "date_kind": r.date_kind,
        "status": r.status,
        "status_class": _STATUS_CLASS.get(r.status, "other"),
        "outline": r.outline,
        "municipalities": joined(r.municipalities),
        "departments": "、".join(r.departments),
    }


def _display_exchange(x: PublishedExchange) -> dict[str, Any]:
    return {
        "id": x.exchange_id,
        "name": x.name,
        "date_iso": x.held.isoformat(),
        "date": to_wareki(x.held),
        "form": x.form,
        "partners": None if x.partners is None else "、".join(x.partners),
        "departments": "、".join(x.departments),
        "outline": x.outline,
        "results": None
        if x.results is None
        else [{"id": r.proposal_id, "title": r.title or PROTECTED_LABEL} for r in x.results],
    }


@dataclass(frozen=True)
class PageInfo:
    """What the page says about itself: when it was updated, whom to ask, and the terms of the data."""

    title: str
    publisher: str
    updated: date
    contact: str
    contact_phone: str
    contact_email: str
    contact_url: str
    licence: str
    licence_url: str
    terms_url: str

    def meta(self) -> dict[str, Any]:
        """The same facts for the JSON files."""
        return {
            "title": self.title,
            "publisher": self.publisher,
            "updated": self.updated.isoformat(),
            "contact": {
                "name": self.contact,
                "phone": self.contact_phone,
                "email": self.contact_email,
                "url": self.contact_url,
            },
            "license": {"name": self.licence, "url": self.licence_url, "terms": self.terms_url},
        }


def page_info(config: Config, today: date) -> PageInfo:
    p = config.publish
    return PageInfo(
        title=p.title,
        publisher=config.desk.name,
        updated=parse_date(p.updated) if p.updated.strip() else today,
        contact=p.contact.strip() or config.desk.name,
        contact_phone=p.contact_phone.strip() or config.desk.phone.strip(),
        contact_email=p.contact_email.strip(),
        contact_url=p.contact_url.strip(),
        licence=p.licence.strip(),
        licence_url=p.licence_url.strip(),
        terms_url=p.terms_url.strip(),
    )


def html_text(
    rows: Sequence[PublishedRow],
    counts: tuple[list[Count], list[Count], list[Count]],
    *,
    info: PageInfo,
    fiscal_year_filter: int | None,
    cp932: bool = False,
    exchanges: Sequence[PublishedExchange] = (),
) -> str:
    by_year, by_field, by_method = counts
    years: dict[int, list[PublishedRow]] = {}
    for r in rows:
        years.setdefault(r.fiscal_year, []).append(r)
    groups = [
        {
            "id": f"list-{fiscal_year_code(fy)}",
            "label": fiscal_year_label(fy),
            "rows": [_display_row(r) for r in years[fy]],
        }
        for fy in sorted(years, reverse=True)
    ]
    charts = [
        _chart("by-year", "年度別の件数", "年度", by_year),
        _chart("by-field", "連携分野別の件数", "連携分野", by_field,
               "一つの取組が複数の分野にまたがる場合は、それぞれの分野に数えています。"
               "分野を公表していない取組は数えていません。"),
        _chart("by-method", "連携手法別の件数", "連携手法", by_method),
    ]  # fmt: skip
    template = template_environment().get_template("publish.html")
    return template.render(
        title=info.title,
        publisher=info.publisher,
        info=info,
        updated_iso=info.updated.isoformat(),
        updated=to_wareki(info.updated),
        scope=fiscal_year_label(fiscal_year_filter) if fiscal_year_filter is not None else "",
        total=len(rows),
        groups=groups,
        charts=charts,
        exchanges=[_display_exchange(x) for x in sorted(exchanges, key=lambda x: x.held, reverse=True)],
        protected_label=PROTECTED_LABEL,
        date_sources="、".join(DATE_SOURCES),
        files={
            "csv": CSV_NAME,
            "xlsx": XLSX_NAME,
            "json": JSON_NAME,
            "cp932": CP932_NAME if cp932 else None,
            "exchange_csv": EXCHANGE_CSV_NAME,
            "exchange_json": EXCHANGE_JSON_NAME,
            "exchange_cp932": EXCHANGE_CP932_NAME if cp932 else None,
        },
        separator=MULTI_SEPARATOR,
        substitute=CP932_SUBSTITUTE,
    )


def publish(
    config: Config,
    store: Store,
    *,
    out: str | Path | None = None,
    fiscal_year: int | None = None,
    today: date | None = None,
) -> PublishResult:
    """Write the publication folder; return what was written and what was kept out.

    ``out`` defaults to ``[publish] out`` of the configuration; with ``fiscal_year`` (e.g. 2025) only
    that 年度's rows are published, by default into a sub-folder named by its code (``publish/R7``)
    so the page of every 年度 is not overwritten. ``today`` (default: the clock) decides which 交流
    have been held and is the 更新日 unless ``[publish] updated`` sets one.
    """
    today = today or clock.today(config)
    refs = [SheetRef(PROPOSALS), SheetRef(REFERRALS), SheetRef(DEPARTMENTS), SheetRef(CHOICES), SheetRef(EXCHANGES)]
    tables = store.read(refs)
    rows, withheld, notices = collect_rows(config, tables)
    exchanges, exchange_notices = collect_exchanges(tables, rows, today=today)
    notices += exchange_notices
    if fiscal_year is not None:
        rows = [r for r in rows if r.fiscal_year == fiscal_year]
        exchanges = [x for x in exchanges if x.fiscal_year == fiscal_year]
    out_dir = _out_dir(config, out, fiscal_year)
    field_order = choice_list(tables.get(SheetRef(CHOICES)), "連携分野", FIELDS)
    counts = count_rows(rows, field_order)
    info = page_info(config, today)
    by = Publisher(config.publish.municipality_code, config.desk.prefecture)
    meta = _year_meta(info, rows, fiscal_year)
    row_cells = [r.cells(by) for r in rows]
    exchange_cells = [x.cells(by) for x in exchanges]
    outputs: dict[str, bytes] = {
        HTML_NAME: html_text(
            rows, counts, info=info, fiscal_year_filter=fiscal_year, cp932=config.publish.cp932, exchanges=exchanges
        ).encode("utf-8", "replace"),  # (a lone surrogate pasted by a partner cannot be UTF-8: shown as ?)
        CSV_NAME: csv_bytes(OUTPUT_COLUMNS, row_cells),
        XLSX_NAME: xlsx_bytes(rows, exchanges, by),
        JSON_NAME: json_bytes(rows, counts, meta, by),
        EXCHANGE_CSV_NAME: csv_bytes(EXCHANGE_COLUMNS, exchange_cells),
        EXCHANGE_JSON_NAME: exchange_json_bytes(exchanges, meta, by),
    }
    replaced: list[Cp932Replacement] = []
    if config.publish.cp932:
        outputs[CP932_NAME], replaced = cp932_bytes(OUTPUT_COLUMNS, row_cells, file=CP932_NAME)
        outputs[EXCHANGE_CP932_NAME], more = cp932_bytes(EXCHANGE_COLUMNS, exchange_cells, file=EXCHANGE_CP932_NAME)
        replaced += more
    files = [write_file(out_dir / name, data) for name, data in outputs.items()]
    removed: list[Path] = []
    for stale in (out_dir / CP932_NAME, out_dir / EXCHANGE_CP932_NAME):
        if not config.publish.cp932 and stale.exists():
            # An old copy would keep values the desk has since withdrawn or protected.
            stale.unlink()
            removed.append(stale)
    refreshed = _refresh_owned_folders(config, store, out_dir) if out is None else []
    by_year, by_field, by_method = counts
    return PublishResult(
        refreshed=refreshed,
        out_dir=out_dir,
        files=files,
        rows=rows,
        by_year=by_year,
        by_field=by_field,
        by_method=by_method,
        fiscal_year=fiscal_year,
        withheld=withheld,
        notices=notices,
        cp932_replaced=replaced,
        removed=removed,
        exchanges=exchanges,
        updated=info.updated,
    )


def _out_dir(config: Config, out: str | Path | None, fiscal_year: int | None) -> Path:
    """The folder written: ``out`` as given, else ``[publish] out`` (a 年度's sub-folder for one 年度)."""
    if out is not None:
        return Path(out)
    out_dir = config.resolve(config.publish.out)
    return out_dir / fiscal_year_code(fiscal_year) if fiscal_year is not None else out_dir


def _year_meta(info: PageInfo, rows: Sequence[PublishedRow], fiscal_year: int | None) -> dict[str, Any]:
    """The page's metadata with the 年度 published: the one asked for, or the span the register covers."""
    meta: dict[str, Any] = {
        **info.meta(),
        "fiscal_year": fiscal_year,
        "fiscal_year_label": fiscal_year_label(fiscal_year) if fiscal_year is not None else None,
    }
    if fiscal_year is None and rows:
        meta["fiscal_year"] = [min(r.fiscal_year for r in rows), max(r.fiscal_year for r in rows)]
        meta["fiscal_year_label"] = "〜".join(dict.fromkeys(fiscal_year_label(fy) for fy in meta["fiscal_year"]))
    return meta


def _refresh_owned_folders(config: Config, store: Store, written: Path) -> list[Path]:
    """Rewrite every other folder an earlier run wrote under ``[publish] out`` — the all-年度 one and
    each 年度's (R7, R6 …) — from the current register, so a proposal withdrawn or set to 公表=不可
    since then does not stay online in a folder this run did not name. A folder is the tool's when
    its name is a 年度 code and it holds the publication's files; the desk's own folders are left alone."""
    root = config.resolve(config.publish.out)
    owned: list[tuple[Path, int | None]] = [(root, None)]
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            try:
                year = parse_fiscal_year_code(folder.name)
            except ValueProblem:
                continue
            if fiscal_year_code(year) == folder.name:
                owned.append((folder, year))
    refreshed = []
    for folder, fy in owned:
        if folder == written or not any((folder / name).is_file() for name in (HTML_NAME, CSV_NAME, JSON_NAME)):
            continue
        publish(config, store, out=folder, fiscal_year=fy)
        refreshed.append(folder)
    return refreshed
