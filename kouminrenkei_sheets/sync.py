"""Sync: each department sheet shows the referrals addressed to it; their answers flow back to 照会.

A three-way merge by column owner against the state of the last sync (the hidden ``_sync`` tab),
planned in memory, then written as one batch per workbook, register first (see :func:`sync`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from . import clock, workflow
from .config import Config
from .departments import Department, departments_from_table
from .errors import EXIT_DATA, EXIT_OK, KouminrenkeiError, UsageError
from .findings import Finding, make_finding
from .runtime import no_cycle_collection
from .schema import (
    DEPARTMENT_SHEET,
    DEPARTMENTS,
    HISTORY,
    PROPOSALS,
    REFERRALS,
    REGISTER_SHEETS,
    SYNC_STATE,
    Answer,
    Column,
    HistoryKind,
    Owner,
    Sheet,
    Status,
    ValueType,
    cell_text_limit,
    department_sheet_named,
)
from .store.base import (
    ANY,
    AppendRows,
    CellValue,
    Change,
    DeleteRow,
    EnsureSheet,
    Row,
    RowAt,
    RowKey,
    SetCell,
    SheetRef,
    Store,
    Table,
    WriteConflict,
    header_key,
    history_row,
)
from .values import (
    Unknown,
    ValueProblem,
    cut_to_fit,
    id_key,
    is_blank,
    is_unknown,
    normalize_text,
    parse_date,
    split_multi,
    typed_text,
)

# ---------------------------------------------------------------- the _sync tab
# One row per (department, referral): the row both sides had after the last sync. The register is
# written before the department workbooks, so a row whose department write is in flight also keeps
# the department's row as it was before that write (columns "書込前:…"); 状態 says which write:
# 書込中 (cells), 追加中 (a new row), 削除中 (a row to take out), and 同期ID names the run. One
# "ブック書込" row per department names the run whose in-flight rows are live: marks of older runs are
# inert, so finishing a write never means touching every row again. A run interrupted after the
# register was written thus completes the job on the next run without logging any change twice.
# Rows are never deleted (openpyxl deletes row by row): a row no longer needed is blanked and reused.
# A row back in step (同期済) loses an older run's mark and 書込前 copy whenever the tab is written (a
# bare inert 状態 and 同期ID of a row added is left until the row is written), so the tab holds each
# department row once, plus the rows of the one write in flight. Only the cells that differ are
# written, each row named by its number as read and vouched for by its 課 and 照会ID.
STATE_DEPARTMENT = "課"
STATE_KIND = "状態"
STATE_RUN = "同期ID"
SYNCED = "同期済"
WRITING = "書込中"
ADDING = "追加中"
REMOVING = "削除中"
BOOK_WRITE = "ブック書込"
BEFORE_PREFIX = "書込前:"
IN_FLIGHT = (WRITING, ADDING, REMOVING)

_STATE_KINDS = {normalize_text(k): k for k in (SYNCED, *IN_FLIGHT, BOOK_WRITE)}

SYNC_STATE_SHEET = Sheet(
    SYNC_STATE,
    (
        Column(STATE_DEPARTMENT, width=18),
        Column(STATE_KIND, width=10),
        Column(STATE_RUN, width=14),
        *(Column(c.name, c.type if c.is_date else ValueType.TEXT, width=c.width) for c in DEPARTMENT_SHEET.columns),
        *(
            Column(BEFORE_PREFIX + c.name, c.type if c.is_date else ValueType.TEXT, width=c.width)
            for c in DEPARTMENT_SHEET.columns
        ),
    ),
    hidden=True,
    description="同期の状態（前回同期時の担当課シートの内容）。編集しないでください。",
)

KEY = DEPARTMENT_SHEET.key or "照会ID"
PROTECTED_MASK = "（アイデア保護のため非表示）"
ROW_ADDED = "（行を追加）"
ROW_RESTORED = "（行を復元）"
ROW_REMOVED = "（行を削除）"
ROW_LABEL = "（行）"

STATE_REF = SheetRef(SYNC_STATE)
PROPOSAL_REF = SheetRef(PROPOSALS)
REFERRAL_REF = SheetRef(REFERRALS)
MASTER_REF = SheetRef(DEPARTMENTS)
HISTORY_REF = SheetRef(HISTORY)

_COLUMNS: tuple[Column, ...] = DEPARTMENT_SHEET.columns
_COLUMN_KEYS: tuple[tuple[Column, str], ...] = tuple((c, header_key(c.name)) for c in _COLUMNS)
REGISTER_TABS = frozenset(sh.name for sh in REGISTER_SHEETS)
_DESK_COLUMNS = tuple(c for c in _COLUMNS if c.owner is Owner.DESK)
_ANSWER_COLUMNS = tuple(c for c in _COLUMNS if c.owner is Owner.DEPARTMENT)
_FAILED_CANDIDATE_STATUSES = (Status.RECEIVED, Status.CHECKING, Status.REFERRED, Status.COORDINATING)


# ---------------------------------------------------------------- the result
@dataclass(frozen=True)
class SyncChange:
    """One cell (or row, ``column == ""``) the sync changes; one 変更履歴 row each."""

    kind: str  # HistoryKind: push, pull, revert, conflict, rollup, restore
    department: str  # the department sheet concerned ("" for roll-ups)
    sheet: str  # where the value is written: 照会, 提案, or the department sheet's label
    key: str  # 照会ID (提案ID for roll-ups)
    column: str
    old: CellValue
    new: CellValue

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "old": typed_text(self.old), "new": typed_text(self.new)}


@dataclass(frozen=True)
class Conflict:
    """A value changed on both sides since the last sync: ``kept`` won, ``overwritten`` is in 変更履歴."""

    department: str
    sheet: str  # the department sheet
    key: str
    column: str
    winner: str  # "台帳" (desk-owned column) or the department (its own column)
    kept: CellValue
    overwritten: CellValue

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kept": typed_text(self.kept), "overwritten": typed_text(self.overwritten)}


@dataclass(frozen=True)
class RowNote:
    """A department sheet row the sync reports: added by the department, deleted, removed or skipped."""

    department: str
    sheet: str
    row: int  # spreadsheet row (0 when the row is gone)
    key: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Rollup:
    proposal_id: str
    old: str
    new: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SyncResult:
    """What a sync did (or, with ``dry_run``, would do)."""

    dry_run: bool = False
    changes: list[SyncChange] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    rollups: list[Rollup] = field(default_factory=list)
    added_rows: list[RowNote] = field(default_factory=list)  # rows a department added: left alone
    deleted_rows: list[RowNote] = field(default_factory=list)  # rows a department deleted: restored
    removed_rows: list[RowNote] = field(default_factory=list)  # moved or withdrawn referrals taken out
    failure_candidates: list[str] = field(default_factory=list)  # all answers 連携不可: 不成立 candidates
    skipped_busy: dict[str, str] = field(default_factory=dict)  # book -> who has it open
    deferred: dict[str, int] = field(default_factory=dict)  # department -> changes held over to next run
    problems: list[str] = field(default_factory=list)  # why a department sheet could not be synced
    unknown_cells: list[Finding] = field(default_factory=list)  # formulas without a result, error values: left alone
    cut_cells: list[Finding] = field(default_factory=list)  # desk text too long for a department's cell: shown cut
    write_conflicts: list[WriteConflict] = field(default_factory=list)  # cells people changed mid-run
    files_written: list[str] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)  # the department sheets looked at

    register_busy: str = ""  # who has the register open (then nothing was written)
    unchanged: bool = False  # no book changed since the last sync's own writes: nothing was read

    def count(self, kind: str) -> int:
        """Changes of one kind that were made (planned, for a dry run)."""
        if self.register_busy:
            return 0
        return sum(
            1
            for c in self.changes
            if c.kind == kind and not (c.department in self.deferred and c.sheet not in (REFERRALS, PROPOSALS))
        )

    @property
    def pushed(self) -> int:
        return self.count(HistoryKind.PUSH)

    @property
    def pulled(self) -> int:
        return self.count(HistoryKind.PULL)

    @property
    def reverted(self) -> int:
        return self.count(HistoryKind.REVERT)

    @property
    def restored(self) -> int:
        return self.count(HistoryKind.RESTORE)

    @property
    def changed(self) -> bool:
        return bool(self.changes or self.rollups)

    def summary(self) -> str:
        """The counts in one Japanese line, the same in the CLI, in run's log and in the demo."""
        if self.unchanged:
            return "前回の同期から変わったブックはありません（何も読み書きしていません）"
        return (
            f"担当課シートへ反映: {self.pushed}件、回答の取り込み: {self.pulled}件、"
            f"書き換えの差し戻し: {self.reverted}件、行の復元: {self.restored}件、競合: {len(self.conflicts)}件、"
            f"ステータス更新: {len(self.rollups)}件"
        )

    @property
    def exit_code(self) -> int:
        """1 when a sheet could not be synced (its structure, repeated IDs): a person must look."""
        return EXIT_DATA if self.problems or self.unknown_cells else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "pushed": self.pushed,
            "pulled": self.pulled,
            "reverted": self.reverted,
            "restored": self.restored,
            "conflicts": [c.to_dict() for c in self.conflicts],
            "rollups": [r.to_dict() for r in self.rollups],
            "files_written": list(self.files_written),
            "failure_candidates": list(self.failure_candidates),
            "added_rows": [r.to_dict() for r in self.added_rows],
            "deleted_rows": [r.to_dict() for r in self.deleted_rows],
            "removed_rows": [r.to_dict() for r in self.removed_rows],
            "skipped_busy": dict(self.skipped_busy),
            "register_busy": self.register_busy,
            "deferred": dict(self.deferred),
            "problems": list(self.problems),
            "unknown_cells": [f.to_dict() for f in self.unknown_cells],
            "cut_cells": [f.to_dict() for f in self.cut_cells],
            "write_conflicts": [
                {
                    "sheet": str(c.ref),
                    "key": c.key,
                    "column": c.column,
                    "wanted": typed_text(c.wanted),
                    "found": typed_text(c.found),
                    "reason": c.reason,
                }
                for c in self.write_conflicts
            ],
            "departments": list(self.departments),
            "unchanged": self.unchanged,
            "changes": [c.to_dict() for c in self.changes],
        }


# ---------------------------------------------------------------- comparing values by meaning
def same(column: Column, a: CellValue, b: CellValue) -> bool:
    """Whether two cells of a column mean the same (a date cell and the same date typed as text do)."""
    if a == b and type(a) is type(b):
        return True
    blank_a, blank_b = is_blank(a), is_blank(b)
    if blank_a or blank_b:
        return blank_a and blank_b
    if column.is_date:
        try:
            return parse_date(a) == parse_date(b)
        except ValueProblem:
            pass
    elif column.type is ValueType.MULTI_CHOICE:
        return split_multi(a) == split_multi(b)
    elif column.type is ValueType.ID:
        return id_key(a) == id_key(b)
    return normalize_text(a) == normalize_text(b)


def _cell(column: Column, value: CellValue) -> CellValue:
    """The value to write: as typed, except that a date cell read back as midnight datetime is a date."""
    if column.type is ValueType.DATE and isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date()
    return value


@lru_cache(maxsize=256)
def _hk(name: str) -> str:
    return header_key(name)


def _get(row: Row | None, name: str) -> CellValue:
    """A cell of a row read from a sheet, by header name."""
    return None if row is None else row.values.get(_hk(name))


# ---------------------------------------------------------------- what a department sees
def department_view(referral: Mapping[str, CellValue], proposal: Row | None) -> dict[str, CellValue]:
    """A referral as its department sheet shows it; protected proposal fields are masked."""
    protected = workflow.read_protection(_get(proposal, "アイデア保護")).columns if proposal is not None else ()
    shown = proposal.values if proposal is not None else {}
    out: dict[str, CellValue] = {}
    for c, from_referral, name, key in _VIEW_SOURCES:
        if from_referral:
            value = referral.get(name)
        else:
            value = shown.get(key)
            if name in protected and not is_blank(value):
                value = PROTECTED_MASK
        out[c.name] = _cell(c, value)
    return out


def _view_sources() -> tuple[tuple[Column, bool, str, str], ...]:
    """Each department column with where it comes from: (column, from 照会?, source header, its key)."""
    out = []
    for c in _COLUMNS:
        assert c.source is not None
        sheet, name = c.source
        out.append((c, sheet == REFERRALS, name, header_key(name)))
    return tuple(out)


_VIEW_SOURCES = _view_sources()


# ---------------------------------------------------------------- planning
@dataclass
class _StateRow:
    number: int
    kind: str  # 同期済, or an in-flight kind when its run is the department's live one
    values: Mapping[str, CellValue]  # the synced row, by department sheet column name (read with .get)
    before: Mapping[str, CellValue]  # the department's row before an in-flight write
    raw: Mapping[str, CellValue]  # every cell of the state row, by state header (read with .get)


@dataclass
class _Slot:
    """Everything known about one referral in one department sheet."""

    key: str
    row: Row | None = None  # the department sheet's row now
    state: _StateRow | None = None
    base: Mapping[str, CellValue] | None = None  # effective base of the merge
    replay: bool = False  # an earlier write of this row did not happen: redo it, log nothing twice
    replay_columns: frozenset[str] = frozenset()
    repeated: bool = False  # the department typed the ID on two rows: neither is synced until one goes


@dataclass
class _DepartmentPlan:
    department: Department
    label: str
    table: Table | None
    missing_columns: set[str]
    slots: dict[str, _Slot] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)  # to the department sheet
    writes: int = 0  # planned cell/row writes to the department sheet
    merged: dict[str, dict[str, CellValue]] = field(default_factory=dict)  # 同期済 after this run
    in_flight: dict[str, tuple[str, dict[str, CellValue]]] = field(default_factory=dict)  # key -> (状態, before)
    create_book: bool = False
    unknown_keys: bool = False  # a 照会ID cell of the sheet cannot be read: no missing row is restored
    # after this run the sheet holds exactly ``merged`` (cell for cell, by value and type): what the
    # _sync tab will hold stands for the sheet until someone saves the book (see _as_last_synced)
    exact: bool = True


class _Planner:
    def __init__(self, config: Config, result: SyncResult, now: datetime) -> None:
        self.config = config
        self.result = result
        self.now = now
        self.register_changes: list[Change] = []
        self.history: list[SyncChange] = []  # rows to append to 変更履歴 (already de-duplicated)
        self.frozen: set[str] = set()  # referrals whose 照会先 or 提案ID cannot be known: left alone everywhere
        self.ids_unknown = False  # a 照会ID in 照会 cannot be read: no department row is taken out
        self.limit = 0  # characters a cell of this backend holds (0: not checked)
        self._reported: set[tuple[str, int, str]] = set()
        self.cleared: list[tuple[str, str, CellValue]] = []  # 照会 answers of moved referrals: (key, column, read)

    def unknown(self, sheet: str, row: int, column: str, key: str, value: Unknown, effect: str) -> None:
        """Report a cell the tool cannot know (once per cell): sync leaves it, and its row, alone."""
        if (sheet, row, column) in self._reported:
            return
        self._reported.add((sheet, row, column))
        self.result.unknown_cells.append(
            make_finding(
                "cell.unknown", sheet=sheet, row=row, column=column, key=key or None, value=str(value),
                reason=value.reason, effect=effect,
            )
        )  # fmt: skip

    # -- recording
    def log(self, change: SyncChange, *, record: bool = True) -> None:
        self.result.changes.append(change)
        if record:
            self.history.append(change)

    def history_rows(self) -> tuple[dict[str, CellValue], ...]:
        actor = self.config.actor
        return tuple(
            history_row(
                now=self.now, actor=actor, sheet=c.sheet, key=c.key, column=c.column, old=c.old, new=c.new, kind=c.kind
            )
            for c in self.history
        )


def _label(department: Department) -> str:
    ref = department.ref
    return ref.sheet if ref.book is None else str(ref)


@dataclass
class _State:
    """The _sync tab as read."""

    rows: dict[tuple[str, str], _StateRow] = field(default_factory=dict)  # (department, 照会ID)
    by_department: dict[str, dict[str, _StateRow]] = field(default_factory=dict)  # the same rows: 課 -> 照会ID
    live: dict[str, _StateRow] = field(default_factory=dict)  # department -> its ブック書込 row
    extra: list[_StateRow] = field(default_factory=list)  # repeats and unreadable rows: to blank
    holes: list[int] = field(default_factory=list)  # blank rows inside the table: to reuse
    table: Table | None = None


_NO_COPY: Mapping[str, CellValue] = MappingProxyType({})


def _copy_of(raw: Mapping[str, CellValue]) -> Mapping[str, CellValue]:
    """The 書込前 copy a state row holds (one shared empty mapping for a row added, whose copy is blank)."""
    copy = {c.name: raw.get(name) for c, name in _WITH_COPIES}
    return copy if any(v is not None for v in copy.values()) else _NO_COPY


def _read_state(table: Table | None) -> _State:
    state = _State(table=table)
    if table is None:
        return state
    rows: list[tuple[str, str, _StateRow]] = []
    keys = [(c.name, _hk(c.name)) for c in SYNC_STATE_SHEET.columns]
    # the row as read serves as its state (the headers are their own keys): one dict per row, not three
    shared = all(name == k for name, k in keys)
    for row in table.rows:
        cells = row.values
        raw = cells if shared else {name: cells.get(k) for name, k in keys}
        dept = normalize_text(raw.get(STATE_DEPARTMENT))
        kind = _STATE_KINDS.get(normalize_text(raw.get(STATE_KIND)), "")
        srow = _StateRow(
            row.number,
            kind,
            raw,
            _copy_of(raw) if kind in IN_FLIGHT else _NO_COPY,
            raw,
        )
        if kind == BOOK_WRITE and dept and dept not in state.live:
            state.live[dept] = srow
            continue
        rows.append((dept, id_key(_get(row, KEY)), srow))
    for dept, key, srow in rows:
        if not dept or not key or not srow.kind or srow.kind == BOOK_WRITE or (dept, key) in state.rows:
            state.extra.append(srow)
            continue
        live = state.live.get(dept)
        run = normalize_text(srow.raw.get(STATE_RUN))
        if srow.kind in IN_FLIGHT and not (live is not None and run and run == normalize_text(live.raw.get(STATE_RUN))):
            if srow.kind == REMOVING:
                state.extra.append(srow)  # taken out by a finished run: nothing left to know
                continue
            srow.kind = SYNCED  # the mark of a finished run
        state.rows[(dept, key)] = srow
        state.by_department.setdefault(dept, {})[key] = srow
    used = {r.number for r in table.rows}
    state.holes = [n for n in range(2, max(used, default=1)) if n not in used]
    return state


def _same_as(row: Row, values: Mapping[str, CellValue], columns: Iterable[Column]) -> bool:
    return all(same(c, _get(row, c.name), values.get(c.name)) for c in columns)


def _book_written(plan: _DepartmentPlan) -> bool:
    """Whether the last in-flight write of this department's book happened: a book is written whole,
    so one row showing it is enough (a row the department deleted since then proves nothing)."""
    for slot in plan.slots.values():
        state, row = slot.state, slot.row
        if state is None or state.kind not in IN_FLIGHT:
            continue
        if state.kind == REMOVING and row is None:
            return True
        if state.kind == ADDING and row is not None and _same_as(row, state.values, _DESK_COLUMNS):
            return True  # (a row the department typed with that ID would not match the desk's values)
        if state.kind == WRITING and row is not None:
            for c in _COLUMNS:
                target = state.values.get(c.name)
                if not same(c, state.before.get(c.name), target) and same(c, _get(row, c.name), target):
                    return True
    return False


def _resolve(slot: _Slot) -> None:
    """Choose the base of the merge; detect a department write that an interrupted run never made."""
    state, row = slot.state, slot.row
    if state is None:
        slot.base = None
        return
    slot.base = state.values
    if state.kind == ADDING and row is None:
        slot.replay = True  # the row was to be appended: append it again
        slot.base = None
    elif state.kind == REMOVING:
        if row is not None and _same_as(row, state.before, _COLUMNS):
            slot.replay = True  # the row was to be taken out: take it out again
            slot.base = state.before
        else:
            # taken out as planned; a row now showing that ID is another one, the department's own
            slot.state = slot.base = None
    elif state.kind == WRITING and row is not None:
        before, synced = state.before, state.values
        in_flight = [c for c in _COLUMNS if not same(c, before.get(c.name), synced.get(c.name))]
        now = {c.name: _get(row, c.name) for c in in_flight}
        written = any(same(c, now[c.name], synced.get(c.name)) for c in in_flight)
        if in_flight and not written:
            slot.replay = True
            slot.base = {**synced, **{c.name: before.get(c.name) for c in in_flight}}
            slot.replay_columns = frozenset(c.name for c in in_flight if same(c, now[c.name], before.get(c.name)))


def sync(
    config: Config,
    store: Store,
    *,
    dry_run: bool = False,
    department: str | None = None,
    wait: bool = False,
    now: datetime | None = None,
) -> SyncResult:
    """Bring every department sheet (or one) in step with the register, and answers back into 照会.

    Plan first; then write the register (answers pulled, statuses rolled up, 変更履歴, and the new
    ``_sync`` state including each department row as it was before its write), then each department
    workbook once. A run interrupted after the register was written finishes on the next run; a
    workbook open in Excel is left alone and caught up later. ``dry_run`` writes nothing.
    """
    now = now or clock.now(config)
    if dry_run:
        with no_cycle_collection():
            return _sync(config, store, dry_run=True, department=department, now=now)
    seen: _Seen | None = None
    if department is None:  # before the lock: a quiet desk costs a stat per file, or one Drive listing
        seen = _Seen.look(config, store)
        quiet = seen.quiet_result()
        if quiet is not None:
            return quiet
    wait_seconds = float(config.sync.lock_ttl) if wait else 0.0
    with store.lock(ttl_seconds=config.sync.lock_ttl, wait_seconds=wait_seconds), no_cycle_collection():
        return _sync(config, store, dry_run=False, department=department, now=now, seen=seen)


# ---------------------------------------------------------------- quiet runs
# After a full sync whose writes all went through, the version of every book it depends on is kept
# in a record of the store's own (a file beside the register; on Sheets beside the config): the
# version observed *before* reading a book it did not write, the version its own save left on a
# book it wrote when nobody saved it between the read and the write (Excel: the file's mtime and
# size right after the save). On Sheets the register's version is a digest of the tabs sync reads
# (its Drive version moves with every lock claim), taken from the read itself; a spreadsheet the
# sync wrote is not vouched for (Drive cannot tell our write from a person's just after it) and is
# read once more next time, which then records it. The next
# sync looks at the versions first: all the same → nothing can have changed, and it reports what
# the last one found without reading anything. Some changed → those are read, and a department book
# whose version is still the one vouched for is not: its sheet holds what the _sync tab says of it,
# which the record vouches for with a digest (see _as_last_synced). A book not vouched for (the
# register too, on Sheets, after the sync wrote it) is kept as unknown, so only it is read again.
# The record is dropped before a sync writes, so a run that stops half way never leaves one behind.
RECORD = "sync-versions"
RECORD_FORMAT = 2
MISSING = "-"  # the version of a book that does not exist (yet)


def unchanged_since_last_sync(config: Config, store: Store) -> SyncResult | None:
    """The last full sync's findings when no book it depends on changed since its own writes (told
    by the versions alone: nothing is read, no lock is taken); None when a sync has work to look at."""
    return _Seen.look(config, store).quiet_result()


def _register_tabs(departments: Iterable[Department]) -> list[str]:
    resident = {d.ref.sheet for d in departments if d.ref.book is None}
    return [PROPOSALS, REFERRALS, DEPARTMENTS, *sorted(resident)]


@dataclass
class _Seen:
    """The versions a sync saw before reading anything, and the record of the last sync."""

    config: Config
    store: Store
    record: dict[str, Any] | None
    tabs: list[str]
    versions: dict[str | None, str] = field(default_factory=dict)

    @classmethod
    def look(cls, config: Config, store: Store) -> _Seen:
        record = store.load_record(RECORD)
        if record is not None and (record.get("format") != RECORD_FORMAT or record.get("config") != config.digest):
            record = None
        tabs = list(record["tabs"]) if record is not None else [PROPOSALS, REFERRALS, DEPARTMENTS]
        seen = cls(config, store, record, tabs)
        others: list[str | None] = [b for b, _ in (record or {}).get("versions", []) if b is not None]
        if store.versions_from_reads:  # the register's version costs a read: only when it can decide
            seen.observe(others)
            kept = seen.kept
            register = kept.get(None)
            if record is None or register is None or any(seen.versions.get(b) != kept.get(b) for b in others):
                return seen
            # The register's own version (Drive's; from the same listing when it is in the folder) moves
            # with every job's lock claim as well as with people's edits. Once a run has read the register
            # as recorded, that version stands for it until anyone (job or person) writes it again.
            drive = store.book_version(None)
            if drive is not None and record.get("register_drive") == drive:
                seen.versions[None] = register
                return seen
            if store.changed_by_someone_else(None):
                return seen  # a person typed in the register since: it is read under the lock, once
            seen.observe([None])
            if drive is not None and seen.versions.get(None) == register:
                # read as recorded, and read after ``drive`` was seen: an edit since moves the version on
                store.save_record(RECORD, {**record, "register_drive": drive})
            return seen
        seen.observe([None, *others])
        return seen

    def read(self) -> None:
        """Just after the register was read: where its version is a digest of what was read, that."""
        token = self.store.read_version(None, tabs=self.tabs)
        if token is not None:
            self.versions[None] = token

    def observe(self, books: Sequence[str | None]) -> None:
        """Versions of these books (before they are read); a missing book has the version MISSING."""
        todo = [b for b in dict.fromkeys(books) if b not in self.versions]
        if todo:
            got = self.store.book_versions(todo, tabs=self.tabs)
            self.versions.update({b: got.get(b) or MISSING for b in todo})

    @property
    def kept(self) -> dict[str | None, str | None]:
        """The versions the last sync's record holds (None: a book it could not vouch for)."""
        return dict((self.record or {}).get("versions", []))

    def unchanged(self, book: str) -> bool:
        """Whether a department book is as the last full sync left it: its version then was vouched
        for (observed before a read, or left by our own save) and is the version now."""
        version = self.kept.get(book)
        return version is not None and version != MISSING and self.versions.get(book) == version

    def state_digest(self, ref: SheetRef) -> str | None:
        """The digest of what the last sync left on this department sheet (see :func:`_state_digest`)."""
        return dict((self.record or {}).get("sheets", [])).get(str(ref))

    def quiet_result(self) -> SyncResult | None:
        record = self.record
        if record is None:
            return None
        kept = self.kept
        if None not in kept or any(v is None or self.versions.get(b) != v for b, v in kept.items()):
            return None
        result = SyncResult(unchanged=True)
        result.departments = list(record.get("departments", []))
        result.problems = list(record.get("problems", []))
        result.failure_candidates = list(record.get("failure_candidates", []))
        result.added_rows = [RowNote(**r) for r in record.get("added_rows", [])]
        return result

    def keep(self, result: SyncResult, targets: Sequence[Department], sheets: Mapping[str, str]) -> None:
        """Record the versions after a full sync whose writes all went through (else no record), and
        the digest of each department sheet the run left holding exactly what the _sync tab says."""
        if result.write_conflicts or result.skipped_busy or result.deferred or result.register_busy:
            return
        if result.unknown_cells:
            return  # a value the tool cannot know is looked at (and reported) again on every run
        tabs = _register_tabs(targets)
        written = set(result.files_written)
        books: list[str | None] = [None, *dict.fromkeys(d.ref.book for d in targets if d.ref.book is not None)]
        ours = self.store.own_versions(
            {b: self.versions.get(b, MISSING) for b in books if self.store.display_name(b) in written}, tabs=tabs
        )
        if result.removed_rows:
            return  # rows taken out: the row numbers the next run reports have moved
        versions: list[tuple[str | None, str | None]] = []  # None: not vouched for, read next time
        register_written = self.store.display_name(None) in written
        if not register_written and self.store.versions_from_reads:
            token = self.store.read_version(None, tabs=tabs)  # the register as this run read it
            if token is not None:
                self.versions[None], self.tabs = token, tabs
        if tabs != self.tabs and not register_written and self.store.versions_from_reads:
            return  # the register's version was taken over other tabs: look again next time
        for book in books:
            # (a register not vouched for: the next run reads it, but not the books vouched for here)
            token = ours.get(book) if self.store.display_name(book) in written else self.versions.get(book)
            versions.append((book, token))
        self.store.save_record(
            RECORD,
            {
                "format": RECORD_FORMAT,
                "config": self.config.digest,
                "tabs": tabs,
                "versions": versions,
                "sheets": sorted(sheets.items()),
                "departments": list(result.departments),
                "problems": list(result.problems),
                "failure_candidates": list(result.failure_candidates),
                "added_rows": [r.to_dict() for r in result.added_rows],
            },
        )


def _sync(
    config: Config,
    store: Store,
    *,
    dry_run: bool,
    department: str | None,
    now: datetime,
    seen: _Seen | None = None,
) -> SyncResult:
    result = SyncResult(dry_run=dry_run)
    planner = _Planner(config, result, now)
    if seen is None and department is None and not dry_run:
        seen = _Seen.look(config, store)
    planner.limit = cell_text_limit(store.backend)
    tables = store.read([PROPOSAL_REF, REFERRAL_REF, MASTER_REF, STATE_REF])
    proposal_table, referral_table, state_table = tables[PROPOSAL_REF], tables[REFERRAL_REF], tables[STATE_REF]
    if proposal_table is None or referral_table is None:
        missing = PROPOSALS if proposal_table is None else REFERRALS
        raise UsageError(f"台帳にシート「{missing}」がありません。kouminrenkei init で作った台帳を指定してください。")
    problems = _register_problems(proposal_table, referral_table)
    if problems:
        result.problems.extend(problems)  # nothing is planned: a missing column must never read as blank
        return result
    departments = departments_from_table(config, tables[MASTER_REF])
    by_name = {normalize_text(name): d for name, d in departments.items()}
    targets = _targets(by_name, department, result)

    # -- the register as plain values, which the merge updates in memory
    proposals: dict[str, Row] = {}
    for row in proposal_table.rows:
        proposals.setdefault(id_key(_get(row, "提案ID")), row)
    referrals, working = _register_referrals(referral_table, proposal_table, planner)
    recipient = {key: normalize_text(_get(row, "照会先")) for key, row in referrals.items()}

    # -- department sheets and the state of the last sync
    state = _read_state(state_table)
    if seen is not None:  # versions of the department books before they are read
        seen.read()
        seen.observe([d.ref.book for d in targets if d.ref.book is not None])
    as_left = _as_last_synced(seen, targets, state, recipient, planner) if seen is not None else {}
    plans = _department_plans(store, targets, departments, state, planner, as_left)

    # -- a referral moved to another department: the answers in 照会 were the old department's
    _clear_moved(state, recipient, set(by_name), referrals, working, planner)

    # -- pass 1: answers the departments changed come into 照会 (the department owns those columns)
    for plan in plans:
        _pull(plan, referrals, working, planner)

    # -- the moved referrals' cleared answers, where the new department typed nothing to pull instead
    pulled = {(ch.at.key, ch.column) for ch in planner.register_changes if isinstance(ch, SetCell)}
    for key, name, read in planner.cleared:
        if (key, name) not in pulled:
            planner.register_changes.append(
                SetCell(REFERRAL_REF, RowKey("照会ID", key), name, working[key].get(name), expected=read)
            )

    # -- roll-ups from the merged answers
    _rollups(proposal_table, referrals, working, planner)

    # -- pass 2: what each department sheet must show now
    for plan in plans:
        dname = normalize_text(plan.department.name)
        addressed = {key for key, who in recipient.items() if who == dname}
        _push(plan, addressed, referrals, working, proposals, planner)

    # -- the register batch: 照会 / 提案 cells, department tabs in the register, 変更履歴, _sync
    register: list[Change] = list(planner.register_changes)
    for plan in plans:
        if plan.department.ref.book is None:
            register.extend(plan.changes)
    edits = _state_edits(plans, state, secrets.token_hex(6))
    if planner.history:
        register.append(AppendRows(HISTORY_REF, planner.history_rows()))
    if register or edits.essential:
        register.extend(edits.changes())
        if state_table is None or any(not state_table.has(c.name) for c in SYNC_STATE_SHEET.columns):
            register.insert(0, EnsureSheet(STATE_REF, SYNC_STATE_SHEET, hidden=True))
    outside = [p for p in plans if p.department.ref.book is not None and p.changes]

    if dry_run:
        return result
    sheets = _left_exactly(plans, result) if seen is not None else {}
    # what only planning needed goes before the writes (the largest allocations of a run come with
    # the register's rewrite): the merge's working copies; the tables stay, the writes resolve on them
    del referrals, working, proposals, state, edits
    for plan in plans:
        plan.slots.clear()
        plan.merged.clear()
        plan.in_flight.clear()
    _write(store, planner, plans, register, outside)
    if seen is not None:
        seen.keep(result, targets, sheets)
    return result


def _targets(by_name: Mapping[str, Department], department: str | None, result: SyncResult) -> list[Department]:
    """The departments this sync takes: all, or the one ``--department`` names; one whose ブック is
    outside the desk folder is never opened (said in the result)."""
    if department is not None:
        wanted = normalize_text(department)
        if wanted not in by_name:
            known = "、".join(by_name) or "（担当課マスタが空です）"
            raise UsageError(f"「{department}」は担当課マスタにありません。登録されている課: {known}")
        targets = [by_name[wanted]]
    else:
        targets = list(by_name.values())
    for d in [d for d in targets if d.problem]:
        result.problems.append(f"担当課シート {d.row}行目 課「{d.name}」: {d.problem} この課は同期しません。")
    targets = [d for d in targets if not d.problem]
    result.departments = [d.name for d in targets]
    return targets


def _department_plans(
    store: Store,
    targets: Sequence[Department],
    departments: Mapping[str, Department],
    state: _State,
    planner: _Planner,
    as_left: Mapping[SheetRef, Table],
) -> list[_DepartmentPlan]:
    """Each department sheet read (in one go) and matched with the last sync's state, row by row;
    a tab renamed by a person, or a sheet whose structure is not the schema's, gets no plan (said).
    A sheet in ``as_left`` is not read: nobody saved its book since the last sync left it so."""
    refs = [d.ref for d in targets if d.ref not in as_left and (d.ref.book is None or store.book_exists(d.ref.book))]
    dep_tables: dict[SheetRef, Table | None] = {**as_left, **(store.read(refs) if refs else {})}
    plans: list[_DepartmentPlan] = []
    for d in targets:
        table = dep_tables.get(d.ref)
        if table is None and (d.ref.book is None or store.book_exists(d.ref.book)):
            renamed = _renamed_tab(store, d, departments)
            if renamed is not None:
                planner.result.problems.append(renamed)
                continue
        plan = _department_plan(d, table, store, planner)
        if plan is None:
            continue
        for key, srow in state.by_department.get(normalize_text(d.name), {}).items():
            plan.slots.setdefault(key, _Slot(key)).state = srow
        if _book_written(plan):
            for slot in plan.slots.values():
                if slot.state is not None and slot.state.kind in IN_FLIGHT:
                    slot.state = None if slot.state.kind == REMOVING else replace(slot.state, kind=SYNCED)
        for slot in plan.slots.values():
            _resolve(slot)
        plans.append(plan)
    return plans


def _as_last_synced(
    seen: _Seen,
    targets: Sequence[Department],
    state: _State,
    recipient: Mapping[str, str],
    planner: _Planner,
) -> dict[SheetRef, Table]:
    """The department sheets whose book nobody saved since the last full sync left them holding
    exactly what the _sync tab says, as tables made from that tab: such a book is not read.

    Three things must hold: the book's version is the one the last sync vouched for; the sheet's rows
    in _sync are still what that sync wrote (their digest, kept in its record: a register restored from
    a backup or an edited hidden tab fails it); and the merge needs nothing from the sheet that _sync
    does not hold (no row to take out, whose row number the report names; nothing the tool cannot
    know). Anything else: the book is read, as always."""
    if seen.record is None or planner.ids_unknown:
        return {}
    headers = [c.name for c in _COLUMNS]
    out: dict[SheetRef, Table] = {}
    for d in targets:
        book = d.ref.book
        if book is None or not seen.unchanged(book):
            continue
        dname = normalize_text(d.name)
        held = [(key, srow.values) for key, srow in state.by_department.get(dname, {}).items()]
        if any(recipient.get(key) != dname or key in planner.frozen for key, _ in held):
            continue
        digest = seen.state_digest(d.ref)
        if digest is None or _state_digest(d.ref, held) != digest:
            continue
        table = Table(d.ref, list(headers))
        for number, (_key, values) in enumerate(held, start=2):
            table.rows.append(Row(number, {_hk(c.name): values.get(c.name) for c in _COLUMNS}))
        out[d.ref] = table
    return out


def _left_exactly(plans: Sequence[_DepartmentPlan], result: SyncResult) -> dict[str, str]:
    """The digest of each department sheet (in its own book) this run leaves holding exactly the rows
    the _sync tab will hold: no row it reports (added by the department, repeated, without an ID),
    no cell that keeps a form of its own, nothing unknown."""
    noted = {n.department for n in result.added_rows}
    out: dict[str, str] = {}
    for plan in plans:
        d = plan.department
        if d.ref.book is None or not plan.exact or plan.unknown_keys or d.name in noted:
            continue
        if any(slot.repeated for slot in plan.slots.values()):
            continue
        digest = _state_digest(d.ref, plan.merged.items())
        if digest is not None:
            out[str(d.ref)] = digest
    return out


def _state_digest(ref: SheetRef, rows: Iterable[tuple[str, Mapping[str, CellValue]]]) -> str | None:
    """A digest of a department sheet's synced rows, the same for the values as the merge leaves them
    and as the _sync tab gives them back (a date read back as midnight, 5 as 5.0); None when a value
    cannot be known."""
    h = hashlib.blake2b(str(ref).encode("utf-8", "surrogatepass"), digest_size=16)
    for key, values in sorted(rows, key=lambda kv: kv[0]):
        parts = [key]
        for c in _COLUMNS:
            v = _cell(c, values.get(c.name))
            if isinstance(v, Unknown):
                return None
            if is_blank(v):
                parts.append("")
            elif isinstance(v, bool):
                parts.append(f"b{int(v)}")
            elif isinstance(v, int | float):
                parts.append(f"n{float(v)!r}")
            elif isinstance(v, datetime):
                parts.append("t" + v.replace(tzinfo=None).isoformat())
            elif isinstance(v, date):
                parts.append("d" + v.isoformat())
            else:
                parts.append("s" + str(v))
        h.update("\x1f".join(parts).encode("utf-8", "surrogatepass") + b"\x1e")
    return h.hexdigest()


def _register_referrals(
    referral_table: Table, proposal_table: Table, planner: _Planner
) -> tuple[dict[str, Row], dict[str, dict[str, CellValue]]]:
    """照会's rows by 照会ID and the values the merge works on; a repeated ID or one that cannot be
    read is left out and said, a row whose 照会先 or 提案ID cannot be read is frozen (left alone)."""
    result = planner.result
    referrals: dict[str, Row] = {}
    working: dict[str, dict[str, CellValue]] = {}
    for row in referral_table.rows:
        raw_id = _get(row, "照会ID")
        if isinstance(raw_id, Unknown):
            planner.ids_unknown = True
            planner.unknown(REFERRALS, row.number, "照会ID", "", raw_id, _LEFT_ROW_REGISTER)
            continue
        key = id_key(raw_id)
        if not key:
            continue
        if key in referrals:
            result.problems.append(
                f"照会シート {row.number}行目: 照会ID「{typed_text(_get(row, '照会ID'))}」が重複しています"
                f"（{referrals[key].number}行目と同じ）。この行は同期しません。"
            )
            continue
        referrals[key] = row
        working[key] = {c.source[1]: _get(row, c.source[1]) for c in _COLUMNS if c.source and c.source[0] == REFERRALS}
        _report_unknown(planner, REFERRALS, row, key, ("提案ID", "照会先", *_SOURCES[REFERRALS]))
        if is_unknown(_get(row, "照会先")) or is_unknown(_get(row, "提案ID")):
            planner.frozen.add(key)
    for row in proposal_table.rows:
        _report_unknown(planner, PROPOSALS, row, typed_text(_get(row, "提案ID")), ("提案ID", *_SOURCES[PROPOSALS]))
    return referrals, working


def _write(
    store: Store,
    planner: _Planner,
    plans: Sequence[_DepartmentPlan],
    register: Sequence[Change],
    outside: Sequence[_DepartmentPlan],
) -> None:
    result = planner.result
    if register or outside:
        store.save_record(RECORD, None)  # a run stopped half way must leave no record behind
    # -- write: the register first (it records what the department writes will overwrite) …
    labels = {p.department.ref: p.label for p in plans}
    if register:
        applied = store.apply(register, skip_busy=True)
        result.files_written.extend(applied.written)
        _after_conflicts(store, planner, applied.conflicts, labels)
        if applied.skipped:
            result.skipped_busy.update(applied.skipped)
            result.register_busy = next(iter(applied.skipped.values()))
            for plan in plans:
                result.deferred[plan.department.name] = plan.writes
            return
    # … then each department workbook once; one open in Excel waits for the next run.
    for plan in outside:
        book = plan.department.ref.book
        if plan.create_book and not store.book_exists(book):
            store.create_book(
                book, [department_sheet_named(plan.department.ref.sheet)], share_with=plan.department.email
            )
    if outside:
        applied = store.apply([ch for p in outside for ch in p.changes], skip_busy=True)
        result.files_written.extend(applied.written)
        _after_conflicts(store, planner, applied.conflicts, labels)
        if applied.skipped:
            result.skipped_busy.update(applied.skipped)
            for plan in outside:
                if store.display_name(plan.department.ref.book) in applied.skipped:
                    result.deferred[plan.department.name] = plan.writes


def _department_plan(d: Department, table: Table | None, store: Store, planner: _Planner) -> _DepartmentPlan | None:
    """A department sheet ready to merge, or None (with a problem reported) when it cannot be synced."""
    label = _label(d)
    result = planner.result
    if table is not None:
        problems = structure_problems(table, [c.name for c in _COLUMNS])
        if problems:
            result.problems.extend(f"{label}: {p}このシートは同期しません。" for p in problems)
            return None
    missing = {c.name for c in _COLUMNS if table is None or not table.has(c.name)}
    plan = _DepartmentPlan(d, label, table, missing)
    if table is None:
        plan.create_book = d.ref.book is not None and not store.book_exists(d.ref.book)
        plan.changes.append(EnsureSheet(d.ref, department_sheet_named(d.ref.sheet)))
        return plan
    for row in table.rows:
        raw_key = _get(row, KEY)
        if isinstance(raw_key, Unknown):
            plan.unknown_keys = True
            planner.unknown(label, row.number, KEY, "", raw_key, _LEFT_ROW_DEPARTMENT)
            continue
        key = id_key(raw_key)
        if not key:
            result.added_rows.append(RowNote(d.name, label, row.number, "", "照会IDが空欄の行（同期の対象外）"))
            continue
        slot = plan.slots.setdefault(key, _Slot(key))
        if slot.row is not None:
            # Which of the two rows is the referral's is the department's call: sync neither (a write
            # by key would be refused anyway) and keep the last synced state until one row is gone.
            slot.repeated = True
            result.added_rows.append(
                RowNote(
                    d.name, label, row.number, key,
                    f"照会IDが{slot.row.number}行目と重複（どちらかの行を消すか直すまで、この照会は同期しません）",
                )
            )  # fmt: skip
            continue
        slot.row = row
        _report_unknown(planner, label, row, key, [c.name for c in _COLUMNS])
    return plan


_LEFT_CELL = "同期はこのセルを読み書きしません。"
_LEFT_ROW_REGISTER = "この行は同期せず、担当課シートの行も外しません。"
_LEFT_ROW_DEPARTMENT = "この行は同期せず、担当課シートから消えた行の復元もしません。"


def _report_unknown(planner: _Planner, sheet: str, row: Row, key: str, columns: Iterable[str]) -> None:
    if Unknown not in map(type, row.values.values()):
        return  # (most rows: no cell of the row is unknown; one pass in C tells)
    for name in columns:
        value = _get(row, name)
        if isinstance(value, Unknown):
            planner.unknown(sheet, row.number, name, key, value, _LEFT_CELL)


def _keep(plan: _DepartmentPlan, slot: _Slot) -> None:
    """Leave a department row as it is; the state of the last sync stays as it was."""
    plan.exact = False  # (the row is not what the merge decided: the sheet is read next time)
    if slot.state is not None:
        values = slot.state.values
        plan.merged[slot.key] = {c.name: values.get(c.name) for c in _COLUMNS}


def _clear_moved(
    state: _State,
    recipient: Mapping[str, str],
    departments: set[str],
    referrals: Mapping[str, Row],
    working: dict[str, dict[str, CellValue]],
    planner: _Planner,
) -> None:
    """A referral whose 照会先 changed from one department to another: the answer, comment and
    contact in 照会 were the old department's, so the new one must not be shown them. They are
    cleared in 照会 and kept in 変更履歴 (the old department's row keeps them until it is taken out,
    and its last answers are logged then too)."""
    had = {key: sd for (sd, key), srow in state.rows.items()}
    holders: dict[str, set[str]] = {}
    for sd, key in state.rows:
        holders.setdefault(key, set()).add(sd)
    for key, now in recipient.items():
        old = holders.get(key, set())
        if not now or now not in departments or not old or now in old or key in planner.frozen:
            continue
        source_of = had[key]
        for c in _ANSWER_COLUMNS:
            assert c.source is not None
            name = c.source[1]
            value = working[key].get(name)
            empty: CellValue = Answer.NONE if name == "回答" and not is_blank(value) else None
            if is_unknown(value) or is_blank(value) or value == empty:
                continue
            working[key][name] = empty
            planner.cleared.append((key, name, _get(referrals[key], name)))
            planner.log(
                SyncChange(HistoryKind.PUSH, source_of, REFERRALS, key, name, value,
                           f"（照会先が「{typed_text(_get(referrals[key], '照会先'))}」に変わったため消去）")
            )  # fmt: skip


def structure_problems(table: Table, required: Iterable[str]) -> list[str]:
    """Why a tab cannot be read by header: a required header missing (renamed, or a title row above
    the header) or repeated. Each in Japanese, with what the header should be."""
    out = []
    present = set(table.columns)
    duplicated = set(table.duplicate_headers)
    for name in required:
        k = header_key(name)
        if k in duplicated:
            out.append(f"見出し「{name}」の列が複数あります。どちらか一方の見出しを直してください。")
        elif k not in present:
            out.append(f"見出し「{name}」の列が見つかりません（1行目が「{name}」になっているか確かめてください）。")
    return out


_SOURCES = {s: [c.source[1] for c in _COLUMNS if c.source and c.source[0] == s] for s in (REFERRALS, PROPOSALS)}
_REGISTER_NEEDS = {
    REFERRALS: ("照会ID", "提案ID", "照会先", *_SOURCES[REFERRALS]),
    PROPOSALS: ("提案ID", "ステータス", "アイデア保護", *_SOURCES[PROPOSALS]),
}


def _register_problems(proposals: Table, referrals: Table) -> list[str]:
    out = []
    for table in (proposals, referrals):
        needed = dict.fromkeys(_REGISTER_NEEDS[table.ref.sheet])
        out += [f"台帳の{table.ref.sheet}シート: {p}同期を中止しました。" for p in structure_problems(table, needed)]
    return out


def _renamed_tab(store: Store, d: Department, departments: Mapping[str, Department]) -> str | None:
    """A department's tab is missing: is it there under another name (a person renamed the tab)?"""
    try:
        names = store.sheet_names(d.ref.book)
    except KouminrenkeiError:
        return None
    claimed = {x.ref.sheet for x in departments.values() if x.ref.book == d.ref.book}
    others = [n for n in names if n not in claimed and not n.startswith("_") and n not in REGISTER_TABS]
    if not others:
        return None
    tables = store.read([SheetRef(n, d.ref.book) for n in others])
    for name, table in ((n, tables.get(SheetRef(n, d.ref.book))) for n in others):
        if table is not None and table.has(KEY) and table.has("回答"):
            where = "台帳" if d.ref.book is None else f"ブック「{d.ref.book}」"
            return (
                f"{d.name}: {where}にシート「{d.ref.sheet}」がなく、担当課シートの見出しを持つシート「{name}」が"
                f"あります。タブ名が変えられたようです。タブ名を「{d.ref.sheet}」に戻すか、担当課マスタのタブ名を"
                f"「{name}」に直してください（新しい空のシートは作りません）。"
            )
    return None


def _after_conflicts(
    store: Store, planner: _Planner, conflicts: Sequence[WriteConflict], labels: Mapping[SheetRef, str]
) -> None:
    """Cells people changed between this run's read and its write were left as they typed them:
    both values go to 変更履歴 (kind conflict), the planned change is reported as not made, and the
    next run decides again on what the sheet then holds."""
    if not conflicts:
        return
    result = planner.result
    result.write_conflicts.extend(conflicts)
    undone = {(labels.get(c.ref, c.ref.sheet), c.key, c.column) for c in conflicts}
    undone_rows = {(sheet, key) for sheet, key, column in undone if not column}
    result.changes = [
        ch
        for ch in result.changes
        if (ch.sheet, ch.key, ch.column) not in undone and (ch.sheet, ch.key) not in undone_rows
    ]
    planner.history = [
        SyncChange(
            HistoryKind.CONFLICT,
            "",
            labels.get(c.ref, c.ref.sheet),
            c.key,
            c.column or ROW_LABEL,
            c.found,
            c.wanted if c.column else f"（書き込まず: {c.reason}）",
        )
        for c in conflicts
    ]
    store.apply([AppendRows(HISTORY_REF, planner.history_rows())], skip_busy=True)


def _shows_exactly(row: Row, view: Mapping[str, CellValue]) -> bool:
    """Whether a department row holds exactly the view, cell for cell by value and type, no value
    unknown: nothing to write or log (anything else goes the careful way, deciding by meaning)."""
    values = row.values
    for c, key in _COLUMN_KEYS:
        a, b = values.get(key), view[c.name]
        if a is not b and (a != b or type(a) is not type(b)):
            return False
        if isinstance(b, Unknown):
            return False
    return True


def _dep_value(plan: _DepartmentPlan, slot: _Slot, column: Column, fallback: CellValue) -> CellValue:
    """The department sheet's value; a missing column counts as unchanged (``fallback``)."""
    if column.name in plan.missing_columns:
        return fallback
    return _get(slot.row, column.name)


def _pull(
    plan: _DepartmentPlan,
    referrals: dict[str, Row],
    working: dict[str, dict[str, CellValue]],
    planner: _Planner,
) -> None:
    """Answers changed in the department sheet since the last sync → 照会 (also from moved rows)."""
    for key, slot in plan.slots.items():
        if slot.row is None or slot.repeated or key not in referrals:
            continue
        if key in planner.frozen or normalize_text(_get(referrals[key], "照会先")) != normalize_text(
            plan.department.name
        ):
            continue  # someone else's referral (added, or moved away: its answers are logged as it leaves)
        base = slot.base or {}
        values = working[key]
        for c in _ANSWER_COLUMNS:
            assert c.source is not None
            source = c.source[1]
            reg = values.get(source)
            dep = _cell(c, _dep_value(plan, slot, c, base.get(c.name) if slot.base is not None else reg))
            if is_unknown(reg) or is_unknown(dep):
                continue  # a value the tool cannot know is never an answer (reported when read)
            if same(c, dep, reg) or same(c, dep, base.get(c.name)):
                continue  # equal, or only the register changed (pushed in pass 2)
            both = not same(c, reg, base.get(c.name))
            kind = HistoryKind.CONFLICT if both else HistoryKind.PULL
            values[source] = dep
            read = _get(referrals[key], source)
            planner.register_changes.append(SetCell(REFERRAL_REF, RowKey("照会ID", key), source, dep, expected=read))
            planner.log(SyncChange(kind, plan.department.name, REFERRALS, key, source, reg, dep))
            if both:
                planner.result.conflicts.append(
                    Conflict(plan.department.name, plan.label, key, c.name, plan.department.name, dep, reg)
                )


def _rollups(
    proposal_table: Table,
    referrals: dict[str, Row],
    working: dict[str, dict[str, CellValue]],
    planner: _Planner,
) -> None:
    answers: dict[str, list[CellValue]] = {}
    for key, row in referrals.items():
        answers.setdefault(id_key(_get(row, "提案ID")), []).append(working[key].get("回答"))
    seen: set[str] = set()
    for row in proposal_table.rows:
        pid = id_key(_get(row, "提案ID"))
        if not pid or pid in seen:
            continue
        seen.add(pid)
        got = answers.get(pid, [])
        status = _get(row, "ステータス")
        new = workflow.rollup(status, got)
        if new is not None:
            planner.register_changes.append(
                SetCell(PROPOSAL_REF, RowKey("提案ID", pid), "ステータス", new, expected=_get(row, "ステータス"))
            )
            planner.log(SyncChange(HistoryKind.ROLLUP, "", PROPOSALS, pid, "ステータス", status, new))
            planner.result.rollups.append(Rollup(pid, typed_text(status), new))
            status = new
        if workflow.failure_candidate(got) and workflow.choice_key(status) in _FAILED_CANDIDATE_STATUSES:
            planner.result.failure_candidates.append(pid)


def _take_out(
    plan: _DepartmentPlan, slot: _Slot, referrals: Mapping[str, Row], planner: _Planner, deletes: list[Change]
) -> None:
    """A row of a referral not (or no longer) addressed to this department: a row sync placed is taken
    out, its answers kept in 変更履歴; a row the department added itself stays, and is said."""
    d, label, result = plan.department, plan.label, planner.result
    key, row = slot.key, slot.row
    if row is None:
        return
    if slot.base is not None and (
        (key not in referrals and planner.ids_unknown) or any(is_unknown(v) for v in row.values.values())
    ):
        _keep(plan, slot)  # it may be the row whose 照会ID cannot be read, or holds what the tool cannot know
        return
    if slot.base is None:
        who = typed_text(_get(referrals[key], "照会先")) if key in referrals else ""
        reason = f"{who}あての照会です（同期の対象外）" if who else "台帳にない照会ID（同期の対象外）"
        result.added_rows.append(RowNote(d.name, label, row.number, key, reason))
        return
    as_read = {c.name: _get(row, c.name) for c in _COLUMNS if c.name not in plan.missing_columns}
    deletes.append(DeleteRow(d.ref, RowKey(KEY, key), as_read))
    plan.in_flight[key] = (REMOVING, {c.name: _get(row, c.name) for c in _COLUMNS})
    plan.writes += 1
    if key in referrals:
        why = f"照会先が「{typed_text(_get(referrals[key], '照会先'))}」に変わったため削除"
    else:
        why = "台帳から照会が削除されたため削除"
    base = slot.base or {}
    for c in _ANSWER_COLUMNS:
        value = _get(row, c.name)
        # withdrawn: the answers have no register row to go to; moved: they were this department's
        # and 照会 no longer holds them. Either way they are kept in 変更履歴.
        if not is_blank(value) and (key not in referrals or not same(c, value, base.get(c.name))):
            planner.log(SyncChange(HistoryKind.PUSH, d.name, label, key, c.name, value, ""), record=not slot.replay)
    planner.log(SyncChange(HistoryKind.PUSH, d.name, label, key, ROW_LABEL, ROW_LABEL, ROW_REMOVED),
                record=not slot.replay)  # fmt: skip
    result.removed_rows.append(RowNote(d.name, label, row.number, key, why))


def _push(
    plan: _DepartmentPlan,
    addressed: set[str],
    referrals: dict[str, Row],
    working: dict[str, dict[str, CellValue]],
    proposals: dict[str, Row],
    planner: _Planner,
) -> None:
    """The department sheet's writes: desk values put back or pushed, new rows, moved rows taken out.

    ~100 lines on purpose: for each cell the write, the value it expects and the 変更履歴 kind
    (反映 / 差し戻し / 競合) are decided together, so the rule that nothing is overwritten unrecorded
    reads in one place (rows no longer addressed are in :func:`_take_out`)."""
    d, label = plan.department, plan.label
    result = planner.result
    for key in sorted(addressed - plan.slots.keys()):
        plan.slots[key] = _Slot(key)
    appends: list[dict[str, CellValue]] = []
    deletes: list[Change] = []
    sets: list[Change] = []
    for key in sorted(plan.slots):
        slot = plan.slots[key]
        row = slot.row
        # an unknown value, or an ID the department typed on two rows (a withdrawn or moved one is still
        # taken out by its values): the row stays as it is, the last synced state with it
        if key in planner.frozen or (slot.repeated and key in addressed):
            _keep(plan, slot)
            continue
        if key in addressed:
            view = department_view(working[key], proposals.get(id_key(working[key].get("提案ID"))))
            for name, value in view.items():
                if isinstance(value, str) and planner.limit and len(value) > planner.limit:
                    view[name] = cut_to_fit(value, planner.limit)  # never a write the sheet refuses or cuts silently
                    planner.result.cut_cells.append(
                        make_finding("text.cut", sheet=label, column=name, key=key, value=value[:40],
                                     length=len(value), limit=planner.limit)
                    )  # fmt: skip
            if row is None and slot.state is not None and plan.unknown_keys:
                _keep(plan, slot)  # the row may be the one whose 照会ID cannot be read: not restored
                continue
            if Unknown in map(type, view.values()):
                merged = {k: None if is_unknown(v) else v for k, v in view.items()}
            else:
                merged = view  # (most rows: the view itself, not a copy of every department row)
            plan.merged[key] = merged
            if row is None:
                view = merged  # (a cell the register cannot know is left empty in a new row)
                restore = slot.base is not None and not slot.replay
                kind = HistoryKind.RESTORE if restore else HistoryKind.PUSH
                appends.append(view)
                plan.in_flight[key] = (ADDING, {})
                plan.writes += 1
                planner.log(
                    SyncChange(kind, d.name, label, key, ROW_LABEL, "", ROW_RESTORED if restore else ROW_ADDED),
                    record=not slot.replay,
                )
                if restore:
                    result.deleted_rows.append(RowNote(d.name, label, 0, key, "担当課シートから削除されていたため復元"))
                continue
            if not plan.missing_columns and _shows_exactly(row, view):
                continue  # (most rows: the sheet already shows this, cell for cell, by value and type)
            base = slot.base or {}
            wrote = False
            for c in _COLUMNS:
                new = view[c.name]
                actual = None if c.name in plan.missing_columns else _cell(c, _get(row, c.name))
                if is_unknown(new) or is_unknown(actual):
                    merged[c.name] = base.get(c.name)  # left alone on both sides, reported when read
                    plan.exact = False
                    continue
                dep = _dep_value(plan, slot, c, base.get(c.name) if slot.base is not None else new)
                if same(c, actual, new) and c.name not in plan.missing_columns:
                    if actual is not new and (actual != new or type(actual) is not type(new)):
                        plan.exact = False  # the sheet keeps what was typed (same meaning, other form)
                    continue
                if c.name in plan.missing_columns and is_blank(new):
                    continue
                sets.append(
                    SetCell(
                        d.ref,
                        RowKey(KEY, key),
                        c.name,
                        new,
                        expected=ANY if c.name in plan.missing_columns else _get(row, c.name),
                    )
                )
                wrote = True
                plan.writes += 1
                if c.name in plan.missing_columns:
                    continue  # a column the tool just added back: nothing overwritten
                dep_changed = not same(c, dep, base.get(c.name))
                reg_changed = not same(c, new, base.get(c.name))
                if c.owner is Owner.DESK and dep_changed:
                    kind = HistoryKind.CONFLICT if reg_changed else HistoryKind.REVERT
                else:
                    kind = HistoryKind.PUSH
                planner.log(
                    SyncChange(kind, d.name, label, key, c.name, dep, new),
                    record=not (slot.replay and c.name in slot.replay_columns),
                )
                if kind == HistoryKind.CONFLICT:
                    result.conflicts.append(Conflict(d.name, label, key, c.name, "台帳", new, dep))
            if wrote:
                plan.in_flight[key] = (WRITING, {c.name: _get(row, c.name) for c in _COLUMNS})
            continue
        # not (or no longer) addressed to this department
        _take_out(plan, slot, referrals, planner, deletes)
    plan.changes.extend(sets)
    plan.changes.extend(deletes)
    if appends:
        plan.changes.append(AppendRows(d.ref, tuple(appends)))
    if plan.table is None and not (sets or deletes or appends):
        plan.changes = []  # a missing sheet is created when it gets its first row, not before


def _state_row(
    department: str, kind: str, run: str, values: Mapping[str, CellValue], before: Mapping[str, CellValue]
) -> dict[str, CellValue]:
    row: dict[str, CellValue] = {STATE_DEPARTMENT: department, STATE_KIND: kind, STATE_RUN: run}
    for c in _COLUMNS:
        row[c.name] = _cell(c, values.get(c.name))
        row[BEFORE_PREFIX + c.name] = _cell(c, before.get(c.name))
    return row


_STATE_COLUMNS: dict[str, Column] = {c.name: c for c in SYNC_STATE_SHEET.columns}
_TARGET_COLUMNS: tuple[str, ...] = (STATE_DEPARTMENT, *(c.name for c in _COLUMNS))
_MARK_COLUMNS: tuple[str, ...] = tuple(name for name in _STATE_COLUMNS if name not in _TARGET_COLUMNS)
_BEFORE_COLUMNS: tuple[str, ...] = tuple(name for name in _MARK_COLUMNS if name.startswith(BEFORE_PREFIX))
_WITH_COPIES: tuple[tuple[Column, str], ...] = tuple((c, BEFORE_PREFIX + c.name) for c in _COLUMNS)


_Cell = tuple[int, str, CellValue]  # (row of the _sync tab as read, column, value)


@dataclass
class _StateEdits:
    """The _sync edits: the new state (needed before any department write) and tidying that may wait.

    They are worked out against the tab as read and written cell by cell (:meth:`changes`)."""

    table: Table | None
    needed: list[_Cell] = field(default_factory=list)
    tidy: list[_Cell] = field(default_factory=list)  # live marks of finished writes, rows no longer used
    appends: list[dict[str, CellValue]] = field(default_factory=list)
    free: list[int] = field(default_factory=list)

    def changes(self) -> list[Change]:
        """The cells that differ, row by row where the tab holds them (each row vouched for by its
        課 and 照会ID as read: see :class:`~.store.base.RowAt`), and the new rows below: a sync costs
        what it changes, not a rewrite of a tab that holds every department row."""
        read = {row.number: row for row in self.table.rows} if self.table is not None else {}
        ats: dict[int, RowAt] = {}
        out: list[Change] = []
        for number, name, value in [*self.needed, *self.tidy]:
            at = ats.get(number)
            if at is None:
                row = read.get(number)
                held = tuple((n, _get(row, n) if row is not None else None) for n in (STATE_DEPARTMENT, KEY))
                at = ats[number] = RowAt(number, held)
            out.append(SetCell(STATE_REF, at, name, value))
        if self.appends:
            out.append(AppendRows(STATE_REF, tuple(self.appends)))
        return out

    @property
    def essential(self) -> bool:
        return bool(self.needed or self.appends)

    def put(self, row: dict[str, CellValue]) -> None:
        """A new state row: into a blank row inside the table if there is one, else at the end."""
        if self.free:
            self.needed.extend(_cells(self.free.pop(), {}, row))
        else:
            self.appends.append(row)


def _cells(
    number: int, old: Mapping[str, CellValue], new: Mapping[str, CellValue], names: Iterable[str] = _STATE_COLUMNS
) -> list[_Cell]:
    out = []
    for name in names:
        a, b = old.get(name), new.get(name)
        if (a is None and b is None) or (a == b and type(a) is type(b)):
            continue  # (same() decides the rest: most cells are unchanged, and this is every row of the tab)
        if not same(_STATE_COLUMNS[name], a, b):
            out.append((number, name, b))
    return out


def _kept_as_is(srow: _StateRow | None, department: str, values: Mapping[str, CellValue]) -> bool:
    """Whether a synced row's state row already holds exactly these values and no 書込前 copy: cell for
    cell, by value and type (anything else goes the careful way: :func:`_cells` decides by meaning)."""
    if srow is None:
        return False
    raw = srow.raw
    if raw.get(STATE_DEPARTMENT) != department:
        return False
    for c, copy in _WITH_COPIES:
        a, b = raw.get(c.name), _cell(c, values.get(c.name))
        if a is not b and (a != b or type(a) is not type(b)):
            return False
        if raw.get(copy) is not None:
            return False
    return True


def _state_edits(plans: Iterable[_DepartmentPlan], state: _State, run: str) -> _StateEdits:
    edits = _StateEdits(state.table, free=list(reversed(state.holes)))
    for repeated in state.extra:
        edits.tidy.extend(_cells(repeated.number, repeated.raw, {}))
    for plan in plans:
        d = plan.department
        dname = normalize_text(d.name)
        writes_book = d.ref.book is not None and bool(plan.changes)
        in_flight = plan.in_flight if writes_book else {}
        have = state.by_department.get(dname, {})
        wanted: dict[str, tuple[str, dict[str, CellValue]]] = {}
        for key, values in plan.merged.items():
            kind, before = in_flight.get(key, (SYNCED, {}))
            if kind == SYNCED and _kept_as_is(have.get(key), d.name, values):
                continue  # (most rows: the state row already holds exactly this, and nothing to tidy)
            wanted[key] = (kind, _state_row(d.name, kind, run if kind != SYNCED else "", values, before))
        for key, (kind, before) in in_flight.items():
            if kind == REMOVING:
                wanted[key] = (kind, _state_row(d.name, kind, run, {KEY: key}, before))
        for key, (kind, row) in wanted.items():
            srow = have.get(key)
            if srow is None:
                edits.put(row)
            elif kind == SYNCED:
                # only the synced values are needed; an older run's inert mark goes whenever the row
                # is written anyway or holds a 書込前 copy (each row is kept once, not twice). A bare
                # 状態 and 同期ID (a row that run added: its copy is blank) is inert and left alone:
                # rewriting every row a finished run added would make the next sync cost the whole tab
                needed = _cells(srow.number, srow.raw, row, _TARGET_COLUMNS)
                copies = _cells(srow.number, srow.raw, row, _BEFORE_COLUMNS)
                edits.needed.extend(needed)
                if needed or copies:
                    edits.tidy.extend(_cells(srow.number, srow.raw, row, _MARK_COLUMNS))
            else:
                edits.needed.extend(_cells(srow.number, srow.raw, row))
        for key, unused in have.items():
            if key not in wanted and key not in plan.merged:
                edits.tidy.extend(_cells(unused.number, unused.raw, {}))
        marker = state.live.get(dname)
        if in_flight:
            new: dict[str, CellValue] = {STATE_DEPARTMENT: d.name, STATE_KIND: BOOK_WRITE, STATE_RUN: run}
            if marker is None:
                edits.put(new)
            else:
                edits.needed.extend(_cells(marker.number, marker.raw, new))
        elif marker is not None and not is_blank(marker.raw.get(STATE_RUN)):
            edits.tidy.append((marker.number, STATE_RUN, None))
    return edits


__all__ = [
    "PROTECTED_MASK",
    "SYNC_STATE_SHEET",
    "Conflict",
    "Rollup",
    "RowNote",
    "SyncChange",
    "SyncResult",
    "department_view",
    "same",
    "sync",
]
