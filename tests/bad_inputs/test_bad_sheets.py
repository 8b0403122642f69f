"""Bad input from sheets: formulas whose result is not stored, error values, ``_xHHHH_`` text and
lone surrogates. Real .xlsx files (openpyxl writes the cells as Excel users leave them; the tool reads
them with calamine), and the memory backend for what only a Sheets response can carry."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_random_text import proposal

from kouminrenkei_sheets.config import Config, config_from_dict
from kouminrenkei_sheets.departments import load_departments
from kouminrenkei_sheets.publish import publish
from kouminrenkei_sheets.schema import DEPARTMENTS, PROPOSALS, REFERRALS, REGISTER_SHEETS, Answer, Status
from kouminrenkei_sheets.store.base import AppendRows, CellValue, RowKey, SetCell, SheetRef, Store
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.store.ooxml import escape_text, unescape_text
from kouminrenkei_sheets.store.xlsx import XlsxStore
from kouminrenkei_sheets.sync import sync
from kouminrenkei_sheets.validate import validate
from kouminrenkei_sheets.values import Unknown

NOW = datetime(2025, 5, 1, 9, 0)
KANKO = "観光戦略課"
KEY = "R7-0001-01"
DEADLINE = date(2025, 5, 10)
CONFIG: list[Config] = []


def xlsx_desk(tmp_path: Path) -> tuple[Config, XlsxStore]:
    config = config_from_dict(
        {
            "desk": {"actor": "テスト"},
            "store": {"backend": "xlsx", "register": "register.xlsx", "departments": "books"},
        },
        base_dir=tmp_path,
    )
    store = XlsxStore(tmp_path / "register.xlsx", base_dir=tmp_path)
    CONFIG[:] = [config]
    store.create_book(None, REGISTER_SHEETS)
    store.apply(
        [
            AppendRows(SheetRef(DEPARTMENTS), ({"部局": "営業戦略部", "課": KANKO},)),
            AppendRows(SheetRef(PROPOSALS), (proposal({"件名": "観光ルート", "概要": "_x0041_x000D_"}),)),
            AppendRows(
                SheetRef(REFERRALS),
                ({"照会ID": KEY, "提案ID": "R7-0001", "照会先": KANKO, "照会日": date(2025, 4, 10),
                  "回答期限": DEADLINE, "回答": Answer.NONE},),
            ),
        ]
    )  # fmt: skip
    sync(config, store, now=NOW)
    return config, store


def book(store: XlsxStore) -> Path:
    return store.path(dept_ref(store).book)


def put(path: Path, sheet: str, key: str, column: str, value: str) -> None:
    """What a person leaves in a cell, written by openpyxl: a formula with no stored result (as every
    formula is once openpyxl has saved a book), or an error value ("#NAME?" becomes an error cell)."""
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet] if sheet else wb.worksheets[0]
    headers = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[headers.index("照会ID")].value == key:
            row[headers.index(column)].value = value
    wb.save(path)


def cell(store: Store, ref: SheetRef, key: str, column: str) -> CellValue:
    table = store.read([ref])[ref]
    assert table is not None
    [row] = [r for r in table.rows if r.get("照会ID") == key]
    return row.get(column)


def dept_ref(store: XlsxStore) -> SheetRef:
    return load_departments(CONFIG[0], store)[KANKO].ref


def test_a_formula_in_the_deadline_is_unknown_and_no_blank_deadline_is_pushed(tmp_path: Path) -> None:
    config, store = xlsx_desk(tmp_path)
    put(store.register, REFERRALS, KEY, "回答期限", "=DATE(2025,6,1)")
    assert cell(store, SheetRef(REFERRALS), KEY, "回答期限") == Unknown("=DATE(2025,6,1)", "formula")
    before = book(store).read_bytes()
    result = sync(config, store, now=NOW)
    assert book(store).read_bytes() == before  # the department's book was not written
    assert cell(store, dept_ref(store), KEY, "回答期限") == DEADLINE
    [finding] = result.unknown_cells
    assert (finding.sheet, finding.row, finding.column, finding.value) == (REFERRALS, 2, "回答期限", "=DATE(2025,6,1)")
    assert finding.message == (
        "回答期限の数式「=DATE(2025,6,1)」の結果がブックに保存されていないため、値が分かりません"
        "（Excel で開いて保存し直すか、数式をやめて値を入力してください）。同期はこのセルを読み書きしません。"
    )
    assert result.exit_code == 1


def test_today_in_a_departments_answer_date_never_erases_the_register(tmp_path: Path) -> None:
    config, store = xlsx_desk(tmp_path)
    path = book(store)
    ref = dept_ref(store)
    store.apply([SetCell(ref, RowKey("照会ID", KEY), "回答日", date(2025, 4, 20))])
    sync(config, store, now=NOW)
    assert cell(store, SheetRef(REFERRALS), KEY, "回答日") == date(2025, 4, 20)
    # =TODAY() as it reads once the tool (openpyxl) has rewritten the book: no stored result
    put(path, "", KEY, "回答日", "=TODAY()")
    store.apply([SetCell(SheetRef(PROPOSALS), RowKey("提案ID", "R7-0001"), "件名", "観光ルート改")])
    result = sync(config, store, now=NOW)  # the tool rewrites that book (件名 pushed)
    assert cell(store, ref, KEY, "件名") == "観光ルート改"
    assert cell(store, SheetRef(REFERRALS), KEY, "回答日") == date(2025, 4, 20)
    assert cell(store, ref, KEY, "回答日") == Unknown("=TODAY()", "formula")  # the formula itself untouched
    assert [(f.sheet, f.column) for f in result.unknown_cells] == [
        (ref.sheet if ref.book is None else str(ref), "回答日")
    ]
    again = sync(config, store, now=NOW)
    assert cell(store, SheetRef(REFERRALS), KEY, "回答日") == date(2025, 4, 20)
    assert len(again.unknown_cells) == 1 and again.changes == []


def test_an_error_value_in_a_referral_id_never_deletes_or_duplicates_the_row(tmp_path: Path) -> None:
    config, store = xlsx_desk(tmp_path)
    ref = dept_ref(store)
    store.apply([SetCell(ref, RowKey("照会ID", KEY), "回答理由・コメント", "検討します")])
    put(book(store), "", KEY, "照会ID", "#NAME?")
    before = book(store).read_bytes()
    result = sync(config, store, now=NOW)
    assert book(store).read_bytes() == before  # not restored as a second row, nothing deleted
    table = store.read([ref])[ref]
    assert table is not None and len(table.rows) == 1
    assert table.rows[0].get("回答理由・コメント") == "検討します"
    [finding] = result.unknown_cells
    assert (finding.row, finding.column, finding.value) == (2, "照会ID", "#NAME?")
    assert finding.message == (
        "照会IDのエラー値「#NAME?」が入っていて、値が分かりません（数式か参照を直してください）。"
        "この行は同期せず、担当課シートから消えた行の復元もしません。"
    )
    assert result.deleted_rows == [] and result.removed_rows == []


def test_an_error_value_in_the_registers_referral_id_takes_no_department_row_out(tmp_path: Path) -> None:
    config, store = xlsx_desk(tmp_path)
    put(store.register, REFERRALS, KEY, "照会ID", "#REF!")
    before = book(store).read_bytes()
    result = sync(config, store, now=NOW)
    assert book(store).read_bytes() == before
    assert result.removed_rows == []
    assert [(f.sheet, f.column, f.value) for f in result.unknown_cells] == [(REFERRALS, "照会ID", "#REF!")]


def test_validate_reports_unknown_cells(tmp_path: Path) -> None:
    config, store = xlsx_desk(tmp_path)
    put(store.register, REFERRALS, KEY, "回答期限", "#N/A")
    report = validate(config, store, write_back=False, today=date(2025, 5, 1))
    found = [f for f in report.findings if f.code == "cell.unknown"]
    assert [(f.sheet, f.row, f.column, f.value) for f in found] == [(REFERRALS, 2, "回答期限", "#N/A")]


def test_xhhhh_text_round_trips_through_register_department_book_and_publication(tmp_path: Path) -> None:
    config, store = xlsx_desk(tmp_path)
    assert cell(store, dept_ref(store), KEY, "概要") == "_x0041_x000D_"
    table = store.read([SheetRef(PROPOSALS)])[SheetRef(PROPOSALS)]
    assert table is not None and table.rows[0].get("概要") == "_x0041_x000D_"
    assert sync(config, store, now=NOW).changes == []  # read back equal: no endless re-push
    publish(config, store)
    csv_text = (tmp_path / "publish" / "renkei.csv").read_text(encoding="utf-8-sig")
    assert "_x0041_x000D_" in csv_text and "Ax000D_" not in csv_text
    published = openpyxl.load_workbook(tmp_path / "publish" / "renkei.xlsx")
    raw = [c.value for ws in published.worksheets for row in ws.iter_rows() for c in row]
    assert escape_text("_x0041_x000D_") in raw  # stored escaped, so Excel shows it as typed


def test_escape_rule_matches_what_excel_and_calamine_do() -> None:
    for text in ["_x0041_x000D_", "_x005F_", "a_x12_b", "__x0041__", "_X0041_", "_x0041_x0042_x0043_", ""]:
        assert unescape_text(escape_text(text)) == text
    assert escape_text("_x0041_x000D_") == "_x005F_x0041_x005F_x000D_"
    assert unescape_text("_x000D_") == "\r"


def test_lone_surrogates_become_a_replacement_character_and_a_finding() -> None:
    config = config_from_dict({"desk": {"actor": "テスト"}, "store": {"backend": "memory"}})
    store = MemoryStore()
    store.create_book(None, REGISTER_SHEETS)
    store.apply(
        [AppendRows(SheetRef(PROPOSALS), ({**proposal({"件名": "壊れた\ud800文字"}), "ステータス": Status.RECEIVED},))]
    )
    table = store.read([SheetRef(PROPOSALS)])[SheetRef(PROPOSALS)]
    assert table is not None and table.rows[0].get("件名") == "壊れた\ufffd文字"
    report = validate(config, store, write_back=False, today=date(2025, 5, 1))
    [found] = [f for f in report.findings if f.code == "text.surrogate"]
    assert (found.row, found.column) == (2, "件名")
    assert found.message == (
        "件名に壊れた文字（対になっていないサロゲート）が1個あり、置換文字「\ufffd」として読みました。"
        "元の文字を入力し直してください。"
    )


UNKNOWNS = [Unknown("=TODAY()", "formula"), Unknown("#NAME?", "error"), Unknown("#REF!", "error")]
SYNC_KEYS = ["R7-0001-01", "R7-0002-01", "R7-0003-01", "R7-0003-02"]
REFERRAL_COLUMNS = [
    "照会ID",
    "提案ID",
    "照会先",
    "照会日",
    "回答期限",
    "回答",
    "回答日",
    "回答理由・コメント",
    "先方担当者",
]
DEPARTMENT_COLUMNS = ["照会ID", "件名", "回答期限", "回答", "回答日", "回答理由・コメント", "先方担当者", "次回予定日"]
PLACES = st.one_of(
    st.tuples(
        st.just("照会"), st.sampled_from(SYNC_KEYS), st.sampled_from(REFERRAL_COLUMNS), st.sampled_from(UNKNOWNS)
    ),
    st.tuples(
        st.just("課"), st.sampled_from(SYNC_KEYS), st.sampled_from(DEPARTMENT_COLUMNS), st.sampled_from(UNKNOWNS)
    ),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(places=st.lists(PLACES, min_size=1, max_size=4, unique_by=lambda p: p[:3]))
def test_unknown_values_anywhere_change_and_lose_nothing(tmp_path_factory: Any, places: list[Any]) -> None:
    """Formulas without a result and error values in any 照会 or department cell: sync writes none of
    the cells around them, twice over, and reports each one."""
    from test_sync import Desk, make_config, new_store

    config = make_config(tmp_path_factory.mktemp("desk"), "memory", "books")
    desk = Desk(config, new_store(config))
    desk.seed()
    desk.sync()
    owner = {k: str(desk.referral(k)["照会先"]) for k in SYNC_KEYS}
    for where, key, column, value in sorted(places, key=lambda p: p[2] == "照会ID"):  # IDs last: cells by key
        if where == "照会":
            desk.set_referral(key, column, value)
        else:
            desk.set_dept(owner[key], key, column, value)
    refs = [SheetRef(REFERRALS), *(desk.ref(n) for n in sorted(set(owner.values())))]
    before = {ref: [r.values for r in desk.table(ref).rows] for ref in refs}
    first, second = desk.sync(), desk.sync()
    assert {ref: [r.values for r in desk.table(ref).rows] for ref in refs} == before
    assert second.changes == []
    # each one is reported, except cells of a row already left alone for its unknown 照会ID
    lost_ids = {(w, k) for w, k, c, _ in places if c == "照会ID"}
    wanted = {(c, str(v)) for w, k, c, v in places if c == "照会ID" or (w, k) not in lost_ids}
    assert {(f.column, f.value) for f in first.unknown_cells} == wanted


def test_over_long_desk_text_is_shown_cut_with_the_cut_said_and_kept_whole_in_the_register(tmp_path: Path) -> None:
    from test_sync import KANKO as TOURISM
    from test_sync import Desk, make_config, new_store

    config = make_config(tmp_path, "memory", "books")
    desk = Desk(config, new_store(config))
    desk.seed()
    long_text = "観" * 40_000
    desk.set_proposal("R7-0002", "概要", long_text)
    result = desk.sync()
    shown = str(desk.dept_rows(TOURISM)["R7-0002-01"]["概要"])
    assert len(shown) <= 32_767 and shown.startswith("観" * 32_687)
    assert shown.endswith("…（全40,000文字のうち32,687文字まで表示。全文は台帳にあります）")
    assert desk.proposal("R7-0002")["概要"] == long_text  # nothing lost
    [finding] = result.cut_cells
    assert (finding.column, finding.key) == ("概要", "R7-0002-01")
    assert finding.message == (
        "概要が40,000文字あり、担当課シートの1セル（32,767文字）に収まらないため、途中までを表示しています"
        "（セルの末尾にそう書いてあります。全文は台帳にあります）。"
    )
    assert desk.sync().changes == []  # the cut view is stable: nothing pushed again


def test_an_error_value_from_google_sheets_is_unknown_and_the_row_stays(
    gsheets_store_factory: Any, tmp_path: Path
) -> None:
    """Sheets sends an error as its text ("#NAME?", UNFORMATTED_VALUE): read as Unknown, like an xlsx error."""
    from test_sync import KANKO as TOURISM
    from test_sync import Desk, make_config

    config = make_config(tmp_path, "gsheets", "books")
    store = gsheets_store_factory(departments="books")
    store.create_book(None, REGISTER_SHEETS)
    desk = Desk(config, store)
    desk.seed()
    desk.sync()
    desk.set_dept(TOURISM, "R7-0002-01", "照会ID", "#NAME?")
    result = desk.sync()
    keys = [r.get("照会ID") for r in desk.table(desk.ref(TOURISM)).rows]
    assert keys == [Unknown("#NAME?", "error"), "R7-0003-02"]  # not restored as a second row, not deleted
    assert result.changes == []
    assert [(f.column, f.value) for f in result.unknown_cells] == [("照会ID", "#NAME?")]


def test_a_cut_cell_gets_a_note_saying_so_and_where_the_whole_text_is(tmp_path: Path) -> None:
    """Sync shows an over-long 概要 cut in the department's book; validate then marks that cell with
    a note (the tool's marks) naming the whole length and where the rest is kept."""
    from kouminrenkei_sheets.validate import validate
    from test_sync import KANKO as TOURISM
    from test_sync import Desk, make_config, new_store

    config = make_config(tmp_path, "memory", "books")
    desk = Desk(config, new_store(config))
    desk.seed()
    desk.set_proposal("R7-0002", "概要", "観" * 40_000)
    desk.sync()
    report = validate(config, desk.store, write_back=True)
    [found] = [f for f in report.findings if f.code == "text.shown_cut"]
    assert (found.severity, found.column, found.key) == ("info", "概要", "R7-0002-01")
    assert found.message == (
        "長すぎて1セルに収まらないため、全40,000文字のうち32,687文字までを表示しています。全文は台帳にあります。"
    )
    marks = desk.table(desk.ref(TOURISM)).marks
    [note] = [n for (row, column), n in marks.items() if column == "概要"]
    assert note == f"【情報】{found.message}"
    assert validate(config, desk.store, write_back=True).written == []  # the note stays: nothing rewritten
