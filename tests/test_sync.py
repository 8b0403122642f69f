"""sync: every rule of the three-way merge, crash recovery, busy books, and a stateful property test.

The tests run on a store factory: memory, xlsx, and Google Sheets (the local fake of its API).
Edits are made through the store's own interface, so the same test means the same on every backend.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from kouminrenkei_sheets import cli as cli_module
from kouminrenkei_sheets.config import Config, config_from_dict
from kouminrenkei_sheets.departments import Department, load_departments
from kouminrenkei_sheets.errors import BusyError, UsageError
from kouminrenkei_sheets.schema import (
    DEPARTMENT_SHEET,
    DEPARTMENTS,
    HISTORY,
    PROPOSALS,
    REFERRALS,
    REGISTER_SHEETS,
    SYNC_STATE,
    Answer,
    Column,
    Direction,
    HistoryKind,
    Sheet,
    Status,
)
from kouminrenkei_sheets.store.base import (
    WRITE_LOCK,
    AppendRows,
    ApplyResult,
    CellValue,
    Change,
    DeleteRow,
    ReplaceRows,
    RowKey,
    SetCell,
    SheetRef,
    Store,
    Table,
    group_by_book,
    header_key,
)
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.store.xlsx import XlsxStore, write_owner_file
from kouminrenkei_sheets.sync import PROTECTED_MASK, RECORD, SyncResult, department_view, same, sync
from kouminrenkei_sheets.values import normalize_text
from people import edit

NOW = datetime(2025, 5, 1, 9, 0)
BOUSAI, KANKO, KENKO = "防災・危機管理課", "観光戦略課", "健康推進課"
DESK_COLUMNS = [c for c in DEPARTMENT_SHEET.columns if c.owner.value == "desk"]
ANSWER_COLUMNS = [c for c in DEPARTMENT_SHEET.columns if c.owner.value == "department"]
BACKENDS = ["memory", "xlsx", "gsheets"]

StoreFactory = Callable[[Config], Store]


# ---------------------------------------------------------------- the store factory and a desk to work on
def make_config(tmp_path: Path, backend: str, departments: str) -> Config:
    data = {
        "desk": {"actor": "テスト担当"},
        "store": {"backend": backend, "register": "register.xlsx", "departments": departments},
    }
    return config_from_dict(data, base_dir=tmp_path)


def new_store(config: Config) -> Store:
    store: Store
    if config.store.backend == "memory":
        store = MemoryStore()
    elif config.store.backend == "xlsx":
        store = XlsxStore(config.resolve(config.store.register), base_dir=config.base_dir)
    else:  # pragma: no cover - a backend added to BACKENDS without a branch here
        raise AssertionError(config.store.backend)
    store.create_book(None, REGISTER_SHEETS)
    return store


@pytest.fixture(params=BACKENDS)
def store_factory(request: pytest.FixtureRequest) -> tuple[str, StoreFactory]:
    if request.param == "gsheets":  # Google Sheets through the real gspread code, on a local fake
        sheets = request.getfixturevalue("gsheets_store_factory")

        def on_sheets(config: Config) -> Store:
            store: Store = sheets(departments=config.store.departments)
            store.create_book(None, REGISTER_SHEETS)
            return store

        return request.param, on_sheets
    return request.param, new_store


def open_in_excel(desk: Desk, book: str | None, who: str) -> None:
    """Make a book look open in Excel (owner file) on whichever backend."""
    if not isinstance(desk.store, MemoryStore | XlsxStore):
        pytest.skip("Google Sheets has no owner file: several people edit a spreadsheet at once")
    if isinstance(desk.store, MemoryStore):
        desk.store.open_by[book] = who
    elif isinstance(desk.store, XlsxStore):
        write_owner_file(desk.store.path(book), who)
    else:  # pragma: no cover
        raise AssertionError(type(desk.store))


def close_in_excel(desk: Desk, book: str | None) -> None:
    if isinstance(desk.store, MemoryStore):
        desk.store.open_by.pop(book, None)
    elif isinstance(desk.store, XlsxStore):
        path = desk.store.path(book)
        path.with_name("~$" + path.name).unlink()


class Desk:
    """A register with departments, proposals and referrals, and ways to edit both sides."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store

    # -- seeding
    def seed(self) -> None:
        self.store.apply(
            [
                AppendRows(
                    SheetRef(DEPARTMENTS),
                    (
                        {"部局": "防災・危機管理部", "課": BOUSAI},
                        {"部局": "営業戦略部", "課": KANKO},
                        {"部局": "保健医療部", "課": KENKO},
                    ),
                ),
                AppendRows(
                    SheetRef(PROPOSALS),
                    (
                        proposal("R7-0001", "災害時の物資供給協定", "株式会社常陸ストア", 概要="店舗網で物資を供給"),
                        proposal("R7-0002", "観光周遊ルートの共同企画", "常陸交通株式会社", 概要="周遊バスの企画"),
                        proposal(
                            "R7-0003",
                            "健康ポイント事業",
                            "つくば健康株式会社",
                            概要="独自のポイント設計",
                            アイデア保護="概要、連携分野",
                            連携分野="健康増進・福祉",
                        ),
                    ),
                ),
                AppendRows(
                    SheetRef(REFERRALS),
                    (
                        referral("R7-0001-01", "R7-0001", BOUSAI),
                        referral("R7-0002-01", "R7-0002", KANKO),
                        referral("R7-0003-01", "R7-0003", KENKO),
                        referral("R7-0003-02", "R7-0003", KANKO),
                    ),
                ),
            ]
        )

    # -- reading
    def departments(self) -> dict[str, Department]:
        return load_departments(self.config, self.store)

    def ref(self, name: str) -> SheetRef:
        return self.departments()[name].ref

    def table(self, ref: SheetRef) -> Table:
        if ref.book is not None and not self.store.book_exists(ref.book):
            return Table(ref, [])
        table = self.store.read([ref])[ref]
        assert table is not None, ref
        return table

    def dept_rows(self, name: str) -> dict[str, dict[str, CellValue]]:
        """A department sheet's rows by 照会ID (the first of repeated IDs, as sync reads them)."""
        out: dict[str, dict[str, CellValue]] = {}
        for r in self.table(self.ref(name)).rows:
            out.setdefault(str(r.get("照会ID")), dict(r.values))
        return out

    def dept_row_number(self, name: str, key: str) -> int:
        return next(r.number for r in self.table(self.ref(name)).rows if r.get("照会ID") == key)

    def referral(self, key: str) -> dict[str, CellValue]:
        [row] = [r for r in self.table(SheetRef(REFERRALS)).rows if r.get("照会ID") == key]
        return dict(row.values)

    def proposal(self, pid: str) -> dict[str, CellValue]:
        [row] = [r for r in self.table(SheetRef(PROPOSALS)).rows if r.get("提案ID") == pid]
        return dict(row.values)

    def history(self) -> list[dict[str, CellValue]]:
        return [dict(r.values) for r in self.table(SheetRef(HISTORY)).rows]

    def books(self) -> list[str | None]:
        return [None, *sorted({d.ref.book for d in self.departments().values() if d.ref.book is not None})]

    def versions(self) -> dict[str | None, str | None]:
        return {book: self.store.book_version(book) for book in self.books()}

    # -- editing, as a person would
    def set_dept(self, name: str, key: str, column: str, value: CellValue) -> None:
        self.store.apply([SetCell(self.ref(name), RowKey("照会ID", key), column, value)])

    def delete_dept_row(self, name: str, key: str) -> None:
        self.store.apply([DeleteRow(self.ref(name), RowKey("照会ID", key))])

    def add_dept_row(self, name: str, values: dict[str, CellValue]) -> None:
        self.store.apply([AppendRows(self.ref(name), (values,))])

    def set_referral(self, key: str, column: str, value: CellValue) -> None:
        self.store.apply([SetCell(SheetRef(REFERRALS), RowKey("照会ID", key), column, value)])

    def delete_referral(self, key: str) -> None:
        self.store.apply([DeleteRow(SheetRef(REFERRALS), RowKey("照会ID", key))])

    def add_referral(self, **values: CellValue) -> None:
        self.store.apply([AppendRows(SheetRef(REFERRALS), (values,))])

    def set_proposal(self, pid: str, column: str, value: CellValue) -> None:
        self.store.apply([SetCell(SheetRef(PROPOSALS), RowKey("提案ID", pid), column, value)])

    def sync(self, **kwargs: Any) -> SyncResult:
        kwargs.setdefault("now", NOW)
        return sync(self.config, self.store, **kwargs)


def proposal(pid: str, subject: str, partner: str, **more: CellValue) -> dict[str, CellValue]:
    return {
        "提案ID": pid,
        "受付日": date(2025, 4, 1),
        "提案方向": Direction.PARTNER_TO_PREFECTURE,
        "提案種別": "フリー型",
        "提案者区分": "企業",
        "提案者名": partner,
        "担当者": "山田太郎",
        "メール": "yamada@example.jp",
        "電話": "029-301-1111",
        "件名": subject,
        "連携分野": "災害対策",
        "連携手法": "事業連携協定",
        "ステータス": Status.REFERRED,
        **more,
    }


def referral(key: str, pid: str, to: str, **more: CellValue) -> dict[str, CellValue]:
    return {
        "照会ID": key,
        "提案ID": pid,
        "照会先": to,
        "照会日": date(2025, 4, 10),
        "回答期限": date(2025, 5, 10),
        "回答": Answer.NONE,
        **more,
    }


@pytest.fixture(params=["tabs", "books"])
def desk(request: pytest.FixtureRequest, store_factory: tuple[str, StoreFactory], tmp_path: Path) -> Desk:
    backend, factory = store_factory
    config = make_config(tmp_path, backend, request.param)
    d = Desk(config, factory(config))
    d.seed()
    return d


@pytest.fixture
def synced(desk: Desk) -> Desk:
    """A desk whose department sheets were created by a first sync."""
    desk.sync()
    return desk


def kinds(result: SyncResult) -> Counter[str]:
    return Counter(c.kind for c in result.changes)


def history_of(desk: Desk, kind: str) -> list[dict[str, CellValue]]:
    """変更履歴 rows of one kind (an empty cell read as "", as every backend shows it)."""
    return [{k: "" if v is None else v for k, v in h.items()} for h in desk.history() if h.get("種別") == kind]


# ---------------------------------------------------------------- first sync: what each department sees
def test_each_department_sheet_shows_exactly_its_referrals(desk: Desk) -> None:
    result = desk.sync()
    assert sorted(desk.dept_rows(BOUSAI)) == ["R7-0001-01"]
    assert sorted(desk.dept_rows(KANKO)) == ["R7-0002-01", "R7-0003-02"]
    assert sorted(desk.dept_rows(KENKO)) == ["R7-0003-01"]
    row = desk.dept_rows(BOUSAI)["R7-0001-01"]
    assert row["件名"] == "災害時の物資供給協定"
    assert row["提案者名"] == "株式会社常陸ストア"
    assert same(DEPARTMENT_SHEET.column("回答期限"), row["回答期限"], date(2025, 5, 10))
    assert row["回答"] == Answer.NONE
    assert result.pushed == 4 and kinds(result) == Counter({HistoryKind.PUSH: 4})
    assert len(history_of(desk, HistoryKind.PUSH)) == 4


def test_personal_and_protected_fields_never_reach_a_department(desk: Desk) -> None:
    desk.sync()
    everything = json.dumps([desk.dept_rows(n) for n in (BOUSAI, KANKO, KENKO)], ensure_ascii=False, default=str)
    for secret in ("山田太郎", "yamada@example.jp", "029-301-1111", "独自のポイント設計"):
        assert secret not in everything
    kenko = desk.dept_rows(KENKO)["R7-0003-01"]
    assert kenko["概要"] == PROTECTED_MASK and kenko["連携分野"] == PROTECTED_MASK
    assert kenko["件名"] == "健康ポイント事業"  # not protected
    assert desk.dept_rows(BOUSAI)["R7-0001-01"]["概要"] == "店舗網で物資を供給"


def test_unparseable_idea_protection_protects_every_protectable_field(desk: Desk) -> None:
    desk.set_proposal("R7-0001", "アイデア保護", "全部")
    desk.sync()
    row = desk.dept_rows(BOUSAI)["R7-0001-01"]
    assert row["件名"] == PROTECTED_MASK and row["概要"] == PROTECTED_MASK
    assert row["提案者名"] == "株式会社常陸ストア"


def test_a_second_sync_with_no_edits_writes_nothing(synced: Desk) -> None:
    before = synced.versions()
    history = len(synced.history())
    result = synced.sync()
    assert result.changes == [] and result.files_written == []
    assert synced.versions() == before
    assert len(synced.history()) == history


def test_dry_run_plans_the_same_changes_and_writes_nothing(desk: Desk) -> None:
    before = desk.versions()
    plan = desk.sync(dry_run=True)
    assert desk.versions() == before
    assert plan.dry_run and plan.files_written == []
    real = desk.sync()
    assert plan.changes == real.changes
    assert plan.to_dict()["pushed"] == real.to_dict()["pushed"] == 4


# ---------------------------------------------------------------- the merge rules
def test_department_answer_is_pulled_and_status_rolls_up(synced: Desk) -> None:
    synced.set_dept(BOUSAI, "R7-0001-01", "回答", "連携可")
    synced.set_dept(BOUSAI, "R7-0001-01", "回答理由・コメント", "備蓄計画と合致")
    result = synced.sync()
    assert result.pulled == 2 and result.to_dict()["pulled"] == 2
    ref = synced.referral("R7-0001-01")
    assert ref["回答"] == "連携可" and ref["回答理由・コメント"] == "備蓄計画と合致"
    assert synced.proposal("R7-0001")["ステータス"] == Status.COORDINATING
    assert [r.to_dict() for r in result.rollups] == [
        {"proposal_id": "R7-0001", "old": Status.REFERRED, "new": Status.COORDINATING}
    ]
    pulls = history_of(synced, HistoryKind.PULL)
    assert {(h["シート"], h["キー"], h["列"], h["旧値"], h["新値"]) for h in pulls} == {
        (REFERRALS, "R7-0001-01", "回答", Answer.NONE, "連携可"),
        (REFERRALS, "R7-0001-01", "回答理由・コメント", "", "備蓄計画と合致"),
    }
    [rollup] = history_of(synced, HistoryKind.ROLLUP)
    assert (rollup["キー"], rollup["旧値"], rollup["新値"]) == ("R7-0001", Status.REFERRED, Status.COORDINATING)
    assert rollup["実行者"] == "テスト担当"


def test_desk_value_edited_in_a_department_sheet_is_put_back(synced: Desk) -> None:
    synced.set_dept(KANKO, "R7-0002-01", "件名", "勝手に書き換えた件名")
    synced.set_dept(KANKO, "R7-0002-01", "回答期限", date(2025, 12, 31))
    result = synced.sync()
    assert result.reverted == 2
    row = synced.dept_rows(KANKO)["R7-0002-01"]
    assert row["件名"] == "観光周遊ルートの共同企画"
    assert same(DEPARTMENT_SHEET.column("回答期限"), row["回答期限"], date(2025, 5, 10))
    reverts = {(h["列"], h["旧値"]) for h in history_of(synced, HistoryKind.REVERT)}
    assert reverts == {("件名", "勝手に書き換えた件名"), ("回答期限", "2025/12/31")}
    assert synced.proposal("R7-0002")["件名"] == "観光周遊ルートの共同企画"  # the register never changes


def test_register_change_is_pushed_to_every_sheet_showing_it(synced: Desk) -> None:
    synced.set_proposal("R7-0003", "件名", "健康ポイント事業（改訂）")
    result = synced.sync()
    assert result.pushed == 2
    assert synced.dept_rows(KENKO)["R7-0003-01"]["件名"] == "健康ポイント事業（改訂）"
    assert synced.dept_rows(KANKO)["R7-0003-02"]["件名"] == "健康ポイント事業（改訂）"
    pushes = {(h["キー"], h["旧値"], h["新値"]) for h in history_of(synced, HistoryKind.PUSH) if h["列"] == "件名"}
    assert pushes == {
        ("R7-0003-01", "健康ポイント事業", "健康ポイント事業（改訂）"),
        ("R7-0003-02", "健康ポイント事業", "健康ポイント事業（改訂）"),
    }


def test_desk_entering_an_answer_in_the_register_reaches_the_department(synced: Desk) -> None:
    synced.set_referral("R7-0002-01", "回答", "検討中")  # e.g. the department said so on the phone
    result = synced.sync()
    assert result.pushed == 1 and result.pulled == 0 and result.conflicts == []
    assert synced.dept_rows(KANKO)["R7-0002-01"]["回答"] == "検討中"
    assert synced.referral("R7-0002-01")["回答"] == "検討中"


def test_answer_changed_on_both_sides_the_department_wins(synced: Desk) -> None:
    synced.set_referral("R7-0002-01", "回答", "要協議")
    synced.set_dept(KANKO, "R7-0002-01", "回答", "連携不可")
    result = synced.sync()
    assert synced.referral("R7-0002-01")["回答"] == "連携不可"
    assert synced.dept_rows(KANKO)["R7-0002-01"]["回答"] == "連携不可"
    [conflict] = result.conflicts
    assert conflict.to_dict() == {
        "department": KANKO,
        "sheet": synced.departments()[KANKO].ref.sheet
        if synced.config.store.departments == "tabs"
        else str(synced.ref(KANKO)),
        "key": "R7-0002-01",
        "column": "回答",
        "winner": KANKO,
        "kept": "連携不可",
        "overwritten": "要協議",
    }
    [h] = history_of(synced, HistoryKind.CONFLICT)
    assert (h["シート"], h["キー"], h["列"], h["旧値"], h["新値"]) == (
        REFERRALS,
        "R7-0002-01",
        "回答",
        "要協議",
        "連携不可",
    )


def test_desk_column_changed_on_both_sides_the_desk_wins(synced: Desk) -> None:
    synced.set_proposal("R7-0001", "件名", "物資供給協定（台帳で修正）")
    synced.set_dept(BOUSAI, "R7-0001-01", "件名", "課で修正した件名")
    result = synced.sync()
    assert synced.dept_rows(BOUSAI)["R7-0001-01"]["件名"] == "物資供給協定（台帳で修正）"
    [conflict] = result.conflicts
    assert conflict.winner == "台帳"
    assert (conflict.kept, conflict.overwritten) == ("物資供給協定（台帳で修正）", "課で修正した件名")
    [h] = history_of(synced, HistoryKind.CONFLICT)
    assert (h["列"], h["旧値"], h["新値"]) == ("件名", "課で修正した件名", "物資供給協定（台帳で修正）")


def test_same_value_typed_on_both_sides_is_no_conflict(synced: Desk) -> None:
    synced.set_referral("R7-0002-01", "回答", "連携可")
    synced.set_dept(KANKO, "R7-0002-01", "回答", " 連携可 ")
    result = synced.sync()
    assert result.conflicts == [] and result.pulled == 0 and result.pushed == 0


def test_dates_compare_by_meaning_and_keep_what_was_typed(synced: Desk) -> None:
    synced.set_dept(BOUSAI, "R7-0001-01", "回答期限", "令和7年5月10日")  # the same date, typed as text
    synced.set_dept(BOUSAI, "R7-0001-01", "回答日", "R7.4.20")
    before = synced.table(synced.ref(BOUSAI))
    result = synced.sync()
    assert result.reverted == 0
    assert [(c.kind, c.column) for c in result.changes] == [(HistoryKind.PULL, "回答日")]
    assert synced.referral("R7-0001-01")["回答日"] == "R7.4.20"  # as the department typed it
    assert synced.dept_rows(BOUSAI)["R7-0001-01"]["回答期限"] == "令和7年5月10日"  # left as typed
    assert synced.table(synced.ref(BOUSAI)).rows == before.rows
    assert synced.sync().changes == []


def test_a_deleted_referral_row_is_restored_and_reported(synced: Desk) -> None:
    synced.set_dept(KANKO, "R7-0003-02", "回答理由・コメント", "検討します")
    synced.sync()
    synced.delete_dept_row(KANKO, "R7-0003-02")
    result = synced.sync()
    assert sorted(synced.dept_rows(KANKO)) == ["R7-0002-01", "R7-0003-02"]
    assert synced.dept_rows(KANKO)["R7-0003-02"]["回答理由・コメント"] == "検討します"
    assert [(r.key, r.department) for r in result.deleted_rows] == [("R7-0003-02", KANKO)]
    assert result.restored == 1
    assert synced.referral("R7-0003-02")["回答理由・コメント"] == "検討します"  # register untouched
    assert len(history_of(synced, HistoryKind.RESTORE)) == 1
    assert synced.sync().changes == []


def test_a_row_deleted_right_after_the_first_sync_is_reported_too(desk: Desk) -> None:
    desk.sync()
    desk.delete_dept_row(KANKO, "R7-0003-02")
    result = desk.sync()
    assert [(r.key, r.department) for r in result.deleted_rows] == [("R7-0003-02", KANKO)]
    assert result.restored == 1 and "R7-0003-02" in desk.dept_rows(KANKO)


def test_rows_a_department_adds_are_reported_and_left_alone(synced: Desk) -> None:
    synced.add_dept_row(KANKO, {"照会ID": "R7-0099-01", "件名": "課で独自に追加", "回答": "連携可"})
    synced.add_dept_row(KANKO, {"照会ID": "R7-0001-01", "回答": "連携可"})  # another department's referral
    synced.add_dept_row(KANKO, {"件名": "照会IDなし", "回答理由・コメント": "メモ"})
    referrals_before = synced.table(SheetRef(REFERRALS)).rows
    result = synced.sync()
    assert sorted((r.key, r.reason) for r in result.added_rows) == [
        ("", "照会IDが空欄の行（同期の対象外）"),
        ("R7-0001-01", f"{BOUSAI}あての照会です（同期の対象外）"),
        ("R7-0099-01", "台帳にない照会ID（同期の対象外）"),
    ]
    assert synced.table(SheetRef(REFERRALS)).rows == referrals_before
    assert result.changes == [] and result.files_written == []
    rows = synced.table(synced.ref(KANKO)).rows
    assert [r.get("件名") for r in rows][-3:] == ["課で独自に追加", None, "照会IDなし"]


def test_a_repeat_of_a_removed_row_is_the_departments_own_and_stays(synced: Desk) -> None:
    synced.add_dept_row(KANKO, {"照会ID": "R7-0002-01", "回答理由・コメント": "課の控え"})
    synced.delete_referral("R7-0002-01")
    first = synced.sync()
    assert [r.key for r in first.removed_rows] == ["R7-0002-01"]
    second = synced.sync()  # the repeat is now the only row with that ID: the department's own row
    assert second.changes == [] and second.files_written == []
    assert [(r.key, r.reason) for r in second.added_rows] == [("R7-0002-01", "台帳にない照会ID（同期の対象外）")]
    assert synced.dept_rows(KANKO)["R7-0002-01"]["回答理由・コメント"] == "課の控え"


def test_a_duplicated_row_in_a_department_sheet_is_reported_not_merged(synced: Desk) -> None:
    synced.add_dept_row(KANKO, {"照会ID": "R7-0002-01", "回答": "連携可"})
    result = synced.sync()
    assert [r.reason for r in result.added_rows] == [
        "照会IDが2行目と重複（どちらかの行を消すか直すまで、この照会は同期しません）"
    ]
    assert synced.referral("R7-0002-01")["回答"] == Answer.NONE
    # the desk moves the deadline meanwhile: nothing is pushed onto either row, and no write is refused
    synced.set_referral("R7-0002-01", "回答期限", date(2025, 6, 30))
    again = synced.sync()
    assert again.write_conflicts == [] and len(again.added_rows) == 1
    rows = [r for r in synced.table(synced.ref(KANKO)).rows if r.get("照会ID") == "R7-0002-01"]
    assert len(rows) == 2 and all(r.get("回答期限") != date(2025, 6, 30) for r in rows)
    # the department deletes its second row: the referral is synced again, the deadline lands
    typed = {"照会ID": "R7-0002-01", "回答": "連携可"}
    synced.store.apply([DeleteRow(synced.ref(KANKO), RowKey("照会ID", "R7-0002-01"), expected=typed)])
    synced.sync()
    assert synced.dept_rows(KANKO)["R7-0002-01"]["回答期限"] == date(2025, 6, 30)


def test_a_moved_referral_shows_the_new_department_none_of_the_old_ones_answers(synced: Desk) -> None:
    synced.set_dept(KANKO, "R7-0003-02", "回答", "検討中")
    synced.sync()
    synced.set_dept(KANKO, "R7-0003-02", "回答理由・コメント", "担当は防災課です")  # typed, not yet synced
    synced.set_dept(KANKO, "R7-0003-02", "先方担当者", "観光太郎")
    synced.set_referral("R7-0003-02", "照会先", BOUSAI)
    result = synced.sync()
    assert "R7-0003-02" not in synced.dept_rows(KANKO)
    moved = synced.dept_rows(BOUSAI)["R7-0003-02"]
    assert moved["回答"] == Answer.NONE and moved["回答理由・コメント"] is None and moved["先方担当者"] is None
    referral = synced.referral("R7-0003-02")
    assert referral["回答"] == Answer.NONE and not referral["回答理由・コメント"] and not referral["先方担当者"]
    kept = {(h["キー"], h["列"], h["旧値"]) for h in synced.history()}  # nothing of the old department's is lost
    assert {("R7-0003-02", "回答", "検討中"), ("R7-0003-02", "回答理由・コメント", "担当は防災課です"),
            ("R7-0003-02", "先方担当者", "観光太郎")} <= kept  # fmt: skip
    assert [(r.department, r.key) for r in result.removed_rows] == [(KANKO, "R7-0003-02")]
    everything = json.dumps([synced.dept_rows(n) for n in (BOUSAI, KANKO, KENKO)], ensure_ascii=False, default=str)
    for secret in (
        "観光太郎",
        "担当は防災課です",
        "山田太郎",
        "yamada@example.jp",
        "029-301-1111",
        "独自のポイント設計",
    ):
        assert secret not in everything  # in no department book
    assert synced.sync().changes == []
    synced.set_dept(BOUSAI, "R7-0003-02", "回答", "連携可")  # the new department answers: its own answer
    synced.sync()
    assert synced.referral("R7-0003-02")["回答"] == "連携可"


def test_a_withdrawn_referral_leaves_the_sheet_and_its_answers_stay_in_history(synced: Desk) -> None:
    synced.set_dept(KANKO, "R7-0003-02", "回答理由・コメント", "まだ検討中です")
    synced.delete_referral("R7-0003-02")
    result = synced.sync()
    assert "R7-0003-02" not in synced.dept_rows(KANKO)
    assert result.removed_rows[0].reason == "台帳から照会が削除されたため削除"
    kept = {(h["キー"], h["列"], h["旧値"]) for h in synced.history()}
    assert ("R7-0003-02", "回答理由・コメント", "まだ検討中です") in kept


def test_all_declined_is_a_failure_candidate_not_a_status_change(synced: Desk) -> None:
    synced.set_dept(KENKO, "R7-0003-01", "回答", "連携不可")
    synced.set_dept(KANKO, "R7-0003-02", "回答", "連携不可")
    result = synced.sync()
    assert result.failure_candidates == ["R7-0003"]
    assert synced.proposal("R7-0003")["ステータス"] == Status.REFERRED
    assert result.rollups == []


def test_proposals_referred_by_hand_roll_up_to_referred(synced: Desk) -> None:
    synced.set_proposal("R7-0002", "ステータス", Status.RECEIVED)
    result = synced.sync()
    assert [(r.proposal_id, r.new) for r in result.rollups] == [("R7-0002", Status.REFERRED)]


def test_hand_added_referral_is_synced_like_one_from_refer(synced: Desk) -> None:
    synced.add_referral(**referral("Ｒ７－０００１－０２", "R7-0001", " 観光戦略課 "))
    result = synced.sync()
    assert "Ｒ７－０００１－０２" in synced.dept_rows(KANKO)
    assert result.pushed == 1


@pytest.mark.parametrize("how", ["deleted", "renamed", "duplicated", "title_row"])
def test_a_department_sheet_whose_headers_changed_is_left_alone_and_reported(desk: Desk, how: str) -> None:
    desk.set_referral("R7-0002-01", "回答理由・コメント", "台帳の記録")
    desk.sync()
    ref = desk.ref(KANKO)
    table = desk.table(ref)
    rows = [[r.values.get(header_key(h)) for h in table.headers] for r in table.rows]
    headers = list(table.headers)
    i = headers.index("回答理由・コメント")
    if how == "deleted":  # the department deletes the whole column
        headers.pop(i)
        rows = [r[:i] + r[i + 1 :] for r in rows]
    elif how == "renamed":
        headers[i] = "理由"
    elif how == "duplicated":
        headers[headers.index("回答日")] = "回答理由・コメント"
    grid: list[list[CellValue]] = [headers, *rows]
    if how == "title_row":  # a title typed above the header
        grid = [["観光戦略課あて照会一覧"], *grid]
    rebuild(desk, ref, grid)
    desk.set_referral("R7-0002-01", "回答期限", date(2025, 7, 1))  # a push that must wait
    before = desk.table(ref)
    result = desk.sync()
    assert result.exit_code == 1
    problems = [p for p in result.problems if ref.sheet in p]
    assert problems and all("同期しません" in p for p in problems)
    assert any("回答理由・コメント" in p or "照会ID" in p for p in problems)
    after = desk.table(ref)
    assert after.headers == before.headers  # no column added back
    assert [r.values for r in after.rows] == [r.values for r in before.rows]  # nothing pushed
    assert desk.referral("R7-0002-01")["回答理由・コメント"] == "台帳の記録"  # nothing pulled as blank
    assert not any(c.department == KANKO for c in result.changes)


def test_a_sheet_without_its_id_column_is_reported_and_not_written(synced: Desk) -> None:
    ref = synced.ref(KANKO)
    table = synced.table(ref)
    keep = [h for h in table.headers if h != "照会ID"]
    rebuild(synced, ref, [keep, *[[r.values.get(h) for h in keep] for r in table.rows]])
    before = synced.versions()
    synced.set_referral("R7-0002-01", "回答期限", date(2025, 6, 1))
    result = synced.sync()
    assert any("照会ID" in p and ref.sheet in p for p in result.problems)
    assert synced.store.book_version(ref.book) == before[ref.book] or ref.book is None
    assert all("照会ID" not in h for h in synced.table(ref).headers)


def rebuild(desk: Desk, ref: SheetRef, grid: list[list[CellValue]]) -> None:
    """Replace a department sheet's content by hand (as a person reorganising their sheet would)."""
    if not isinstance(desk.store, XlsxStore):  # memory, and the Sheets fake, take a grid as it is
        desk.store.put_table(ref, grid)  # type: ignore[attr-defined]
        return
    import openpyxl

    path = desk.store.path(ref.book)
    wb = openpyxl.load_workbook(path)
    ws = wb[ref.sheet]
    ws.delete_rows(1, ws.max_row)
    ws.delete_cols(1, ws.max_column)
    for r, cells in enumerate(grid, start=1):
        for c, v in enumerate(cells, start=1):
            ws.cell(row=r, column=c, value=v)
    wb.save(path)


def test_department_columns_order_and_notes_survive(desk: Desk, tmp_path: Path) -> None:
    if desk.config.store.departments != "books":
        pytest.skip("a department's own workbook is created by the department here")
    ref = desk.ref(KANKO)
    assert ref.book is not None
    mine = Column("課内メモ")
    reordered = Sheet(ref.sheet, (mine, *reversed(DEPARTMENT_SHEET.columns)))
    desk.store.create_book(ref.book, [reordered])
    sent: list[Change] = []
    spy = SpyStore(desk.store, sent)
    desk.store = spy
    desk.sync()
    desk.set_dept(KANKO, "R7-0002-01", "課内メモ", "部長説明済み")
    desk.set_dept(KANKO, "R7-0002-01", "回答", "検討中")
    desk.set_proposal("R7-0002", "件名", "周遊ルート（改）")
    desk.sync()
    table = desk.table(ref)
    assert table.headers == ["課内メモ", *reversed(DEPARTMENT_SHEET.headers)]
    row = desk.dept_rows(KANKO)["R7-0002-01"]
    assert row["課内メモ"] == "部長説明済み" and row["件名"] == "周遊ルート（改）"
    assert desk.referral("R7-0002-01")["回答"] == "検討中"
    assert not any(isinstance(ch, ReplaceRows) and ch.ref.book is not None for ch in sent)
    assert not any(isinstance(ch, ReplaceRows) and ch.ref.sheet in (BOUSAI, KANKO, KENKO) for ch in sent)


class SpyStore(Store):
    """Passes everything to a store and keeps every change applied (or, with ``crash_after``, dies)."""

    def __init__(self, inner: Store, sent: list[Change] | None = None, crash_after: int | None = None) -> None:
        self.inner = inner
        self.sent = sent if sent is not None else []
        self.backend = inner.backend
        self.crash_after = crash_after  # book writes allowed before the "process dies"
        self.book_writes = 0

    def _tick(self) -> None:
        if self.crash_after is not None and self.book_writes >= self.crash_after:
            raise Crash(f"crash after {self.book_writes} book writes")
        self.book_writes += 1

    def read(self, refs: Sequence[SheetRef]) -> dict[SheetRef, Table | None]:
        return self.inner.read(refs)

    def sheet_names(self, book: str | None = None) -> list[str]:
        return self.inner.sheet_names(book)

    def apply(self, changes: Sequence[Change], *, skip_busy: bool = False) -> ApplyResult:
        self.sent.extend(changes)
        result = ApplyResult()
        for book, chs in group_by_book(changes).items():
            if self.inner.busy_owner(book) is None:
                self._tick()
            one = self.inner.apply(chs, skip_busy=skip_busy)
            result.written.extend(one.written)
            result.skipped.update(one.skipped)
            result.conflicts.extend(one.conflicts)
        return result

    def book_exists(self, book: str | None) -> bool:
        return self.inner.book_exists(book)

    def create_book(self, book: str | None, sheets: Sequence[Sheet], *, share_with: str = "") -> None:
        self._tick()
        self.inner.create_book(book, sheets, share_with=share_with)

    def book_version(self, book: str | None) -> str | None:
        return self.inner.book_version(book)

    def busy_owner(self, book: str | None) -> str | None:
        return self.inner.busy_owner(book)

    def display_name(self, book: str | None) -> str:
        return self.inner.display_name(book)

    def _hold_lock(self, name: str, *, ttl_seconds: float, wait_seconds: float = 0) -> Any:
        return self.inner._hold_lock(name, ttl_seconds=ttl_seconds, wait_seconds=wait_seconds)


class Crash(Exception):
    """The process dying between two workbook writes."""


# ---------------------------------------------------------------- busy books, the lock, crashes
def test_a_department_book_open_in_excel_waits_for_the_next_run(desk: Desk) -> None:
    if desk.config.store.departments != "books":
        pytest.skip("department books only")
    desk.sync()
    book = desk.ref(KANKO).book
    desk.set_dept(KANKO, "R7-0002-01", "回答", "連携可")  # saved before opening: still pulled
    open_in_excel(desk, book, "佐藤花子")
    desk.set_proposal("R7-0002", "件名", "周遊ルート（改）")
    kanko_version = desk.store.book_version(book)
    result = desk.sync()
    assert desk.store.book_version(book) == kanko_version
    assert result.skipped_busy == {desk.store.display_name(book): result.skipped_busy[desk.store.display_name(book)]}
    assert "佐藤花子" in next(iter(result.skipped_busy.values()))
    assert result.deferred == {KANKO: 1}
    assert result.pushed == 0  # the push to 観光戦略課 did not happen yet
    assert desk.referral("R7-0002-01")["回答"] == "連携可"
    assert desk.dept_rows(KANKO)["R7-0002-01"]["件名"] == "観光周遊ルートの共同企画"
    again = desk.sync()  # still open: nothing new to log, nothing written
    assert desk.store.book_version(book) == kanko_version and again.deferred == {KANKO: 1}
    close_in_excel(desk, book)
    history = len(desk.history())
    caught_up = desk.sync()
    assert desk.dept_rows(KANKO)["R7-0002-01"]["件名"] == "周遊ルート（改）"
    assert caught_up.pushed == 1
    assert len(desk.history()) == history  # the push was logged when first planned, not twice
    assert desk.sync().changes == []


def test_a_register_open_in_excel_means_nothing_is_written(synced: Desk) -> None:
    synced.set_dept(BOUSAI, "R7-0001-01", "回答", "連携可")
    open_in_excel(synced, None, "公民連携デスク")
    before = synced.versions()
    result = synced.sync()
    assert synced.versions() == before
    assert result.register_busy and "公民連携デスク" in result.register_busy
    assert result.pulled == 0
    close_in_excel(synced, None)
    assert synced.sync().pulled == 1


def test_one_sync_at_a_time(synced: Desk) -> None:
    synced.set_dept(BOUSAI, "R7-0001-01", "回答", "連携可")  # (a quiet desk needs no lock: test_quiet_sync)
    with synced.store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0), pytest.raises(BusyError):
        synced.sync()


def test_wait_lets_a_second_sync_run_after_the_first(synced: Desk) -> None:
    synced.set_dept(BOUSAI, "R7-0001-01", "回答", "連携可")
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with synced.store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0):
            holding.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(10)
    threading.Timer(0.3, release.set).start()
    result = synced.sync(wait=True)
    t.join()
    assert result.pulled == 1


@pytest.mark.parametrize("crash_after", [0, 1, 2, 3])
def test_interrupted_sync_then_rerun_equals_an_uninterrupted_one(
    crash_after: int, store_factory: tuple[str, StoreFactory], tmp_path: Path
) -> None:
    backend, factory = store_factory

    def scenario(where: Path) -> Desk:
        d = Desk(make_config(where, backend, "books"), factory(make_config(where, backend, "books")))
        d.seed()
        d.sync()
        d.set_dept(KANKO, "R7-0002-01", "件名", "課で書き換え")  # revert to come
        d.set_dept(KANKO, "R7-0003-02", "回答", "連携可")  # pull, rollup
        d.set_dept(KENKO, "R7-0003-01", "回答理由・コメント", "協力可能")  # pull
        d.delete_dept_row(BOUSAI, "R7-0001-01")  # restore
        d.set_proposal("R7-0003", "件名", "健康ポイント（改）")  # push to two books
        d.set_referral("R7-0002-01", "照会先", KENKO)  # move
        return d

    clean = scenario(tmp_path / "clean")
    clean.sync()
    crashed = scenario(tmp_path / "crashed")
    real = crashed.store
    crashed.store = SpyStore(real, crash_after=crash_after)
    with pytest.raises(Crash):
        crashed.sync()
    crashed.store = real
    crashed.sync()
    for name in (BOUSAI, KANKO, KENKO):
        assert crashed.dept_rows(name) == clean.dept_rows(name), name
    for ref in (SheetRef(REFERRALS), SheetRef(PROPOSALS)):
        assert crashed.table(ref).records() == clean.table(ref).records()

    def entries(d: Desk) -> Counter[tuple[CellValue, ...]]:
        return Counter(tuple(h[k] for k in ("シート", "キー", "列", "旧値", "新値", "種別")) for h in d.history())

    assert entries(crashed) == entries(clean)  # nothing lost, nothing logged twice
    assert crashed.sync().changes == []


# ---------------------------------------------------------------- options and the command line
def test_one_department_only(synced: Desk) -> None:
    synced.set_dept(BOUSAI, "R7-0001-01", "回答", "検討中")
    synced.set_dept(KANKO, "R7-0002-01", "回答", "検討中")
    result = synced.sync(department=" 防災・危機管理課 ")
    assert result.departments == [BOUSAI] and result.pulled == 1
    assert synced.referral("R7-0002-01")["回答"] == Answer.NONE
    with pytest.raises(UsageError, match="担当課マスタにありません"):
        synced.sync(department="存在しない課")


def test_view_masks_only_what_is_protected() -> None:
    row_values = {"照会ID": "R7-0001-01", "提案ID": "R7-0001", "回答": "連携可"}
    assert department_view(row_values, None)["件名"] is None
    assert department_view(row_values, None)["回答"] == "連携可"


def test_state_is_kept_as_rows_not_one_big_cell(synced: Desk) -> None:
    table = synced.table(SheetRef(SYNC_STATE))
    assert table.hidden
    # one row per (department, referral), even with writes in flight (+ one mark per department book)
    assert sorted(str(r.get("照会ID")) for r in table.rows if r.get("照会ID")) == [
        "R7-0001-01",
        "R7-0002-01",
        "R7-0003-01",
        "R7-0003-02",
    ]
    assert all(len(str(v)) < 1000 for r in table.rows for v in r.values.values())


@pytest.fixture
def cli_desk(tmp_path: Path) -> Iterator[tuple[Path, Desk]]:
    """A desk on xlsx with a config file, for the command line."""
    from kouminrenkei_sheets.init import init_desk

    init_desk(tmp_path, departments="books")
    config_path = tmp_path / "kouminrenkei.toml"
    from kouminrenkei_sheets.config import load_config
    from kouminrenkei_sheets.store.factory import open_store

    config = load_config(config_path)
    config.desk.actor = "テスト担当"
    d = Desk(config, open_store(config))
    d.seed()
    yield config_path, d


def test_cli_json_is_the_result(cli_desk: tuple[Path, Desk]) -> None:
    config_path, _ = cli_desk
    runner = CliRunner()
    out = runner.invoke(cli_module.cli, ["--config", str(config_path), "sync", "--dry-run", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert {"dry_run", "pushed", "pulled", "reverted", "conflicts", "rollups", "files_written"} <= data.keys()
    assert data["dry_run"] is True and data["pushed"] == 4 and data["files_written"] == []
    out = runner.invoke(cli_module.cli, ["--config", str(config_path), "sync"])
    assert out.exit_code == 0, out.output
    assert "担当課シートへ反映: 4件" in out.output


def test_cli_text_shows_conflicts_busy_books_and_candidates(cli_desk: tuple[Path, Desk]) -> None:
    config_path, d = cli_desk
    d.sync()
    d.set_referral("R7-0002-01", "回答", "要協議")
    d.set_dept(KANKO, "R7-0002-01", "回答", "連携不可")
    d.set_dept(KENKO, "R7-0003-01", "回答", "連携不可")
    d.set_dept(KANKO, "R7-0003-02", "回答", "連携不可")
    open_in_excel(d, d.ref(BOUSAI).book, "佐藤花子")
    d.set_proposal("R7-0001", "件名", "改")
    runner = CliRunner()
    out = runner.invoke(cli_module.cli, ["--config", str(config_path), "sync"])
    assert out.exit_code == 0, out.output
    assert "競合" in out.output and "R7-0002-01" in out.output and "要協議" in out.output
    assert "佐藤花子" in out.output
    assert "不成立の候補: R7-0002、R7-0003（すべての回答が連携不可。判断はデスクで）" in out.output


def test_cli_busy_exits_3(cli_desk: tuple[Path, Desk]) -> None:
    config_path, d = cli_desk
    with d.store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0):
        out = CliRunner().invoke(cli_module.cli, ["--config", str(config_path), "sync"])
    assert out.exit_code == 3
    assert "書き込んでいます" in out.output


# ---------------------------------------------------------------- the stateful property test
ANSWER_VALUES = st.sampled_from([*Answer.ALL, "連携可 ", "", None])
TEXT_VALUES = st.sampled_from(["理由A", "理由B", "要調整", "", None, "ｶﾀｶﾅ理由"])
DATE_VALUES = st.sampled_from([date(2025, 6, 1), "2025/6/1", "令和7年7月1日", None, "未定"])


def _answer_value(column: Column) -> st.SearchStrategy[CellValue]:
    if column.name == "回答":
        return ANSWER_VALUES
    if column.is_date:
        return DATE_VALUES
    return TEXT_VALUES


ADDED_MARK = "課の追加行"


def snapshot(desk: Desk) -> dict[str, Any]:
    """Everything a person can see, for comparing two desks (history without its times)."""
    out: dict[str, Any] = {
        "referrals": desk.table(SheetRef(REFERRALS)).records(),
        "proposals": desk.table(SheetRef(PROPOSALS)).records(),
        "history": Counter(
            tuple(h[k] for k in ("シート", "キー", "列", "旧値", "新値", "種別")) for h in desk.history()
        ),
    }
    for name in (BOUSAI, KANKO, KENKO):
        out[name] = desk.table(desk.ref(name)).records()
    return out


class SyncMachine(RuleBasedStateMachine):
    """Random edits on both sides, syncs and interrupted syncs; nothing may be lost."""

    def __init__(self) -> None:
        super().__init__()
        self.desk: Desk
        self.typed: set[tuple[str, str, str]] = set()  # (照会ID, column, value) departments had at a sync
        self.pending: set[tuple[str, str, str]] = set()  # answers that differed from 照会 at a sync

    @initialize(mode=st.sampled_from(["tabs", "books", "books"]))  # books: several workbooks to crash between
    def setup(self, mode: str) -> None:
        config = config_from_dict({"desk": {"actor": "機械"}, "store": {"backend": "memory", "departments": mode}})
        self.desk = Desk(config, new_store(config))
        self.desk.seed()
        self.desk.sync()

    # -- the desk's side
    @rule(data=st.data(), what=st.sampled_from(["subject", "protect", "referral", "move", "add", "withdraw"]))
    def desk_edits(self, data: st.DataObject, what: str) -> None:
        keys = sorted(str(r.get("照会ID")) for r in self.desk.table(SheetRef(REFERRALS)).rows)
        pid = data.draw(st.sampled_from(["R7-0001", "R7-0002", "R7-0003"]))
        if what == "subject":
            self.desk.set_proposal(pid, "件名", data.draw(st.sampled_from(["件名A", "件名B", "件名A "])))
        elif what == "protect":
            self.desk.set_proposal(pid, "アイデア保護", data.draw(st.sampled_from(["概要", "", "件名、備考"])))
        elif what == "referral" and keys:
            column = data.draw(st.sampled_from(["回答期限", "回答", "回答理由・コメント", "次回予定日"]))
            value = data.draw(_answer_value(DEPARTMENT_SHEET.column(column)))
            self.desk.set_referral(data.draw(st.sampled_from(keys)), column, value)
        elif what == "move" and keys:
            to = data.draw(st.sampled_from([BOUSAI, KANKO, KENKO]))
            self.desk.set_referral(data.draw(st.sampled_from(keys)), "照会先", to)
        elif what == "add":
            n = data.draw(st.integers(1, 9))
            key = f"{pid}-{n + 10:02d}"
            if key not in keys:
                self.desk.add_referral(**referral(key, pid, data.draw(st.sampled_from([BOUSAI, KANKO, KENKO]))))
        elif what == "withdraw" and keys:
            self.desk.delete_referral(data.draw(st.sampled_from(keys)))

    # -- the departments' side
    def _rows(self, data: st.DataObject, name: str) -> str | None:
        """A row of a department sheet that shows a referral addressed to it."""
        referrals = self.desk.table(SheetRef(REFERRALS)).rows
        addressed = {str(r.get("照会ID")) for r in referrals if r.get("照会先") == name}
        keys = sorted(k for k in self.desk.dept_rows(name) if k in addressed)
        return data.draw(st.sampled_from(keys)) if keys else None

    @rule(
        data=st.data(),
        name=st.sampled_from([BOUSAI, KANKO, KENKO]),
        what=st.sampled_from(["answer", "answer", "desk column", "delete", "add"]),
    )
    def department_edits(self, data: st.DataObject, name: str, what: str) -> None:
        ref = self.desk.ref(name)
        if ref.book is not None and not self.desk.store.book_exists(ref.book):
            return
        if what == "add":
            key = data.draw(st.sampled_from(["R7-0099-01", "R7-0002-01", ""]))
            self.desk.add_dept_row(name, {"照会ID": key, "回答理由・コメント": ADDED_MARK})
            return
        key = self._rows(data, name)
        if key is None:
            return
        if what == "answer":
            column = data.draw(st.sampled_from(ANSWER_COLUMNS))
            self.desk.set_dept(name, key, column.name, data.draw(_answer_value(column)))
        elif what == "desk column":
            column_name = data.draw(st.sampled_from(["件名", "回答期限", "概要"]))
            self.desk.set_dept(name, key, column_name, data.draw(st.sampled_from(["書換え", "2026/1/1", None])))
        else:
            self.desk.delete_dept_row(name, key)

    # -- syncs
    def _remember(self) -> None:
        """Answers the departments changed since the last sync, in rows sync takes care of."""
        referrals = {str(r.get("照会ID")): r for r in self.desk.table(SheetRef(REFERRALS)).rows}
        state = self.desk.store.read([SheetRef(SYNC_STATE)])[SheetRef(SYNC_STATE)]
        last = {  # rows synced to a department sheet (a row being taken out is no longer its)
            (str(r.get("課")), str(r.get("照会ID"))): r
            for r in (state.rows if state else [])
            if r.get("照会ID") and r.get("状態") != "削除中"
        }
        for name in (BOUSAI, KANKO, KENKO):
            typed = Counter(str(r.get("照会ID")) for r in self.desk.table(self.desk.ref(name)).rows)
            for key, row in self.desk.dept_rows(name).items():
                if typed[key] > 1:
                    continue  # an ID the department typed on two rows: neither is synced (said), both stay
                addressed = key in referrals and referrals[key].get("照会先") == name
                if not addressed and (name, key) not in last:
                    continue  # a row the department added: sync leaves it alone
                if not addressed:  # moved or withdrawn: its answers are kept in 変更履歴, never shown on
                    for c in ANSWER_COLUMNS:
                        text = normalize_text(row.get(c.name))
                        if text and not (c.name == "回答" and text == Answer.NONE):  # 未回答: no answer to keep
                            self.typed.add((key, c.name, text))
                    continue
                for c in ANSWER_COLUMNS:
                    before = last[(name, key)].get(c.name) if (name, key) in last else None
                    if not same(c, row.get(c.name), before) and key in referrals:
                        text = normalize_text(row.get(c.name))
                        self.pending.add((key, c.name, text))
                        if text:
                            self.typed.add((key, c.name, text))

    def _synced(self) -> None:
        """Checks after a sync that completed."""
        referrals = {str(r.get("照会ID")): r for r in self.desk.table(SheetRef(REFERRALS)).rows}
        recorded = {
            (str(h.get("キー")), str(h.get("列")), normalize_text(v))
            for h in self.desk.history()
            if h.get("種別") in (HistoryKind.PULL, HistoryKind.CONFLICT)
            for v in (h.get("旧値"), h.get("新値"))
        }
        for key, column, text in self.pending:
            if key not in referrals:
                continue  # withdrawn: its answers stay in 変更履歴 (nothing_typed_is_lost)
            here = normalize_text(referrals[key].get(column)) == text
            assert here or (key, column, text) in recorded, (key, column, text)
        self.pending.clear()
        self.sheets_mirror_the_register()

    @rule(crash_after=st.sampled_from([None, 0, 1, 1, 1, 2, 3]))  # 1: after the register, before any book
    def run_sync(self, crash_after: int | None) -> None:
        """A sync; or one interrupted after ``crash_after`` workbook writes, then rerun, which must end
        where one uninterrupted sync ends (a twin of the desk runs that for comparison)."""
        self._remember()
        if crash_after is None:
            # a twin without the last sync's record reads every book: a book nobody saved since that
            # sync, taken from its _sync rows instead, must plan exactly as the book read would
            twin = Desk(self.desk.config, copy.deepcopy(self.desk.store))
            twin.store.save_record(RECORD, None)
            self.desk.sync()
            twin.sync()
            assert snapshot(self.desk) == snapshot(twin)

            def state(d: Desk) -> list[dict[str, CellValue]]:  # (同期ID: each run's own random name)
                return [{k: v for k, v in r.items() if k != "同期ID"} for r in d.table(SheetRef(SYNC_STATE)).records()]

            assert state(self.desk) == state(twin)
            self._synced()
            return
        assert isinstance(self.desk.store, MemoryStore)
        twin = Desk(self.desk.config, copy.deepcopy(self.desk.store))
        twin.sync()
        real = self.desk.store
        self.desk.store = SpyStore(real, crash_after=crash_after)
        try:
            self.desk.sync()
        except Crash:
            pass
        finally:
            self.desk.store = real
        self.desk.sync()
        assert snapshot(self.desk) == snapshot(twin)
        self._synced()

    @rule(
        data=st.data(),
        where=st.sampled_from([None, BOUSAI, KANKO, KENKO]),
        kind=st.sampled_from(["sort_descending", "insert_row_above", "delete_first_row", "type_same_cell"]),
    )
    def sync_while_a_person_edits(self, data: st.DataObject, where: str | None, kind: str) -> None:
        """A person edits 照会 or a department sheet between the sync's reads and its first write."""
        ref = SheetRef(REFERRALS) if where is None else self.desk.ref(where)
        if ref.book is not None and not self.desk.store.book_exists(ref.book):
            return
        table = self.desk.table(ref)
        if not table.rows:
            return
        referrals = {str(r.get("照会ID")): r.get("照会先") for r in self.desk.table(SheetRef(REFERRALS)).rows}
        typed = Counter(str(r.get("照会ID")) for r in table.rows)
        rows = [  # (not a row whose ID the department typed twice: one of the two is its own, said apart)
            r.number
            for r in table.rows
            if where is None or (referrals.get(str(r.get("照会ID"))) == where and typed[str(r.get("照会ID"))] == 1)
        ]
        if not rows:
            return
        row = data.draw(st.sampled_from(rows))  # (a row the department added itself is theirs alone)
        value = data.draw(st.sampled_from(["人が入力した理由", "別の理由"]))
        key = str(next(r.get("照会ID") for r in table.rows if r.number == row))
        if kind == "delete_first_row" and where is None:
            kind = "sort_descending"  # a referral deleted from 照会 is the desk's own decision, tested apart
        self._remember()
        store = self.desk.store
        assert isinstance(store, MemoryStore)
        column = "回答理由・コメント" if kind == "type_same_cell" else "照会ID"
        fired: list[bool] = []

        def person(_s: MemoryStore) -> None:
            fired.append(True)
            edit(store, ref, kind, column=column, row=row, value=value)

        store.before_next_apply.append(person)
        self.desk.sync()
        store.before_next_apply.clear()
        if kind == "type_same_cell" and key and fired:
            self.typed.add((key, "回答理由・コメント", value))  # what the person typed must never be lost
        self._remember()
        self.desk.sync()  # the next run decides again on what the sheets then hold
        self._synced()

    @rule()
    def repeated_sync_writes_nothing(self) -> None:
        self._remember()
        self.desk.sync()
        self._synced()
        assert isinstance(self.desk.store, MemoryStore)
        before = dict(self.desk.store.writes)
        result = self.desk.sync()
        assert result.changes == [] and result.files_written == []
        assert self.desk.store.writes == before

    # -- invariants
    @invariant()
    def nothing_typed_is_lost(self) -> None:
        where: set[tuple[str, str, str]] = set()
        for r in self.desk.table(SheetRef(REFERRALS)).rows:
            for c in ANSWER_COLUMNS:
                where.add((str(r.get("照会ID")), c.name, normalize_text(r.get(c.name))))
        for h in self.desk.history():
            for v in (h.get("旧値"), h.get("新値")):
                where.add((str(h.get("キー")), str(h.get("列")), normalize_text(v)))
        for name in (BOUSAI, KANKO, KENKO):
            for r in self.desk.table(self.desk.ref(name)).rows:
                for c in ANSWER_COLUMNS:
                    where.add((str(r.get("照会ID")), c.name, normalize_text(r.get(c.name))))
        lost = self.typed - where
        assert not lost, lost

    def sheets_mirror_the_register(self) -> None:
        referrals = {str(r.get("照会ID")): r for r in self.desk.table(SheetRef(REFERRALS)).rows}
        proposals = {str(r.get("提案ID")): r for r in self.desk.table(SheetRef(PROPOSALS)).rows}
        for name in (BOUSAI, KANKO, KENKO):
            rows = self.desk.dept_rows(name)
            addressed = {k for k, r in referrals.items() if r.get("照会先") == name}
            assert addressed <= rows.keys()
            for r in self.desk.table(self.desk.ref(name)).rows:
                if str(r.get("照会ID")) not in addressed:  # only rows the department added itself remain
                    assert r.get("回答理由・コメント") == ADDED_MARK, (name, r.values)
            typed = Counter(str(r.get("照会ID")) for r in self.desk.table(self.desk.ref(name)).rows)
            for key in addressed:
                if typed[key] > 1:
                    # the department typed a second row with this ID: sync leaves both alone and says so
                    result = self.desk.sync(dry_run=True)
                    assert any(n.key == key and "重複" in n.reason for n in result.added_rows), (name, key)
                    continue
                view = department_view(dict(referrals[key].values), proposals.get(str(referrals[key].get("提案ID"))))
                for c in DEPARTMENT_SHEET.columns:
                    assert same(c, rows[key].get(c.name), view[c.name]), (name, key, c.name)


SyncMachine.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSyncMachine = SyncMachine.TestCase


# ---------------------------------------------------------------- two processes at once (xlsx)
BARRIER = """
import pathlib, sys, time
from kouminrenkei_sheets.cli import main  # (imported before the start: both then begin together)
pathlib.Path(sys.argv[3]).touch()
go = pathlib.Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
sys.argv = ["kouminrenkei", "--config", sys.argv[2], "sync", "--format", "json"]
main()
"""


def test_two_syncs_started_together_one_works_the_other_is_busy(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from kouminrenkei_sheets.config import load_config
    from kouminrenkei_sheets.init import init_desk
    from kouminrenkei_sheets.store.factory import open_store

    init_desk(tmp_path, departments="books")
    config_path = tmp_path / "kouminrenkei.toml"
    config = load_config(config_path)
    desk = Desk(config, open_store(config))
    desk.seed()
    # enough work that the first sync still holds the lock when the second asks for it
    more = [proposal(f"R7-{n:04d}", f"件名{n}", f"株式会社{n}") for n in range(10, 1500)]
    refs = [referral(f"R7-{n:04d}-01", f"R7-{n:04d}", (BOUSAI, KANKO, KENKO)[n % 3]) for n in range(10, 1500)]
    desk.store.apply([AppendRows(SheetRef(PROPOSALS), tuple(more)), AppendRows(SheetRef(REFERRALS), tuple(refs))])
    desk.sync()
    answers = {"R7-0010-01": "連携可", "R7-0011-01": "連携不可", "R7-0012-01": "要協議"}
    for key, answer in answers.items():
        desk.set_dept(desk.referral(key)["照会先"], key, "回答", answer)  # type: ignore[arg-type]

    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BARRIER, str(go), str(config_path), str(tmp_path / f"ready{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for _ in range(6000):  # both imported and waiting at the start line
        if all((tmp_path / f"ready{i}").exists() for i in range(2)):
            break
        time.sleep(0.01)
    go.touch()
    outcomes = sorted((p.wait(120), *p.communicate()) for p in procs)
    [(ok, out, _), (busy, _, err)] = outcomes
    assert (ok, busy) == (0, 3), outcomes
    assert json.loads(out)["pulled"] == 3
    assert err.startswith("エラー: 別の処理") and "書き込んでいます" in err
    for key, answer in answers.items():
        assert desk.referral(key)["回答"] == answer
    pulls = [(h["キー"], h["新値"]) for h in desk.history() if h["種別"] == HistoryKind.PULL]
    assert sorted(pulls) == sorted(answers.items())  # each answer pulled once
    before = desk.versions()
    assert desk.sync().changes == [] and desk.versions() == before
