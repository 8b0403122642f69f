"""The Sheets store's request budget (issue 16) and what one write per spreadsheet must keep.

A write is one spreadsheets:batchUpdate (変更履歴 rows as appendCells, cells as updateCells) after
one fresh read; the lock's log is read back with the register tabs a job reads first. Real gspread
and google-auth against the local fake; people edit inside the fake between two requests.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime

import pytest

from fakes.google_api import FakeGoogle, Formula, GSheetsStoreFactory, When
from kouminrenkei_sheets.errors import BusyError
from kouminrenkei_sheets.schema import (
    DEPARTMENT_TEMPLATE,
    DEPARTMENTS,
    HISTORY,
    PROPOSALS,
    REFERRALS,
    REGISTER_SHEETS,
    SYNC_STATE,
)
from kouminrenkei_sheets.store.base import WRITE_LOCK, AppendRows, EnsureSheet, RowKey, SetCell, SheetRef
from kouminrenkei_sheets.store.gsheets import GSheetsStore, decode, split_requests
from kouminrenkei_sheets.store.gsheets.batch import _grid_rows
from kouminrenkei_sheets.sync import SYNC_STATE_SHEET, sync
from kouminrenkei_sheets.values import Unknown
from test_quiet_sync import _desk_on_sheets

P = SheetRef(PROPOSALS)
R = SheetRef(REFERRALS)
LOG = SheetRef(HISTORY)


@pytest.fixture
def store(factory: GSheetsStoreFactory) -> GSheetsStore:
    s = factory()
    s.create_book(None, REGISTER_SHEETS)
    s.apply([AppendRows(P, tuple({"提案ID": f"R7-{i:04d}", "件名": f"件名{i}"} for i in range(1, 6)))])
    s.apply([EnsureSheet(SheetRef(SYNC_STATE), SYNC_STATE_SHEET, hidden=True)])  # as the first sync leaves it
    with s.lock(WRITE_LOCK, ttl_seconds=60):  # the lock's tab exists, as after the first job
        pass
    return factory.another(s)  # a new run: nothing cached (no metadata either)


def key_of(s: GSheetsStore) -> str:
    key = s.resolve_key(None)
    assert key is not None
    return key


def column(fake: FakeGoogle, key: str, title: str, header: str) -> str:
    return chr(65 + fake.values(key, title)[0].index(header))


def cell_of(fake: FakeGoogle, key: str, title: str, ident: str, header: str) -> object:
    grid = fake.values(key, title)
    row = next(r for r in grid if r and r[0] == ident)
    at = grid[0].index(header)
    return row[at] if at < len(row) else None


def test_a_write_is_one_fresh_read_and_one_batch_update(store: GSheetsStore, fake: FakeGoogle) -> None:
    store.read([P])
    fake.reset_calls()
    entry = {"日時": datetime(2025, 4, 1, 9, 0), "キー": "R7-0001", "列": "件名", "旧値": "件名1", "新値": "新"}
    store.apply([SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "新", expected="件名1"), AppendRows(LOG, (entry,))])
    assert fake.counts() == {"sheets.spreadsheets.get": 1, "sheets.spreadsheets.batchUpdate": 1}
    [write] = [c for c in fake.calls if c.endpoint == "sheets.spreadsheets.batchUpdate"]
    assert write.status == 200


def test_a_persons_edit_between_the_read_and_the_write_is_a_conflict(store: GSheetsStore, fake: FakeGoogle) -> None:
    key = key_of(store)
    store.read([P])
    cell = f"{column(fake, key, PROPOSALS, '件名')}2"
    moment = fake.at(When.first("sheets.spreadsheets.get", key=key), lambda: fake.type_cell(key, PROPOSALS, cell, "人"))
    result = store.apply([SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "ツール", expected="件名1")])
    assert moment.fired
    assert [(c.key, c.column, c.found, c.wanted) for c in result.conflicts] == [("R7-0001", "件名", "人", "ツール")]
    assert cell_of(fake, key, PROPOSALS, "R7-0001", "件名") == "人"  # left as the person typed it


@pytest.mark.parametrize("edit", ["insert", "sort"])
def test_rows_a_person_moves_between_two_requests_do_not_move_the_writes(
    store: GSheetsStore, fake: FakeGoogle, edit: str
) -> None:
    key = key_of(store)
    store.read([P])

    def person() -> None:
        if edit == "insert":
            fake.insert_rows(key, PROPOSALS, 2, 2)
        else:
            fake.sort_range(key, PROPOSALS, "A", descending=True)

    moment = fake.at(When.first("sheets.spreadsheets.get", key=key), person)
    store.apply(
        [
            SetCell(P, RowKey("提案ID", "R7-0003"), "件名", "三", expected="件名3"),
            SetCell(P, RowKey("提案ID", "R7-0005"), "件名", "五", expected="件名5"),
        ]
    )
    assert moment.fired
    by_id = {f"R7-{i:04d}": cell_of(fake, key, PROPOSALS, f"R7-{i:04d}", "件名") for i in range(1, 6)}
    assert by_id == {"R7-0001": "件名1", "R7-0002": "件名2", "R7-0003": "三", "R7-0004": "件名4", "R7-0005": "五"}


def test_values_keep_raw_semantics_and_date_cells_their_format(store: GSheetsStore, fake: FakeGoogle) -> None:
    key = key_of(store)
    log = fake.sheet(key, HISTORY)
    log.row_count = len(fake.values(key, HISTORY))  # a full log: appendCells must add the rows
    entry = {"日時": datetime(2025, 4, 1, 9, 30), "キー": "R7-0001", "列": "件名", "旧値": "件名1", "新値": "=1+1"}
    store.apply(
        [
            SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "=1+1"),
            SetCell(P, RowKey("提案ID", "R7-0001"), "概要", 12),
            SetCell(P, RowKey("提案ID", "R7-0001"), "受付日", date(2025, 4, 1)),
            AppendRows(LOG, (entry,)),
        ]
    )
    header = fake.values(key, PROPOSALS)[0]
    subject, summary, received = (cell_of(fake, key, PROPOSALS, "R7-0001", h) for h in ("件名", "概要", "受付日"))
    assert subject == "=1+1" and type(subject) is str  # text, not a formula (Formula is a str subclass)
    assert summary == 12 and type(summary) is int
    assert received == 45748  # a serial number, under the column's date format
    assert fake.sheet(key, PROPOSALS).number_format(1, header.index("受付日"))["type"] == "DATE"  # type: ignore[index]
    grid = fake.values(key, HISTORY)
    at = {h: i for i, h in enumerate(grid[0])}
    last = len(grid) - 1
    assert type(grid[last][at["新値"]]) is str and grid[last][at["新値"]] == "=1+1"
    assert grid[last][at["日時"]] == pytest.approx(45748 + 9.5 / 24)
    assert log.row_count == last + 1  # the row was added by appendCells, and it has the log's date format
    assert log.number_format(last, at["日時"]) == {"type": "DATE_TIME", "pattern": "yyyy/m/d h:mm:ss"}
    table = store.read([LOG])[LOG]
    assert table is not None and table.rows[-1].get("日時") == datetime(2025, 4, 1, 9, 30)


def test_the_lock_reads_the_register_tabs_a_job_reads_first(store: GSheetsStore, fake: FakeGoogle) -> None:
    key = key_of(store)
    store.forget()
    fake.reset_calls()
    tabs = [P, R, SheetRef(DEPARTMENTS), SheetRef(SYNC_STATE)]
    with store.lock(WRITE_LOCK, ttl_seconds=60):
        assert fake.counts(key=key) == {"sheets.values.append": 1, "sheets.values.batchGet": 1}
        got = store.read(tabs)
        assert fake.counts(key=key)["sheets.values.batchGet"] == 1  # served by the lock's read
        assert got[P] is not None and [r.get("提案ID") for r in got[P].rows][:2] == ["R7-0001", "R7-0002"]
        store.read([P])  # a second read asks again
        assert fake.counts(key=key)["sheets.values.batchGet"] == 2
    assert fake.counts(key=key)["sheets.values.append"] == 2  # the release


def test_a_lock_that_is_not_ours_throws_its_read_away(factory: GSheetsStoreFactory, store: GSheetsStore) -> None:
    fake: FakeGoogle = store.fake  # type: ignore[attr-defined]
    key = key_of(store)
    other = factory.another(store)
    with store.lock(WRITE_LOCK, ttl_seconds=60):
        with pytest.raises(BusyError):
            with other.lock(WRITE_LOCK, ttl_seconds=60):
                pass  # pragma: no cover
        store.apply([SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "保持者が書いた")])
    fake.reset_calls()
    table = other.read([P])[P]  # what the refused try read is not served: the tab is read again
    assert fake.counts(key=key) == {"sheets.values.batchGet": 1}
    assert table is not None and table.rows[0].get("件名") == "保持者が書いた"


def test_the_fresh_read_decodes_cells_as_the_values_api_does() -> None:
    grid = {
        "rowData": [
            {"values": [{"effectiveValue": {"stringValue": "提案ID"}}, {"effectiveValue": {"stringValue": "受付日"}}]},
            {},
            {
                "values": [
                    {"effectiveValue": {"stringValue": "=1+1"}},
                    {"effectiveValue": {"numberValue": 45748}},
                    {"effectiveValue": {"boolValue": True}},
                    {"effectiveValue": {"errorValue": {"type": "NAME", "message": "Unknown function"}}},
                    {},
                ]
            },
            {"values": [{}]},
        ]
    }
    assert _grid_rows(grid) == [["提案ID", "受付日"], [], ["=1+1", 45748, True, "#NAME?"]]
    assert decode("#NAME?", None) == Unknown("#NAME?", "error")


def test_a_formula_a_person_typed_is_never_written_over(store: GSheetsStore, fake: FakeGoogle) -> None:
    key = key_of(store)
    cell = f"{column(fake, key, PROPOSALS, '概要')}3"
    fake.type_cell(key, PROPOSALS, cell, "=SUM(A1:A2)")
    store.apply([SetCell(P, RowKey("提案ID", "R7-0002"), "件名", "新しい件名")])
    assert cell_of(fake, key, PROPOSALS, "R7-0002", "件名") == "新しい件名"
    assert isinstance(cell_of(fake, key, PROPOSALS, "R7-0002", "概要"), Formula)


def test_a_scheduled_sync_after_a_department_answered(
    gsheets_store_factory: GSheetsStoreFactory, fake_google: FakeGoogle
) -> None:
    """The scheduled job as it runs day after day: the last sync left its record, one department
    answered since. The register: 2 reads + 1 write for its data; the lock's claim and release apart."""
    s = _desk_on_sheets(gsheets_store_factory, 30)
    sync(s.config, s)  # makes the department spreadsheets
    fresh = gsheets_store_factory.another(s)
    assert sync(fresh.config, fresh).files_written == []  # reads what the first one wrote, records it
    key = fresh.resolve_key("departments/課007")
    assert key is not None
    fake_google.edit(key, DEPARTMENT_TEMPLATE, "J2", "連携可")
    fake_google.reset_calls()
    later = gsheets_store_factory.another(s)
    result = sync(later.config, later)
    assert result.pulled == 1
    register = fake_google.counts(key=later.resolve_key(None))

    lock = {"sheets.values.append": 2}
    assert register - Counter(lock) == {
        "sheets.values.batchGet": 1,
        "sheets.spreadsheets.get": 1,
        "sheets.spreadsheets.batchUpdate": 1,
    }
    assert fake_google.counts(key=key) == {"sheets.values.batchGet": 1}  # the answer pulled: nothing to put back
    others = {f"departments/課{i:03d}" for i in range(30)} - {"departments/課007"}
    untouched = [later.resolve_key(b) for b in sorted(others)]
    assert [fake_google.counts(key=k) for k in untouched] == [{}] * 29  # nobody saved them: not read


def test_a_body_over_the_limit_is_cut_log_rows_first_in_their_order() -> None:
    rows = [{"values": [{"userEnteredValue": {"stringValue": f"{i}:" + "あ" * 200}}]} for i in range(400)]
    log = {"appendCells": {"sheetId": 7, "rows": rows, "fields": "userEnteredValue"}}
    cells = {
        "updateCells": {
            "start": {"sheetId": 8, "rowIndex": 10, "columnIndex": 2},
            "rows": rows,
            "fields": "userEnteredValue",
        }
    }
    limit = 100_000
    parts = split_requests([log, cells], limit)
    assert all(len(json.dumps({"requests": part})) <= limit for part in parts) and len(parts) > 2
    pieces = [r for part in parts for r in part]
    appended = [row for r in pieces if "appendCells" in r for row in r["appendCells"]["rows"]]
    assert appended == rows and all("appendCells" in r for r in pieces[: len(pieces) // 2])
    updates = [r["updateCells"] for r in pieces if "updateCells" in r]
    assert [row for u in updates for row in u["rows"]] == rows
    starts = [u["start"]["rowIndex"] for u in updates]  # each block starts where the one before ended
    assert starts == [10 + sum(len(u["rows"]) for u in updates[:i]) for i in range(len(updates))]


def test_the_sync_state_sorted_between_read_and_write_stops_the_registers_write(
    gsheets_store_factory: GSheetsStoreFactory, fake_google: FakeGoogle
) -> None:
    """Someone sorts the hidden _sync tab in the Sheets UI just before the sync's fresh read of the
    register: the state rows it names by number no longer hold what it read, so the register gets no
    write at all (no change half-logged), and the next run reads afresh and finishes the job once."""
    from kouminrenkei_sheets.errors import StoreError

    s = _desk_on_sheets(gsheets_store_factory, 3)
    sync(s.config, s)
    fresh = gsheets_store_factory.another(s)
    sync(fresh.config, fresh)
    register = fresh.resolve_key(None)
    assert register is not None
    at = column(fake_google, register, REFERRALS, "回答期限")
    fake_google.edit(register, REFERRALS, f"{at}3", "2025/07/31")  # the desk moves a deadline
    log_before = len(fake_google.values(register, HISTORY))
    state = fake_google.values(register, SYNC_STATE)
    by_key = column(fake_google, register, SYNC_STATE, "照会ID")
    fake_google.reset_calls()
    moment = fake_google.at(
        When.first("sheets.spreadsheets.get", key=register),
        lambda: fake_google.sort_range(register, SYNC_STATE, by_key, descending=True),
    )
    run = gsheets_store_factory.another(s)
    with pytest.raises(StoreError, match="並べ替え"):
        sync(run.config, run)
    assert moment.fired
    assert "sheets.spreadsheets.batchUpdate" not in fake_google.counts(key=register)
    assert len(fake_google.values(register, HISTORY)) == log_before
    assert sorted(map(str, fake_google.values(register, SYNC_STATE))) == sorted(map(str, state))  # only moved
    again = gsheets_store_factory.another(s)
    result = sync(again.config, again)
    assert [(c.key, c.column) for c in result.changes] == [("R7-0002-01", "回答期限")]
    assert len(fake_google.values(register, HISTORY)) == log_before + 1
    last = gsheets_store_factory.another(s)
    assert sync(last.config, last).changes == []
