"""The desk's status report and the change history of one proposal.

``report`` gathers the pipeline, overdue referrals, days to answer and to agreement, per-年度 counts
and what changed since the last report; renderers turn it into text (rich tables), Markdown, xlsx
or JSON. ``history`` lists every recorded change of a proposal and its referrals, oldest first.

Decisions (documented for the desk):

- A referral is overdue when it has no final answer (連携可 / 連携不可) after its 回答期限 (blank:
  照会日 + ``desk.answer_days``). Referrals of proposals that ended (不成立・取下げ・保留) are left out.
- "First answer" is the earliest 回答日 of a referral answered 連携可, 連携不可 or 要協議
  (検討中 is not an answer yet). Negative spans (a date typed before 受付日) are left out.
- 年度 of a proposal is the 年度 of its 受付日 (else of its 提案ID).
- "Since the last report": :func:`mark_reported` stores the time and the number of 変更履歴 rows in
  ``<report.out>/.last_report.json``. The command line calls it only after the report was written,
  so a failed write does not swallow changes. Without a mark, every change is listed.
- 交流: meetings per 年度 (of 開催日) and form, and each proposal a meeting's 成果 names with its
  status now — how the proposals that came from meetings ended.
- The xlsx holds real dates and numbers, one short-named tab per table, native charts of the pipeline,
  overdue referrals per department, proposals per 年度 and days to decision; ``--format html`` draws
  the same charts as SVG, each followed by its table.
- The report is for the desk, so protected fields appear; e-mail addresses, phone numbers and the
  values of personal columns (担当者, メール, 電話, 先方担当者 …) never do, not even in the history.
"""

from __future__ import annotations

import io
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table as RichTable

from . import clock
from .config import Config
from .errors import StoreError, UsageError
from .files import write_file
from .pages import template_environment
from .schema import (
    CHOICES,
    EXCHANGE_FORMS,
    EXCHANGE_SHEET,
    EXCHANGES,
    FIELDS,
    HISTORY,
    HISTORY_SHEET,
    PROPOSAL_SHEET,
    PROPOSALS,
    PROPOSER_TYPES,
    REFERRAL_SHEET,
    REFERRALS,
    SHEETS,
    Answer,
    HistoryKind,
    Method,
    Status,
    column_name,
)
from .store.base import CellValue, Row, SheetRef, Store, Table
from .store.export import ExportChart, ExportSheet, write_xlsx
from .values import (
    ValueProblem,
    date_or_none,
    fiscal_year,
    fiscal_year_label,
    format_date,
    id_key,
    is_blank,
    match_choice,
    match_multi_choice,
    normalize_text,
    parse_date,
    parse_proposal_id,
    parse_referral_id,
    referral_id,
    split_list,
    to_wareki,
)
from .values import proposal_id as make_proposal_id
from .workflow import (
    answer_key,
    choice_key,
    choice_list,
    days_overdue,
    due_date,
    protected_columns,
    waits_for_answer,
)

FORMATS = ("text", "md", "xlsx", "json", "html")
STATE_NAME = ".last_report.json"
HIDDEN = "（個人情報のため表示しません）"
TEXT_CHANGE_LIMIT = 50  # changes shown in the terminal and Markdown; json and xlsx have all


P_ID = column_name(PROPOSAL_SHEET, "提案ID")
P_RECEIVED = column_name(PROPOSAL_SHEET, "受付日")
P_KIND = column_name(PROPOSAL_SHEET, "提案者区分")
P_TITLE = column_name(PROPOSAL_SHEET, "件名")
P_FIELDS = column_name(PROPOSAL_SHEET, "連携分野")
P_METHOD = column_name(PROPOSAL_SHEET, "連携手法")
P_STATUS = column_name(PROPOSAL_SHEET, "ステータス")
P_PROTECTION = column_name(PROPOSAL_SHEET, "アイデア保護")
P_SIGNED = column_name(PROPOSAL_SHEET, "協定締結日")
R_ID = column_name(REFERRAL_SHEET, "照会ID")
R_PROPOSAL = column_name(REFERRAL_SHEET, "提案ID")
R_RECIPIENT = column_name(REFERRAL_SHEET, "照会先")
R_SENT = column_name(REFERRAL_SHEET, "照会日")
R_DUE = column_name(REFERRAL_SHEET, "回答期限")
R_ANSWER = column_name(REFERRAL_SHEET, "回答")
R_ANSWERED = column_name(REFERRAL_SHEET, "回答日")
H_TIME = column_name(HISTORY_SHEET, "日時")
H_ACTOR = column_name(HISTORY_SHEET, "実行者")
H_SHEET = column_name(HISTORY_SHEET, "シート")
H_KEY = column_name(HISTORY_SHEET, "キー")
H_COLUMN = column_name(HISTORY_SHEET, "列")
H_OLD = column_name(HISTORY_SHEET, "旧値")
H_NEW = column_name(HISTORY_SHEET, "新値")
H_KIND = column_name(HISTORY_SHEET, "種別")
X_ID = column_name(EXCHANGE_SHEET, "交流ID")
X_HELD = column_name(EXCHANGE_SHEET, "開催日")
X_NAME = column_name(EXCHANGE_SHEET, "名称")
X_FORM = column_name(EXCHANGE_SHEET, "形式")
X_RESULTS = column_name(EXCHANGE_SHEET, "成果")

# Answers that count as the department's reply when measuring days to the first answer.
REPLIES = (Answer.YES, Answer.NO, Answer.DISCUSS)
PERSONAL_COLUMNS = frozenset(c.name for s in SHEETS.values() for c in s.columns if c.personal)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\d)(?:\+81[-\s]?|0)\d{1,4}[-(（\s]\d{1,4}[-)）\s]\d{3,4}(?!\d)")
_BLANK = "（空欄）"


# ---------------------------------------------------------------- result objects
@dataclass(frozen=True)
class StatusCount:
    status: str
    count: int


@dataclass(frozen=True)
class OverdueReferral:
    referral_id: str
    proposal_id: str
    title: str  # the proposal's 件名 (the report is the desk's own)
    department: str
    referred_on: date | None
    due: date
    days_overdue: int
    answer: str


@dataclass(frozen=True)
class DepartmentOverdue:
    department: str
    referrals: tuple[OverdueReferral, ...]

    @property
    def count(self) -> int:
        return len(self.referrals)

    @property
    def max_days(self) -> int:
        return max(r.days_overdue for r in self.referrals)


@dataclass(frozen=True)
class Median:
    label: str
    days: float | None  # None when nothing was measured
    count: int


@dataclass(frozen=True)
class Tally:
    label: str
    count: int


@dataclass(frozen=True)
class YearStats:
    fiscal_year: int
    total: int
    by_method: tuple[Tally, ...]
    by_field: tuple[Tally, ...]
    by_proposer_type: tuple[Tally, ...]

    @property
    def label(self) -> str:
        return fiscal_year_label(self.fiscal_year)


@dataclass(frozen=True)
class ExchangeOutcome:
    """A proposal that a 交流's 成果 names, and where it stands now."""

    exchange_id: str
    held: date | None
    name: str
    proposal_id: str
    title: str
    status: str  # the proposal's ステータス now; （台帳にない提案） when 提案 has no such ID


@dataclass(frozen=True)
class HistoryEntry:
    """One 変更履歴 row as shown to the desk (personal values hidden)."""

    row: int  # row in 変更履歴
    time: datetime | None
    time_text: str  # as written, when it is not a readable date-time
    actor: str
    sheet: str
    key: str
    column: str
    old: str
    new: str
    kind: str

    @property
    def when(self) -> str:
        return self.time.strftime("%Y-%m-%d %H:%M") if self.time else self.time_text

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "time": self.time.isoformat() if self.time else None,
            "time_text": self.time_text,
            "actor": self.actor,
            "sheet": self.sheet,
            "key": self.key,
            "column": self.column,
            "old": self.old,
            "new": self.new,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class ReportTable:
    """A titled table, the form every renderer (text, Markdown, xlsx, HTML) draws from.

    Cells hold real values (dates, datetimes, numbers); renderers format them. ``sheet`` is the short
    tab name in the xlsx; with ``chart`` the table is also drawn as a bar chart of its ``chart_values``
    column against its first column."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[CellValue, ...], ...]
    note: str = ""
    sheet: str = ""
    chart: str = ""
    chart_values: int = 2  # 1-based column of the numbers the chart draws


@dataclass
class DeskReport:
    """Everything the desk's status report says, as data."""

    as_of: date
    generated_at: datetime
    since: datetime | None  # the last report's time; None = no earlier report
    pipeline: list[StatusCount]
    overdue: list[DepartmentOverdue]
    to_first_answer: Median
    to_agreement: Median
    years: list[YearStats]
    changes: list[HistoryEntry]
    history_rows: int  # rows in 変更履歴 when the report was made
    notices: list[str] = field(default_factory=list)
    exchanges_by_year: list[tuple[int, tuple[Tally, ...]]] = field(default_factory=list)  # (年度, per 形式)
    exchange_outcomes: list[ExchangeOutcome] = field(default_factory=list)

    @property
    def overdue_count(self) -> int:
        return sum(d.count for d in self.overdue)

    def to_dict(self) -> dict[str, Any]:
        def tallies(items: Iterable[Tally]) -> list[dict[str, Any]]:
            return [{"label": t.label, "count": t.count} for t in items]

        return {
            "as_of": self.as_of.isoformat(),
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "since": self.since.isoformat(timespec="seconds") if self.since else None,
            "pipeline": [{"status": s.status, "count": s.count} for s in self.pipeline],
            "overdue": [
                {
                    "department": d.department,
                    "count": d.count,
                    "max_days": d.max_days,
                    "referrals": [
                        {
                            "referral_id": r.referral_id,
                            "proposal_id": r.proposal_id,
                            "title": r.title,
                            "referred_on": r.referred_on.isoformat() if r.referred_on else None,
                            "due": r.due.isoformat(),
                            "days_overdue": r.days_overdue,
                            "answer": r.answer,
                        }
                        for r in d.referrals
                    ],
                }
                for d in self.overdue
            ],
            "medians": [
                {"label": m.label, "days": m.days, "count": m.count} for m in (self.to_first_answer, self.to_agreement)
            ],
            "years": [
                {
                    "fiscal_year": y.fiscal_year,
                    "label": y.label,
                    "total": y.total,
                    "by_method": tallies(y.by_method),
                    "by_field": tallies(y.by_field),
                    "by_proposer_type": tallies(y.by_proposer_type),
                }
                for y in self.years
            ],
            "changes": [c.to_dict() for c in self.changes],
            "exchanges": [
                {
                    "fiscal_year": fy,
                    "label": fiscal_year_label(fy),
                    "total": sum(t.count for t in forms),
                    "by_form": tallies(forms),
                }
                for fy, forms in self.exchanges_by_year
            ],
            "exchange_outcomes": [
                {
                    "exchange_id": o.exchange_id,
                    "held": o.held.isoformat() if o.held else None,
                    "name": o.name,
                    "proposal_id": o.proposal_id,
                    "title": o.title,
                    "status": o.status,
                }
                for o in self.exchange_outcomes
            ],
            "history_rows": self.history_rows,
            "notices": list(self.notices),
        }

    def tables(self, *, change_limit: int | None = None) -> list[ReportTable]:
        """The report as titled tables (the order the desk reads them)."""
        return [
            *self._status_tables(),
            *self._year_tables(),
            *self._exchange_tables(),
            self._change_table(change_limit),
        ]

    def _status_tables(self) -> list[ReportTable]:
        out = [
            ReportTable(
                "ステータス別の件数",
                ("ステータス", "件数"),
                tuple((s.status, s.count) for s in self.pipeline),
                note=f"合計 {sum(s.count for s in self.pipeline)} 件",
                sheet="ステータス別",
                chart="ステータス別の提案件数",
            ),
            ReportTable(
                "回答期限を過ぎた照会（担当課別）",
                ("担当課", "件数", "最長超過日数"),
                tuple((d.department, d.count, d.max_days) for d in self.overdue),
                note="期限を過ぎた照会はありません。" if not self.overdue else "",
                sheet="期限超過（課別）",
                chart="回答期限を過ぎた照会（担当課別）",
            ),
        ]
        if self.overdue:
            out.append(
                ReportTable(
                    "回答期限を過ぎた照会（一覧）",
                    ("担当課", "照会ID", "提案ID", "件名", "照会日", "回答期限", "超過日数", "回答"),
                    tuple(
                        (
                            r.department,
                            r.referral_id,
                            r.proposal_id,
                            r.title,
                            r.referred_on,
                            r.due,
                            r.days_overdue,
                            r.answer,
                        )
                        for d in self.overdue
                        for r in d.referrals
                    ),
                    sheet="期限超過（一覧）",
                )
            )
        return out

    def _year_tables(self) -> list[ReportTable]:
        out: list[ReportTable] = []
        out.append(
            ReportTable(
                "処理日数の中央値",
                ("区間", "中央値（日）", "件数"),
                tuple(
                    (m.label, "—" if m.days is None else _days(m.days), m.count)
                    for m in (self.to_first_answer, self.to_agreement)
                ),
                sheet="処理日数",
                chart="受付から回答・協定締結までの日数（中央値）",
            )
        )
        out.append(
            ReportTable(
                "年度別の提案件数",
                ("年度", "件数"),
                tuple((y.label, y.total) for y in self.years),
                sheet="年度別",
                chart="年度別の提案件数",
            )
        )
        for title, attr, header, sheet in (
            ("年度別の件数（連携手法）", "by_method", "連携手法", "年度別（手法）"),
            ("年度別の件数（連携分野）", "by_field", "連携分野", "年度別（分野）"),
            ("年度別の件数（提案者区分）", "by_proposer_type", "提案者区分", "年度別（区分）"),
        ):
            out.append(
                ReportTable(
                    title,
                    ("年度", header, "件数"),
                    tuple((y.label, t.label, t.count) for y in self.years for t in getattr(y, attr)),
                    note="連携分野は一つの提案が複数に数えられます。" if attr == "by_field" else "",
                    sheet=sheet,
                )
            )
        return out

    def _exchange_tables(self) -> list[ReportTable]:
        out: list[ReportTable] = []
        if not (self.exchanges_by_year or self.exchange_outcomes):
            return out
        out.append(
            ReportTable(
                "交流（意見交換会・フォーラム等）の年度別件数",
                ("年度", "形式", "件数"),
                tuple((fiscal_year_label(fy), t.label, t.count) for fy, forms in self.exchanges_by_year for t in forms),
                note=f"合計 {sum(t.count for _, forms in self.exchanges_by_year for t in forms)} 回",
                sheet="交流（年度別）",
            )
        )
        ended = Counter(o.status for o in self.exchange_outcomes)
        out.append(
            ReportTable(
                "交流から生まれた提案とその結果",
                ("交流ID", "開催日", "名称", "提案ID", "件名", "ステータス"),
                tuple(
                    (o.exchange_id, o.held, o.name, o.proposal_id, o.title, o.status) for o in self.exchange_outcomes
                ),
                note="、".join(f"{k} {v} 件" for k, v in sorted(ended.items(), key=lambda kv: _status_order(kv[0])))
                or "交流の成果に挙げた提案はありません。",
                sheet="交流の成果",
            )
        )
        return out

    def _change_table(self, change_limit: int | None) -> ReportTable:
        since = f"（{self.since:%Y-%m-%d %H:%M} 以降）" if self.since else "（前回の報告の記録がないため、すべて）"
        changes = self.changes
        note = f"{len(changes)} 件"
        if change_limit is not None and len(changes) > change_limit:
            note = f"{len(changes)} 件のうち新しい {change_limit} 件（すべては --format json か xlsx で）"
            changes = changes[-change_limit:]
        return ReportTable(
            f"前回の報告からの変更{since}",
            ("日時", "実行者", "シート", "キー", "列", "旧値", "新値", "種別"),
            tuple((c.time or c.time_text, c.actor, c.sheet, c.key, c.column, c.old, c.new, c.kind) for c in changes),
            note=note,
            sheet="変更履歴",
        )


def _status_order(status: str) -> int:
    return Status.ALL.index(status) if status in Status.ALL else len(Status.ALL)


def _days(value: float) -> int | float:
    """A median in days as a number: whole days as int, else one decimal."""
    return int(value) if float(value).is_integer() else round(value, 1)


# ---------------------------------------------------------------- reading helpers
def _parse_datetime(value: CellValue) -> datetime | None:
    """A 変更履歴 time: a datetime cell, ISO text, 2025/4/1 9:30(:00), or a bare date (midnight)."""
    if isinstance(value, datetime):
        return value.astimezone().replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime.combine(value, datetime.min.time())
    if not isinstance(value, str) or is_blank(value):
        return None
    text = normalize_text(value)
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.astimezone().replace(tzinfo=None) if parsed.tzinfo else parsed
    except ValueError:
        pass
    for fmt in ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return datetime.combine(parse_date(text), datetime.min.time())
    except ValueProblem:
        return None


def mask(column: str, value: CellValue) -> str:
    """A value as the desk's report may show it: personal columns hidden, e-mails and phones blanked."""
    text = "" if value is None else (value if isinstance(value, str) else normalize_text(value))
    if not text:
        return ""
    if normalize_text(column) in PERSONAL_COLUMNS:
        return HIDDEN
    text = _EMAIL.sub("（メールアドレス）", text)
    return _PHONE.sub("（電話番号）", text)


def _history_entries(table: Table | None) -> list[HistoryEntry]:
    """Every 変更履歴 row, oldest first; a row whose time cannot be read keeps its place in the sheet."""
    if table is None:
        return []
    entries: list[HistoryEntry] = []
    last: datetime | None = None
    keyed: list[tuple[datetime, int, HistoryEntry]] = []
    for row in table.rows:
        when = _parse_datetime(row.get(H_TIME))
        column = normalize_text(row.get(H_COLUMN))
        entry = HistoryEntry(
            row=row.number,
            time=when,
            time_text="" if when else normalize_text(row.get(H_TIME)),
            actor=normalize_text(row.get(H_ACTOR)),
            sheet=normalize_text(row.get(H_SHEET)),
            key=normalize_text(row.get(H_KEY)),
            column=column,
            old=mask(column, row.get(H_OLD)),
            new=mask(column, row.get(H_NEW)),
            kind=HistoryKind.label(normalize_text(row.get(H_KIND))),
        )
        last = when or last
        keyed.append((last or datetime.min, row.number, entry))
    keyed.sort(key=lambda k: (k[0], k[1]))
    entries = [e for _, _, e in keyed]
    return entries


def _canonical(value: CellValue, choices: Sequence[str]) -> str:
    if is_blank(value):
        return _BLANK
    try:
        return match_choice(value, choices)
    except ValueProblem:
        return normalize_text(value)


def _tallies(counter: Counter[str], order: Sequence[str]) -> tuple[Tally, ...]:
    known = [Tally(k, counter[k]) for k in order if counter[k]]
    rest = [Tally(k, counter[k]) for k in sorted(counter) if k not in order]
    return tuple(known + rest)


# ---------------------------------------------------------------- the report
def state_path(config: Config) -> Path:
    """Where the time of the last report is kept."""
    return config.resolve(config.report.out) / STATE_NAME


def _last_mark(config: Config) -> tuple[datetime | None, int]:
    path = state_path(config)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return datetime.fromisoformat(data["generated_at"]), int(data.get("history_rows", 0))
    except (OSError, ValueError, KeyError, TypeError):
        return None, 0


def mark_reported(config: Config, rep: DeskReport) -> Path:
    """Remember that ``rep`` was delivered: the next report lists only changes made after it."""
    data = {"generated_at": rep.generated_at.isoformat(timespec="seconds"), "history_rows": rep.history_rows}
    text = json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n"
    return write_file(state_path(config), text.encode("utf-8"))


def report(
    config: Config,
    store: Store,
    *,
    today: date | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
) -> DeskReport:
    """The desk's status report as of ``today``.

    ``since`` overrides the time of the last report (see :func:`mark_reported`); ``now`` is the time
    recorded as this report's (default: the clock).
    """
    today = today or clock.today(config)
    generated_at = (now or clock.now(config)).replace(microsecond=0)
    refs = [SheetRef(PROPOSALS), SheetRef(REFERRALS), SheetRef(HISTORY), SheetRef(CHOICES), SheetRef(EXCHANGES)]
    tables = store.read(refs)
    proposals = tables[SheetRef(PROPOSALS)]
    if proposals is None:
        raise StoreError(f"台帳にシート「{PROPOSALS}」がありません。")
    referrals = tables[SheetRef(REFERRALS)]
    choices = tables[SheetRef(CHOICES)]
    notices: list[str] = []

    statuses = Counter(choice_key(r.get(P_STATUS)) or _BLANK for r in proposals.rows)
    pipeline = [StatusCount(s, statuses[s]) for s in Status.ALL] + [
        StatusCount(s, statuses[s]) for s in sorted(statuses) if s not in Status.ALL
    ]
    # keyed by the one ID rule (values.id_key): "r7-0001" in 照会 is the proposal "R7-0001"
    by_id: dict[str, Row] = {}
    for r in proposals.rows:
        by_id.setdefault(id_key(r.get(P_ID)), r)
    referral_rows = referrals.rows if referrals is not None else []
    to_answer, to_agreement = _durations(referral_rows, by_id)
    exchanges_by_year, outcomes = _exchanges(tables.get(SheetRef(EXCHANGES)), by_id, choices, notices)
    history = tables[SheetRef(HISTORY)]
    since, changes = _changes_since(config, history, since)
    return DeskReport(
        as_of=today,
        generated_at=generated_at,
        since=since,
        pipeline=pipeline,
        overdue=_overdue(config, referral_rows, by_id, today, notices),
        to_first_answer=_median("受付から最初の回答まで", to_answer),
        to_agreement=_median("受付から協定締結まで", to_agreement),
        years=_years(proposals, choices, notices),
        changes=changes,
        history_rows=len(history.rows) if history is not None else 0,
        notices=notices,
        exchanges_by_year=exchanges_by_year,
        exchange_outcomes=outcomes,
    )


def _overdue(
    config: Config, referral_rows: Sequence[Row], by_id: Mapping[str, Row], today: date, notices: list[str]
) -> list[DepartmentOverdue]:
    """Referrals past their due date, by department (most and longest overdue first)."""
    overdue: dict[str, list[OverdueReferral]] = {}
    for r in referral_rows:
        pid = normalize_text(r.get(R_PROPOSAL))
        proposal = by_id.get(id_key(pid))
        status = proposal.get(P_STATUS) if proposal is not None else None
        if not waits_for_answer(r.get(R_ANSWER), status):
            continue
        sent = date_or_none(r.get(R_SENT))
        due = due_date(date_or_none(r.get(R_DUE)), is_blank(r.get(R_DUE)), sent, config.desk.answer_days)
        if due is None:
            notices.append(
                f"{REFERRALS} {r.number}行目（{normalize_text(r.get(R_ID))}）: "
                "照会日も回答期限も日付として読めないため、期限超過を判定できません。"
            )
            continue
        days = days_overdue(r.get(R_ANSWER), status, due, today)
        if days is None:
            continue
        department = normalize_text(r.get(R_RECIPIENT)) or _BLANK
        title = ""
        if proposal is not None:
            protected = protected_columns(proposal.get(P_PROTECTION))  # fails closed, like every job
            title = "（アイデア保護）" if P_TITLE in protected else normalize_text(proposal.get(P_TITLE))
        overdue.setdefault(department, []).append(
            OverdueReferral(
                referral_id=normalize_text(r.get(R_ID)),
                proposal_id=pid,
                title=title,
                department=department,
                referred_on=sent,
                due=due,
                days_overdue=days,
                answer=answer_key(r.get(R_ANSWER)),
            )
        )
    overdue_list = [
        DepartmentOverdue(d, tuple(sorted(items, key=lambda o: (-o.days_overdue, o.referral_id))))
        for d, items in overdue.items()
    ]
    overdue_list.sort(key=lambda d: (-d.count, -d.max_days, d.department))
    return overdue_list


def _durations(referral_rows: Sequence[Row], by_id: Mapping[str, Row]) -> tuple[list[int], list[int]]:
    """Days from 受付日 to the first answer, and to 協定締結日, of every proposal that has them."""
    first_answer: dict[str, date] = {}
    for r in referral_rows:
        if answer_key(r.get(R_ANSWER)) not in REPLIES:
            continue
        answered = date_or_none(r.get(R_ANSWERED))
        pid = id_key(r.get(R_PROPOSAL))
        if answered is not None and (pid not in first_answer or answered < first_answer[pid]):
            first_answer[pid] = answered
    to_answer: list[int] = []
    to_agreement: list[int] = []
    for pid, row in by_id.items():
        received = date_or_none(row.get(P_RECEIVED))
        if received is None:
            continue
        if pid in first_answer and (first_answer[pid] - received).days >= 0:
            to_answer.append((first_answer[pid] - received).days)
        signed = date_or_none(row.get(P_SIGNED))
        if signed is not None and (signed - received).days >= 0:
            to_agreement.append((signed - received).days)
    return to_answer, to_agreement


def _years(proposals: Table, choices: Table | None, notices: list[str]) -> list[YearStats]:
    """Per-年度 counts of proposals by 連携手法, 連携分野 and 提案者区分, on the analysts' DataFrame
    (frames.proposal_frame: the same 年度 and choice rules a notebook sees)."""
    from .frames import FISCAL_YEAR, counts_by_year, proposal_frame

    field_choices = choice_list(choices, "連携分野", FIELDS)
    method_choices = choice_list(choices, "連携手法", Method.ALL)
    kind_choices = choice_list(choices, "提案者区分", PROPOSER_TYPES)
    frame = proposal_frame(proposals, choices)
    for number in frame.loc[frame[FISCAL_YEAR].isna(), "行"]:
        notices.append(f"{PROPOSALS} {number}行目: 受付日も提案IDも読めないため、年度別の件数に数えていません。")
    totals = frame[FISCAL_YEAR].dropna().value_counts()
    methods = counts_by_year(frame, P_METHOD, blank=_BLANK)
    kinds = counts_by_year(frame, P_KIND, blank=_BLANK)
    fields = counts_by_year(frame, P_FIELDS, blank=_BLANK, items=lambda v: _fields(v, field_choices))
    return [
        YearStats(
            fiscal_year=fy,
            total=int(totals[fy]),
            by_method=_tallies(methods.get(fy, Counter()), method_choices),
            by_field=_tallies(fields.get(fy, Counter()), field_choices),
            by_proposer_type=_tallies(kinds.get(fy, Counter()), kind_choices),
        )
        for fy in sorted(int(y) for y in totals.index)
    ]


def _changes_since(
    config: Config, history: Table | None, since: datetime | None
) -> tuple[datetime | None, list[HistoryEntry]]:
    """The time of the last report (or ``since``) and the 変更履歴 entries made after it."""
    entries = _history_entries(history)
    mark_time, mark_rows = _last_mark(config)
    if since is None:
        since = mark_time
    if since is None:
        return since, entries
    return since, [
        e
        for e in entries
        if (e.time is not None and e.time > since) or (e.time is None and _position(history, e.row) >= mark_rows)
    ]


def _exchanges(
    table: Table | None, proposals: dict[str, Row], choices: Table | None, notices: list[str]
) -> tuple[list[tuple[int, tuple[Tally, ...]]], list[ExchangeOutcome]]:
    """交流 per 年度 and 形式, and the proposals their 成果 name with each one's status now."""
    if table is None:
        return [], []
    forms = choice_list(choices, "交流形式", EXCHANGE_FORMS)
    per_year: dict[int, Counter[str]] = {}
    outcomes: list[ExchangeOutcome] = []
    for row in table.rows:
        held = date_or_none(row.get(X_HELD))
        if held is None:
            notices.append(f"{EXCHANGES} {row.number}行目: 開催日が読めないため、年度別の件数に数えていません。")
        else:
            per_year.setdefault(fiscal_year(held), Counter())[_canonical(row.get(X_FORM), forms)] += 1
        for pid in split_list(row.get(X_RESULTS)):
            proposal = proposals.get(id_key(pid))
            outcomes.append(
                ExchangeOutcome(
                    exchange_id=normalize_text(row.get(X_ID)),
                    held=held,
                    name=normalize_text(row.get(X_NAME)),
                    proposal_id=pid,
                    title=normalize_text(proposal.get(P_TITLE)) if proposal is not None else "",
                    status=(choice_key(proposal.get(P_STATUS)) or _BLANK)
                    if proposal is not None
                    else "（台帳にない提案）",
                )
            )
    outcomes.sort(key=lambda o: (o.held or date.min, o.exchange_id, o.proposal_id))
    return [(fy, _tallies(per_year[fy], forms)) for fy in sorted(per_year)], outcomes


def _position(table: Table | None, row_number: int) -> int:
    """0-based position of a sheet row among the table's data rows."""
    if table is None:
        return 0
    for i, row in enumerate(table.rows):
        if row.number == row_number:
            return i
    return 0


def _fields(value: CellValue, choices: Sequence[str]) -> list[str]:
    try:
        return match_multi_choice(value, choices)
    except ValueProblem:
        return [normalize_text(part) for part in re.split(r"[、,;/\r\n]+", str(value)) if normalize_text(part)]


def _median(label: str, values: Sequence[int]) -> Median:
    return Median(label, float(statistics.median(values)) if values else None, len(values))


# ---------------------------------------------------------------- history of one proposal
def history(config: Config, store: Store, proposal_id: str) -> list[HistoryEntry]:
    """Every 変更履歴 row of a proposal and its referrals (キー = 提案ID or one of its 照会ID), oldest first.

    Given a 照会ID (R7-0001-01), only that referral's rows.
    """
    refs = [SheetRef(PROPOSALS), SheetRef(REFERRALS), SheetRef(HISTORY)]
    tables = store.read(refs)
    proposals = tables[SheetRef(PROPOSALS)]
    known = set(proposals.by_key(P_ID)) if proposals is not None else set()
    try:
        parent, branch_number = parse_referral_id(proposal_id)
    except ValueProblem:
        pass
    else:
        rid = referral_id(parent, branch_number)
        referral_rows = tables[SheetRef(REFERRALS)]
        known_referrals = {normalize_text(r.get(R_ID)).upper() for r in (referral_rows.rows if referral_rows else [])}
        only = [e for e in _history_entries(tables[SheetRef(HISTORY)]) if e.key.upper() == rid]
        if not only and rid not in known_referrals:
            raise UsageError(f"照会ID「{rid}」は台帳の「{REFERRALS}」シートにも変更履歴にもありません。")
        return only
    try:
        pid = make_proposal_id(*parse_proposal_id(proposal_id))
    except ValueProblem as e:
        pid = normalize_text(proposal_id)
        if pid not in known:
            raise UsageError(f"「{proposal_id}」は提案IDとして読めません: {e}") from None
    referrals = tables[SheetRef(REFERRALS)]
    referral_ids = {
        normalize_text(r.get(R_ID)).upper()
        for r in (referrals.rows if referrals is not None else [])
        if normalize_text(r.get(R_PROPOSAL)).upper() == pid.upper()
    }
    branch = re.compile(re.escape(pid.upper()) + r"-\d{2,}")
    entries = [
        e
        for e in _history_entries(tables[SheetRef(HISTORY)])
        if e.key.upper() == pid.upper() or e.key.upper() in referral_ids or branch.fullmatch(e.key.upper())
    ]
    if not entries and pid not in known:
        raise UsageError(f"提案ID「{pid}」は台帳の「{PROPOSALS}」シートにも変更履歴にもありません。")
    return entries


# ---------------------------------------------------------------- renderers
def _cell(value: CellValue) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return format_date(value)
    return str(value)


_NUMERIC = ("件数", "超過日数", "最長超過日数", "中央値（日）")


def _rich_table(t: ReportTable) -> RichTable:
    table = RichTable(title=t.title, box=box.SQUARE, title_justify="left")
    for h in t.headers:
        table.add_column(h, justify="right" if h in _NUMERIC else "left", overflow="fold")
    for row in t.rows:
        table.add_row(*(_cell(v) for v in row))
    return table


def _heading(rep: DeskReport) -> str:
    return f"公民連携デスク 状況報告（{to_wareki(rep.as_of)}現在）"


def render_text(rep: DeskReport, *, width: int = 110) -> str:
    """The report as terminal text with tables (no colour codes, so it can be saved or mailed)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, highlight=False)
    console.print(_heading(rep))
    console.print(f"作成: {rep.generated_at:%Y-%m-%d %H:%M}")
    for t in rep.tables(change_limit=TEXT_CHANGE_LIMIT):
        console.print()
        _print_table(console, t)
    for n in rep.notices:
        console.print(f"注意: {n}")
    return _strip_lines(buffer.getvalue())


def _print_table(console: Console, t: ReportTable) -> None:
    if t.rows:
        console.print(_rich_table(t))
    else:
        console.print(t.title)
    if t.note:
        console.print(t.note)


def _strip_lines(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


_MD_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
_MD_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+!|~])")
_MD_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def markdown_text(value: CellValue) -> str:
    """Any text (a partner's, a department's) as literal Markdown: HTML characters become entities
    (no tag, no ``onerror=`` survives), link, emphasis and table punctuation is backslash-escaped
    (``[x](javascript:…)`` stays text), control characters and bidirectional overrides go, and a
    line break is the only markup it makes (``<br>``, so a table row stays one line)."""
    text = _MD_CONTROL.sub("", _cell(value)).translate(_MD_ENTITIES)
    text = _MD_PUNCTUATION.sub(r"\\\1", text)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def render_markdown(rep: DeskReport) -> str:
    lines = [f"# {markdown_text(_heading(rep))}", "", f"作成: {rep.generated_at:%Y-%m-%d %H:%M}", ""]
    for t in rep.tables(change_limit=TEXT_CHANGE_LIMIT):
        lines += [f"## {markdown_text(t.title)}", ""]
        if t.rows:
            lines.append("| " + " | ".join(markdown_text(h) for h in t.headers) + " |")
            lines.append(
                "|" + "|".join("---:" if h in ("件数", "超過日数", "最長超過日数") else "---" for h in t.headers) + "|"
            )
            lines += ["| " + " | ".join(markdown_text(v) for v in row) + " |" for row in t.rows]
            lines.append("")
        if t.note:
            lines += [markdown_text(t.note), ""]
    if rep.notices:
        lines += ["## 注意", "", *(f"- {markdown_text(n)}" for n in rep.notices), ""]
    return "\n".join(lines)


def _svg_chart(t: ReportTable) -> dict[str, Any] | None:
    """Bars for an HTML chart: label, value and width in a 420-unit track, 28 units apart."""
    values: list[tuple[str, float]] = []
    for row in t.rows:
        v = row[t.chart_values - 1]
        if isinstance(v, int | float) and not isinstance(v, bool):
            values.append((_cell(row[0]), float(v)))
    if not t.chart or not values:
        return None
    top = max(v for _, v in values) or 1.0
    bars = [
        {"label": label, "value": _cell(_days(v)), "y": 8 + 28 * i, "width": max(2, round(420 * v / top)) if v else 0}
        for i, (label, v) in enumerate(values)
    ]
    return {"title": t.chart, "bars": bars, "height": 16 + 28 * len(bars)}


def render_html(rep: DeskReport) -> str:
    """The report as one self-contained page for the desk: each chart as an accessible SVG, then its table."""
    env = template_environment()
    tables = [
        {
            "title": t.title,
            "headers": t.headers,
            "rows": [[{"text": _cell(v), "num": isinstance(v, int | float)} for v in row] for row in t.rows],
            "note": t.note,
            "chart": _svg_chart(t),
        }
        for t in rep.tables(change_limit=TEXT_CHANGE_LIMIT)
    ]
    return env.get_template("report.html").render(
        heading=_heading(rep),
        generated_iso=rep.generated_at.isoformat(timespec="minutes"),
        generated=f"{rep.generated_at:%Y-%m-%d %H:%M}",
        tables=tables,
        notices=rep.notices,
    )


def render_json(rep: DeskReport) -> str:
    return json.dumps(rep.to_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def report_sheets(rep: DeskReport) -> list[ExportSheet]:
    """The report as workbook tabs: one per table (every change, not only the latest), real dates and
    numbers, and a native bar chart beside each table that has one."""
    sheets = []
    for t in rep.tables():
        charts = [
            ExportChart(t.chart, 1, [t.chart_values], x_title=t.headers[0], y_title=t.headers[t.chart_values - 1])
        ]
        sheets.append(
            ExportSheet(t.sheet or t.title, t.headers, [list(r) for r in t.rows], charts=charts if t.chart else ())
        )
    return sheets


def write_report_xlsx(rep: DeskReport, path: str | Path) -> Path:
    """The report as a workbook (see :func:`report_sheets`), written atomically."""
    return write_xlsx(path, report_sheets(rep))


def write_report(rep: DeskReport, fmt: str, path: str | Path) -> Path:
    """Write the report in one of FORMATS to ``path`` atomically."""
    if fmt == "xlsx":
        return write_report_xlsx(rep, path)
    renderers = {"text": render_text, "md": render_markdown, "json": render_json, "html": render_html}
    if fmt not in renderers:
        raise UsageError(f"形式「{fmt}」は使えません（{'・'.join(FORMATS)}）。")
    return write_file(path, renderers[fmt](rep).encode("utf-8"))


def default_report_path(config: Config, rep: DeskReport, fmt: str) -> Path:
    suffix = {"text": "txt", "md": "md", "xlsx": "xlsx", "json": "json", "html": "html"}[fmt]
    return config.resolve(config.report.out) / f"report-{rep.as_of:%Y%m%d}.{suffix}"


HISTORY_TABLE_MIN_WIDTH = 120  # narrower terminals get one block per change: 8 columns would cut words


def render_history_text(entries: Sequence[HistoryEntry], proposal: str, *, width: int = 110) -> str:
    if width < HISTORY_TABLE_MIN_WIDTH:
        return _render_history_blocks(entries, proposal)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, highlight=False)
    t = ReportTable(
        f"{proposal} の変更履歴（古い順）",
        ("日時", "実行者", "シート", "キー", "列", "旧値", "新値", "種別"),
        tuple((e.when, e.actor, e.sheet, e.key, e.column, e.old, e.new, e.kind) for e in entries),
        note=f"{len(entries)} 件" if entries else "記録された変更はありません。",
    )
    _print_table(console, t)
    return _strip_lines(buffer.getvalue())


def _render_history_blocks(entries: Sequence[HistoryEntry], proposal: str) -> str:
    """The history for a narrow terminal: the when, what and where of each change on its first line,
    the values on the next, the sheet and who on the third; nothing is cut in the middle of a word."""
    lines = [f"{proposal} の変更履歴（古い順）"]
    for e in entries:
        lines.append("")
        lines.append(f"{_cell(e.when)}  ［{e.kind or '種別なし'}］  {e.key}  {e.column}")
        lines.append(f"    「{_cell(e.old)}」→「{_cell(e.new)}」")
        lines.append(f"    {e.sheet}　実行者 {e.actor or '（不明）'}")
    lines.append("")
    lines.append(f"{len(entries)} 件" if entries else "記録された変更はありません。")
    return _strip_lines("\n".join(lines))


def render_history_json(entries: Sequence[HistoryEntry]) -> str:
    return json.dumps([e.to_dict() for e in entries], ensure_ascii=False, indent=2, sort_keys=True) + "\n"
