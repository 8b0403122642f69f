"""What the people and programs around a Google spreadsheet see: protection, locale, time zone, limits.

Over the local fake of Sheets/Drive (real gspread and google-auth): department staff may type into
their own columns and no desk-owned cell, the tool itself still writes both; new spreadsheets are
ja_JP in the desk's time zone; big writes are cut under Google's 2 MB; Retry-After is waited out.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from fakes.google_api import SERVICE_ACCOUNT, FakeGoogle, GSheetsStoreFactory, ProtectedCellError
from kouminrenkei_sheets import clock
from kouminrenkei_sheets.departments import load_departments
from kouminrenkei_sheets.errors import StoreError
from kouminrenkei_sheets.schema import (
    DEPARTMENT_SHEET,
    DEPARTMENT_TEMPLATE,
    DEPARTMENTS,
    PROPOSALS,
    REFERRALS,
    REGISTER_SHEETS,
    Owner,
    Status,
    department_sheet_named,
)
from kouminrenkei_sheets.store.base import AppendRows, MarkCells, RowKey, SetCell, SheetRef
from kouminrenkei_sheets.store.factory import open_gsheets
from kouminrenkei_sheets.store.gsheets import MAX_REQUEST_BYTES, GSheetsStore, retry_after
from kouminrenkei_sheets.sync import sync

P = SheetRef(PROPOSALS)
R = SheetRef(REFERRALS)
DEPT_USER = "bousai@pref.example.jp"


def letter(i: int) -> str:
    return chr(ord("A") + i)


def desk_with_referrals(factory: GSheetsStoreFactory, departments: str, n: int = 3) -> GSheetsStore:
    """init (the register built) and ``n`` referrals to 防災政策課, as refer leaves them."""
    s = factory(departments=departments, share_departments=True)
    s.create_book(None, REGISTER_SHEETS)
    s.apply(
        [
            AppendRows(
                SheetRef(DEPARTMENTS), ({"部局": "防災・危機管理部", "課": "防災政策課", "連絡先メール": DEPT_USER},)
            ),
            AppendRows(
                P,
                tuple(
                    {"提案ID": f"R7-{i:04d}", "件名": f"件名{i}", "ステータス": Status.REFERRED}
                    for i in range(1, n + 1)
                ),
            ),
            AppendRows(
                R,
                tuple(
                    {
                        "照会ID": f"R7-{i:04d}-01",
                        "提案ID": f"R7-{i:04d}",
                        "照会先": "防災政策課",
                        "照会日": date(2025, 4, 2),
                    }
                    for i in range(1, n + 1)
                ),
            ),
        ]
    )
    return s


# ---------------------------------------------------------------- protection
@pytest.mark.parametrize("departments", ["books", "tabs"])
def test_department_staff_can_type_every_department_cell_and_no_desk_cell(
    factory: GSheetsStoreFactory, fake: FakeGoogle, departments: str
) -> None:
    s = desk_with_referrals(factory, departments)
    sync(s.config, s, now=datetime(2025, 5, 1, 9, 0))
    dept = load_departments(s.config, s)["防災政策課"]
    key = s.resolve_key(dept.ref.book)
    assert key is not None
    if departments == "tabs":
        fake.share(key, DEPT_USER)  # the department opens the register itself
    else:  # the tool shared the department's spreadsheet when it made it
        assert DEPT_USER in [p.get("emailAddress") for p in fake.spreadsheet(key).permissions]
    tab = dept.ref.sheet
    header = fake.values(key, tab)[0]
    assert header[: len(DEPARTMENT_SHEET.columns)] == list(DEPARTMENT_SHEET.headers)
    rows = len(fake.values(key, tab)) - 1
    assert rows == 3
    typed = refused = 0
    for r in range(2, rows + 2):
        for i, column in enumerate(DEPARTMENT_SHEET.columns):
            cell = f"{letter(i)}{r}"
            if column.owner is Owner.DEPARTMENT:
                fake.type_cell(key, tab, cell, "2025/5/2" if column.is_date else "記入", as_user=DEPT_USER)
                typed += 1
            else:
                with pytest.raises(ProtectedCellError):
                    fake.type_cell(key, tab, cell, "書き換え", as_user=DEPT_USER)
                refused += 1
    department_columns = sum(c.owner is Owner.DEPARTMENT for c in DEPARTMENT_SHEET.columns)
    assert typed == 3 * department_columns and refused == 3 * (len(DEPARTMENT_SHEET.columns) - department_columns)
    with pytest.raises(ProtectedCellError):  # headers are the tool's too, department columns' included
        fake.type_cell(key, tab, f"{letter(len(header) - 1)}1", "見出し", as_user=DEPT_USER)
    spare = letter(len(DEPARTMENT_SHEET.columns))  # a column of the department's own, right of the schema's
    fake.type_cell(key, tab, f"{spare}1", "課内メモ", as_user=DEPT_USER)
    fake.type_cell(key, tab, f"{spare}2", "係長確認済み", as_user=DEPT_USER)

    # the tool itself writes desk-owned cells (a changed 件名) and department cells it owns the first value of
    s.apply([SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "件名（改）")])
    again = GSheetsStoreFactory.another(factory, s)
    result = sync(again.config, again, now=datetime(2025, 5, 2, 9, 0))
    assert (result.conflicts, result.problems, result.write_conflicts) == ([], [], [])
    grid = fake.values(key, tab)
    assert grid[1][header.index("件名")] == "件名（改）"
    assert grid[1][header.index("回答")] == "記入"  # the department's answer was pulled, not overwritten
    assert grid[1][len(DEPARTMENT_SHEET.columns)] == "係長確認済み"


def test_desk_columns_are_protected_for_the_service_account_only(factory: GSheetsStoreFactory) -> None:
    s = desk_with_referrals(factory, "books", n=1)
    sync(s.config, s, now=datetime(2025, 5, 1, 9, 0))
    key = s.resolve_key("departments/防災政策課")
    assert key is not None
    protected = s.fake.sheet(key, DEPARTMENT_TEMPLATE).protected
    assert protected and all(p["editors"] == {"users": [SERVICE_ACCOUNT]} for p in protected)
    assert all(not p.get("warningOnly") for p in protected)
    assert all(p["description"] for p in protected)


def test_a_write_into_a_range_protected_against_the_tool_names_the_range_and_who_may_edit(
    factory: GSheetsStoreFactory, fake: FakeGoogle
) -> None:
    s = factory()
    s.create_book(None, REGISTER_SHEETS)
    s.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "防災訓練"},))])
    key = s.resolve_key(None)
    assert key is not None
    sheet = fake.sheet(key, PROPOSALS)
    sheet.protected.append(  # the desk's chief protected 提案ID..受付日 for herself in the Sheets UI
        {
            "protectedRangeId": 7,
            "range": {"sheetId": sheet.sheet_id, "startRowIndex": 0, "startColumnIndex": 0, "endColumnIndex": 2},
            "description": "デスク長のみ",
            "editors": {"users": ["chief@pref.example.jp"]},
        }
    )
    with pytest.raises(StoreError) as e:
        s.apply([SetCell(P, RowKey("提案ID", "R7-0001"), "受付日", date(2025, 4, 1))])
    message = str(e.value)
    assert message.startswith(
        "「台帳」の保護された範囲 シート「提案」の A:B（説明: デスク長のみ） には書き込めません。"
    )
    assert "desk@pref.example.jp" in message and SERVICE_ACCOUNT in message  # the owner; the account to add
    assert "共有（編集者）してください" not in message and "\n" not in message
    assert fake.values(key, PROPOSALS)[1][:2] == ["R7-0001", None]  # 受付日 still empty: nothing was written


# ---------------------------------------------------------------- locale and time zone of new spreadsheets
def test_new_spreadsheets_are_japanese_in_the_desks_time_zone(tmp_path: Path) -> None:
    with FakeGoogle(locale="en_US", time_zone="Etc/GMT") as fake:  # a service account's own defaults
        factory = GSheetsStoreFactory(fake, tmp_path)
        s = factory(departments="books")
        s.create_book(None, REGISTER_SHEETS)
        s.create_book("departments/防災政策課", [department_sheet_named(DEPARTMENT_TEMPLATE)])
        made = fake.spreadsheet(s.resolve_key("departments/防災政策課") or "")
        assert (made.locale, made.time_zone) == ("ja_JP", "Asia/Tokyo")
        assert [t.title for t in made.sheets] == [DEPARTMENT_TEMPLATE]  # Sheet1 went in the same write

        config = factory.config(departments="books")
        config.desk.time_zone = "Pacific/Honolulu"  # a desk elsewhere: its own zone, from the config
        other = open_gsheets(config, transport=fake.transport())
        other.create_book(None, REGISTER_SHEETS)
        other.create_book("departments/農業政策課", [department_sheet_named(DEPARTMENT_TEMPLATE)])
        made = fake.spreadsheet(other.resolve_key("departments/農業政策課") or "")
        assert (made.locale, made.time_zone) == ("ja_JP", "Pacific/Honolulu")
        assert not fake.errors, fake.errors


# ---------------------------------------------------------------- the desk's clock
def test_timestamps_the_tool_writes_are_desk_time_on_a_utc_server(
    utc_machine: None, factory: GSheetsStoreFactory, fake: FakeGoogle
) -> None:
    from kouminrenkei_sheets.validate import validate

    s = desk_with_referrals(factory, "books", n=1)
    s.apply([SetCell(P, RowKey("提案ID", "R7-0001"), "受付日", "4月31日")])  # a finding, with its time
    sync(s.config, s)  # no now=: the desk's clock
    validate(s.config, s)
    tokyo = datetime.now(UTC).astimezone(clock.zone("Asia/Tokyo")).replace(tzinfo=None)
    machine = datetime.now()
    assert abs(tokyo - machine) > timedelta(hours=8)  # the server's local time is UTC, 9 hours behind

    fresh = GSheetsStoreFactory.another(factory, s)
    tables = fresh.read([SheetRef("変更履歴"), SheetRef("検証結果")])
    stamps = [r.get("日時") for r in tables[SheetRef("変更履歴")].rows]  # type: ignore[union-attr]
    stamps += [r.get("実行日時") for r in tables[SheetRef("検証結果")].rows]  # type: ignore[union-attr]
    assert stamps and all(isinstance(t, datetime) for t in stamps)
    assert all(abs(t - tokyo) < timedelta(minutes=10) for t in stamps), (stamps, tokyo)  # type: ignore[operator]


# ---------------------------------------------------------------- request size
def test_a_big_write_goes_in_requests_under_2_mb_and_every_value_lands(
    factory: GSheetsStoreFactory, fake: FakeGoogle
) -> None:
    s = factory()
    s.create_book(None, REGISTER_SHEETS)
    n = 6000
    summary = "県内の防災拠点での連携について" * 20  # 300 characters: 1.8 kB a cell on the wire (\\uXXXX)
    rows = tuple({"提案ID": f"R7-{i:04d}", "件名": f"件名{i}", "概要": f"{i}:{summary}"} for i in range(1, n + 1))
    fake.reset_calls()
    s.apply([AppendRows(P, rows)])
    writes = [c for c in fake.calls if c.endpoint == "sheets.spreadsheets.batchUpdate"]
    assert all(c.status == 200 for c in writes)
    assert all(c.size <= MAX_REQUEST_BYTES for c in fake.calls)
    total = sum(c.size for c in writes)
    assert total > fake.max_request_bytes  # one request would have been refused outright
    # the rows added (and their formats) first, then one updateCells cut into blocks of whole rows:
    # parts of just under 2 MB and the rest (11.9 MB measured: 1 + 6)
    assert len(writes) <= -(-total // MAX_REQUEST_BYTES) + 1 and fake.count("sheets.values.batchUpdate") == 0
    assert sum(c.size > 0.95 * MAX_REQUEST_BYTES for c in writes) >= len(writes) - 2
    back = GSheetsStoreFactory.another(factory, s).read([P])[P]
    assert back is not None and len(back.rows) == n
    assert all(r.get("概要") == f"{i}:{summary}" for i, r in enumerate(back.rows, start=1))
    assert all(r.get("件名") == f"件名{i}" for i, r in enumerate(back.rows, start=1))


def test_thousands_of_marks_go_in_structure_requests_under_2_mb(factory: GSheetsStoreFactory, fake: FakeGoogle) -> None:
    s = factory()
    s.create_book(None, REGISTER_SHEETS)
    n = 3000
    s.apply([AppendRows(P, tuple({"提案ID": f"R7-{i:04d}"} for i in range(1, n + 1)))])
    note = "件名が空です。提案の内容が分かる件名を入力してください。" * 10
    fake.reset_calls()
    s.apply([MarkCells(P, "提案ID", {(f"R7-{i:04d}", "件名"): f"{i}:{note}" for i in range(1, n + 1)})])
    parts = [c for c in fake.calls if c.endpoint == "sheets.spreadsheets.batchUpdate"]
    assert len(parts) > 1 and all(c.status == 200 and c.size <= MAX_REQUEST_BYTES for c in parts)
    key = s.resolve_key(None)
    assert key is not None
    column = letter(fake.values(key, PROPOSALS)[0].index("件名"))
    sheet = fake.sheet(key, PROPOSALS)
    assert all(sheet.note_at(f"{column}{i + 1}") == f"{i}:{note}" for i in range(1, n + 1))


# ---------------------------------------------------------------- Retry-After
def test_retry_after_is_waited_out(factory: GSheetsStoreFactory, fake: FakeGoogle) -> None:
    s = factory()
    s.put_table(R, [["照会ID"], ["R7-0001-01"]])
    s.read([R])
    s.clock.sleeps.clear()  # type: ignore[attr-defined]
    fake.fail_next("429", 1, endpoint="sheets.values.batchGet", retry_after=45)
    fake.fail_next("429", 1, endpoint="sheets.values.batchGet")  # no header: the usual backoff
    table = s.read([R])[R]
    assert table is not None and table.rows[0].get("照会ID") == "R7-0001-01"
    sleeps = s.clock.sleeps  # type: ignore[attr-defined]
    assert len(sleeps) == 2
    assert sleeps[0] >= 45  # what the server asked for, not the 1–2 s backoff
    assert sleeps[1] < 10


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0.5", 0.5), ("", None), ("soon", None), ("-3", 0.0), ("86400", 300.0)],
)
def test_retry_after_header_values(header: str, seconds: float | None) -> None:
    import requests

    response = requests.Response()
    if header:
        response.headers["Retry-After"] = header
    assert retry_after(response) == seconds


def test_retry_after_as_an_http_date() -> None:
    import requests

    response = requests.Response()
    response.headers["Retry-After"] = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    wait = retry_after(response)
    assert wait is not None and 100 < wait <= 120
