"""Import the answers of a proposal form (Google Forms sheet, CSV or .xlsx) into the 提案 register.

Each new answer becomes a proposal with the next ID of its 年度 and status 受付; the form's
timestamp and e-mail identify it (受付キー), so running intake again never imports it twice.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from .config import Config
from .errors import ConfigError, StoreError
from .schema import (
    HISTORY,
    HISTORY_SHEET,
    PROPOSAL_SHEET,
    PROPOSALS,
    Direction,
    HistoryKind,
    Status,
)
from .store.base import (
    WRITE_LOCK_WAIT,
    AppendRows,
    CellValue,
    Change,
    EnsureSheet,
    Row,
    SheetRef,
    Store,
    Table,
    header_key,
)
from .store.sources import read_source
from .values import (
    ValueProblem,
    display,
    fiscal_year,
    is_blank,
    normalize_text,
    parse_date,
    parse_proposal_id,
    proposal_id,
)

ID_COLUMN = "提案ID"
RECEIVED_COLUMN = "受付日"
STATUS_COLUMN = "ステータス"
DIRECTION_COLUMN = "提案方向"
EMAIL_COLUMN = "メール"
PROPOSER_COLUMN = "提案者名"
KEY_COLUMN = "受付キー"
UPDATED_COLUMN = "更新日時"
# Filled by intake itself; a form question cannot be mapped onto them.
AUTOMATIC_COLUMNS = (ID_COLUMN, RECEIVED_COLUMN, STATUS_COLUMN, KEY_COLUMN, UPDATED_COLUMN)

DEFAULT_TIMESTAMP = "タイムスタンプ"
DEFAULT_EMAIL = "メールアドレス"
SETTINGS_KEYS = ("mapping", "timestamp", "email", "defaults")
LOCK_TTL_SECONDS = 300

PROPOSAL_REF = SheetRef(PROPOSALS)
HISTORY_REF = SheetRef(HISTORY)


# ---------------------------------------------------------------- settings
@dataclass(frozen=True)
class IntakeSettings:
    """The ``[intake]`` section: which form question fills which register column."""

    mapping: dict[str, str]  # form question as written -> register column
    timestamp: str = DEFAULT_TIMESTAMP
    email: str = DEFAULT_EMAIL  # "" when the form does not collect e-mail addresses
    defaults: dict[str, str] = field(default_factory=dict)  # register column -> value when unanswered


def intake_settings(config: Config) -> IntakeSettings:
    """Read and check ``[intake]``; a wrong entry is one ConfigError naming the key and the file."""
    where = str(config.path) if config.path else "設定"
    raw = config.section("intake")
    if not raw:
        raise ConfigError(
            f"{where} に [intake] がありません。フォームの質問と台帳の列の対応を "
            '[intake] mapping = { "会社名" = "提案者名", … } のように書いてください。'
        )
    for key in raw:
        if key not in SETTINGS_KEYS:
            raise ConfigError(f"{where} の intake.{key} は知らない設定です（使えるのは {'、'.join(SETTINGS_KEYS)}）。")
    mapping = _str_table(raw.get("mapping"), "intake.mapping", where)
    if not mapping:
        raise ConfigError(f"{where} の intake.mapping が空です。フォームの質問 = 台帳の列 を書いてください。")
    for question, column in mapping.items():
        _check_column(column, f"intake.mapping.{question}", where)
    defaults = _str_table(raw.get("defaults", {}), "intake.defaults", where)
    for column in defaults:
        _check_column(column, f"intake.defaults.{column}", where)
    texts: dict[str, str] = {}
    for name, default in (("timestamp", DEFAULT_TIMESTAMP), ("email", DEFAULT_EMAIL)):
        value = raw.get(name, default)
        if not isinstance(value, str):
            raise ConfigError(f"{where} の intake.{name} = {value!r} は文字列（フォームの質問名）で指定してください。")
        texts[name] = value.strip()
    if not texts["timestamp"]:
        raise ConfigError(f"{where} の intake.timestamp が空です。フォームのタイムスタンプの列名を書いてください。")
    return IntakeSettings(mapping, texts["timestamp"], texts["email"], defaults)


def _str_table(value: Any, name: str, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f'{where} の {name} は表（{{ "質問" = "列" }}）で指定してください。')
    for k, v in value.items():
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{where} の {name}.{k} = {v!r} は台帳の列名（文字列）で指定してください。")
    return {str(k).strip(): v.strip() for k, v in value.items()}


def _check_column(column: str, key: str, where: str) -> None:
    if not PROPOSAL_SHEET.has(column):
        raise ConfigError(
            f"{where} の {key} = {column!r} は「{PROPOSALS}」シートにない列です"
            f"（使える列: {'、'.join(c for c in PROPOSAL_SHEET.headers if c not in AUTOMATIC_COLUMNS)}）。"
        )
    if column in AUTOMATIC_COLUMNS:
        raise ConfigError(f"{where} の {key} = {column!r} は取込で自動的に入る列なので指定できません。")


# ---------------------------------------------------------------- result
@dataclass
class ImportedAnswer:
    """One form answer that became (or, in a dry run, would become) a proposal."""

    proposal_id: str
    received: CellValue  # 受付日 as written: a date, or the timestamp as typed when unreadable
    proposer: str
    key: str
    source_row: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "proposal_id": self.proposal_id,
            "received": display(self.received),
            "proposer": self.proposer,
            "source_row": self.source_row,
            "notes": list(self.notes),
        }


@dataclass
class SkippedAnswer:
    """An answer not imported: already in the register, or repeated in the source."""

    source_row: int
    reason: str
    proposal_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"source_row": self.source_row, "reason": self.reason, "proposal_id": self.proposal_id}


@dataclass
class IntakeResult:
    source: str
    dry_run: bool = False
    imported: list[ImportedAnswer] = field(default_factory=list)
    skipped: list[SkippedAnswer] = field(default_factory=list)
    unmapped_questions: list[str] = field(default_factory=list)  # questions whose answers stay in the form
    written: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def needs_attention(self) -> bool:
        """New proposals arrived: the desk should look at them."""
        return bool(self.imported)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "imported": [a.to_dict() for a in self.imported],
            "skipped": [s.to_dict() for s in self.skipped],
            "unmapped_questions": list(self.unmapped_questions),
            "written": list(self.written),
        }

    def summary(self) -> str:
        verb = "取り込みます" if self.dry_run else "取り込みました"
        text = f"{self.source}: {len(self.imported)} 件を{verb}"
        if self.skipped:
            text += f"（取込済みなど {len(self.skipped)} 件は対象外）"
        return text + "。"


# ---------------------------------------------------------------- the job
def intake(
    config: Config, store: Store, source: str, *, dry_run: bool = False, now: datetime | None = None
) -> IntakeResult:
    """Import the new answers of a form into 提案; ``dry_run`` plans without writing."""
    settings = intake_settings(config)
    now = now or datetime.now()
    spec, answers = read_source(source, config, store)
    result = IntakeResult(spec.label, dry_run=dry_run)
    _check_questions(settings, answers, spec.label, config)
    result.unmapped_questions = _unmapped(settings, answers)
    if dry_run:
        return _plan(config, store, settings, answers, result, now)
    with store.lock(ttl_seconds=LOCK_TTL_SECONDS, wait_seconds=WRITE_LOCK_WAIT):
        _plan(config, store, settings, answers, result, now)
        if result.changes:
            result.written = store.apply(result.changes).written
    return result


def _plan(
    config: Config, store: Store, settings: IntakeSettings, answers: Table, result: IntakeResult, now: datetime
) -> IntakeResult:
    tables = store.read([PROPOSAL_REF, HISTORY_REF])
    register = tables[PROPOSAL_REF]
    if register is None:
        raise StoreError(
            f"{store.display_name(None)} に「{PROPOSALS}」シートがありません（kouminrenkei init で作成できます）。"
        )
    known = {normalize_text(r.get(KEY_COLUMN)): r for r in register.rows if not is_blank(r.get(KEY_COLUMN))}
    last_number = _last_numbers(register)

    seen: dict[str, int] = {}
    candidates = [(_parse_timestamp(r.get(header_key(settings.timestamp))), r) for r in answers.rows]
    # IDs follow the order the answers arrived in, whatever order the source lists them.
    candidates.sort(key=lambda c: (c[0] or now, c[1].number))
    new_rows: list[dict[str, CellValue]] = []
    for stamp, row in candidates:
        key = answer_key(row, settings, stamp)
        if key in known:
            pid = normalize_text(known[key].get(ID_COLUMN))
            result.skipped.append(SkippedAnswer(row.number, f"取込済み（{pid}）", pid))
            continue
        if key in seen:
            result.skipped.append(SkippedAnswer(row.number, f"{seen[key]}行目と同じ回答"))
            continue
        seen[key] = row.number
        values, notes = _proposal_values(row, settings, stamp, now)
        fy = fiscal_year(stamp.date() if stamp else now.date())
        last_number[fy] = last_number.get(fy, 0) + 1
        pid = proposal_id(fy, last_number[fy])
        values[ID_COLUMN] = pid
        values[KEY_COLUMN] = key
        new_rows.append(values)
        proposer = normalize_text(values.get(PROPOSER_COLUMN))
        result.imported.append(ImportedAnswer(pid, values[RECEIVED_COLUMN], proposer, key, row.number, notes))

    if not new_rows:
        return result
    changes: list[Change] = []
    if not register.has(KEY_COLUMN):
        changes.append(EnsureSheet(PROPOSAL_REF, PROPOSAL_SHEET))
    changes.append(AppendRows(PROPOSAL_REF, tuple(new_rows)))
    if tables[HISTORY_REF] is None:
        changes.append(EnsureSheet(HISTORY_REF, HISTORY_SHEET))
    history: tuple[dict[str, CellValue], ...] = tuple(
        {
            "日時": now,
            "実行者": config.actor,
            "シート": PROPOSALS,
            "キー": a.proposal_id,
            "列": "",
            "旧値": "",
            "新値": f"フォーム回答を取込（{result.source} {a.source_row}行目）",
            "種別": HistoryKind.INTAKE,
        }
        for a in result.imported
    )
    changes.append(AppendRows(HISTORY_REF, history))
    result.changes = changes
    return result


def _check_questions(settings: IntakeSettings, answers: Table, label: str, config: Config) -> None:
    where = str(config.path) if config.path else "設定"
    have = set(answers.columns)
    shown = "、".join(h for h in answers.headers if h) or "（なし）"
    needed = [("timestamp", settings.timestamp)]
    if settings.email:
        needed.append(("email", settings.email))
    needed += [(f"mapping.{q}", q) for q in settings.mapping]
    for name, question in needed:
        if header_key(question) not in have:
            raise ConfigError(
                f"{where} の intake.{name} の質問「{question}」が取込元 {label} の見出しにありません"
                f"（見出し: {shown}）。"
            )


def _unmapped(settings: IntakeSettings, answers: Table) -> list[str]:
    used = {header_key(q) for q in (*settings.mapping, settings.timestamp, settings.email) if q}
    return [h for h in answers.headers if header_key(h) and header_key(h) not in used]


def _last_numbers(register: Table) -> dict[int, int]:
    """The highest serial number already used in each 年度."""
    out: dict[int, int] = {}
    for row in register.rows:
        value = row.get(ID_COLUMN)
        if is_blank(value):
            continue
        try:
            fy, n = parse_proposal_id(normalize_text(value))
        except ValueProblem:
            continue
        out[fy] = max(out.get(fy, 0), n)
    return out


def _proposal_values(
    row: Row, settings: IntakeSettings, stamp: datetime | None, now: datetime
) -> tuple[dict[str, CellValue], list[str]]:
    """The register row for one answer: values as the person typed them, plus what intake fills in."""
    notes: list[str] = []
    values: dict[str, CellValue] = {DIRECTION_COLUMN: Direction.PARTNER_TO_PREFECTURE}
    values.update(settings.defaults)
    answered: dict[str, list[CellValue]] = {}
    for question, column in settings.mapping.items():
        value = row.get(header_key(question))
        if not is_blank(value):
            answered.setdefault(column, []).append(value)
    for column, parts in answered.items():
        # Several questions may feed one column (e.g. two text questions into 概要): keep them all.
        values[column] = parts[0] if len(parts) == 1 else "\n".join(display(p) for p in parts)
    if settings.email and EMAIL_COLUMN not in settings.mapping.values():
        email = row.get(header_key(settings.email))
        if not is_blank(email):
            values[EMAIL_COLUMN] = email
    raw_stamp = row.get(header_key(settings.timestamp))
    if stamp is not None:
        values[RECEIVED_COLUMN] = stamp.date()
    elif is_blank(raw_stamp):
        values[RECEIVED_COLUMN] = now.date()
        notes.append("タイムスタンプが空のため、受付日は取込日にしました")
    else:
        values[RECEIVED_COLUMN] = raw_stamp  # as typed: validation will point at it
        notes.append(f"タイムスタンプ「{display(raw_stamp)}」を日付として読めません（受付日を確認してください）")
    values[STATUS_COLUMN] = Status.RECEIVED
    values[UPDATED_COLUMN] = now
    return values, notes


# ---------------------------------------------------------------- identifying an answer
_STAMP = re.compile(
    r"^(\d{4})[/\-.年](\d{1,2})[/\-.月](\d{1,2})日?"
    r"(?:[ T　]*(午前|午後|AM|PM)?\s*(\d{1,2})[:時](\d{1,2})(?:[:分](\d{1,2})(?:\.\d+)?秒?)?\s*(午前|午後|AM|PM)?)?$",
    re.IGNORECASE,
)
_EXCEL_EPOCH = datetime(1899, 12, 30)


def _parse_timestamp(value: CellValue) -> datetime | None:
    """A form timestamp as a datetime (cells, Excel serials, 2025/04/01 9:15:30, 午後 …); None if unreadable."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if 1 <= value < 2958466:
            return (_EXCEL_EPOCH + timedelta(days=float(value))).replace(microsecond=0)
        return None
    text = normalize_text(value)
    if not text:
        return None
    m = _STAMP.match(text)
    if m:
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        hour = int(m.group(5) or 0)
        minute = int(m.group(6) or 0)
        second = int(m.group(7) or 0)
        half = (m.group(4) or m.group(8) or "").upper()
        if half in ("午後", "PM") and hour < 12:
            hour += 12
        elif half in ("午前", "AM") and hour == 12:
            hour = 0
        try:
            return datetime(year, month, day, hour, minute, second)
        except ValueError:
            return None
    try:
        d = parse_date(text)
    except ValueProblem:
        return None
    return datetime(d.year, d.month, d.day)


def answer_key(row: Row | Mapping[str, CellValue], settings: IntakeSettings, stamp: datetime | None = None) -> str:
    """What identifies one form answer: its timestamp and e-mail (the whole answer if no timestamp)."""
    values = row.values if isinstance(row, Row) else row
    raw_stamp = values.get(header_key(settings.timestamp))
    if stamp is None:
        stamp = _parse_timestamp(raw_stamp)
    email = normalize_text(values.get(header_key(settings.email))).lower() if settings.email else ""
    if stamp is not None:
        when = stamp.isoformat(timespec="seconds")
    elif not is_blank(raw_stamp):
        when = normalize_text(raw_stamp)
    else:
        content = "\x1f".join(f"{k}={normalize_text(v)}" for k, v in sorted(values.items()) if not is_blank(v))
        when = "内容:" + hashlib.sha256(unicodedata.normalize("NFKC", content).encode()).hexdigest()[:16]
    return f"{when}|{email}" if email else when
