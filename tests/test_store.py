"""The store contract, run against every backend, plus what only the xlsx backend does."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from openpyxl.styles import PatternFill

from kouminrenkei_sheets.errors import BusyError, StoreError, WorkbookBusyError
from kouminrenkei_sheets.schema import PROPOSALS, REFERRALS, REGISTER_SHEETS, department_sheet_named
from kouminrenkei_sheets.store.base import (
    AppendRows,
    DeleteRows,
    EnsureSheet,
    MarkCells,
    ReplaceRows,
    SetCell,
    SheetRef,
    Store,
)
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.store.xlsx import XlsxStore, read_owner_name, write_owner_file

P = SheetRef(PROPOSALS)
R = SheetRef(REFERRALS)


@pytest.fixture(params=["memory", "xlsx"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    s: Store = MemoryStore() if request.param == "memory" else XlsxStore(tmp_path / "register.xlsx")
    s.create_book(None, REGISTER_SHEETS)
    return s


def test_round_trip_by_header_name(store: Store) -> None:
    store.apply([AppendRows(P, ({"件名": "防災協定", "提案ID": "R7-0001", "受付日": date(2025, 4, 1)},))])
    table = store.read([P])[P]
    assert table is not None
    [row] = table.rows
    assert row.number == 2
    assert row.get("提案ID") == "R7-0001"
    assert row.get("件名") == "防災協定"
    got = row.get("受付日")
    assert isinstance(got, date) and got.timetuple()[:3] == (2025, 4, 1)


def test_formula_like_text_stays_text(store: Store) -> None:
    store.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": '=HYPERLINK("http://x")'},))])
    assert store.read([P])[P].rows[0].get("件名") == '=HYPERLINK("http://x")'  # type: ignore[union-attr]


def test_set_delete_append_in_one_apply(store: Store) -> None:
    rows = tuple({"提案ID": f"R7-{i:04d}", "件名": f"件名{i}"} for i in range(1, 5))
    store.apply([AppendRows(P, rows)])
    store.apply(
        [
            AppendRows(P, ({"提案ID": "R7-0005"},)),
            DeleteRows(P, (3,)),
            SetCell(P, 2, "件名", "変更後"),
        ]
    )
    table = store.read([P])[P]
    assert table is not None
    assert [r.get("提案ID") for r in table.rows] == ["R7-0001", "R7-0003", "R7-0004", "R7-0005"]
    assert table.rows[0].get("件名") == "変更後"


def test_replace_rows_and_unknown_column_is_added(store: Store) -> None:
    ref = SheetRef("検証結果")
    store.apply([ReplaceRows(ref, ({"コード": "a"}, {"コード": "b"}))])
    store.apply([ReplaceRows(ref, ({"コード": "c", "追加列": "x"},))])
    table = store.read([ref])[ref]
    assert table is not None
    assert [r.get("コード") for r in table.rows] == ["c"]
    assert table.rows[0].get("追加列") == "x"


def test_empty_plan_writes_nothing(store: Store) -> None:
    before = store.book_version(None)
    result = store.apply([])
    assert result.written == []
    assert store.book_version(None) == before


def test_marks_are_set_and_cleared(store: Store) -> None:
    store.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "x"}, {"提案ID": "R7-0002"}))])
    store.apply([MarkCells(P, {(2, "件名"): "式として実行されます", (3, "件名"): "必須です"})])
    assert store.read([P])[P].marks == {(2, "件名"): "式として実行されます", (3, "件名"): "必須です"}  # type: ignore[union-attr]
    store.apply([MarkCells(P, {(3, "件名"): "必須です"})])
    assert store.read([P])[P].marks == {(3, "件名"): "必須です"}  # type: ignore[union-attr]


def test_missing_sheet_reads_as_none_and_ensure_creates_it(store: Store) -> None:
    ref = SheetRef("防災政策課")
    assert store.read([ref])[ref] is None
    store.apply([EnsureSheet(ref, department_sheet_named("防災政策課"))])
    table = store.read([ref])[ref]
    assert table is not None and table.has("回答") and table.rows == []


def test_department_book(store: Store) -> None:
    book = "departments/防災政策課.xlsx"
    assert not store.book_exists(book)
    store.create_book(book, [department_sheet_named("照会回答")])
    ref = SheetRef("照会回答", book)
    store.apply([AppendRows(ref, ({"照会ID": "R7-0001-01", "回答": "連携可"},))])
    assert store.read([ref])[ref].rows[0].get("回答") == "連携可"  # type: ignore[union-attr]
    with pytest.raises(StoreError, match="既に"):
        store.create_book(book, [department_sheet_named("照会回答")])


def test_missing_book_is_one_clear_error(store: Store) -> None:
    with pytest.raises(StoreError, match="見つかりません"):
        store.read([SheetRef("照会回答", "departments/ない課.xlsx")])


def test_lock_excludes_a_second_holder(store: Store) -> None:
    with store.lock("sync", ttl_seconds=60), pytest.raises(BusyError, match="実行中"):
        with store.lock("sync", ttl_seconds=60):
            pass
    with store.lock("sync", ttl_seconds=60):  # released
        pass


# ---------------------------------------------------------------- xlsx only
def _xlsx(tmp_path: Path) -> XlsxStore:
    s = XlsxStore(tmp_path / "register.xlsx")
    s.create_book(None, REGISTER_SHEETS)
    return s


def test_xlsx_keeps_user_columns_formatting_and_formulas(tmp_path: Path) -> None:
    s = _xlsx(tmp_path)
    s.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "a"}, {"提案ID": "R7-0002", "件名": "b"}))])
    wb = openpyxl.load_workbook(s.register)
    ws = wb[PROPOSALS]
    extra = ws.max_column + 1
    ws.cell(row=1, column=extra, value="課内メモ")
    ws.cell(row=2, column=extra, value="電話済み").fill = PatternFill("solid", fgColor="FFFFFF00")
    ws.cell(row=3, column=extra, value="=LEN(A3)")
    ws.column_dimensions["N"].width = 55
    wb.save(s.register)

    s.apply([SetCell(P, 2, "件名", "変更"), AppendRows(P, ({"提案ID": "R7-0003"},))])

    wb = openpyxl.load_workbook(s.register)
    ws = wb[PROPOSALS]
    assert ws.cell(row=1, column=extra).value == "課内メモ"
    assert ws.cell(row=2, column=extra).value == "電話済み"
    assert ws.cell(row=2, column=extra).fill.fgColor.rgb == "FFFFFF00"
    assert ws.cell(row=3, column=extra).value == "=LEN(A3)"
    assert ws.cell(row=3, column=extra).data_type == "f"
    assert ws.column_dimensions["N"].width == 55
    assert ws.cell(row=2, column=14).value == "変更"
    assert ws.cell(row=4, column=1).value == "R7-0003"
    # dates become real date cells with a date format
    s.apply([SetCell(P, 2, "受付日", date(2025, 4, 1))])
    cell = openpyxl.load_workbook(s.register)[PROPOSALS]["B2"]
    assert cell.is_date and cell.value == datetime(2025, 4, 1)


def test_xlsx_text_starting_with_equals_is_not_a_formula_in_the_file(tmp_path: Path) -> None:
    s = _xlsx(tmp_path)
    s.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "=1+1"},))])
    cell = openpyxl.load_workbook(s.register)[PROPOSALS]["N2"]
    assert cell.data_type == "s" and cell.value == "=1+1"


def test_xlsx_control_characters_are_kept_visibly(tmp_path: Path) -> None:
    s = _xlsx(tmp_path)
    s.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "ベル\x07文字"},))])
    assert s.read([P])[P].rows[0].get("件名") == "ベル\u2407文字"  # type: ignore[union-attr]


def test_xlsx_writes_atomically_and_leaves_no_temp_files(tmp_path: Path) -> None:
    s = _xlsx(tmp_path)
    s.apply([AppendRows(P, ({"提案ID": "R7-0001"},))])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["register.xlsx"]


def test_xlsx_not_a_workbook(tmp_path: Path) -> None:
    bad = tmp_path / "register.xlsx"
    bad.write_text("これは Excel ではありません", encoding="utf-8")
    with pytest.raises(StoreError, match="Excel ブック"):
        XlsxStore(bad).read([P])


def test_xlsx_missing_register(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"台帳 .*register\.xlsx が見つかりません"):
        XlsxStore(tmp_path / "register.xlsx").read([P])


def test_xlsx_open_in_excel_is_not_written(tmp_path: Path) -> None:
    s = _xlsx(tmp_path)
    before = s.book_version(None)
    write_owner_file(s.register, "茨城 花子")
    assert s.busy_owner(None) == "茨城 花子"
    with pytest.raises(WorkbookBusyError, match="茨城 花子 さんが Excel で開いている"):
        s.apply([AppendRows(P, ({"提案ID": "R7-0001"},))])
    result = s.apply([AppendRows(P, ({"提案ID": "R7-0001"},))], skip_busy=True)
    assert result.written == [] and "茨城 花子" in next(iter(result.skipped.values()))
    assert s.book_version(None) == before


def test_owner_file_name_ansi_only(tmp_path: Path) -> None:
    owner = tmp_path / "~$x.xlsx"
    owner.write_bytes(bytes([5]) + b"sato1" + b" " * 48)
    assert read_owner_name(owner) == "sato1"


def test_expired_lock_is_taken_over(tmp_path: Path) -> None:
    s = _xlsx(tmp_path)
    lock = s.register.with_name("register.xlsx.sync.lock")
    lock.write_text('{"host": "old", "pid": 1, "token": "x", "expires": 0}', encoding="utf-8")
    with s.lock("sync", ttl_seconds=60):
        assert "expires" in lock.read_text(encoding="utf-8")
    assert not lock.exists()


def test_department_tab_has_locked_desk_columns_and_dropdowns(tmp_path: Path) -> None:
    s = XlsxStore(tmp_path / "d.xlsx")
    s.create_book(None, [department_sheet_named("照会回答")])
    ws = openpyxl.load_workbook(s.register)["照会回答"]
    assert ws.protection.sheet
    headers = [c.value for c in ws[1]]
    answer = openpyxl.utils.get_column_letter(headers.index("回答") + 1)
    ident = openpyxl.utils.get_column_letter(headers.index("照会ID") + 1)
    assert ws.column_dimensions[answer].protection.locked is False
    assert ws.column_dimensions[ident].protection.locked is True
    formulas = {
        str(dv.sqref).split(":")[0].rstrip("0123456789"): dv.formula1 for dv in ws.data_validations.dataValidation
    }
    assert "連携可" in formulas[answer]
