"""Jobs while people edit: a person's edit lands between a job's read and its write.

On each backend (memory, xlsx, the Google Sheets fake) the edit is made just as the job starts to
write: memory's ``before_next_apply``, a colleague's save of the .xlsx, and on Sheets a person's
edit inside the fake (insert/delete rows and columns, sort, type in a cell, type a row at the
bottom). After the job and after one more clean run: every value is on the row with its own key,
and every person's value is in the sheet or in 変更履歴.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from fakes.google_api import col_letters
from kouminrenkei_sheets.refer import refer
from kouminrenkei_sheets.schema import HISTORY, PROPOSALS, REFERRALS, Answer
from kouminrenkei_sheets.store.base import CellValue, SheetRef, Store, header_key, header_positions
from kouminrenkei_sheets.store.gsheets import GSheetsStore
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.validate import validate
from people import EDITS, edit
from test_sync import BOUSAI, KANKO, KENKO, NOW, Desk, make_config, store_factory  # noqa: F401

R = SheetRef(REFERRALS)
P = SheetRef(PROPOSALS)


def person(desk: Desk, ref: SheetRef, kind: str, **kw: Any) -> None:
    """One person's edit of a tab, on whichever backend the desk runs."""
    store = desk.store
    if isinstance(store, GSheetsStore):
        fake = store.fake  # type: ignore[attr-defined]
        key = store.resolve_key(ref.book)
        assert key is not None
        grid = fake.values(key, ref.sheet)
        at = header_positions(grid[0])
        if kind == "insert_row_above":
            fake.insert_rows(key, ref.sheet, 2)
        elif kind == "sort_descending":
            fake.sort_range(key, ref.sheet, kw["column"], descending=True)
        elif kind == "delete_first_row":
            fake.delete_rows(key, ref.sheet, 2)
        elif kind == "insert_column_first":
            fake.insert_columns(key, ref.sheet, 1, header="課内メモ")
        elif kind == "type_same_cell":
            fake.type_cell(key, ref.sheet, f"{col_letters(at[header_key(kw['column'])] - 1)}{kw['row']}", kw["value"])
        elif kind == "type_row_at_bottom":
            fake.append_row(key, ref.sheet, list(kw.get("new_row", ())))
        else:
            raise ValueError(kind)
        return
    edit(store, ref, kind, **kw)


def at_next_write(desk: Desk, act: Callable[[], None]) -> None:
    """Make ``act`` happen when the job next writes, after its read (on every backend)."""
    store = desk.store
    if isinstance(store, MemoryStore):
        store.before_next_apply.append(lambda _s: act())
        return
    real = store.apply
    fired = {"done": False}

    def apply(changes: Any, **kw: Any) -> Any:
        if not fired["done"] and changes:
            fired["done"] = True
            act()
        return real(changes, **kw)

    store.apply = apply  # type: ignore[method-assign]


def row_of(desk: Desk, ref: SheetRef, key_column: str, key: str) -> int:
    return next(r.number for r in desk.table(ref).rows if r.get(key_column) == key)


def referrals_by_id(desk: Desk) -> dict[str, dict[str, CellValue]]:
    return {str(r.get("照会ID")): dict(r.values) for r in desk.table(R).rows if r.get("照会ID")}


@pytest.fixture
def desk(store_factory: tuple[str, Callable[..., Store]], tmp_path: Any) -> Desk:  # noqa: F811
    backend, factory = store_factory
    d = Desk(make_config(tmp_path, backend, "books"), factory(make_config(tmp_path, backend, "books")))
    d.seed()
    d.sync()
    return d


@pytest.mark.parametrize("kind", EDITS)
def test_sync_pulls_onto_the_right_rows_while_a_person_edits_the_referral_tab(desk: Desk, kind: str) -> None:
    desk.set_dept(KANKO, "R7-0002-01", "回答", Answer.YES)
    desk.set_dept(BOUSAI, "R7-0001-01", "回答", Answer.NO)
    desk.set_referral("R7-0003-01", "回答期限", date(2025, 6, 30))  # a push to 健康推進課
    typed_row = row_of(desk, R, "照会ID", "R7-0002-01")
    deleted = desk.table(R).rows[0].get("照会ID")
    at_next_write(
        desk,
        lambda: person(
            desk, R, kind, column="回答", row=typed_row, value="要協議", new_row=("R7-0001-02", "R7-0001", KENKO)
        ),
    )
    result = desk.sync(now=NOW)
    rows = referrals_by_id(desk)
    # every pulled answer is on the row with its own 照会ID
    if kind == "type_same_cell":
        assert rows["R7-0002-01"]["回答"] == "要協議"  # what the person typed stays …
        assert result.write_conflicts and result.write_conflicts[0].key == "R7-0002-01"
        history = [h for h in desk.history() if h.get("キー") == "R7-0002-01" and h.get("列") == "回答"]
        assert any(h.get("新値") == Answer.YES and h.get("旧値") == "要協議" for h in history)  # … ours is kept
    elif kind == "delete_first_row":  # the row the answer was for is gone: reported, the answer kept
        assert rows["R7-0002-01"]["回答"] == Answer.YES
        assert [c.key for c in result.write_conflicts] == [deleted]
        assert any(h.get("キー") == deleted and h.get("列") == "回答" for h in desk.history())
    else:
        assert rows["R7-0002-01"]["回答"] == Answer.YES
        assert not result.write_conflicts
    if not (kind == "delete_first_row" and deleted == "R7-0001-01"):
        assert rows["R7-0001-01"]["回答"] == Answer.NO
    for key in ("R7-0003-01", "R7-0003-02"):
        if key in rows:
            assert rows[key]["回答"] == Answer.NONE  # nobody else's answer landed here
    if kind == "type_row_at_bottom":
        assert rows["R7-0001-02"]["照会先"] == KENKO  # the colleague's new referral is there
    if kind == "insert_column_first":
        assert all(r.get("課内メモ") is None for r in desk.table(R).rows)
    # one more clean run: department sheets show the register's deadlines, row by row
    desk.sync(now=NOW)
    rows = referrals_by_id(desk)
    for name in (BOUSAI, KANKO, KENKO):
        for key, dept_row in desk.dept_rows(name).items():
            if key in rows:
                assert desk_same_date(dept_row["回答期限"], rows[key]["回答期限"]), (name, key)
    assert desk.sync(now=NOW).files_written == []  # settled


def desk_same_date(a: CellValue, b: CellValue) -> bool:
    from kouminrenkei_sheets.schema import DEPARTMENT_SHEET
    from kouminrenkei_sheets.sync import same

    return same(DEPARTMENT_SHEET.column("回答期限"), a, b)


@pytest.mark.parametrize("kind", ["insert_row_above", "sort_descending", "type_same_cell", "type_row_at_bottom"])
def test_sync_pushes_onto_the_right_rows_while_a_person_edits_a_department_sheet(desk: Desk, kind: str) -> None:
    desk.set_referral("R7-0002-01", "回答期限", date(2025, 7, 1))
    desk.set_proposal("R7-0003", "件名", "健康ポイント事業（改）")
    ref = desk.ref(KANKO)
    row = row_of(desk, ref, "照会ID", "R7-0003-02")
    at_next_write(
        desk, lambda: person(desk, ref, kind, column="回答", row=row, value=Answer.YES, new_row=("R7-0099-01",))
    )
    desk.sync(now=NOW)
    desk.sync(now=NOW)
    dept = desk.dept_rows(KANKO)
    assert desk_same_date(dept["R7-0002-01"]["回答期限"], date(2025, 7, 1))
    assert dept["R7-0003-02"]["件名"] == "健康ポイント事業（改）"
    assert dept["R7-0002-01"]["件名"] == "観光周遊ルートの共同企画"
    if kind == "type_same_cell":  # the department's answer, typed mid-run, reached the register
        assert referrals_by_id(desk)["R7-0003-02"]["回答"] == Answer.YES
    if kind == "type_row_at_bottom":
        assert "R7-0099-01" in dept  # the department's own row is left alone


@pytest.mark.parametrize("kind", ["insert_row_above", "sort_descending", "type_row_at_bottom"])
def test_refer_appends_and_sets_by_key_while_a_person_edits(desk: Desk, kind: str) -> None:
    desk.set_proposal("R7-0002", "ステータス", "受付")
    at_next_write(desk, lambda: person(desk, R, kind, column="照会ID", new_row=("R7-0001-05", "R7-0001", KENKO)))
    refer(desk.config, desk.store, "R7-0002", [KENKO], today=date(2025, 5, 1), now=NOW)
    rows = referrals_by_id(desk)
    assert rows["R7-0002-02"]["照会先"] == KENKO and rows["R7-0002-01"]["照会先"] == KANKO
    if kind == "type_row_at_bottom":
        assert rows["R7-0001-05"]["照会先"] == KENKO  # not written over
    assert desk.proposal("R7-0002")["ステータス"] == "照会中"


@pytest.mark.parametrize("kind", ["insert_row_above", "sort_descending", "insert_column_first"])
def test_validate_marks_the_cell_of_its_own_row_while_a_person_edits(desk: Desk, kind: str) -> None:
    desk.set_proposal("R7-0002", "件名", "=HYPERLINK(1)")  # a formula-like title: a finding on that cell
    at_next_write(desk, lambda: person(desk, P, kind, column="提案ID"))
    validate(desk.config, desk.store, write_back=True)
    table = desk.table(P)
    row = row_of(desk, P, "提案ID", "R7-0002")
    marked = {r for (r, c) in table.marks if c == "件名"}
    assert row in marked
    others = {r.number for r in table.rows if r.get("提案ID") in ("R7-0001", "R7-0003")}
    assert not (marked & others)


def test_history_is_appended_below_a_row_another_job_wrote(desk: Desk) -> None:
    desk.set_dept(KANKO, "R7-0002-01", "回答", Answer.YES)
    before = len(desk.history())
    at_next_write(
        desk,
        lambda: person(desk, SheetRef(HISTORY), "type_row_at_bottom", new_row=("2025/5/1 9:00", "別のジョブ")),
    )
    desk.sync(now=NOW)
    history = desk.history()
    assert len(history) > before + 1
    assert any(h.get("実行者") == "別のジョブ" for h in history)
