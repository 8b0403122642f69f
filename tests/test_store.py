"""The store contract, run against every backend, plus what only the xlsx backend does."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.styles import PatternFill

from kouminrenkei_sheets.errors import StoreError, WorkbookBusyError
from kouminrenkei_sheets.schema import PROPOSALS, REFERRALS, REGISTER_SHEETS, department_sheet_named
from kouminrenkei_sheets.store.base import (
    AppendRows,
    DeleteRow,
    EnsureSheet,
    MarkCells,
    ReplaceRows,
    RowKey,
    SetCell,
    SheetRef,
    Store,
)
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.store.xlsx import XlsxStore, read_owner_name, write_owner_file
from people import EDITS, edit

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
            DeleteRow(P, RowKey("提案ID", "R7-0002")),
            SetCell(P, RowKey("提案ID", "r7-0001"), "件名", "変更後", expected="件名1"),
        ]
    )
    table = store.read([P])[P]
    assert table is not None
    assert [r.get("提案ID") for r in table.rows] == ["R7-0001", "R7-0003", "R7-0004", "R7-0005"]
    assert table.rows[0].get("件名") == "変更後"


def test_replace_rows_and_an_unknown_column_is_a_conflict_not_a_new_column(store: Store) -> None:
    ref = SheetRef("検証結果")
    store.apply([ReplaceRows(ref, ({"コード": "a"}, {"コード": "b"}))])
    result = store.apply([ReplaceRows(ref, ({"コード": "c", "追加列": "x"},))])
    [conflict] = result.conflicts
    assert "追加列" in conflict.reason
    table = store.read([ref])[ref]
    assert table is not None
    assert [r.get("コード") for r in table.rows] == ["a", "b"]  # not half written
    assert not table.has("追加列")


def test_empty_plan_writes_nothing(store: Store) -> None:
    before = store.book_version(None)
    result = store.apply([])
    assert result.written == []
    assert store.book_version(None) == before


def test_marks_are_set_and_cleared(store: Store) -> None:
    store.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "x"}, {"提案ID": "R7-0002"}))])
    store.apply(
        [MarkCells(P, "提案ID", {("R7-0001", "件名"): "式として実行されます", ("R7-0002", "件名"): "必須です"})]
    )
    assert store.read([P])[P].marks == {(2, "件名"): "式として実行されます", (3, "件名"): "必須です"}  # type: ignore[union-attr]
    store.apply([MarkCells(P, "提案ID", {("R7-0002", "件名"): "必須です"})])
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


def test_reading_ahead_is_reading_and_a_missing_book_only_fails_its_own_tabs(store: Store) -> None:
    store.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "防災協定"},))])
    gone = SheetRef("照会回答", "departments/ない課.xlsx")
    with store.read_ahead([gone, P, R]) as reading:
        assert reading.asked == (gone, P, R)
        with pytest.raises(StoreError, match="見つかりません"):
            reading.get(gone)
        got = reading.get(P)
        assert got is not None and [r.get("件名") for r in got.rows] == ["防災協定"]
        assert reading.get(R) is not None and reading.get(R).rows == []  # type: ignore[union-attr]
    table = store.read([P])[P]
    assert table is not None and [r.values for r in table.rows] == [r.values for r in got.rows]


def test_reading_ahead_by_default_is_one_read_of_every_book_then_one_per_book_on_an_error() -> None:
    """A backend that reads books side by side (Sheets) keeps doing so through read_ahead: one read for
    all; only when some book fails is each read alone, to tell which."""
    calls: list[list[SheetRef]] = []

    class Counted(MemoryStore):
        def read(self, refs: Any) -> Any:
            calls.append(list(refs))
            return super().read(refs)

    store = Counted()
    store.create_book(None, REGISTER_SHEETS)
    books = [SheetRef("照会回答", f"departments/{n}.xlsx") for n in ("a", "b")]
    for ref in books:
        store.create_book(ref.book, [department_sheet_named("照会回答")])
    with store.read_ahead([P, *books]) as reading:
        assert all(reading.get(r) is not None for r in (P, *books))
    assert calls == [[P, *books]]
    calls.clear()
    gone = SheetRef("照会回答", "departments/ない課.xlsx")
    with store.read_ahead([P, gone, *books]) as reading:
        with pytest.raises(StoreError, match="見つかりません"):
            reading.get(gone)
        assert all(reading.get(r) is not None for r in (P, *books))
    assert calls == [[P, gone, *books], [P], [gone], [books[0]], [books[1]]]


def test_lock_is_kept_when_taken_again_inside_itself(store: Store) -> None:
    with store.lock(ttl_seconds=60), store.lock(ttl_seconds=60):  # run → sync: the same holder
        pass
    with store.lock(ttl_seconds=60):  # released
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

    s.apply([SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "変更"), AppendRows(P, ({"提案ID": "R7-0003"},))])

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
    s.apply([SetCell(P, RowKey("提案ID", "R7-0001"), "受付日", date(2025, 4, 1))])
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
    lock = s.state_dir() / "register.xlsx.write.lock"
    lock.parent.mkdir()
    lock.write_text('{"host": "old", "pid": 1, "token": "x", "expires": 0}', encoding="utf-8")
    with s.lock(ttl_seconds=60):
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


# ---------------------------------------------------------------- people edit while a job runs
@pytest.mark.parametrize("kind", EDITS)
def test_a_planned_write_lands_on_its_own_row_whatever_a_person_did_since_the_read(store: Store, kind: str) -> None:
    store.apply([AppendRows(P, tuple({"提案ID": f"R7-{i:04d}", "件名": f"件名{i}"} for i in range(1, 5)))])
    read = store.read([P])[P]
    assert read is not None  # the job read here; the person edits; then the job writes its plan
    edit(store, P, kind, column="件名", row=3, value="人が入力", new_row=("R7-0100",))
    result = store.apply(
        [
            SetCell(P, RowKey("提案ID", "R7-0002"), "件名", "新しい件名", expected="件名2"),
            DeleteRow(P, RowKey("提案ID", "R7-0004"), {"件名": "件名4"}),
            AppendRows(P, ({"提案ID": "R7-0009", "件名": "追加"},)),
        ]
    )
    after = store.read([P])[P]
    assert after is not None
    by_id = {r.get("提案ID"): r for r in after.rows}
    if kind == "type_same_cell":  # typed into the very cell: theirs stays, ours is a conflict
        assert by_id["R7-0002"].get("件名") == "人が入力"
        [c] = result.conflicts
        assert (c.key, c.column, c.found, c.wanted) == ("R7-0002", "件名", "人が入力", "新しい件名")
    else:
        assert by_id["R7-0002"].get("件名") == "新しい件名"
        assert result.conflicts == []
    assert "R7-0004" not in by_id
    assert by_id["R7-0009"].get("件名") == "追加"
    expected_ids = {"R7-0001", "R7-0002", "R7-0003", "R7-0009"} - ({"R7-0001"} if kind == "delete_first_row" else set())
    if kind in ("insert_row_above", "type_row_at_bottom"):
        expected_ids.add("R7-0100")  # the person's row is kept, not written over
    assert set(by_id) == expected_ids
    for i in (1, 3):
        if f"R7-000{i}" in by_id:
            assert by_id[f"R7-000{i}"].get("件名") == f"件名{i}"
    if kind == "insert_column_first":
        assert after.headers[0] == "課内メモ" and all(r.get("課内メモ") is None for r in after.rows)


def test_a_row_changed_since_the_read_is_not_deleted(store: Store) -> None:
    store.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "a"},))])
    edit(store, P, "type_same_cell", column="件名", row=2, value="人が直した")
    result = store.apply([DeleteRow(P, RowKey("提案ID", "R7-0001"), {"件名": "a"})])
    assert [r.get("件名") for r in store.read([P])[P].rows] == ["人が直した"]  # type: ignore[union-attr]
    [c] = result.conflicts
    assert c.key == "R7-0001" and "件名" in c.reason


def test_a_key_that_no_longer_names_one_row_is_a_conflict(store: Store) -> None:
    store.apply([AppendRows(P, ({"提案ID": "R7-0001"}, {"提案ID": "R7-0002"}))])
    edit(store, P, "type_same_cell", column="提案ID", row=3, value="R7-0001")  # now twice
    result = store.apply(
        [SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "x"), SetCell(P, RowKey("提案ID", "R7-0002"), "件名", "y")]
    )
    assert sorted(c.key for c in result.conflicts) == ["R7-0001", "R7-0002"]
    assert all(r.get("件名") is None for r in store.read([P])[P].rows)  # type: ignore[union-attr]


def test_a_renamed_header_is_never_recreated_by_a_write(store: Store) -> None:
    store.apply([AppendRows(P, ({"提案ID": "R7-0001"},))])
    edit(store, P, "insert_column_first")
    result = store.apply([SetCell(P, RowKey("提案ID", "R7-0001"), "ない列", "x")])
    assert result.conflicts and "ない列" in result.conflicts[0].reason
    assert not store.read([P])[P].has("ない列")  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["insert_row_above", "sort_descending", "insert_column_first"])
def test_marks_follow_their_row_and_a_persons_note_is_never_touched(store: Store, kind: str) -> None:
    store.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "a"}, {"提案ID": "R7-0002", "件名": "b"}))])
    store.apply([MarkCells(P, "提案ID", {("R7-0001", "件名"): "必須です"})])
    edit(store, P, kind, column="提案ID", new_row=("R7-0100",))
    table = store.read([P])[P]
    assert table is not None
    row = next(r.number for r in table.rows if r.get("提案ID") == "R7-0001")
    assert table.marks == {(row, "件名"): "必須です"}  # the note moved with its row
    store.apply([MarkCells(P, "提案ID", {("R7-0002", "件名"): "重複の疑い"})])
    table = store.read([P])[P]
    assert table is not None
    row2 = next(r.number for r in table.rows if r.get("提案ID") == "R7-0002")
    assert table.marks == {(row2, "件名"): "重複の疑い"}


def test_xlsx_a_persons_note_and_fill_are_left_alone(tmp_path: Path) -> None:
    s = _xlsx(tmp_path)
    s.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "a"},))])
    wb = openpyxl.load_workbook(s.register)
    from openpyxl.comments import Comment

    wb[PROPOSALS]["N2"].comment = Comment("先方に確認中", "茨城 花子")
    wb[PROPOSALS]["N2"].fill = PatternFill("solid", fgColor="FFFFFF00")
    wb.save(s.register)
    s.apply([MarkCells(P, "提案ID", {("R7-0001", "件名"): "必須です"})])
    s.apply([MarkCells(P, "提案ID", {})])
    cell = openpyxl.load_workbook(s.register)[PROPOSALS]["N2"]
    assert cell.comment is not None and cell.comment.text == "先方に確認中" and cell.comment.author == "茨城 花子"
    assert cell.fill.fgColor.rgb == "FFFFFF00"


def _unsupported(*args: Any, **kwargs: Any) -> None:
    from kouminrenkei_sheets.store.xlsxpatch import Unsupported

    raise Unsupported("test: openpyxl writes")


@pytest.mark.parametrize("patcher", [True, False], ids=["patched", "openpyxl"])
def test_xlsx_a_save_by_someone_else_during_the_write_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patcher: bool
) -> None:
    s = _xlsx(tmp_path)
    s.apply([AppendRows(P, ({"提案ID": "R7-0001", "件名": "a"},))])
    import kouminrenkei_sheets.store.xlsx as xlsx_module

    real_write = xlsx_module.atomic_write
    calls = {"n": 0}

    def write_then_someone_saves(path: Any, content: Any, **kw: Any) -> bool:
        def then(f: Any) -> None:
            content(f)
            calls["n"] += 1
            if calls["n"] == 1:  # a colleague's Excel saves the register while ours was being written
                edit(s, P, "type_row_at_bottom", new_row=("R7-0100",))

        return real_write(path, then, **kw)

    if not patcher:  # the whole book loaded and saved by openpyxl (changes the patcher leaves alone)
        monkeypatch.setattr(xlsx_module, "PatchedBook", _unsupported)
    monkeypatch.setattr(xlsx_module, "atomic_write", write_then_someone_saves)
    s.apply([SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "b", expected="a")])
    monkeypatch.undo()
    rows = {r.get("提案ID"): r.get("件名") for r in s.read([P])[P].rows}  # type: ignore[union-attr]
    assert rows == {"R7-0001": "b", "R7-0100": None}  # their save kept, our write redone on it
