"""Publication for the prefecture's website: one folder with index.html, renkei.csv, .xlsx and .json.

Only proposals marked 公表 = 可 in a published status appear. Personal columns are never read into
the output, and every field a proposal lists in アイデア保護 is left out of every file, chart and count.
The same register gives byte-identical files, so a desk can diff them and keep them in version control.

Decisions (documented for the desk):

- 締結日・開始日 is the first readable date of 協定締結日, 協定開始日, 公表日, 受付日; the column
  日付の種別 says which one it is. The row's 年度 (and ``--fiscal-year``) follows that date.
- 連携先名称 is the 提案者名. For a 県→企業等 proposal the partners are the recipients of its referrals
  who answered 連携可 (the 提案者名 when there are none) and the proposing department is a 担当課.
- 担当課 are the departments (課 of the 担当課 master) whose referral answered 連携可.
- CSV: UTF-8 with BOM, CRLF line ends (what Excel expects), dates YYYY-MM-DD, several values in one
  cell separated by ";" (as open-data datasets do). A cell a spreadsheet would run as a formula
  (starting with = + - @, tab or CR) gets a leading ' in the CSV and the xlsx.
- The cp932 (Shift_JIS) copy leaves out every row that has a character cp932 cannot hold, and the
  result lists those rows: characters are never replaced silently. renkei.csv always has every row.
- A row whose アイデア保護 names something that is not a protectable column is not published at all
  (the desk meant to protect *something*); the result says which row and why.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .config import Config
from .departments import departments_from_table
from .errors import StoreError
from .schema import (
    CHOICES,
    DEPARTMENTS,
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
)
from .store.base import CellValue, Row, SheetRef, Store, Table
from .store.export import ExportSheet, workbook_bytes, write_atomic
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
    to_wareki,
)
from .workflow import answer_key, choice_key

HTML_NAME = "index.html"
CSV_NAME = "renkei.csv"
CP932_NAME = "renkei_cp932.csv"
XLSX_NAME = "renkei.xlsx"
JSON_NAME = "renkei.json"


def _col(sheet_columns: Iterable[str], name: str) -> str:
    """A column name checked against the schema, so a renamed column fails at import, not in print."""
    if name not in sheet_columns:
        raise LookupError(f"schema has no column {name!r}")
    return name


_P = PROPOSAL_SHEET.headers
_R = REFERRAL_SHEET.headers
ID = _col(_P, "提案ID")
RECEIVED = _col(_P, "受付日")
DIRECTION = _col(_P, "提案方向")
PROPOSER = _col(_P, "提案者名")
TITLE = _col(_P, "件名")
OUTLINE = _col(_P, "概要")
FIELDS_COLUMN = _col(_P, "連携分野")
METHOD = _col(_P, "連携手法")
MUNICIPALITIES_COLUMN = _col(_P, "関係市町村")
STATUS = _col(_P, "ステータス")
PROTECTION = _col(_P, "アイデア保護")
PUBLICATION = _col(_P, "公表")
SIGNED = _col(_P, "協定締結日")
STARTS = _col(_P, "協定開始日")
PUBLISHED_ON = _col(_P, "公表日")
REFERRAL_ID = _col(_R, "照会ID")
REFERRAL_PROPOSAL = _col(_R, "提案ID")
RECIPIENT = _col(_R, "照会先")
ANSWER = _col(_R, "回答")

# Where the published date comes from, in order of preference.
DATE_SOURCES: tuple[str, ...] = (SIGNED, STARTS, PUBLISHED_ON, RECEIVED)

# The columns of renkei.csv / .xlsx / .json (open-data style names), in file order.
C_ID = "管理番号"
C_FY = "年度"
C_PARTNER = "連携先名称"
C_TITLE = "取組名"
C_METHOD = "連携手法"
C_FIELDS = "連携分野"
C_DATE = "締結日・開始日"
C_DATE_KIND = "日付の種別"
C_STATUS = "状況"
C_OUTLINE = "概要"
C_MUNICIPALITIES = "関係市町村"
C_DEPARTMENTS = "担当課"
OUTPUT_COLUMNS: tuple[str, ...] = (
    C_ID, C_FY, C_PARTNER, C_TITLE, C_METHOD, C_FIELDS, C_DATE, C_DATE_KIND,
    C_STATUS, C_OUTLINE, C_MUNICIPALITIES, C_DEPARTMENTS,
)  # fmt: skip

MULTI_SEPARATOR = ";"  # several values in one CSV/xlsx cell
PROTECTED_LABEL = "非公表"  # what the web page shows where a protected field would be
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_STATUS_CLASS = {Status.AGREED: "agreed", Status.IMPLEMENTING: "implementing", Status.COMPLETED: "completed"}
# Split a multi-value cell on 、 , ; / and line breaks, but not on 中黒 (choices like 健康増進・福祉 hold one).
_LIST_SEPARATORS = re.compile(r"[、,;/\r\n]+")


@dataclass(frozen=True)
class PublishedRow:
    """One partnership as published. A protected field is None (left out), never its value."""

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

    def record(self) -> dict[str, Any]:
        """The row as JSON publishes it: lists for several values, null for a protected field."""
        return {
            C_ID: self.proposal_id,
            C_FY: self.fiscal_year,
            C_PARTNER: list(self.partners),
            C_TITLE: self.title,
            C_METHOD: self.method,
            C_FIELDS: None if self.fields is None else list(self.fields),
            C_DATE: self.date.isoformat(),
            C_DATE_KIND: self.date_kind,
            C_STATUS: self.status,
            C_OUTLINE: self.outline,
            C_MUNICIPALITIES: None if self.municipalities is None else list(self.municipalities),
            C_DEPARTMENTS: list(self.departments),
        }

    def cells(self) -> list[CellValue]:
        """The row as CSV and xlsx hold it, in OUTPUT_COLUMNS order (text not yet neutralised)."""

        def many(values: Sequence[str] | None) -> str:
            return "" if values is None else MULTI_SEPARATOR.join(values)

        return [
            self.proposal_id,
            self.fiscal_year,
            many(self.partners),
            self.title or "",
            self.method,
            many(self.fields),
            self.date,
            self.date_kind,
            self.status,
            self.outline or "",
            many(self.municipalities),
            many(self.departments),
        ]


@dataclass(frozen=True)
class Notice:
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
class Cp932Omission:
    """A row left out of the cp932 CSV because some characters have no Shift_JIS code."""

    proposal_id: str
    characters: Mapping[str, str]  # output column -> the characters cp932 cannot hold

    @property
    def message(self) -> str:
        where = "、".join(f"{col}の「{chars}」" for col, chars in self.characters.items())
        return (
            f"{self.proposal_id}: {where}を Shift_JIS（cp932）で表せないため {CP932_NAME} に載せていません"
            f"（{CSV_NAME} には載っています）。"
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
    notices: list[Notice] = field(default_factory=list)
    cp932_omitted: list[Cp932Omission] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)  # stale files of an earlier run
    refreshed: list[Path] = field(default_factory=list)  # the other folders it owns, rewritten too

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "files": [str(p) for p in self.files],
            "count": len(self.rows),
            "fiscal_year": self.fiscal_year,
            "withheld": self.withheld,
            "by_year": {c.label: c.count for c in self.by_year},
            "by_field": {c.label: c.count for c in self.by_field},
            "by_method": {c.label: c.count for c in self.by_method},
            "notices": [n.to_dict() for n in self.notices],
            "cp932_omitted": [o.message for o in self.cp932_omitted],
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
    for part in _LIST_SEPARATORS.split(_text(value)):
        if not part.strip():
            continue
        try:
            item = match_choice(part, choices)
        except ValueProblem:
            item = part.strip()
        if item not in out:
            out.append(item)
    return tuple(out)


def _choice_list(table: Table | None, name: str, default: Sequence[str]) -> tuple[str, ...]:
    """A list from the desk's 選択肢 sheet, else the shipped default."""
    if table is not None and table.has(name):
        values = [normalize_text(r.get(name)) for r in table.rows]
        listed = tuple(dict.fromkeys(v for v in values if v))
        if listed:
            return listed
    return tuple(default)


def _protected(row: Row) -> tuple[set[str], Notice | None]:
    """The columns a row protects, or a notice when アイデア保護 cannot be read (then nothing is published)."""
    raw = row.get(PROTECTION)
    try:
        return set(match_multi_choice(raw, PROTECTABLE)), None
    except ValueProblem as e:
        message = f"{e.reason} 保護する項目が読めないため、この提案は公表しませんでした。"
        return set(), Notice(PROPOSALS, row.number, PROTECTION, _text(raw), message)


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
) -> tuple[list[PublishedRow], int, list[Notice]]:
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
    field_choices = _choice_list(choices, "連携分野", FIELDS)
    method_choices = _choice_list(choices, "連携手法", Method.ALL)
    town_choices = _choice_list(choices, "市町村", MUNICIPALITIES)

    rows: list[PublishedRow] = []
    notices: list[Notice] = []
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
                Notice(PROPOSALS, row.number, SIGNED, "",
                       f"{'・'.join(DATE_SOURCES)}のどれも日付として読めないため、公表しませんでした。")
            )  # fmt: skip
            continue
        pid = normalize_text(row.get(ID))
        proposer = _text(row.get(PROPOSER))
        direction = choice_key(row.get(DIRECTION))
        to_partners = direction == choice_key(Direction.PREFECTURE_TO_PARTNER)

        def is_department(name: str, _to_partners: bool = to_partners) -> bool:
            return name in master if master else not _to_partners

        feasible = [
            normalize_text(r.get(RECIPIENT))
            for r in referrals.get(pid, [])
            if answer_key(r.get(ANSWER)) == Answer.YES and not is_blank(r.get(RECIPIENT))
        ]
        departments = [n for n in dict.fromkeys(feasible) if is_department(n)]
        partners = [proposer] if proposer else []
        if to_partners:
            partners = [n for n in dict.fromkeys(feasible) if not is_department(n)] or partners
            if normalize_text(proposer) and normalize_text(proposer) not in departments:
                departments.insert(0, normalize_text(proposer))
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
    """A text cell that a spreadsheet would run as a formula, made inert with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_cell(value: CellValue) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(neutralise(value))


def _csv_text(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(OUTPUT_COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()


def csv_bytes(rows: Sequence[PublishedRow]) -> bytes:
    """renkei.csv: UTF-8 with BOM, CRLF, ISO dates, formulas neutralised."""
    return _csv_text([[_csv_cell(v) for v in r.cells()] for r in rows]).encode("utf-8-sig")


def cp932_bytes(rows: Sequence[PublishedRow]) -> tuple[bytes, list[Cp932Omission]]:
    """The Shift_JIS copy: rows with characters cp932 cannot hold are left out and listed, never altered."""
    kept: list[list[str]] = []
    omitted: list[Cp932Omission] = []
    for r in rows:
        cells = [_csv_cell(v) for v in r.cells()]
        bad: dict[str, str] = {}
        for column, text in zip(OUTPUT_COLUMNS, cells, strict=True):
            chars = "".join(dict.fromkeys(ch for ch in text if not _cp932_ok(ch)))
            if chars:
                bad[column] = chars
        if bad:
            omitted.append(Cp932Omission(r.proposal_id, bad))
        else:
            kept.append(cells)
    return _csv_text(kept).encode("cp932"), omitted


def _cp932_ok(ch: str) -> bool:
    try:
        ch.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def json_bytes(
    rows: Sequence[PublishedRow], counts: tuple[list[Count], list[Count], list[Count]], meta: Mapping[str, Any]
) -> bytes:
    by_year, by_field, by_method = counts
    document = {
        **meta,
        "columns": list(OUTPUT_COLUMNS),
        "count": len(rows),
        # Lists, not objects: sort_keys would put the labels in code-point order.
        "counts": {
            C_FY: [{"label": c.label, "count": c.count} for c in by_year],
            C_FIELDS: [{"label": c.label, "count": c.count} for c in by_field],
            C_METHOD: [{"label": c.label, "count": c.count} for c in by_method],
        },
        "rows": [r.record() for r in rows],
    }
    return (json.dumps(document, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8")


def xlsx_bytes(rows: Sequence[PublishedRow]) -> bytes:
    cells = [[neutralise(v) for v in r.cells()] for r in rows]
    return workbook_bytes([ExportSheet("連携一覧", OUTPUT_COLUMNS, cells)])


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


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("kouminrenkei_sheets", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


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


def html_text(
    rows: Sequence[PublishedRow],
    counts: tuple[list[Count], list[Count], list[Count]],
    *,
    title: str,
    publisher: str,
    fiscal_year_filter: int | None,
    cp932: bool = False,
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
    template = _environment().get_template("publish.html")
    return template.render(
        title=title,
        publisher=publisher,
        scope=fiscal_year_label(fiscal_year_filter) if fiscal_year_filter is not None else "",
        total=len(rows),
        groups=groups,
        charts=charts,
        protected_label=PROTECTED_LABEL,
        date_sources="、".join(DATE_SOURCES),
        files={"csv": CSV_NAME, "xlsx": XLSX_NAME, "json": JSON_NAME, "cp932": CP932_NAME if cp932 else None},
        separator=MULTI_SEPARATOR,
    )


def publish(
    config: Config,
    store: Store,
    *,
    out: str | Path | None = None,
    fiscal_year: int | None = None,
) -> PublishResult:
    """Write the publication folder; return what was written and what was kept out.

    ``out`` defaults to ``[publish] out`` of the configuration; with ``fiscal_year`` (e.g. 2025) only
    that 年度's rows are published, by default into a sub-folder named by its code (``publish/R7``)
    so the page of every 年度 is not overwritten.
    """
    refs = [SheetRef(PROPOSALS), SheetRef(REFERRALS), SheetRef(DEPARTMENTS), SheetRef(CHOICES)]
    tables = store.read(refs)
    rows, withheld, notices = collect_rows(config, tables)
    if fiscal_year is not None:
        rows = [r for r in rows if r.fiscal_year == fiscal_year]
    if out is not None:
        out_dir = Path(out)
    else:
        out_dir = config.resolve(config.publish.out)
        if fiscal_year is not None:
            out_dir = out_dir / fiscal_year_code(fiscal_year)
    field_order = _choice_list(tables.get(SheetRef(CHOICES)), "連携分野", FIELDS)
    counts = count_rows(rows, field_order)
    title = config.publish.title
    publisher = config.desk.name
    meta = {
        "title": title,
        "publisher": publisher,
        "fiscal_year": fiscal_year,
        "fiscal_year_label": fiscal_year_label(fiscal_year) if fiscal_year is not None else None,
    }

    outputs: dict[str, bytes] = {
        HTML_NAME: html_text(
            rows,
            counts,
            title=title,
            publisher=publisher,
            fiscal_year_filter=fiscal_year,
            cp932=config.publish.cp932,
        ).encode("utf-8"),
        CSV_NAME: csv_bytes(rows),
        XLSX_NAME: xlsx_bytes(rows),
        JSON_NAME: json_bytes(rows, counts, meta),
    }
    omitted: list[Cp932Omission] = []
    if config.publish.cp932:
        outputs[CP932_NAME], omitted = cp932_bytes(rows)
    files = [write_atomic(out_dir / name, data) for name, data in outputs.items()]
    removed: list[Path] = []
    stale = out_dir / CP932_NAME
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
        cp932_omitted=omitted,
        removed=removed,
    )


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
