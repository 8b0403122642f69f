"""Quiet runs: a sync after which no book changed reads nothing; a person's edit is always seen.

The versions each backend gives (file stat, a memory digest, one Drive listing plus a digest of the
register tabs on Sheets) are compared before the lock; every other run reads as before.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from fakes.google_api import FakeGoogle, GSheetsStoreFactory, When
from kouminrenkei_sheets.schema import (
    DEPARTMENT_TEMPLATE,
    DEPARTMENTS,
    PROPOSALS,
    REFERRALS,
    REGISTER_SHEETS,
    SYNC_STATE,
    Column,
    Sheet,
)
from kouminrenkei_sheets.store.base import (
    WRITE_LOCK,
    AppendRows,
    Change,
    EnsureSheet,
    RowKey,
    SetCell,
    SheetRef,
    Store,
    Table,
)
from kouminrenkei_sheets.store.gsheets import GSheetsStore
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.store.xlsx import XlsxStore
from kouminrenkei_sheets.sync import sync
from test_sync import (  # the same desks, on every backend
    BOUSAI,
    KANKO,
    Desk,
    StoreFactory,
    desk,
    history_of,
    make_config,
    store_factory,
    synced,
)

__all__ = ["desk", "store_factory", "synced"]  # fixtures used by name


class Counting:
    """Counts the store's reads (whichever backend) by wrapping its read method."""

    def __init__(self, store: Store) -> None:
        self.reads: list[str | None] = []
        inner = store.read

        def read(refs: Sequence[SheetRef]) -> dict[SheetRef, Table | None]:
            self.reads.extend(dict.fromkeys(r.book for r in refs))
            return inner(refs)

        store.read = read  # type: ignore[method-assign]


def settle(d: Desk) -> None:
    """Syncs until one writes nothing (a spreadsheet the sync wrote on Sheets is read once more)."""
    for _ in range(3):
        if not d.sync().files_written:
            return
    raise AssertionError("sync did not settle")


def test_no_edit_means_no_book_read(synced: Desk) -> None:
    settle(synced)
    counting = Counting(synced.store)
    result = synced.sync()
    assert result.unchanged and counting.reads == []
    assert result.changes == [] and result.files_written == []
    assert result.departments  # what the last sync looked at is still reported
    assert synced.sync().unchanged and counting.reads == []


def test_a_department_edit_is_seen_by_the_next_sync(synced: Desk) -> None:
    settle(synced)
    synced.set_dept(BOUSAI, "R7-0001-01", "回答", "連携可")
    result = synced.sync()
    assert not result.unchanged and result.pulled == 1
    assert synced.referral("R7-0001-01")["回答"] == "連携可"


def test_a_register_edit_is_seen_by_the_next_sync(synced: Desk) -> None:
    settle(synced)
    synced.set_proposal("R7-0002", "件名", "新しい件名")
    result = synced.sync()
    assert not result.unchanged and result.pushed >= 1


def test_an_edit_right_after_a_busy_sync_is_seen(synced: Desk) -> None:
    settle(synced)
    synced.set_dept(KANKO, "R7-0002-01", "回答", "連携可")
    assert synced.sync().pulled == 1  # a busy sync, then a person types at once
    synced.set_dept(KANKO, "R7-0002-01", "回答理由・コメント", "直後の入力")
    synced.sync()
    assert synced.referral("R7-0002-01")["回答理由・コメント"] == "直後の入力"


def test_an_edit_between_the_read_and_the_write_is_not_taken_for_the_syncs_own(synced: Desk) -> None:
    """A person saves a department book while the sync works on it: the next sync still reads it."""
    if not isinstance(synced.store, MemoryStore):
        pytest.skip("the memory store runs a person's edit just before the sync's write")
    settle(synced)
    synced.set_proposal("R7-0001", "件名", "書き換えた件名")  # the sync will write 防災's sheet
    store = synced.store

    def person(_s: MemoryStore) -> None:  # just before the sync's first write
        synced.store.before_next_apply.clear()
        synced.set_dept(BOUSAI, "R7-0001-01", "回答", "連携可")

    store.before_next_apply.append(person)
    busy = synced.sync()
    assert busy.pushed >= 1 and busy.pulled == 0  # the answer came after the sync's read
    assert synced.dept_rows(BOUSAI)["R7-0001-01"]["回答"] == "連携可"
    after = synced.sync()
    assert not after.unchanged and after.pulled == 1
    assert synced.referral("R7-0001-01")["回答"] == "連携可"


def test_a_quiet_sync_needs_no_lock(synced: Desk) -> None:
    settle(synced)
    with synced.store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0):
        assert synced.sync().unchanged


def test_problems_of_the_last_sync_are_reported_again(synced: Desk) -> None:
    synced.add_dept_row(KANKO, {"照会ID": "R7-0099-01", "回答理由・コメント": "課の控え"})
    settle(synced)
    result = synced.sync()
    assert result.unchanged
    assert [(r.key, r.reason) for r in result.added_rows] == [("R7-0099-01", "台帳にない照会ID（同期の対象外）")]


def test_a_changed_config_is_not_quiet(synced: Desk, tmp_path: Any) -> None:
    settle(synced)
    assert synced.sync().unchanged
    synced.config.desk.actor = "別の担当"
    assert not synced.sync().unchanged


# ---------------------------------------------------------------- a busy run reads what changed
@pytest.fixture
def books(store_factory: tuple[str, StoreFactory], tmp_path: Any) -> Desk:
    """A synced desk whose departments have books of their own (tabs in the register are read with it)."""
    backend, factory = store_factory
    config = make_config(tmp_path, backend, "books")
    d = Desk(config, factory(config))
    d.seed()
    d.sync()
    return d


def test_only_the_books_someone_saved_are_read(books: Desk) -> None:
    settle(books)
    book = books.ref(BOUSAI).book
    books.set_dept(BOUSAI, "R7-0001-01", "回答", "連携可")
    counting = Counting(books.store)
    result = books.sync()
    assert sorted(map(str, counting.reads)) == sorted(map(str, [None, book]))
    assert result.pulled == 1 and books.referral("R7-0001-01")["回答"] == "連携可"


def test_a_register_edit_reaches_a_book_that_was_not_read(books: Desk) -> None:
    """The desk renames a proposal: 観光戦略課's book is written from the _sync tab's picture of it
    (by key, each cell checked against what the tab says it holds), without being read first."""
    settle(books)
    counting = Counting(books.store)
    books.set_proposal("R7-0002", "件名", "周遊ルート（改）")
    result = books.sync()
    assert counting.reads == [None]
    assert [(c.sheet, c.key, c.column, c.new) for c in result.changes] == [
        (str(books.ref(KANKO)), "R7-0002-01", "件名", "周遊ルート（改）")
    ]
    assert books.dept_rows(KANKO)["R7-0002-01"]["件名"] == "周遊ルート（改）"
    assert history_of(books, "反映")[-1]["旧値"] == "観光周遊ルートの共同企画"
    settle(books)
    assert books.sync().unchanged


def test_a_person_who_saved_the_book_meanwhile_makes_it_read(books: Desk) -> None:
    """A department types into its sheet just after the desk's edit: the book's version moved, so it is
    read, and both edits arrive."""
    settle(books)
    books.set_proposal("R7-0002", "件名", "周遊ルート（改）")
    books.set_dept(KANKO, "R7-0002-01", "回答", "連携可")
    counting = Counting(books.store)
    result = books.sync()
    assert books.ref(KANKO).book in counting.reads
    assert result.pulled == 1 and result.pushed == 1
    assert books.dept_rows(KANKO)["R7-0002-01"]["件名"] == "周遊ルート（改）"


def _just_before_the_write_to(d: Desk, name: str, column: str, key: str, value: str) -> Callable[[], bool]:
    """A person types ``value`` into a department's sheet after the sync has read what it reads and just
    before it writes that book (on Sheets: before the fresh read that write starts with — the sync reads
    nothing else of that spreadsheet — and the
    person also sorts the sheet by 照会ID, descending). Returns whether the edit happened."""
    ref = d.ref(name)
    store = d.store
    fired: list[bool] = []
    if isinstance(store, MemoryStore):

        def type_now(_s: MemoryStore) -> None:
            fired.append(True)
            d.set_dept(name, key, column, value)

        store.before_next_apply.append(lambda _s: store.before_next_apply.append(type_now))  # (the register first)
        return lambda: bool(fired)
    if isinstance(store, XlsxStore):
        inner = store._apply_book

        def apply_book(book: str | None, changes: list[Change]) -> Any:
            if book == ref.book and not fired:
                fired.append(True)
                d.set_dept(name, key, column, value)  # (saved as Excel would: the file replaced)
            return inner(book, changes)

        store._apply_book = apply_book  # type: ignore[method-assign]
        return lambda: bool(fired)
    assert isinstance(store, GSheetsStore)
    fake: FakeGoogle = store.fake  # type: ignore[attr-defined]
    table = d.table(ref)
    spreadsheet = store.resolve_key(ref.book)
    assert spreadsheet is not None
    letter = chr(64 + (table.column_number(column) or 0))
    number = next(r.number for r in table.rows if r.get("照会ID") == key)

    def person() -> None:
        fake.edit(spreadsheet, ref.sheet, f"{letter}{number}", value)
        fake.sort_range(spreadsheet, ref.sheet, "照会ID", descending=True)

    moment = fake.at(When.first("sheets.values.batchGet", key=spreadsheet), person)  # (the write's fresh read)
    return lambda: moment.fired


def test_a_person_typing_into_the_cell_an_unread_book_gets_is_a_conflict(books: Desk) -> None:
    """The book is written without being read: each cell it writes is checked against what _sync says
    it holds, so the 件名 a department typed between the sync's read and its write stays (both values
    in 変更履歴), and the other write lands on its own row (by 照会ID, whatever the order now)."""
    d = books
    settle(d)
    d.set_proposal("R7-0002", "件名", "周遊ルート（改）")
    d.set_proposal("R7-0003", "件名", "健康ポイント（改）")  # shown on 観光戦略課's R7-0003-02 too
    typed = _just_before_the_write_to(d, KANKO, "件名", "R7-0002-01", "課の書いた件名")
    counting = Counting(d.store)
    result = d.sync()
    assert typed()
    assert d.ref(KANKO).book not in counting.reads  # (counted before the sync reads: Counting wraps read)
    assert [(c.key, c.column, c.found) for c in result.write_conflicts] == [("R7-0002-01", "件名", "課の書いた件名")]
    rows = d.dept_rows(KANKO)
    assert rows["R7-0002-01"]["件名"] == "課の書いた件名"
    assert rows["R7-0003-02"]["件名"] == "健康ポイント（改）"
    assert any(h["新値"] == "周遊ルート（改）" and h["旧値"] == "課の書いた件名" for h in history_of(d, "競合"))
    again = d.sync()  # the next run reads that book: 件名 is the desk's, and goes back in
    assert [(c.key, c.old, c.new) for c in again.changes] == [("R7-0002-01", "課の書いた件名", "周遊ルート（改）")]
    assert d.dept_rows(KANKO)["R7-0002-01"]["件名"] == "周遊ルート（改）"


def test_a_moved_referral_makes_the_old_departments_book_read(books: Desk) -> None:
    """Taking a row out names its row number in the report: only the sheet itself tells it."""
    settle(books)
    number = books.dept_row_number(KANKO, "R7-0003-02")
    books.set_referral("R7-0003-02", "照会先", BOUSAI)
    counting = Counting(books.store)
    result = books.sync()
    assert books.ref(KANKO).book in counting.reads
    assert [(r.key, r.row) for r in result.removed_rows] == [("R7-0003-02", number)]
    assert "R7-0003-02" in books.dept_rows(BOUSAI) and "R7-0003-02" not in books.dept_rows(KANKO)


def test_a_register_restored_from_a_backup_loses_no_answer(books: Desk) -> None:
    """Someone puts back yesterday's register (its _sync tab with it): the department books no longer
    match what that tab says of them, so they are read, and the answer given since comes in again."""
    if not isinstance(books.store, MemoryStore | XlsxStore):
        pytest.skip("a spreadsheet on Sheets is restored from its version history, not swapped as a file")
    settle(books)
    backup = _register_copy(books)
    books.set_dept(BOUSAI, "R7-0001-01", "回答", "連携可")
    assert books.sync().pulled == 1
    settle(books)
    _put_back(books, backup)
    counting = Counting(books.store)
    result = books.sync()
    assert books.ref(BOUSAI).book in counting.reads
    assert result.pulled == 1 and books.referral("R7-0001-01")["回答"] == "連携可"


def test_an_edited_sync_tab_makes_the_book_read(books: Desk) -> None:
    settle(books)
    books.store.apply([SetCell(SheetRef(SYNC_STATE), RowKey("照会ID", "R7-0002-01"), "件名", "誰かが書き換えた")])
    books.set_proposal("R7-0001", "件名", "新しい件名")  # (a register edit: the run is not quiet anyway)
    counting = Counting(books.store)
    result = books.sync()
    assert books.ref(KANKO).book in counting.reads
    assert not [c for c in result.changes if c.key == "R7-0002-01"]  # the sheet shows the register's 件名


def _register_copy(d: Desk) -> Any:
    if isinstance(d.store, MemoryStore):
        return copy.deepcopy(d.store.books[None])
    path = d.store.path(None)
    return path.read_bytes()


def _put_back(d: Desk, backup: Any) -> None:
    if isinstance(d.store, MemoryStore):
        d.store.books[None] = backup
        return
    path = d.store.path(None)
    tmp = path.with_name("restored.tmp")
    tmp.write_bytes(backup)
    tmp.replace(path)


# ---------------------------------------------------------------- Sheets: the request budget
def _desk_on_sheets(factory: GSheetsStoreFactory, n: int) -> GSheetsStore:
    s = factory(departments="books")
    s.create_book(None, REGISTER_SHEETS)
    s.apply(
        [
            AppendRows(SheetRef(DEPARTMENTS), tuple({"部局": "部", "課": f"課{i:03d}"} for i in range(n))),
            AppendRows(
                SheetRef(PROPOSALS), tuple({"提案ID": f"R7-{i + 1:04d}", "ステータス": "照会中"} for i in range(n))
            ),
            AppendRows(
                SheetRef(REFERRALS),
                tuple(
                    {"照会ID": f"R7-{i + 1:04d}-01", "提案ID": f"R7-{i + 1:04d}", "照会先": f"課{i:03d}"}
                    for i in range(n)
                ),
            ),
        ]
    )
    return s


@pytest.mark.parametrize("n", [30, 100])
def test_a_quiet_sync_on_sheets_costs_two_requests(
    gsheets_store_factory: GSheetsStoreFactory, fake_google: FakeGoogle, n: int
) -> None:
    s = _desk_on_sheets(gsheets_store_factory, n)
    first = sync(s.config, s)  # makes the department spreadsheets
    assert len(first.files_written) == n + 1
    fresh = gsheets_store_factory.another(s)
    assert sync(fresh.config, fresh).files_written == []  # reads what the first one wrote, records it
    fake_google.reset_calls()
    later = gsheets_store_factory.another(s)  # another run of the scheduled job
    result = sync(later.config, later)
    assert result.unchanged
    assert fake_google.counts() == {"drive.files.list": 1, "sheets.values.batchGet": 1}
    fake_google.reset_calls()  # that run read the register as recorded: its Drive version now vouches for it
    assert sync(s.config, gsheets_store_factory.another(s)).unchanged
    assert fake_google.counts() == {"drive.files.list": 1}
    # and an answer typed in one department spreadsheet is seen by the next run
    key = later.resolve_key("departments/課007")
    assert key is not None
    fake_google.edit(key, DEPARTMENT_TEMPLATE, "J2", "連携可")
    after = gsheets_store_factory.another(s)
    seen = sync(after.config, after)
    assert not seen.unchanged and seen.pulled == 1


def test_a_register_edit_after_quiet_runs_costs_the_register_two_reads(
    gsheets_store_factory: GSheetsStoreFactory, fake_google: FakeGoogle
) -> None:
    """The desk types in the register between two scheduled runs: Drive's version of the register
    tells (no read to find out), the run reads it once under the lock and once more just before its
    write; the lock's claim and release are its two appends."""
    s = _desk_on_sheets(gsheets_store_factory, 30)
    sync(s.config, s)
    sync(s.config, gsheets_store_factory.another(s))  # reads what the first one wrote, records it
    assert sync(s.config, gsheets_store_factory.another(s)).unchanged  # records the register's Drive version
    register = s.resolve_key(None)
    assert register is not None
    proposals = s.read([SheetRef(PROPOSALS)])[SheetRef(PROPOSALS)]
    assert proposals is not None
    letter = chr(64 + (proposals.column_number("件名") or 0))
    fake_google.edit(register, PROPOSALS, f"{letter}2", "件名を直した")  # R7-0001's 件名, as a person types
    fake_google.reset_calls()
    run = gsheets_store_factory.another(s)
    result = sync(run.config, run)
    assert [(c.key, c.column, c.new) for c in result.changes] == [("R7-0001-01", "件名", "件名を直した")]
    assert fake_google.counts(key=register) == {
        "sheets.values.append": 2,  # the lock
        "sheets.values.batchGet": 1,
        "sheets.spreadsheets.get": 1,
        "sheets.spreadsheets.batchUpdate": 1,
    }
    written = run.resolve_key("departments/課000")
    others = [run.resolve_key(f"departments/課{i:03d}") for i in range(1, 30)]
    assert fake_google.counts(key=written) == {"sheets.spreadsheets.get": 1, "sheets.spreadsheets.batchUpdate": 1}
    assert [fake_google.counts(key=k) for k in others] == [{}] * 29


def test_a_job_writing_elsewhere_in_the_register_leaves_the_next_sync_quiet(
    gsheets_store_factory: GSheetsStoreFactory, fake_google: FakeGoogle
) -> None:
    """Another job (this program's own account) writes a tab sync does not read: Drive's version of the
    register moves, so the register is looked at once more (its digest), and nothing else is read."""
    s = _desk_on_sheets(gsheets_store_factory, 30)
    sync(s.config, s)
    sync(s.config, gsheets_store_factory.another(s))
    assert sync(s.config, gsheets_store_factory.another(s)).unchanged
    other = gsheets_store_factory.another(s)
    other.apply(
        [
            EnsureSheet(SheetRef("メモ"), Sheet("メモ", (Column("メモ"),))),
            AppendRows(SheetRef("メモ"), ({"メモ": "x"},)),
        ]
    )
    fake_google.reset_calls()
    assert sync(s.config, gsheets_store_factory.another(s)).unchanged
    assert fake_google.counts() == {"drive.files.list": 1, "sheets.values.batchGet": 1}
    fake_google.reset_calls()
    assert sync(s.config, gsheets_store_factory.another(s)).unchanged
    assert fake_google.counts() == {"drive.files.list": 1}


def test_records_live_beside_the_register_on_xlsx(tmp_path: Any) -> None:
    config = make_config(tmp_path, "xlsx", "books")
    d = Desk(config, XlsxStore(config.resolve("register.xlsx"), base_dir=tmp_path))
    d.store.create_book(None, REGISTER_SHEETS)
    d.seed()
    settle(d)
    assert list((tmp_path / ".kouminrenkei").glob("register.xlsx.records/sync-versions.json"))
    again = Desk(config, XlsxStore(config.resolve("register.xlsx"), base_dir=tmp_path))  # another process
    assert sync(config, again.store).unchanged


@pytest.mark.parametrize("backend", ["memory", "xlsx"])
def test_department_tabs_in_the_register_are_quiet_too(tmp_path: Any, backend: str) -> None:
    """--departments tabs, a department with nothing referred yet (its tab not made): the first sync
    writes nothing, and the next one must still be quiet (the record was never kept: the register's
    tabs differed from the first look's, which only matters where versions come from reads)."""
    from test_sync import new_store

    config = make_config(tmp_path, backend, "tabs")
    store = new_store(config)  # (a register made from the schema)
    store.apply(
        [AppendRows(SheetRef(DEPARTMENTS), ({"部局": "観光部", "課": KANKO, "連絡先メール": "k@pref.example.jp"},))]
    )
    first = sync(config, store)
    assert first.files_written == [] and not first.unchanged
    counting = Counting(store)
    assert sync(config, store).unchanged and counting.reads == []
