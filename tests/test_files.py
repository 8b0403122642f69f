"""What the tool's files are like for the people who open them: cells they may type in, who may
open the file, how it prints, and what an Excel owner file left behind says."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from kouminrenkei_sheets.config import config_from_dict, load_config
from kouminrenkei_sheets.demo import DemoResult, build_demo
from kouminrenkei_sheets.errors import ConfigError, WorkbookBusyError
from kouminrenkei_sheets.files import atomic_write, current_umask
from kouminrenkei_sheets.refer import refer
from kouminrenkei_sheets.schema import (
    DEPARTMENT_SHEET,
    DEPARTMENT_TEMPLATE,
    DEPARTMENTS,
    PROPOSALS,
    REFERRALS,
    REGISTER_SHEETS,
    department_answer_columns,
    department_desk_columns,
)
from kouminrenkei_sheets.store.base import AppendRows, SheetRef
from kouminrenkei_sheets.store.factory import open_store
from kouminrenkei_sheets.store.xlsx import OPEN_ROWS, XlsxStore, write_owner_file
from kouminrenkei_sheets.sync import sync

TODAY = date(2026, 12, 2)
ANSWERS = {c.name for c in department_answer_columns()}
DESK = {c.name for c in department_desk_columns()}


def _demo(directory: Path) -> DemoResult:
    return build_demo(directory, today=TODAY, echo=lambda _line: None)


def _refer_and_sync(result: DemoResult) -> str:
    """Refer a proposal to a 課 it was not yet referred to and sync: the tool appends a row to that book."""
    store, config = result.store, result.config
    tables = store.read([SheetRef(PROPOSALS), SheetRef(REFERRALS), SheetRef(DEPARTMENTS)])
    referred = {(r.get("提案ID"), r.get("照会先")) for r in tables[SheetRef(REFERRALS)].rows}  # type: ignore[union-attr]
    proposal = str(tables[SheetRef(PROPOSALS)].rows[0].get("提案ID"))  # type: ignore[union-attr]
    department = next(
        str(r.get("課"))
        for r in tables[SheetRef(DEPARTMENTS)].rows  # type: ignore[union-attr]
        if (proposal, r.get("課")) not in referred
    )
    refer(config, store, proposal, [department], today=TODAY)
    sync(config, store)
    return department


def _department_books(directory: Path) -> list[Path]:
    books = sorted((directory / "departments").glob("*.xlsx"))
    assert books, "the demo makes one book per department"
    return books


def _rows(ws: openpyxl.worksheet.worksheet.Worksheet) -> Iterator[int]:
    key = next(c.column for c in ws[1] if c.value == DEPARTMENT_SHEET.key)
    for r in range(2, ws.max_row + 1):
        if ws.cell(row=r, column=key).value:
            yield r


# ---------------------------------------------------------------- who may type where
def test_department_cells_unlocked_and_desk_cells_locked_in_every_book(tmp_path: Path) -> None:
    result = _demo(tmp_path / "desk")
    added_to = _refer_and_sync(result)
    seen = {"answer": 0, "desk": 0}
    for path in _department_books(tmp_path / "desk"):
        ws = openpyxl.load_workbook(path)[DEPARTMENT_TEMPLATE]
        assert ws.protection.sheet, path.name
        headers = {c.value: c.column for c in ws[1]}
        assert set(headers) >= ANSWERS | DESK
        rows = list(_rows(ws))
        assert rows, path.name
        for r in rows:
            for name, col in headers.items():
                cell = ws.cell(row=r, column=col)
                if name in ANSWERS:
                    assert cell.protection.locked is False, (path.name, cell.coordinate, name)
                    seen["answer"] += 1
                elif name in DESK:
                    assert cell.protection.locked is True, (path.name, cell.coordinate, name)
                    seen["desk"] += 1
        # The empty rows below are ready for answers too, desk columns there stay locked.
        below = rows[-1] + OPEN_ROWS
        for name in ANSWERS:
            assert ws.cell(row=below, column=headers[name]).protection.locked is False
        for name in DESK:
            assert ws.cell(row=below, column=headers[name]).protection.locked is True
        # Columns right of the schema's are the staff's own: unlocked by column style.
        own = [d for d in ws.column_dimensions.values() if d.min and d.min > len(DEPARTMENT_SHEET.columns)]
        assert own and all(d.protection.locked is False for d in own)
        assert headers[DEPARTMENT_SHEET.key] and added_to
    assert seen["answer"] >= 5 * 50 and seen["desk"] >= 9 * 50  # every referral row of the demo was checked


def test_desk_cell_a_department_made_editable_is_locked_again(tmp_path: Path) -> None:
    result = _demo(tmp_path / "desk")
    path = _department_books(tmp_path / "desk")[0]
    wb = openpyxl.load_workbook(path)
    ws = wb[DEPARTMENT_TEMPLATE]
    headers = {c.value: c.column for c in ws[1]}
    row = next(_rows(ws))
    ws.cell(row=row, column=headers["件名"]).protection = openpyxl.styles.Protection(locked=False)
    ws.cell(row=row, column=headers["件名"]).value = "書き換えた件名"
    wb.save(path)
    sync(result.config, result.store)
    ws = openpyxl.load_workbook(path)[DEPARTMENT_TEMPLATE]
    assert ws.cell(row=row, column=headers["件名"]).value != "書き換えた件名"  # the register's value is back
    assert ws.cell(row=row, column=headers["件名"]).protection.locked is True


# ---------------------------------------------------------------- who may open the files
def _tool_files(directory: Path) -> list[Path]:
    files = [p for p in directory.rglob("*") if p.is_file() and p.parent.name != "forms"]
    files = [p for p in files if p.name != "kouminrenkei.toml" and not p.name.endswith(".log")]
    kinds = {p.suffix for p in files}
    assert {".xlsx", ".docx", ".html", ".csv", ".json", ".md"} <= kinds, kinds
    return files


@pytest.fixture
def umask() -> Iterator[None]:
    before = current_umask()
    yield
    os.umask(before)


@pytest.mark.parametrize(("mask", "expected"), [(0o002, 0o664), (0o027, 0o640)])
def test_new_files_follow_the_umask(tmp_path: Path, umask: None, mask: int, expected: int) -> None:
    os.umask(mask)
    result = _demo(tmp_path / "desk")
    _refer_and_sync(result)
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in _tool_files(tmp_path / "desk")}
    assert modes and set(modes.values()) == {expected}, {k: oct(v) for k, v in modes.items() if v != expected}


def test_replaced_files_keep_their_mode(tmp_path: Path, umask: None) -> None:
    from kouminrenkei_sheets.agreements import agreement
    from kouminrenkei_sheets.publish import publish
    from kouminrenkei_sheets.reports import default_report_path, mark_reported, report, write_report

    os.umask(0o077)  # whatever the job's umask, a file the desk opened up stays open
    result = _demo(tmp_path / "desk")
    files = _tool_files(tmp_path / "desk")
    for p in files:
        p.chmod(0o664)
    before = {p: p.stat().st_mtime_ns for p in files}
    _refer_and_sync(result)
    config, store = result.config, result.store
    docx = next(p for p in files if p.suffix == ".docx")
    agreement(config, store, docx.name.split("_")[1], force=True, today=TODAY)
    publish(config, store, today=TODAY)
    rep = report(config, store, today=TODAY)
    for fmt in ("md", "xlsx"):
        write_report(rep, fmt, default_report_path(config, rep, fmt))
    mark_reported(config, rep)
    rewritten = [p for p in files if p.stat().st_mtime_ns != before[p]]
    kinds = {p.suffix for p in rewritten}
    assert {".xlsx", ".docx", ".html", ".csv", ".json", ".md"} <= kinds, kinds
    assert result.store.path(None) in rewritten
    assert any(p.parent.name == "departments" for p in rewritten)
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in rewritten} == {p.name: "0o664" for p in rewritten}


def test_atomic_write_keeps_the_group_where_it_may(tmp_path: Path) -> None:
    target = tmp_path / "register.xlsx"
    target.write_bytes(b"old")
    groups = [g for g in os.getgroups() if g != target.stat().st_gid] or [target.stat().st_gid]
    os.chown(target, -1, groups[0])
    target.chmod(0o660)
    assert atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert (target.stat().st_gid, stat.S_IMODE(target.stat().st_mode)) == (groups[0], 0o660)
    assert [p.name for p in tmp_path.iterdir()] == ["register.xlsx"]  # no temporary file left


def test_atomic_write_leaves_a_file_saved_meanwhile_alone(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_bytes(b"theirs")
    assert atomic_write(target, b"ours", unchanged=lambda: False) is False
    assert target.read_bytes() == b"theirs"
    with pytest.raises(FileExistsError):
        atomic_write(target, b"ours", replace=False)
    assert target.read_bytes() == b"theirs" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


# ---------------------------------------------------------------- printing
def _assert_prints_well(ws: openpyxl.worksheet.worksheet.Worksheet, where: str) -> None:
    ps = ws.page_setup
    assert (ps.orientation, str(ps.paperSize), ps.fitToWidth, ps.fitToHeight) == ("landscape", "9", 1, 0), where
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True, where
    assert ws.print_title_rows == "$1:$1", where


def test_register_and_department_books_print_landscape_one_page_wide_with_headers(tmp_path: Path) -> None:
    _demo(tmp_path / "desk")
    register = openpyxl.load_workbook(tmp_path / "desk" / "register.xlsx")
    for sheet in REGISTER_SHEETS:
        _assert_prints_well(register[sheet.name], f"register {sheet.name}")
    for path in _department_books(tmp_path / "desk"):
        _assert_prints_well(openpyxl.load_workbook(path)[DEPARTMENT_TEMPLATE], path.name)


# ---------------------------------------------------------------- the Excel owner file
def _register(tmp_path: Path) -> XlsxStore:
    store = XlsxStore(tmp_path / "register.xlsx")
    store.create_book(None, REGISTER_SHEETS)
    return store


def test_old_owner_file_is_named_as_probably_stale_and_still_blocks(tmp_path: Path) -> None:
    store = _register(tmp_path)
    before = store.book_version(None)
    owner = write_owner_file(store.register, "茨城 花子")
    five_days_ago = time.time() - 5 * 86400
    os.utime(owner, (five_days_ago, five_days_ago))
    change = AppendRows(SheetRef(PROPOSALS), ({"提案ID": "R7-0001"},))
    with pytest.raises(WorkbookBusyError) as e:
        store.apply([change])
    assert str(e.value) == (
        f"台帳（register.xlsx） には 5日前に作られた Excel の所有者ファイル {owner} があります。"
        "Excel が異常終了して残ったものかもしれません。だれも開いていないことを確かめてから、"
        "このファイルを削除して再実行してください（エクスプローラーでは隠しファイルです）。削除されるまでは書き込みません。"
    )
    assert e.value.exit_code == 2
    skipped = store.apply([change], skip_busy=True)
    assert skipped.written == []
    assert skipped.skipped == {
        "台帳（register.xlsx）": "茨城 花子 さんが開いています（5日前からの所有者ファイル ~$register.xlsx。"
        "残っただけなら削除してください）"
    }
    assert store.book_version(None) == before and store.saves == 1  # only create_book wrote
    owner.unlink()
    assert store.apply([change]).written == ["台帳（register.xlsx）"]


def test_fresh_owner_file_reads_as_open(tmp_path: Path) -> None:
    store = _register(tmp_path)
    owner = write_owner_file(store.register, "茨城 花子")
    eleven_hours_ago = time.time() - 11 * 3600
    os.utime(owner, (eleven_hours_ago, eleven_hours_ago))
    with pytest.raises(WorkbookBusyError, match=r"^台帳（register\.xlsx） は 茨城 花子 さんが Excel で開いているため"):
        store.apply([AppendRows(SheetRef(PROPOSALS), ({"提案ID": "R7-0001"},))])


def test_empty_owner_file_names_nobody(tmp_path: Path) -> None:
    store = _register(tmp_path)
    (tmp_path / "~$register.xlsx").write_bytes(b"")
    assert store.busy_owner(None) == ""
    with pytest.raises(WorkbookBusyError) as e:
        store.apply([AppendRows(SheetRef(PROPOSALS), ({"提案ID": "R7-0001"},))])
    assert str(e.value) == (
        "台帳（register.xlsx） は だれかが Excel で開いているため書き込めません"
        "（所有者ファイル ~$register.xlsx に利用者名が書かれていません）。閉じてから再実行してください。"
    )
    assert "不明" not in str(e.value) and "さん" not in str(e.value)


def test_owner_file_age_comes_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "kouminrenkei.toml").write_text("[store]\nowner_file_stale_hours = 2\n", encoding="utf-8")
    store = open_store(load_config(tmp_path / "kouminrenkei.toml"))
    assert isinstance(store, XlsxStore)
    store.create_book(None, REGISTER_SHEETS)
    owner = write_owner_file(store.register, "sato")
    three_hours_ago = time.time() - 3 * 3600
    os.utime(owner, (three_hours_ago, three_hours_ago))
    with pytest.raises(WorkbookBusyError, match="3時間前に作られた Excel の所有者ファイル"):
        store.apply([AppendRows(SheetRef(PROPOSALS), ({"提案ID": "R7-0001"},))])
    assert XlsxStore(tmp_path / "x.xlsx").owner_stale_hours == 12
    with pytest.raises(ConfigError, match=r"store.owner_file_stale_hours = -1 は 0〜8760 の時間数"):
        config_from_dict({"store": {"owner_file_stale_hours": -1}})
