"""The Google Sheets backend against a local fake of the Sheets/Drive APIs and Google's token endpoint.

Real gspread and google-auth code talk HTTP to 127.0.0.1; nothing here waits for real time (the
store's clock is a FakeClock: rate limits and backoff only move it forward).
"""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from fakes.google_api import (
    SERVICE_ACCOUNT,
    FakeClock,
    FakeGoogle,
    GSheetsStoreFactory,
    private_key_for_tests,
    write_json,
)
from kouminrenkei_sheets.config import config_from_dict
from kouminrenkei_sheets.errors import BusyError, ConfigError, ServiceError, StoreError
from kouminrenkei_sheets.schema import (
    CHOICES,
    DEPARTMENT_TEMPLATE,
    DEPARTMENTS,
    HISTORY,
    HISTORY_SHEET,
    PROPOSALS,
    REFERRALS,
    REGISTER_SHEETS,
    department_sheet_named,
)
from kouminrenkei_sheets.store.base import (
    WRITE_LOCK,
    AppendRows,
    DeleteRow,
    EnsureSheet,
    MarkCells,
    ReplaceRows,
    RowKey,
    SetCell,
    SheetRef,
)
from kouminrenkei_sheets.store.factory import open_gsheets
from kouminrenkei_sheets.store.gsheets import LOCK_TAB, MARKS_TAB, GSheetsStore, RateLimiter, decode, encode

P = SheetRef(PROPOSALS)
R = SheetRef(REFERRALS)


@pytest.fixture
def store(factory: GSheetsStoreFactory) -> GSheetsStore:
    s = factory()
    s.create_book(None, REGISTER_SHEETS)
    return s


def register_key(s: GSheetsStore) -> str:
    key = s.resolve_key(None)
    assert key is not None
    return key


# ---------------------------------------------------------------- the store contract
def test_round_trip_by_header_name(store: GSheetsStore) -> None:
    store.apply(
        [
            AppendRows(
                P,
                (
                    {
                        "件名": "防災協定",
                        "提案ID": "R7-0001",
                        "受付日": date(2025, 4, 1),
                        "更新日時": datetime(2025, 4, 1, 9, 30, 5, 700_000),
                    },
                ),
            )
        ]
    )
    [row] = store.read([P])[P].rows  # type: ignore[union-attr]
    assert row.number == 2
    assert (row.get("提案ID"), row.get("件名")) == ("R7-0001", "防災協定")
    assert row.get("受付日") == date(2025, 4, 1) and type(row.get("受付日")) is date
    assert row.get("更新日時") == datetime(2025, 4, 1, 9, 30, 6)  # kept to the second
    # on the sheet: date values (serial numbers) under a date format, not text
    sheet = store.fake.sheet(register_key(store), PROPOSALS)  # type: ignore[attr-defined]
    assert sheet.values()[1][1] == 45748
    assert sheet.format_at("B2")["numberFormat"] == {"type": "DATE", "pattern": "yyyy/m/d"}


def test_formula_like_text_stays_text(store: GSheetsStore) -> None:
    store.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": '=HYPERLINK("http://x")', "概要": "+81"},))])
    row = store.read([P])[P].rows[0]  # type: ignore[union-attr]
    assert row.get("件名") == '=HYPERLINK("http://x")'
    assert row.get("概要") == "+81"
    stored = store.fake.values(register_key(store), PROPOSALS)[1]  # type: ignore[attr-defined]
    assert stored[13] == '=HYPERLINK("http://x")' and type(stored[13]) is str  # text, not a formula


def test_columns_are_found_by_header_and_a_persons_columns_survive(factory: GSheetsStoreFactory) -> None:
    s = factory()
    s.put_table(
        P, [["件名", "課内メモ", "提案ID", "受付日"], ["a", "=LEN(A2)", "R7-0001", None], ["b", "電話済み", "R7-0002"]]
    )
    key = register_key(s)
    s.fake.edit(key, PROPOSALS, "B2", "=LEN(A2)", as_person=True)  # a formula a person typed
    table = s.read([P])[P]
    assert table is not None and table.column_number("提案ID") == 3
    s.apply(
        [
            SetCell(P, RowKey("提案ID", "R7-0002"), "件名", "変更"),
            AppendRows(P, ({"提案ID": "R7-0003", "受付日": date(2025, 5, 1)},)),
        ]
    )
    assert s.fake.values(key, PROPOSALS) == [
        ["件名", "課内メモ", "提案ID", "受付日"],
        ["a", "=LEN(A2)", "R7-0001"],
        ["変更", "電話済み", "R7-0002"],
        [None, None, "R7-0003", 45778],
    ]
    assert type(s.fake.sheet(key, PROPOSALS).get(1, 1)).__name__ == "Formula"  # not rewritten


def test_ragged_rows_blank_rows_and_trimmed_cells(factory: GSheetsStoreFactory) -> None:
    s = factory()
    s.put_table(
        R,
        [
            ["照会ID", "提案ID", "照会先", "回答"],
            ["R7-0001-01"],
            [],
            ["", "", "", ""],
            ["R7-0001-02", None, "防災政策課"],
        ],
    )
    table = s.read([R])[R]
    assert table is not None
    assert [r.number for r in table.rows] == [2, 5]
    assert table.rows[0].values == {"照会ID": "R7-0001-01", "提案ID": None, "照会先": None, "回答": None}
    assert table.rows[1].get("照会先") == "防災政策課"


def test_an_empty_tab_and_a_header_only_tab(factory: GSheetsStoreFactory) -> None:
    s = factory()
    s.put_table(SheetRef("空"), [])
    s.put_table(R, [["照会ID", "回答"]])
    got = s.read([SheetRef("空"), R])
    assert got[SheetRef("空")] is not None and got[SheetRef("空")].headers == [] and got[SheetRef("空")].rows == []  # type: ignore[union-attr]
    assert got[R] is not None and got[R].headers == ["照会ID", "回答"] and got[R].rows == []  # type: ignore[union-attr]


def test_dates_a_person_typed_come_back_as_dates_and_text_as_text(store: GSheetsStore) -> None:
    store.apply([AppendRows(P, ({"提案ID": "R7-0001"}, {"提案ID": "R7-0002"}, {"提案ID": "R7-0003"}))])
    key = register_key(store)
    store.fake.edit(key, PROPOSALS, "B2", "2025/4/1")  # type: ignore[attr-defined]  # Sheets makes it a date
    store.fake.edit(key, PROPOSALS, "B3", "令和7年4月1日")  # type: ignore[attr-defined]
    store.fake.edit(key, PROPOSALS, "B4", "'2025/12/31")  # type: ignore[attr-defined]  # typed as text
    store.fake.edit(key, PROPOSALS, "O2", "2025/4/2")  # type: ignore[attr-defined]  # 概要: not a date column
    rows = store.read([P])[P].rows  # type: ignore[union-attr]
    assert rows[0].get("受付日") == date(2025, 4, 1)
    assert rows[1].get("受付日") == "令和7年4月1日"  # text stays text; validate reads it
    assert rows[2].get("受付日") == "2025/12/31"
    assert rows[0].get("概要") == 45749  # the serial number Sheets keeps: the schema says which columns hold dates


@pytest.mark.parametrize(
    ("value", "column", "back"),
    [
        (date(2025, 4, 1), "受付日", date(2025, 4, 1)),
        (datetime(2025, 4, 1, 9, 5, 7), "更新日時", datetime(2025, 4, 1, 9, 5, 7)),
        (datetime(2025, 4, 1, 0, 0), "受付日", date(2025, 4, 1)),  # midnight in a date column: a date
        (date(2025, 4, 1), "備考", "2025/4/1"),  # a date in a text column is written, and read, as text
        (datetime(2025, 4, 1, 9, 5, 7), "旧値", "2025/4/1 9:05:07"),
        ("2025年4月1日", "受付日", "2025年4月1日"),
        ("2025/4/1", "受付日", "2025/4/1"),  # text stays text, in any column
        (12.5, "備考", 12.5),
        (True, "備考", True),
        ("", "備考", None),  # an empty string is an empty cell in Sheets
    ],
)
def test_values_round_trip_through_the_wire_form(value: object, column: str, back: object) -> None:
    from kouminrenkei_sheets.store.gsheets import DATE_COLUMNS

    kind = DATE_COLUMNS.get(column)
    got = decode(encode(value, kind), kind)  # type: ignore[arg-type]
    assert got == back and type(got) is type(back)


def test_set_delete_append_in_one_apply(store: GSheetsStore) -> None:
    rows = tuple({"提案ID": f"R7-{i:04d}", "件名": f"件名{i}"} for i in range(1, 5))
    store.apply([AppendRows(P, rows)])
    store.fake.reset_calls()  # type: ignore[attr-defined]
    store.apply(
        [
            AppendRows(P, ({"提案ID": "R7-0005"},)),
            DeleteRow(P, RowKey("提案ID", "R7-0002")),
            SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "変更後"),
        ]
    )
    table = store.read([P])[P]
    assert table is not None
    assert [r.get("提案ID") for r in table.rows] == ["R7-0001", "R7-0003", "R7-0004", "R7-0005"]
    assert table.rows[0].get("件名") == "変更後"
    counts = store.fake.counts()  # type: ignore[attr-defined]
    # one write: the row delete (deleteDimension) and the cells in the same spreadsheets:batchUpdate
    assert counts["sheets.spreadsheets.batchUpdate"] == 1 and counts["sheets.values.batchUpdate"] == 0
    assert counts["sheets.values.batchGet"] == 2  # the tab as it is now (to resolve keys), and the read above


def test_replace_rows_shrinks_the_tab(store: GSheetsStore) -> None:
    ref = SheetRef("検証結果")
    store.apply([ReplaceRows(ref, ({"コード": "a"}, {"コード": "b"}))])
    store.apply([ReplaceRows(ref, ({"コード": "c"},))])
    table = store.read([ref])[ref]
    assert table is not None
    assert [r.get("コード") for r in table.rows] == ["c"]
    assert store.fake.values(register_key(store), "検証結果")[2:] == []  # type: ignore[attr-defined]


def test_an_empty_plan_and_a_plan_that_changes_nothing_write_nothing(store: GSheetsStore) -> None:
    store.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "x", "受付日": date(2025, 4, 1)},))])
    store.read([P])
    before = store.book_version(None)
    store.fake.reset_calls()  # type: ignore[attr-defined]
    assert store.apply([]).written == []
    result = store.apply(
        [
            SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "x"),
            SetCell(P, RowKey("提案ID", "R7-0001"), "受付日", date(2025, 4, 1)),
            SetCell(P, RowKey("提案ID", "R7-0001"), "備考", None),
        ]
    )
    assert result.written == []
    assert store.fake.count("sheets") == 1  # type: ignore[attr-defined]  # the fresh read; nothing written
    assert store.book_version(None) == before


def test_marks_are_notes_with_a_fill_set_cleared_and_moved_with_rows(store: GSheetsStore) -> None:
    store.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "x"}, {"提案ID": "R7-0002"}, {"提案ID": "R7-0003"}))])
    store.apply(
        [MarkCells(P, "提案ID", {("R7-0001", "件名"): "式として実行されます", ("R7-0002", "件名"): "必須です"})]
    )
    assert store.read([P])[P].marks == {(2, "件名"): "式として実行されます", (3, "件名"): "必須です"}  # type: ignore[union-attr]
    sheet = store.fake.sheet(register_key(store), PROPOSALS)  # type: ignore[attr-defined]
    assert sheet.note_at("N2") == "式として実行されます"
    assert sheet.format_at("N2")["backgroundColor"] == {"red": 1.0, "green": 199 / 255, "blue": 206 / 255}
    store.apply([MarkCells(P, "提案ID", {("R7-0002", "件名"): "必須です"})])
    assert store.read([P])[P].marks == {(3, "件名"): "必須です"}  # type: ignore[union-attr]
    assert sheet.note_at("N2") is None and "backgroundColor" not in sheet.format_at("N2")
    store.apply([DeleteRow(P, RowKey("提案ID", "R7-0001"))])  # the marked row moves up; its mark with it
    assert store.read([P])[P].marks == {(2, "件名"): "必須です"}  # type: ignore[union-attr]
    assert store.fake.sheet(register_key(store), PROPOSALS).note_at("N2") == "必須です"  # type: ignore[attr-defined]
    assert MARKS_TAB not in store.sheet_names() and store.fake.sheet(register_key(store), MARKS_TAB).hidden  # type: ignore[attr-defined]


def test_missing_sheet_reads_as_none_and_ensure_creates_it(store: GSheetsStore) -> None:
    ref = SheetRef("防災政策課")
    assert store.read([ref])[ref] is None
    store.apply([EnsureSheet(ref, department_sheet_named("防災政策課"))])
    table = store.read([ref])[ref]
    assert table is not None and table.has("回答") and table.rows == []
    with pytest.raises(StoreError, match="シート「ない」がありません"):
        store.apply([SetCell(SheetRef("ない"), RowKey("a", "1"), "a", 1)])


def test_ensure_sheet_adds_missing_columns_at_the_right(store: GSheetsStore) -> None:
    ref = SheetRef("防災政策課")
    store.fake.put_values(register_key(store), "防災政策課", [["照会ID", "課内メモ"], ["R7-0001-01", "要確認"]])  # type: ignore[attr-defined]
    store.forget()
    store.apply([EnsureSheet(ref, department_sheet_named("防災政策課"))])
    table = store.read([ref])[ref]
    assert table is not None
    assert table.headers[:3] == ["照会ID", "課内メモ", "提案ID"] and table.has("次回予定日")
    assert table.rows[0].get("課内メモ") == "要確認"


def test_department_book_in_the_drive_folder(store: GSheetsStore) -> None:
    book = "departments/防災政策課.xlsx"
    assert not store.book_exists(book)
    store.create_book(book, [department_sheet_named(DEPARTMENT_TEMPLATE)])
    ref = SheetRef(DEPARTMENT_TEMPLATE, book)
    store.apply([AppendRows(ref, ({"照会ID": "R7-0001-01", "回答": "連携可"},))])
    assert store.read([ref])[ref].rows[0].get("回答") == "連携可"  # type: ignore[union-attr]
    with pytest.raises(StoreError, match="既に"):
        store.create_book(book, [department_sheet_named(DEPARTMENT_TEMPLATE)])
    [made] = [f for f in store.fake.files.values() if f.name == "防災政策課"]  # type: ignore[attr-defined]
    assert made.parents == [store.config.gsheets.drive_folder]
    assert [s.title for s in made.sheets] == [DEPARTMENT_TEMPLATE]  # the default シート1 is gone


def test_missing_book_is_one_clear_error(store: GSheetsStore) -> None:
    with pytest.raises(StoreError, match="見つかりません"):
        store.read([SheetRef(DEPARTMENT_TEMPLATE, "departments/ない課.xlsx")])


# ---------------------------------------------------------------- creating the register and department books
def test_create_book_builds_the_register_like_the_template(store: GSheetsStore) -> None:
    f = store.fake.spreadsheet(register_key(store))  # type: ignore[attr-defined]
    assert [s.title for s in f.sheets] == [*(s.name for s in REGISTER_SHEETS), MARKS_TAB]  # シート1 is gone
    assert f.sheet(MARKS_TAB).hidden and store.sheet_names() == [s.name for s in REGISTER_SHEETS]
    proposals = f.sheet(PROPOSALS)
    assert proposals.values() == [[c.name for c in REGISTER_SHEETS[0].columns]]
    assert (proposals.frozen_rows, proposals.frozen_cols) == (1, 1)
    assert proposals.format_at("A1")["textFormat"] == {"bold": True}
    assert proposals.note_at("A1") == "年度-連番（例: R7-0001）"
    assert proposals.format_at("B500")["numberFormat"]["type"] == "DATE"
    assert proposals.format_at("A2")["numberFormat"] == {"type": "TEXT"}
    status = proposals.validation_at("S2")  # ステータス: the 選択肢 tab's list
    assert status is not None and status["condition"]["type"] == "ONE_OF_RANGE"
    assert status["condition"]["values"][0]["userEnteredValue"].startswith("='選択肢'!$")
    assert proposals.validation_at("P2") is None  # 連携分野 holds several choices: no dropdown
    choices = f.sheet(CHOICES).values()
    assert choices[0][:2] == ["提案方向", "提案種別"] and choices[1][:2] == ["企業等→県", "フリー型"]
    assert not store.book_exists("departments/防災政策課")
    assert store.book_exists(None)


def test_department_spreadsheet_is_protected_validated_and_shared(factory: GSheetsStoreFactory) -> None:
    s = factory(departments="books", share_departments=True)
    s.create_book(None, REGISTER_SHEETS)
    book = "departments/防災政策課"
    s.create_book(book, [department_sheet_named(DEPARTMENT_TEMPLATE)], share_with="bousai@pref.example.jp")
    f = s.fake.spreadsheet(s.resolve_key(book))
    sheet = f.sheet(DEPARTMENT_TEMPLATE)
    answer = sheet.validation_at("J2")  # 回答: a list of its own (no 選択肢 tab in this book)
    assert answer is not None and answer["condition"]["type"] == "ONE_OF_LIST"
    assert [v["userEnteredValue"] for v in answer["condition"]["values"]][:3] == ["未回答", "検討中", "連携可"]
    desk = [p for p in sheet.protected if "endRowIndex" not in p["range"]]
    assert [(p["range"]["startColumnIndex"], p["range"]["endColumnIndex"]) for p in desk] == [(0, 9)]
    assert desk[0]["editors"] == {"users": [SERVICE_ACCOUNT]}
    headers_only = [p for p in sheet.protected if p["range"].get("endRowIndex") == 1]
    assert [(p["range"]["startColumnIndex"], p["range"]["endColumnIndex"]) for p in headers_only] == [(9, 14)]
    shared = [p for p in f.permissions if p.get("emailAddress") == "bousai@pref.example.jp"]
    assert [(p["role"], p["notified"]) for p in shared] == [("writer", True)]


def test_a_register_tab_a_person_filled_is_not_overwritten(factory: GSheetsStoreFactory, fake: FakeGoogle) -> None:
    folder = fake.add_folder()
    key = fake.add_spreadsheet("台帳", tabs={PROPOSALS: [["提案ID"], ["R7-0001"]]}, parents=[folder])
    s = factory(register=key, folder=folder)
    with pytest.raises(StoreError, match="既にあります（シート: 提案）"):
        s.create_book(None, REGISTER_SHEETS)
    assert fake.values(key, PROPOSALS) == [["提案ID"], ["R7-0001"]]


# ---------------------------------------------------------------- credentials and access
def _config(tmp_path: Path, fake: FakeGoogle, **gsheets: object) -> object:
    return config_from_dict(
        {"store": {"backend": "gsheets", "register": "1" + "a" * 43}, "gsheets": {**gsheets}},
        base_dir=tmp_path,
    )


def test_no_credentials_configured(tmp_path: Path, fake: FakeGoogle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    with pytest.raises(ConfigError, match="GOOGLE_APPLICATION_CREDENTIALS") as e:
        open_gsheets(_config(tmp_path, fake), transport=fake.transport())  # type: ignore[arg-type]
    assert e.value.exit_code == 2


def test_credentials_from_the_environment(
    factory: GSheetsStoreFactory, fake: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_json(tmp_path / "sa.json", fake.service_account_info())
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    config = factory.config(credentials=Path(""))
    config.gsheets.credentials = ""
    s = open_gsheets(config, transport=fake.transport(), sleep=FakeClock().sleep)
    assert s.account == SERVICE_ACCOUNT and s.sheet_names() == ["シート1"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "が見つかりません"),
        ("{not json", "JSON として読めません"),
        (
            json.dumps(
                {
                    "type": "service_account",
                    "client_email": "x@y",
                    "token_uri": "http://t",
                    "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                }
            ),
            "サービスアカウントの鍵 .* が壊れています",
        ),
        (json.dumps({"type": "service_account", "client_email": "x@y"}), "が壊れています"),
        (
            json.dumps({"type": "external_account"}),
            "サービスアカウントの鍵でも認可済みユーザーのファイルでもありません",
        ),
        (json.dumps({"type": "authorized_user", "client_id": "c"}), "client_secret, refresh_token がありません"),
    ],
)
def test_a_missing_or_broken_key_is_one_clear_line(
    tmp_path: Path, fake: FakeGoogle, content: str | None, message: str
) -> None:
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as e:
        open_gsheets(_config(tmp_path, fake, credentials="key.json"), transport=fake.transport())  # type: ignore[arg-type]
    assert "\n" not in str(e.value) and e.value.exit_code == 2


def test_a_key_google_does_not_accept_names_the_service_account(
    factory: GSheetsStoreFactory, fake: FakeGoogle, tmp_path: Path
) -> None:
    info = fake.service_account_info()
    other = private_key_for_tests(1)  # signed with a key Google does not know for this account
    from cryptography.hazmat.primitives import serialization

    info["private_key"] = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    s = factory(credentials=write_json(tmp_path / "revoked.json", info))
    with pytest.raises(ConfigError, match=f"サービスアカウント {SERVICE_ACCOUNT} の鍵を受け付けません") as e:
        s.read([P])
    assert "Invalid JWT Signature" in str(e.value) and e.value.exit_code == 2


def test_an_authorised_user_file_works(factory: GSheetsStoreFactory, fake: FakeGoogle, tmp_path: Path) -> None:
    info = fake.add_authorized_user("tanaka@pref.example.jp")
    folder = fake.add_folder(shared_with=["tanaka@pref.example.jp"])
    key = fake.add_spreadsheet("台帳", parents=[folder], shared_with=["tanaka@pref.example.jp"])
    s = factory(credentials=write_json(tmp_path / "user.json", info), register=key, folder=folder)
    s.create_book(None, REGISTER_SHEETS)
    assert s.sheet_names()[0] == PROPOSALS
    assert {c.user for c in fake.calls if c.endpoint.startswith("sheets")} == {"tanaka@pref.example.jp"}


def test_a_spreadsheet_not_shared_names_the_address_to_share_it_with(
    factory: GSheetsStoreFactory, fake: FakeGoogle
) -> None:
    key = fake.add_spreadsheet("台帳", shared_with=["someone@pref.example.jp"])
    s = factory(register=key)
    with pytest.raises(StoreError) as e:
        s.read([P])
    assert str(e.value) == (
        f"「台帳」（{key}）を開けません。"
        f"スプレッドシートをサービスアカウント {SERVICE_ACCOUNT} と共有（編集者）してください。"
    )
    assert e.value.exit_code == 2
    assert fake.count("sheets") == 1  # 403 is not retried


def test_an_unknown_spreadsheet_is_not_found(factory: GSheetsStoreFactory) -> None:
    s = factory(register="1" + "z" * 43)
    with pytest.raises(StoreError, match="「台帳」が見つかりません（スプレッドシート 1zzz"):
        s.read([P])
    assert not s.book_exists(None)


# ---------------------------------------------------------------- retries, backoff and the rate limit
def test_transient_failures_are_retried_with_growing_backoff(factory: GSheetsStoreFactory, fake: FakeGoogle) -> None:
    s = factory()
    s.put_table(R, [["照会ID"], ["R7-0001-01"]])
    s.read([R])  # token and register metadata
    fake.reset_calls()
    fake.fail_next("503", 1, endpoint="sheets.values.batchGet")
    fake.fail_next("429", 1, endpoint="sheets.values.batchGet")
    fake.fail_next("drop", 1, endpoint="sheets.values.batchGet")
    table = s.read([R])[R]
    assert table is not None and table.rows[0].get("照会ID") == "R7-0001-01"
    assert [c.status for c in fake.calls] == [503, 429, 0, 200]
    assert s.http.retries == 3
    sleeps = s.clock.sleeps
    assert len(sleeps) == 3 and all(0 < x <= 33 for x in sleeps) and sleeps[2] >= 4  # 1, 2, 4 s + jitter


def test_bounded_retries_then_exit_4(factory: GSheetsStoreFactory, fake: FakeGoogle) -> None:
    s = factory(max_retries=3)
    s.put_table(R, [["照会ID"]])
    s.read([R])
    fake.reset_calls()
    fake.fail_next("429", 50)
    with pytest.raises(ServiceError, match="4 回続けて失敗しました（最後: 429 利用上限") as e:
        s.read([R])
    assert e.value.exit_code == 4
    assert fake.count("sheets") == 4  # 1 try + 3 retries, then stop
    assert all(x <= 33 for x in s.clock.sleeps)


def test_a_timeout_is_retried(factory: GSheetsStoreFactory, fake: FakeGoogle) -> None:
    s = factory()
    s.put_table(R, [["照会ID"], ["x"]])
    s.read([R])
    s.http.set_timeout((1.0, 0.05))
    fake.hang_seconds = 0.3
    fake.fail_next("hang", 1, endpoint="sheets.values.batchGet")
    assert s.read([R])[R] is not None
    assert s.http.retries == 1


def test_a_lost_answer_to_a_row_delete_never_deletes_twice(store: GSheetsStore) -> None:
    store.apply([AppendRows(P, tuple({"提案ID": f"R7-{i:04d}"} for i in range(1, 6)))])
    store.read([P])
    store.fake.fail_next("drop", 1, endpoint="sheets.spreadsheets.batchUpdate", after_apply=True)  # type: ignore[attr-defined]
    store.apply([DeleteRow(P, RowKey("提案ID", "R7-0002"))])
    ids = [r.get("提案ID") for r in store.read([P])[P].rows]  # type: ignore[union-attr]
    assert ids == ["R7-0001", "R7-0003", "R7-0004", "R7-0005"]


def test_rate_limiter_keeps_under_the_quota_without_real_sleeps() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock.monotonic, sleep=clock.sleep)
    stamps = []
    for _ in range(150):
        limiter.acquire()
        stamps.append(clock.monotonic())
    for i, t in enumerate(stamps):  # any 60-second window holds fewer than 60 calls
        assert sum(1 for u in stamps[i:] if u < t + 60) <= 59
    assert clock.monotonic() - 1000 >= 120 and limiter.waited > 0


def test_store_reads_and_writes_are_rate_limited_separately(factory: GSheetsStoreFactory, fake: FakeGoogle) -> None:
    s = factory(reads_per_minute=5, writes_per_minute=3)
    s.put_table(R, [["照会ID", "回答"], ["R7-0001-01"]])
    for _ in range(9):  # a register without _marks: the first read looks for it (2 reads more)
        s.read([R])
    assert fake.count("sheets.values") + fake.count("sheets.spreadsheets") == 11  # at fewer than 5 a minute
    assert 120 <= s.http.read_limiter.waited <= 180 and s.http.write_limiter.waited == 0
    for i in range(7):  # 7 writes at fewer than 3 a minute
        s.apply([SetCell(R, RowKey("照会ID", "R7-0001-01"), "回答", f"回答{i}")])
    assert fake.count("sheets.spreadsheets.batchUpdate") == 7
    assert 120 <= s.http.write_limiter.waited <= 180
    assert all(x <= 60 for x in s.clock.sleeps)


# ---------------------------------------------------------------- the lock
def test_lock_excludes_a_second_holder(store: GSheetsStore) -> None:
    with (
        store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0),
        pytest.raises(BusyError, match="書き込んでいます") as e,
    ):
        with store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0):
            pass
    assert e.value.exit_code == 3
    with store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0):  # released
        pass
    lock = store.fake.sheet(register_key(store), LOCK_TAB)  # type: ignore[attr-defined]
    assert lock.hidden and LOCK_TAB not in store.sheet_names()


def test_an_expired_lock_is_taken_over(store: GSheetsStore) -> None:
    past = (datetime.now().astimezone() - timedelta(hours=1)).isoformat(timespec="seconds")
    store.fake.put_values(  # type: ignore[attr-defined]
        register_key(store),
        LOCK_TAB,
        [["名前", "トークン", "保持者", "期限", "状態"], ["sync", "dead", "x", past, "claim"]],
        as_person=False,
    )
    store.forget()
    with store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0):
        pass


def test_waiting_for_the_lock_gives_up_at_the_deadline(factory: GSheetsStoreFactory) -> None:
    a = factory()
    a.create_book(None, REGISTER_SHEETS)
    b = factory.another(a)
    with a._hold_lock(WRITE_LOCK, ttl_seconds=600, wait_seconds=0), pytest.raises(BusyError):
        b._hold_lock(WRITE_LOCK, ttl_seconds=600, wait_seconds=10).__enter__()
    assert sum(b.clock.sleeps) >= 10  # it polled on its (fake) clock until the deadline


def test_two_processes_at_once_one_gets_the_lock(factory: GSheetsStoreFactory) -> None:
    a = factory()
    a.create_book(None, REGISTER_SHEETS)
    stores = [a, *(factory.another(a) for _ in range(3))]
    with a.lock("warmup", ttl_seconds=60):  # the _lock tab exists before the race
        pass
    barrier = threading.Barrier(len(stores))
    inside: list[int] = []
    busy: list[int] = []
    release = threading.Event()

    def run(i: int) -> None:
        barrier.wait()
        try:
            with stores[i]._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0):
                inside.append(i)
                release.wait(5)
        except BusyError:
            busy.append(i)
            if len(busy) == len(stores) - 1:
                release.set()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(inside) == 1 and len(busy) == len(stores) - 1


# ---------------------------------------------------------------- versions, growth, budget and faults
def test_book_version_follows_drive_modified_time(store: GSheetsStore) -> None:
    v1 = store.book_version(None)
    assert v1 and store.book_version(None) == v1
    store.apply([AppendRows(P, ({"提案ID": "R7-0001"},))])
    assert store.book_version(None) != v1
    assert store.book_version("departments/ない課") is None


def test_a_tab_grows_when_rows_run_out_and_new_rows_keep_date_formats(store: GSheetsStore) -> None:
    rows = tuple(
        {"照会ID": f"R7-{i:04d}-01", "照会日": date(2025, 4, 1) + timedelta(days=i % 300)} for i in range(1200)
    )
    store.apply([AppendRows(R, rows)])
    sheet = store.fake.sheet(register_key(store), REFERRALS)  # type: ignore[attr-defined]
    assert sheet.row_count >= 1201
    assert sheet.format_at("D1201")["numberFormat"]["type"] == "DATE"
    table = store.read([R])[R]
    assert (
        table is not None
        and len(table.rows) == 1200
        and table.rows[-1].get("照会日") == date(2025, 4, 1) + timedelta(days=1199 % 300)
    )


def _departments(fake: FakeGoogle, folder: str, n: int) -> list[str]:
    books = []
    for i in range(n):
        grid = [[c.name for c in department_sheet_named(DEPARTMENT_TEMPLATE).columns]]
        grid += [[f"R7-{i:04d}-{j:02d}", f"R7-{i:04d}", f"件名{j}"] for j in range(1, 4)]
        fake.add_spreadsheet(f"課{i:02d}", tabs={DEPARTMENT_TEMPLATE: grid}, parents=[folder])
        books.append(f"departments/課{i:02d}")
    return books


def test_call_budget_over_30_department_spreadsheets(factory: GSheetsStoreFactory, fake: FakeGoogle) -> None:
    folder = fake.add_folder()
    s = factory(folder=folder, register=fake.add_spreadsheet("台帳", parents=[folder]), departments="books")
    s.create_book(None, REGISTER_SHEETS)
    books = _departments(fake, folder, 30)
    s.forget()
    fake.reset_calls()
    refs = [SheetRef(DEPARTMENT_TEMPLATE, b) for b in books]
    # a sync's reads: the register (metadata once, then its tabs in one call), every department in one call each
    s.read([P, R, SheetRef(DEPARTMENTS)])
    tables = s.read(refs)
    assert all(t is not None and len(t.rows) == 3 for t in tables.values())
    assert fake.counts() == {"drive.files.list": 1, "sheets.values.batchGet": 31}  # the listing finds the books
    for book in books:  # per department spreadsheet: exactly one read
        assert fake.counts(key=s.resolve_key(book)) == {"sheets.values.batchGet": 1}
    # a sync's writes: one spreadsheets:batchUpdate per changed spreadsheet, nothing for unchanged ones
    plan = [SetCell(ref, RowKey("照会ID", f"R7-{i:04d}-01"), "回答", "連携可") for i, ref in enumerate(refs[:20])]
    plan += [AppendRows(SheetRef("変更履歴"), ({"日時": datetime(2025, 4, 1, 9, 0), "種別": "pull"},))]
    result = s.apply(plan)
    assert len(result.written) == 21
    assert fake.count("sheets.spreadsheets.batchUpdate") == 21 and fake.count("sheets.values.batchUpdate") == 0
    for book in books[:20]:  # read, read again just before writing (people edit meanwhile; with the ids), write
        assert fake.counts(key=s.resolve_key(book)) == {
            "sheets.values.batchGet": 1,
            "sheets.spreadsheets.get": 1,
            "sheets.spreadsheets.batchUpdate": 1,
        }
    for book in books[20:]:
        assert fake.counts(key=s.resolve_key(book)) == {"sheets.values.batchGet": 1}
    # the register: its tabs in one read, then 変更履歴's header row only (it is never read back), one write
    assert fake.counts(key=register_key(s)) == {
        "sheets.values.batchGet": 1,
        "sheets.spreadsheets.get": 1,
        "sheets.spreadsheets.batchUpdate": 1,
    }
    # a repeated sync with nothing new writes nothing
    fake.reset_calls()
    assert s.apply(plan[:20]).written == [] and fake.count("sheets.spreadsheets.batchUpdate") == 0
    # and knowing which spreadsheets changed costs one Drive listing, whatever their number
    s.forget()
    fake.reset_calls()
    versions = {b: s.book_version(b) for b in [None, *books]}
    assert all(versions.values()) and len(set(versions.values())) == 31
    assert fake.counts() == {"drive.files.list": 1}


def test_history_is_appended_without_reading_it_back_in_the_column_order_a_person_left(
    store: GSheetsStore, fake: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = register_key(store)
    headers = list(reversed(HISTORY_SHEET.headers))  # a person moved every column
    old = [["pull", f"新{i}", "旧", "回答", f"R7-{i:04d}-01", "照会", "田中", 46000 + i / 1440] for i in range(2000)]
    fake.put_values(key, HISTORY, [headers, *old], as_person=False)
    store.forget()
    asked: list[str] = []
    real = store.http.fetch_sheet_metadata

    def spy(key: str, params: dict[str, object] | None = None) -> object:
        asked.extend((params or {}).get("ranges", []))  # type: ignore[arg-type]
        return real(key, params=params)

    monkeypatch.setattr(store.http, "fetch_sheet_metadata", spy)
    fake.reset_calls()
    when = datetime(2025, 4, 1, 9, 30, 15)
    entry = {
        "日時": when,
        "実行者": "鈴木",
        "シート": "照会",
        "キー": "R7-0002-01",
        "列": "回答",
        "新値": "連携可",
        "種別": "pull",
    }
    assert store.apply([AppendRows(SheetRef(HISTORY), (entry,))]).written == ["台帳"]
    assert asked == ["'変更履歴'!1:1"]  # the header row, never the 2,000 rows below it
    assert fake.counts(key=key) == {"sheets.spreadsheets.get": 1, "sheets.spreadsheets.batchUpdate": 1}
    grid = fake.values(key, HISTORY)
    assert len(grid) == 2002 and grid[:2001] == [headers, *old]
    last = dict(zip(headers, grid[-1], strict=False))
    assert {k: last[k] for k in entry if k != "日時"} == {k: v for k, v in entry.items() if k != "日時"}
    table = store.read([SheetRef(HISTORY)])[SheetRef(HISTORY)]
    assert table is not None and table.rows[-1].get("日時") == when  # a serial number in the date column


@pytest.mark.parametrize("after_apply", [True, False])
def test_a_lost_answer_to_a_history_append_never_adds_the_rows_twice(store: GSheetsStore, after_apply: bool) -> None:
    """The log rows and the cells go in one spreadsheets:batchUpdate; after a lost answer the log's tail
    is read once: the rows there → the whole batch landed (Google applies it whole), else it is sent again."""
    fake: FakeGoogle = store.fake  # type: ignore[attr-defined]
    key = register_key(store)
    store.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "旧件名"},))])
    before = len(fake.values(key, HISTORY))
    fake.reset_calls()
    fake.fail_next("drop", 1, endpoint="sheets.spreadsheets.batchUpdate", after_apply=after_apply)
    entry = {"日時": datetime(2025, 4, 1, 9, 0), "実行者": "鈴木", "種別": "pull", "新値": "連携可"}
    store.apply(
        [
            SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "新件名"),
            AppendRows(SheetRef(HISTORY), (entry, {**entry, "新値": "検討中"})),
        ]
    )
    grid = fake.values(key, HISTORY)
    assert len(grid) == before + 2
    at = grid[0].index("新値")
    assert [r[at] for r in grid[-2:]] == ["連携可", "検討中"]
    proposals = fake.values(key, PROPOSALS)
    assert proposals[1][proposals[0].index("件名")] == "新件名"
    sent = 1 if after_apply else 2
    assert fake.count("sheets.spreadsheets.batchUpdate") == sent


def test_history_and_the_cells_it_records_land_together_or_not_at_all(store: GSheetsStore) -> None:
    """One spreadsheets:batchUpdate: when it fails neither the log rows nor the cells are there, and
    the same plan applied again (the next run) puts both in."""
    fake: FakeGoogle = store.fake  # type: ignore[attr-defined]
    key = register_key(store)
    store.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "旧件名"},))])
    before = fake.values(key, HISTORY)
    fake.fail_next("500", 4, endpoint="sheets.spreadsheets.batchUpdate")  # every try of the factory's 3 retries
    entry = {"日時": datetime(2025, 4, 1, 9, 0), "キー": "R7-0001", "列": "件名", "旧値": "旧件名", "新値": "新件名"}
    plan = [SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "新件名"), AppendRows(SheetRef(HISTORY), (entry,))]
    with pytest.raises(ServiceError):
        store.apply(plan)
    assert fake.values(key, HISTORY) == before
    proposals = fake.values(key, PROPOSALS)
    assert proposals[1][proposals[0].index("件名")] == "旧件名"
    assert store.apply(plan).written == ["台帳"]
    grid = fake.values(key, HISTORY)
    assert len(grid) == len(before) + 1 and grid[-1][grid[0].index("旧値")] == "旧件名"
    proposals = fake.values(key, PROPOSALS)
    assert proposals[1][proposals[0].index("件名")] == "新件名"


def _scenario(s: GSheetsStore, books: list[str]) -> None:
    """Every kind of change over several locked rounds (what validate, refer and sync do to the sheets)."""
    refs = [SheetRef(DEPARTMENT_TEMPLATE, b) for b in books]
    snapshot = SheetRef("_sync")
    history = SheetRef("変更履歴")
    for n in range(4):
        with s._hold_lock(WRITE_LOCK, ttl_seconds=600, wait_seconds=0):
            s.read([P, R, *refs])
            first = 8 * n + 1
            new = tuple(
                {"提案ID": f"R7-{i:04d}", "件名": f"件名{i}", "受付日": date(2025, 4, 1) + timedelta(days=i)}
                for i in range(first, first + 8)
            )
            s.apply([AppendRows(P, new), AppendRows(history, ({"日時": datetime(2025, 4, 1, 9, n), "種別": "refer"},))])
            s.apply(
                [
                    SetCell(
                        ref,
                        RowKey("照会ID", f"R7-{i:04d}-{1 + n % 3:02d}"),
                        "回答",
                        ("連携可", "検討中", "要協議")[n % 3],
                    )
                    for i, ref in enumerate(refs)
                ]
                + [SetCell(P, RowKey("提案ID", f"R7-{2 + n:04d}"), "件名", f"=1+{n}")]
            )
            s.apply(
                [
                    DeleteRow(P, RowKey("提案ID", f"R7-{3 + 2 * n:04d}")),
                    MarkCells(P, "提案ID", {(f"R7-{4 + 2 * n:04d}", "件名"): f"確認してください{n}"}),
                ]
            )
            s.apply(
                [
                    AppendRows(refs[n % len(refs)], ({"照会ID": f"R7-{n:04d}-09", "回答日": date(2025, 5, 1 + n)},)),
                    ReplaceRows(SheetRef("検証結果"), tuple({"コード": f"c{n}-{i}"} for i in range(3 - n % 2))),
                ]
            )
            s.apply(
                [
                    EnsureSheet(snapshot, department_sheet_named("_sync"), hidden=True),
                    ReplaceRows(snapshot, tuple({"照会ID": f"R7-000{i}-01", "回答": "連携可"} for i in range(n + 1))),
                ]
            )


def _state(fake: FakeGoogle) -> dict[str, object]:
    """Every tab's values, notes and visibility (the lock log holds random tokens: compared apart)."""
    return {
        f.name: {s.title: (s.values(), dict(s.notes), s.hidden) for s in f.sheets if s.title != LOCK_TAB}
        for f in fake.files.values()
        if f.sheets
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_twenty_percent_failures_same_end_state(tmp_path: Path, seed: int) -> None:
    states = []
    for faulty in (False, True):
        with FakeGoogle() as fake:
            factory = GSheetsStoreFactory(fake, tmp_path)
            folder = fake.add_folder()
            books = _departments(fake, folder, 3)
            s = factory(folder=folder, register=fake.add_spreadsheet("台帳", parents=[folder]), max_retries=10)
            s.max_workers = 1  # one request at a time: the same faults hit the same calls every run
            s.create_book(None, REGISTER_SHEETS)
            if faulty:
                fake.inject_faults(0.2, seed=seed, after_apply=0.5)
            _scenario(s, books)
            if faulty:
                failed = [c for c in fake.calls if c.fault]
                assert len(failed) >= 5 and any(c.fault.endswith("-after") for c in failed)  # type: ignore[union-attr]
            fake.clear_faults()
            states.append(_state(fake))
            assert not fake.errors
            with s._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0):  # every round released its claim
                pass
    assert states[0] == states[1]


def test_a_lost_answer_to_adding_a_tab_or_a_spreadsheet_never_makes_two(store: GSheetsStore) -> None:
    fake: FakeGoogle = store.fake  # type: ignore[attr-defined]
    fake.fail_next("500", 1, endpoint="sheets.spreadsheets.batchUpdate", after_apply=True)
    store.apply([EnsureSheet(SheetRef("_sync"), department_sheet_named("_sync"), hidden=True)])
    assert [s.title for s in fake.spreadsheet(register_key(store)).sheets].count("_sync") == 1
    fake.fail_next("drop", 1, endpoint="drive.files.create", after_apply=True)
    store.create_book("departments/防災政策課", [department_sheet_named(DEPARTMENT_TEMPLATE)])
    assert [f.name for f in fake.files.values()].count("防災政策課") == 1
    assert (
        store.read([SheetRef(DEPARTMENT_TEMPLATE, "departments/防災政策課")])[
            SheetRef(DEPARTMENT_TEMPLATE, "departments/防災政策課")
        ]
        is not None
    )


def test_sync_call_budget_over_30_department_spreadsheets(factory: GSheetsStoreFactory, fake: FakeGoogle) -> None:
    sync_module = pytest.importorskip("kouminrenkei_sheets.sync")
    n = 30
    s = factory(departments="books")
    s.create_book(None, REGISTER_SHEETS)
    s.apply(
        [
            AppendRows(SheetRef(DEPARTMENTS), tuple({"部局": "部", "課": f"課{i:02d}"} for i in range(n))),
            AppendRows(P, tuple({"提案ID": f"R7-{i + 1:04d}", "ステータス": "照会中"} for i in range(n))),
            AppendRows(
                R,
                tuple(
                    {
                        "照会ID": f"R7-{i + 1:04d}-{j:02d}",
                        "提案ID": f"R7-{i + 1:04d}",
                        "照会先": f"課{i:02d}",
                        "照会日": date(2025, 4, 2),
                    }
                    for i in range(n)
                    for j in (1, 2, 3)
                ),
            ),
        ]
    )
    first = sync_module.sync(s.config, s, now=datetime(2025, 5, 1, 9, 0))  # makes the 30 spreadsheets
    assert len(first.files_written) == n + 1
    keys = {i: s.resolve_key(f"departments/課{i:02d}") for i in range(n)}
    for i in range(0, n, 3):  # ten departments answer; one edits a desk-owned column (put back)
        fake.edit(keys[i], DEPARTMENT_TEMPLATE, "J2", "連携可")
    fake.edit(keys[1], DEPARTMENT_TEMPLATE, "C3", "課で書き換えた件名")

    fake.reset_calls()
    second = GSheetsStoreFactory.another(factory, s)  # a new run: nothing cached
    sync_module.sync(second.config, second, now=datetime(2025, 5, 2, 9, 0))
    for i, key in keys.items():  # at most 2 reads and 1 write per department spreadsheet; here 1 read
        expected = {"sheets.values.batchGet": 1}
        if i == 1:  # the desk's 件名 put back, on the sheet as read again (with its sheetId) just before the write
            expected = {"sheets.values.batchGet": 1, "sheets.spreadsheets.get": 1, "sheets.spreadsheets.batchUpdate": 1}
        assert fake.counts(key=key) == expected, i
    # the register: the lock's claim (an append), its log read back in the same values:batchGet as the
    # sync's read, the fresh read before writing (a spreadsheets.get of the tabs written and 変更履歴's
    # header row), one spreadsheets:batchUpdate (変更履歴 rows and cells together), the lock's release
    assert fake.counts(key=register_key(s)) == {
        "sheets.values.append": 2,
        "sheets.values.batchGet": 1,
        "sheets.spreadsheets.get": 1,
        "sheets.spreadsheets.batchUpdate": 1,
    }
    assert fake.counts()["drive.files.list"] == 1 and fake.count("sheets.values.batchUpdate") == 0

    fake.reset_calls()
    third = GSheetsStoreFactory.another(factory, s)
    again = sync_module.sync(third.config, third, now=datetime(2025, 5, 3, 9, 0))
    assert again.files_written == []
    assert fake.count("sheets.spreadsheets.batchUpdate") == 0 and fake.count("sheets.values.batchUpdate") == 0
    # the lock alone: claim, its read (with the sync's), release
    assert fake.counts(key=register_key(s)) == {"sheets.values.batchGet": 1, "sheets.values.append": 2}


def test_the_lock_log_is_trimmed_by_the_holder(store: GSheetsStore) -> None:
    for _ in range(30):
        with store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0):
            pass
    rows = store.fake.values(register_key(store), LOCK_TAB)  # type: ignore[attr-defined]
    assert len(rows) < 2 + 2 * 30 and rows[0][0] == "名前"  # dead claims above a holder were deleted
    with store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0), pytest.raises(BusyError):
        with store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0):
            pass


def test_a_drive_folder_not_shared_is_one_clear_line(factory: GSheetsStoreFactory, fake: FakeGoogle) -> None:
    folder = fake.add_folder(shared_with=["someone@pref.example.jp"])
    s = factory(folder=folder)
    s.create_book(None, REGISTER_SHEETS)
    with pytest.raises(
        StoreError, match=f"フォルダ {folder} に「防災政策課」を作れません.*{SERVICE_ACCOUNT}と共有"
    ) as e:
        s.create_book("departments/防災政策課", [department_sheet_named(DEPARTMENT_TEMPLATE)])
    assert "\n" not in str(e.value)


def test_a_service_account_without_drive_storage_is_told_to_use_a_shared_drive(
    factory: GSheetsStoreFactory, fake: FakeGoogle
) -> None:
    fake.service_accounts_have_no_quota = True
    folder = fake.add_folder(shared_drive=False)
    s = factory(folder=folder, register=fake.add_spreadsheet("台帳", parents=[folder]))
    s.create_book(None, REGISTER_SHEETS)
    with pytest.raises(StoreError, match=r"保存容量がありません.*共有ドライブ"):
        s.create_book("departments/防災政策課", [department_sheet_named(DEPARTMENT_TEMPLATE)])


# ---------------------------------------------------------------- the commands on Sheets
def test_init_and_validate_commands_on_sheets(
    fake: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from kouminrenkei_sheets.cli import cli

    key = fake.add_spreadsheet("公民連携台帳")  # the desk makes it and shares it with the service account
    desk = tmp_path / "desk"
    desk.mkdir()
    write_json(desk / "service-account.json", fake.service_account_info())
    fake.route_stores(monkeypatch)  # the CLI runs in this process: its stores talk to the fake
    url = f"https://docs.google.com/spreadsheets/d/{key}/edit#gid=0"
    result = CliRunner().invoke(cli, ["init", str(desk), "--backend", "gsheets", "--register", url])
    assert result.exit_code == 0, result.output
    assert [s.title for s in fake.spreadsheet(key).sheets][: len(REGISTER_SHEETS)] == [s.name for s in REGISTER_SHEETS]
    config = str(desk / "kouminrenkei.toml")
    store = open_gsheets(
        config_from_dict(
            {
                "store": {"backend": "gsheets", "register": key},
                "gsheets": {"credentials": str(desk / "service-account.json")},
            }
        ),
        transport=fake.transport(),
    )
    store.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "=1+1"},))])
    result = CliRunner().invoke(cli, ["--config", config, "validate", "--format", "json", "--no-write-back"])
    assert result.exit_code == 1, result.output  # the data has errors: a finding, not a failure
    assert "R7-0001" in result.output
    fake.unshare(key, SERVICE_ACCOUNT)
    result = CliRunner().invoke(cli, ["--config", config, "validate"])
    assert result.exit_code == 2
    assert f"サービスアカウント {SERVICE_ACCOUNT} と共有" in result.output


def test_the_fake_answers_gspreads_own_high_level_calls(fake: FakeGoogle) -> None:
    """gspread's Client/Worksheet API over the fake: the shapes it parses are Google's."""
    import gspread
    from google.oauth2 import service_account

    from kouminrenkei_sheets.store.gsheets import SCOPES, GoogleHTTPClient, authorized_session

    creds = service_account.Credentials.from_service_account_info(fake.service_account_info(), scopes=SCOPES)
    gc = gspread.Client(creds, session=authorized_session(creds, fake.transport()), http_client=GoogleHTTPClient)
    folder = fake.add_folder()
    sh = gc.create("台帳", folder_id=folder)
    assert sh.title == "台帳" and [w.title for w in sh.worksheets()] == ["シート1"]
    ws = sh.add_worksheet("提案", rows=20, cols=5)
    ws.update([["提案ID", "件名"], ["R7-0001", "=1+1"]], "A1", value_input_option="RAW")
    ws.append_row(["R7-0002", "防災"], value_input_option="RAW")
    assert ws.get_all_values() == [["提案ID", "件名"], ["R7-0001", "=1+1"], ["R7-0002", "防災"]]
    assert ws.get("C1:D5") == [[]]  # an empty range: no values
    assert ws.row_values(3) == ["R7-0002", "防災"]
    ws.batch_clear(["B3"])
    assert ws.get_all_records() == [{"提案ID": "R7-0001", "件名": "=1+1"}, {"提案ID": "R7-0002", "件名": ""}]
    ws.freeze(rows=1)
    ws.delete_rows(2)
    assert ws.col_values(1) == ["提案ID", "R7-0002"]
    sh.del_worksheet(sh.worksheet("シート1"))
    with pytest.raises(gspread.exceptions.APIError, match="hide all the sheets"):
        ws.hide()  # the only tab cannot be hidden: Google refuses, and so does the fake
    assert gc.open_by_key(sh.id).worksheet("提案").frozen_row_count == 1


def test_a_failed_write_leaves_nothing_stale_behind(factory: GSheetsStoreFactory, fake: FakeGoogle) -> None:
    s = factory(max_retries=0)
    s.put_table(R, [["照会ID", "回答"], ["R7-0001-01", "連携可"], ["R7-0001-02"]])
    s.read([R])
    fake.fail_next("503", 1, endpoint="sheets.spreadsheets.batchUpdate")
    with pytest.raises(ServiceError):
        s.apply([DeleteRow(R, RowKey("照会ID", "R7-0001-01")), AppendRows(R, ({"照会ID": "R7-0001-03"},))])
    grid = [["照会ID", "回答"], ["R7-0001-01", "連携可"], ["R7-0001-02"]]
    assert fake.values(s.resolve_key(None), REFERRALS) == grid  # one batch: the delete did not land either
    s.apply([SetCell(R, RowKey("照会ID", "R7-0001-02"), "回答", "連携可")])  # on what the sheet holds now
    assert fake.values(s.resolve_key(None), REFERRALS) == [*grid[:2], ["R7-0001-02", "連携可"]]
