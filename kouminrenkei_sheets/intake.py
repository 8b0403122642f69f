"""Import the answers of a proposal form (Google Forms sheet, CSV or .xlsx) into the 提案 register.

Each new answer becomes a proposal with the next ID of its 年度 and status 受付. What the form gives
identifies an answer (受付キー): its response ID or edit URL where the form has one, else its
timestamp to the minute and e-mail, plus a fingerprint of its content. So a re-export, an Excel
re-save (seconds dropped) or a reordered file never imports an answer twice, two answers sent in
the same second are two proposals, and an edited answer updates or flags its proposal — never a
second one (the rule is :func:`match_answers`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from . import clock
from .config import INTAKE_AUTOMATIC_COLUMNS, Config, IntakeSettings
from .errors import ConfigError, StoreError
from .schema import (
    HISTORY_SHEET,
    PROPOSAL_SHEET,
    PROPOSALS,
    Direction,
    HistoryKind,
    Status,
    cell_text_limit,
    column_name,
)
from .store.base import (
    HISTORY_REF,
    PROPOSAL_REF,
    WRITE_LOCK_WAIT,
    AppendRows,
    CellValue,
    Change,
    EnsureSheet,
    Row,
    RowKey,
    SetCell,
    Store,
    Table,
    WriteConflict,
    conflict_history,
    header_key,
    history_row,
    keep_full_text,
)
from .store.sources import read_source
from .values import (
    Unknown,
    ValueProblem,
    display,
    fiscal_year,
    is_blank,
    normalize_text,
    parse_date,
    parse_proposal_id,
    proposal_id,
)

ID_COLUMN = column_name(PROPOSAL_SHEET, "提案ID")
RECEIVED_COLUMN = column_name(PROPOSAL_SHEET, "受付日")
STATUS_COLUMN = column_name(PROPOSAL_SHEET, "ステータス")
DIRECTION_COLUMN = column_name(PROPOSAL_SHEET, "提案方向")
EMAIL_COLUMN = column_name(PROPOSAL_SHEET, "メール")
PROPOSER_COLUMN = column_name(PROPOSAL_SHEET, "提案者名")
KEY_COLUMN = column_name(PROPOSAL_SHEET, "受付キー")
UPDATED_COLUMN = column_name(PROPOSAL_SHEET, "更新日時")
# Filled by intake itself (ID, 受付日, ステータス, 受付キー, 更新日時); config.py refuses to map a question onto them.
AUTOMATIC_COLUMNS = INTAKE_AUTOMATIC_COLUMNS

# Columns a form export may carry that name one response for good (Google Forms via Apps Script:
# getId() / getEditResponseUrl()); the first one present is used unless [intake] response_id says.
RESPONSE_ID_HEADERS = ("回答ID", "回答の編集URL", "編集URL", "Response ID", "Response Edit URL", "Edit URL")
LOCK_TTL_SECONDS = 300


# ---------------------------------------------------------------- settings
def intake_settings(config: Config) -> IntakeSettings:
    """``[intake]``, read and checked with the whole config; intake cannot run without one."""
    if not config.has("intake"):
        raise ConfigError(
            f"{config.where} に [intake] がありません。フォームの質問と台帳の列の対応を "
            '[intake] mapping = { "会社名" = "提案者名", … } のように書いてください。'
        )
    return config.intake


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
class EditedAnswer:
    """An answer changed in the form after it was imported: its proposal was updated, or flagged."""

    proposal_id: str
    source_row: int
    updated: bool  # True: the register now holds the edit; False: flagged, the edit is in 変更履歴 only
    columns: list[str] = field(default_factory=list)  # register columns the edit changes
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "proposal_id": self.proposal_id,
            "source_row": self.source_row,
            "updated": self.updated,
            "columns": list(self.columns),
            "reason": self.reason,
        }


@dataclass
class IntakeResult:
    source: str
    dry_run: bool = False
    imported: list[ImportedAnswer] = field(default_factory=list)
    skipped: list[SkippedAnswer] = field(default_factory=list)
    edited: list[EditedAnswer] = field(default_factory=list)
    unmapped_questions: list[str] = field(default_factory=list)  # questions whose answers stay in the form
    written: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    # writes the register no longer allowed (a person changed the cell, deleted the row, or typed a
    # row with the same new 提案ID meanwhile): not made, both values in 変更履歴, decided by the next run
    conflicts: list[WriteConflict] = field(default_factory=list)

    @property
    def needs_attention(self) -> bool:
        """New proposals arrived, an answer was edited, or a write was refused: the desk should look."""
        return bool(self.imported or self.edited or self.conflicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "imported": [a.to_dict() for a in self.imported],
            "skipped": [s.to_dict() for s in self.skipped],
            "edited": [e.to_dict() for e in self.edited],
            "unmapped_questions": list(self.unmapped_questions),
            "written": list(self.written),
            "conflicts": [c.describe() for c in self.conflicts],
        }

    def summary(self) -> str:
        verb = "取り込みます" if self.dry_run else "取り込みました"
        text = f"{self.source}: {len(self.imported)} 件を{verb}"
        if self.edited:
            done = sum(e.updated for e in self.edited)
            update = "反映します" if self.dry_run else "反映しました"
            flagged = len(self.edited) - done
            text += f"。修正された回答 {len(self.edited)} 件（{done} 件は提案に{update}、{flagged} 件は要確認）"
        if self.skipped:
            text += f"（取込済みなど {len(self.skipped)} 件は対象外）"
        if self.conflicts:
            text += f"。書き込む間に台帳が変えられたため {len(self.conflicts)} 件は書き込まず、変更履歴に記録しました"
        return text + "。"


# ---------------------------------------------------------------- the job
def intake(
    config: Config, store: Store, source: str, *, dry_run: bool = False, now: datetime | None = None
) -> IntakeResult:
    """Import the new answers of a form into 提案; ``dry_run`` plans without writing."""
    settings = intake_settings(config)
    now = now or clock.now(config)
    spec, answers = read_source(source, config, store)
    result = IntakeResult(spec.label, dry_run=dry_run)
    _check_questions(settings, answers, spec.label, config)
    result.unmapped_questions = _unmapped(settings, answers)
    if dry_run:
        return _plan(config, store, settings, answers, result, now)
    with store.lock(ttl_seconds=LOCK_TTL_SECONDS, wait_seconds=WRITE_LOCK_WAIT):
        _plan(config, store, settings, answers, result, now)
        if result.changes:
            applied = store.apply(result.changes)
            result.written = applied.written
            _after_conflicts(config, store, result, applied.conflicts, now)
    return result


def _after_conflicts(
    config: Config, store: Store, result: IntakeResult, conflicts: list[WriteConflict], now: datetime
) -> None:
    """Writes 提案 no longer allowed when intake wrote (a person typed the cell, deleted the row, or
    typed a row under the same new 提案ID meanwhile) were not made: the person's value stays, both
    values go to 変更履歴 (kind 競合), and the result says so. A new proposal not added is imported
    by the next run (its answer is still new); an edit not written is flagged, not retried."""
    if not conflicts:
        return
    result.conflicts.extend(conflicts)
    refused_rows = {c.key for c in conflicts if not c.column}
    if "" in refused_rows:  # the append itself was refused (a header gone): none of them was added
        refused_rows |= {a.proposal_id for a in result.imported}
    result.imported = [a for a in result.imported if a.proposal_id not in refused_rows]
    cells = {(c.key, c.column) for c in conflicts if c.column}
    for e in result.edited:
        hit = [column for column in e.columns if (e.proposal_id, column) in cells]
        if e.proposal_id in refused_rows or hit:
            e.updated = False
            what = "、".join(hit) or "行"
            e.reason = f"書き込む間に台帳が変えられたため反映していません（{what}）。変更履歴を確認してください"
    store.apply([AppendRows(HISTORY_REF, conflict_history(conflicts, actor=config.actor, now=now))])


def _plan(
    config: Config, store: Store, settings: IntakeSettings, answers: Table, result: IntakeResult, now: datetime
) -> IntakeResult:
    tables = store.read([PROPOSAL_REF, HISTORY_REF])
    register = tables[PROPOSAL_REF]
    if register is None:
        raise StoreError(
            f"{store.display_name(None)} に「{PROPOSALS}」シートがありません（kouminrenkei init で作成できます）。"
        )
    last_number = _last_numbers(register)
    reader = _AnswerReader(settings, answers)
    # IDs follow the order the answers arrived in, whatever order the source lists them.
    candidates = sorted((reader.answer(row) for row in answers.rows), key=lambda a: (a.stamp or now, a.row.number))
    matches = match_answers(candidates, register.rows)

    new_rows: list[dict[str, CellValue]] = []
    changes: list[Change] = []
    history: list[dict[str, CellValue]] = []
    for answer in candidates:
        match = matches[answer.row.number]
        if match.kind == "known":
            assert match.proposal is not None
            pid = normalize_text(match.proposal.get(ID_COLUMN))
            result.skipped.append(SkippedAnswer(answer.row.number, f"取込済み（{pid}）", pid))
            continue
        if match.kind == "repeat":
            result.skipped.append(SkippedAnswer(answer.row.number, f"{match.first_row}行目と同じ回答"))
            continue
        values, notes = _proposal_values(answer.row, settings, answer.stamp, now)
        notes += _length_notes(values, store.backend)
        for column, v in list(values.items()):
            if isinstance(v, Unknown):  # an error value or a formula without a result in the export
                notes.append(
                    f"{column}は{v.reason}。セルの文字「{v}」のまま取り込みました（元の回答を確かめてください）"
                )
                values[column] = str(v)
        if match.kind == "edit":
            assert match.proposal is not None
            pid = normalize_text(match.proposal.get(ID_COLUMN))
            kept = _fit_cells(config, values, pid, store.backend, now)
            edit, cells, logged = _edit(config, result, answer, match.proposal, values, now)
            result.edited.append(edit)
            changes += cells
            history += logged
            history += [row for column in edit.columns for row in kept.get(column, [])]
            continue
        fy = fiscal_year(answer.stamp.date() if answer.stamp else now.date())
        last_number[fy] = last_number.get(fy, 0) + 1
        pid = proposal_id(fy, last_number[fy])
        kept = _fit_cells(config, values, pid, store.backend, now)
        values[ID_COLUMN] = pid
        values[KEY_COLUMN] = answer.key
        new_rows.append(values)
        proposer = normalize_text(values.get(PROPOSER_COLUMN))
        received = values[RECEIVED_COLUMN]
        result.imported.append(ImportedAnswer(pid, received, proposer, answer.key, answer.row.number, notes))
        history.append(
            _history_row(config, now, pid, "", "", f"フォーム回答を取込（{result.source} {answer.row.number}行目）")
        )
        history += [row for rows in kept.values() for row in rows]

    if not new_rows and not changes:
        return result
    planned: list[Change] = []
    if not register.has(KEY_COLUMN):
        planned.append(EnsureSheet(PROPOSAL_REF, PROPOSAL_SHEET))
    planned += changes
    if new_rows:  # a 提案ID typed by a person meanwhile is not given a second row
        planned.append(AppendRows(PROPOSAL_REF, tuple(new_rows), unique=ID_COLUMN))
    if tables[HISTORY_REF] is None:
        planned.append(EnsureSheet(HISTORY_REF, HISTORY_SHEET))
    planned.append(AppendRows(HISTORY_REF, tuple(history)))
    result.changes = planned
    return result


def _history_row(config: Config, now: datetime, pid: str, column: str, old: CellValue, new: str) -> dict[str, Any]:
    return history_row(
        now=now, actor=config.actor, sheet=PROPOSALS, key=pid, column=column, old=old, new=new, kind=HistoryKind.INTAKE
    )


def _edit(
    config: Config,
    result: IntakeResult,
    answer: _Answer,
    proposal: Row,
    values: dict[str, CellValue],
    now: datetime,
) -> tuple[EditedAnswer, list[Change], list[dict[str, CellValue]]]:
    """An edited answer: while its proposal is still 受付 (nobody has worked on it) the edit is
    written into it, each overwritten value kept in 変更履歴; once the desk has moved it on, the
    register is left alone and the edit is written to 変更履歴 only, and reported to be checked."""
    pid = normalize_text(proposal.get(ID_COLUMN))
    mapped = [c for c in dict.fromkeys(values) if c not in AUTOMATIC_COLUMNS and c != DIRECTION_COLUMN]
    differs = [c for c in mapped if normalize_text(display(values[c])) != normalize_text(display(proposal.get(c)))]
    where = f"{result.source} {answer.row.number}行目"
    status = normalize_text(proposal.get(STATUS_COLUMN))
    cells: list[Change] = []
    logged: list[dict[str, CellValue]] = []
    at = RowKey(ID_COLUMN, str(proposal.get(ID_COLUMN)))
    if status == Status.RECEIVED:
        # each cell only if it still holds what was read: a value a person typed meanwhile is kept
        for column in differs:
            cells.append(SetCell(PROPOSAL_REF, at, column, values[column], expected=proposal.get(column)))
            logged.append(_history_row(config, now, pid, column, proposal.get(column), display(values[column])))
        if differs:
            cells.append(SetCell(PROPOSAL_REF, at, UPDATED_COLUMN, now))
        reason = f"フォームで修正された回答（{where}）を反映"
        edit = EditedAnswer(pid, answer.row.number, True, differs, reason)
    else:
        for column in differs:
            new = f"【未反映】フォームで修正された回答: {display(values[column])}"
            logged.append(_history_row(config, now, pid, column, proposal.get(column), new))
        reason = f"ステータスが「{status}」のため台帳は変えず、修正内容を変更履歴に記録（確認してください）"
        edit = EditedAnswer(pid, answer.row.number, False, differs, reason)
    cells.append(SetCell(PROPOSAL_REF, at, KEY_COLUMN, answer.key, expected=proposal.get(KEY_COLUMN)))
    logged.append(_history_row(config, now, pid, KEY_COLUMN, proposal.get(KEY_COLUMN), f"{reason}（{where}）"))
    return edit, cells, logged


def _length_notes(values: Mapping[str, CellValue], backend: str) -> list[str]:
    """Answers longer than a cell of this backend holds: said before anything is written."""
    limit = cell_text_limit(backend)
    return [
        f"{column}が{len(v):,}文字あり、1セルの上限（{limit:,}文字）を超えています。"
        "台帳のセルには末尾を切って入れ（切ったことはセルの末尾に明記）、全文は変更履歴に種別「全文控え」で残しました。"
        "内容を分けるか要約してください"
        for column, v in values.items()
        if isinstance(v, str) and len(v) > limit
    ]


def _fit_cells(
    config: Config, values: dict[str, CellValue], pid: str, backend: str, now: datetime
) -> dict[str, list[dict[str, CellValue]]]:
    """Cut in ``values`` the answers a cell cannot hold; the whole of each, as 変更履歴 rows, by column."""
    limit = cell_text_limit(backend)
    kept: dict[str, list[dict[str, CellValue]]] = {}
    for column, v in values.items():
        if isinstance(v, str) and len(v) > limit:
            values[column], kept[column] = keep_full_text(
                v, limit, now=now, actor=config.actor, sheet=PROPOSALS, key=pid, column=column
            )
    return kept


def _check_questions(settings: IntakeSettings, answers: Table, label: str, config: Config) -> None:
    where = config.where  # (as every message names the settings: 「設定ファイル <path>」)
    have = set(answers.columns)
    shown = "、".join(h for h in answers.headers if h) or "（なし）"
    needed = [("timestamp", settings.timestamp)]
    if settings.email:
        needed.append(("email", settings.email))
    if settings.response_id:
        needed.append(("response_id", settings.response_id))
    needed += [(f"mapping.{q}", q) for q in settings.mapping]
    for name, question in needed:
        if header_key(question) not in have:
            raise ConfigError(
                f"{where} の intake.{name} の質問「{question}」が取込元 {label} の見出しにありません"
                f"（見出し: {shown}）。"
            )


def _unmapped(settings: IntakeSettings, answers: Table) -> list[str]:
    named = (*settings.mapping, settings.timestamp, settings.email, settings.response_id, *RESPONSE_ID_HEADERS)
    used = {header_key(q) for q in named if q}
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


@dataclass(frozen=True)
class _Answer:
    row: Row
    stamp: datetime | None
    identity: str  # what names the answer: "ID:…", "2025-05-01T09:15|mail", or "" when nothing does
    fingerprint: str  # of its content (every question but the timestamp, e-mail and ID)

    @property
    def key(self) -> str:
        """The 受付キー written in 提案."""
        return f"{self.identity}#{self.fingerprint}" if self.identity else f"内容#{self.fingerprint}"


@dataclass(frozen=True)
class Match:
    """What an answer is to the register: ``new``, ``known`` (already imported), ``repeat`` (the same
    answer twice in this source) or ``edit`` (a changed version of an imported answer)."""

    kind: str
    proposal: Row | None = None
    first_row: int = 0


def _fingerprint_value(value: CellValue) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return " ".join(normalize_text(display(value)).split())


class _AnswerReader:
    """Turns form rows into answers with their identity and fingerprint."""

    def __init__(self, settings: IntakeSettings, answers: Table) -> None:
        self.timestamp = header_key(settings.timestamp)
        self.email = header_key(settings.email) if settings.email else ""
        wanted = [settings.response_id] if settings.response_id else list(RESPONSE_ID_HEADERS)
        have = set(answers.columns)
        self.response_id = next((header_key(h) for h in wanted if header_key(h) in have), "")
        self.identifying = {self.timestamp, self.email, self.response_id} - {""}

    def answer(self, row: Row | Mapping[str, CellValue]) -> _Answer:
        values = row.values if isinstance(row, Row) else row
        raw_stamp = values.get(self.timestamp)
        stamp = _parse_timestamp(raw_stamp)
        content = "\x1f".join(
            f"{k}={_fingerprint_value(v)}"
            for k, v in sorted(values.items())
            if k not in self.identifying and not is_blank(v)
        )
        fingerprint = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        response = _response_id(values.get(self.response_id)) if self.response_id else ""
        email = normalize_text(values.get(self.email)).lower() if self.email else ""
        if response:
            identity = f"ID:{response}"
        elif stamp is not None:
            # To the minute: Excel re-saves a CSV as 2025/5/1 9:15, dropping the seconds.
            identity = stamp.isoformat(timespec="minutes")
        elif not is_blank(raw_stamp):
            identity = "日時:" + " ".join(normalize_text(raw_stamp).split())
        else:
            identity = ""
        if identity and email and not response:
            identity = f"{identity}|{email}"
        return _Answer(row if isinstance(row, Row) else Row(0, dict(values)), stamp, identity, fingerprint)


_EDIT_TOKEN = re.compile(r"[?&]edit2=([^&#\s]+)")


def _response_id(value: CellValue) -> str:
    """A response ID, or the token of an edit URL (the rest of the URL may change with the form's)."""
    text = normalize_text(value)
    m = _EDIT_TOKEN.search(text)
    return m.group(1) if m else text


def _register_key(value: CellValue) -> tuple[str, str | None]:
    """(identity, fingerprint) of a 受付キー in 提案; fingerprint None for keys written before
    fingerprints (``2025-05-01T09:15:30|mail``), which match any one answer of their minute."""
    text = normalize_text(value)
    identity, sep, fingerprint = text.rpartition("#")
    if not sep:
        identity, fingerprint = text, ""
    if identity == "内容":
        return "", fingerprint
    if fingerprint and re.fullmatch(r"[0-9a-f]{16}", fingerprint):
        return identity, fingerprint
    legacy = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d):\d\d(\|.*)?$", text)
    if legacy:
        return legacy.group(1) + (legacy.group(2) or ""), None
    return text, None


def match_answers(answers: list[_Answer], register: list[Row]) -> dict[int, Match]:
    """What each answer of a source is, by source row. The rule, per identity (response ID, or
    minute + e-mail):

    - an answer whose fingerprint a proposal of that identity holds is ``known``, and the same
      answer a second time in the source is a ``repeat``: a re-export, an Excel re-save or a
      reordered file imports nothing;
    - the other answers of that identity are paired, in arrival order, with its proposals whose
      answer is no longer in the source: each pair is an ``edit`` (the form or a person changed
      the answer in place); with a response ID this is every edit, whenever it was made;
    - what is left over is ``new``: two answers from one address in the same minute are two
      proposals, as long as both are in the source.

    Without a timestamp or ID an answer is named by its content alone: imported once, and an
    edit of it cannot be told from a new answer.
    """
    proposals: dict[str, list[tuple[Row, str | None]]] = {}
    for row in register:
        if not is_blank(row.get(KEY_COLUMN)):
            identity, fingerprint = _register_key(row.get(KEY_COLUMN))
            proposals.setdefault(identity, []).append((row, fingerprint))
    groups: dict[str, list[_Answer]] = {}
    for answer in answers:
        groups.setdefault(answer.identity, []).append(answer)

    out: dict[int, Match] = {}
    for identity, group in groups.items():
        held = proposals.get(identity, [])
        by_print = {fp: row for row, fp in reversed(held) if fp is not None}
        first: dict[str, int] = {}
        unmatched: list[_Answer] = []
        used: set[int] = set()
        for answer in group:
            if answer.fingerprint in first:
                out[answer.row.number] = Match("repeat", first_row=first[answer.fingerprint])
                continue
            first[answer.fingerprint] = answer.row.number
            held_row = by_print.get(answer.fingerprint)
            if held_row is not None:
                out[answer.row.number] = Match("known", held_row)
                used.add(held_row.number)
            else:
                unmatched.append(answer)
        legacy = [row for row, fp in held if fp is None and row.number not in used]
        for answer in list(unmatched):
            if legacy:  # a key from before fingerprints: the answer it was made from
                row = legacy.pop(0)
                out[answer.row.number] = Match("known", row)
                used.add(row.number)
                unmatched.remove(answer)
        gone = [row for row, fp in held if row.number not in used] if identity else []
        for answer in unmatched:
            if gone:
                out[answer.row.number] = Match("edit", gone.pop(0))
            else:
                out[answer.row.number] = Match("new")
    return out
