"""The xlsx writer that rewrites only the changed worksheet parts (store/xlsxpatch.py): a book it wrote
keeps every format, note, dropdown, protection and name openpyxl sees, and reads back as written."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl.comments import Comment
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.workbook.defined_name import DefinedName
from python_calamine import CalamineWorkbook

from kouminrenkei_sheets.schema import DEPARTMENT_TEMPLATE, PROPOSALS, REGISTER_SHEETS, department_sheet_named
from kouminrenkei_sheets.store import xlsxpatch
from kouminrenkei_sheets.store.base import (
    AppendRows,
    CellValue,
    Change,
    DeleteRow,
    MarkCells,
    ReplaceRows,
    RowKey,
    SetCell,
    SheetRef,
)
from kouminrenkei_sheets.store.xlsx import OPEN_ROWS, XlsxStore, _stat

P = SheetRef(PROPOSALS)
BOOK = "dept.xlsx"
D = SheetRef(DEPARTMENT_TEMPLATE, BOOK)
TRICKY: tuple[CellValue, ...] = (
    '=HYPERLINK("http://x")',
    "#N/A",
    "_x0041_ as typed",
    "  spaces kept  ",
    '改行\nあり & <tag> "quote"',
    "bell\x07",
    12,
    -3.25,
    True,
    date(2026, 3, 2),
    datetime(2026, 3, 2, 9, 30),
)


def _openpyxl_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise xlsxpatch.Unsupported("test: openpyxl writes")

    monkeypatch.setattr("kouminrenkei_sheets.store.xlsx.PatchedBook", refuse)


def _patcher_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> None:
        raise AssertionError("the book was loaded whole by openpyxl")

    monkeypatch.setattr(XlsxStore, "_load_for_write", refuse)


def _letter(ws: Any, header: str) -> str:
    return next(str(c.column_letter) for c in ws[1] if c.value == header)


def _desk(tmp_path: Path) -> XlsxStore:
    """A register and a department book with rows, then what people add in Excel: notes, fills,
    formats, a merged title, conditional formats, a name, widths and a column of their own."""
    s = XlsxStore(tmp_path / "register.xlsx")
    s.create_book(None, REGISTER_SHEETS)
    s.create_book(BOOK, [department_sheet_named(DEPARTMENT_TEMPLATE)])
    s.apply([AppendRows(P, tuple({"提案ID": f"R7-{i:04d}", "件名": f"件名{i}", "受付日": date(2025, 4, i)}
                                 for i in range(1, 6)))])  # fmt: skip
    s.apply([AppendRows(D, tuple({"照会ID": f"R7-{i:04d}-01", "件名": f"件名{i}", "照会日": date(2025, 5, i)}
                                 for i in range(1, 6)))])  # fmt: skip
    for path, sheet in ((s.register, PROPOSALS), (s.path(BOOK), DEPARTMENT_TEMPLATE)):
        wb = openpyxl.load_workbook(path)
        ws = wb[sheet]
        c = _letter(ws, "件名")
        ws[f"{c}3"].comment = Comment("先方に確認中", "茨城 花子")
        ws[f"{c}3"].fill = PatternFill("solid", fgColor="FFFFFF00")
        ws[f"{c}4"].font = Font(italic=True, color="FF0000FF")
        ws[f"{c}4"].alignment = Alignment(wrap_text=True)
        ws.conditional_formatting.add(
            f"{c}2:{c}100",
            CellIsRule(operator="equal", formula=['"至急"'], fill=PatternFill("solid", fgColor="FFFFC7CE")),
        )
        ws.column_dimensions[c].width = 33
        ws.row_dimensions[4].height = 30
        last = ws.max_column + 2
        ws.cell(row=1, column=last, value="メモ（課で追加）")
        ws.cell(row=2, column=last, value="自分たちのメモ").comment = Comment("課の注記", "課員")
        wb.defined_names["重要"] = DefinedName("重要", attr_text=f"'{sheet}'!${c}$2:${c}$4")
        if sheet == PROPOSALS:
            ws.merge_cells("AZ1:BA1")
        wb.save(path)
    return s


def _picture(path: Path) -> dict[str, Any]:
    """Everything of a book a person would see besides the values, as openpyxl reads it."""
    wb = openpyxl.load_workbook(path)
    out: dict[str, Any] = {"names": sorted((n, str(v.attr_text)) for n, v in wb.defined_names.items()),
                           "sheets": wb.sheetnames}  # fmt: skip
    for ws in wb.worksheets:
        cells = {}
        for row in ws.iter_rows():
            for c in row:
                cells[c.coordinate] = (
                    repr(c.font), repr(c.fill), repr(c.border), repr(c.alignment), c.protection.locked,
                    c.protection.hidden, None if c.comment is None else (c.comment.text, c.comment.author),
                )  # fmt: skip
        out[ws.title] = {
            "cells": cells,
            "validations": sorted(
                (dv.type, str(dv.sqref), dv.formula1, dv.showErrorMessage, dv.prompt)
                for dv in ws.data_validations.dataValidation
            ),
            "protection": (
                ws.protection.sheet,
                ws.protection.formatColumns,
                ws.protection.insertColumns,
                ws.protection.sort,
                ws.protection.autoFilter,
            ),
            "widths": {
                k: (d.width, d.hidden, d.protection.locked if d.protection else None)
                for k, d in ws.column_dimensions.items()
            },
            "heights": {k: d.height for k, d in ws.row_dimensions.items() if d.height},
            "freeze": ws.freeze_panes,
            "merged": sorted(str(m) for m in ws.merged_cells.ranges),
            "conditional": sorted(str(r.sqref) for r in ws.conditional_formatting),
            "filter": ws.auto_filter.ref,
            "state": ws.sheet_state,
            "print_titles": ws.print_title_rows,
        }
    return out


def _calamine(path: Path, sheet: str) -> list[list[Any]]:
    wb = CalamineWorkbook.from_path(str(path))
    try:
        return wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    finally:
        wb.close()


def _changes() -> list[Change]:
    return [
        SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "変更後", expected="件名1"),
        SetCell(P, RowKey("提案ID", "R7-0002"), "件名", "ノートのあるセルへ", expected="件名2"),
        SetCell(P, RowKey("提案ID", "R7-0004"), "受付日", date(2026, 1, 31)),
        AppendRows(P, tuple({"提案ID": f"R7-{10 + i:04d}", "件名": v} for i, v in enumerate(TRICKY))),
        SetCell(D, RowKey("照会ID", "R7-0002-01"), "回答", "連携可"),
        SetCell(D, RowKey("照会ID", "R7-0003-01"), "回答日", date(2026, 2, 1)),
        AppendRows(D, ({"照会ID": "R7-0009-01", "件名": "新しい照会", "照会日": date(2026, 3, 1)},)),
    ]


def test_a_book_written_by_the_patcher_keeps_everything_but_the_cells_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _desk(tmp_path)
    before = {p: _picture(p) for p in (s.register, s.path(BOOK))}
    with zipfile.ZipFile(s.register) as z:
        untouched_before = {
            i.filename: z.read(i) for i in z.infolist() if "comments" in i.filename or "vml" in i.filename
        }
    with monkeypatch.context() as m:
        _patcher_only(m)
        result = s.apply(_changes())
    assert not result.conflicts and len(result.written) == 2
    with zipfile.ZipFile(s.register) as z:  # notes and their drawings copied byte for byte
        assert {n: z.read(n) for n in untouched_before} == untouched_before
    for path in (s.register, s.path(BOOK)):
        after = _picture(path)
        assert after["names"] == before[path]["names"] and after["sheets"] == before[path]["sheets"]
        for sheet in after["sheets"]:
            was, now = before[path][sheet], after[sheet]
            for key in was:
                if key != "cells":
                    assert now[key] == was[key], (path.name, sheet, key)
            # every cell that was there keeps its look, note and lock (new cells are checked below)
            assert {k: v for k, v in now["cells"].items() if k in was["cells"]} == was["cells"], (path.name, sheet)

    wb = openpyxl.load_workbook(s.register)
    ws = wb[PROPOSALS]
    c, d = _letter(ws, "件名"), _letter(ws, "受付日")
    assert ws[f"{c}3"].value == "ノートのあるセルへ" and ws[f"{c}3"].comment.text == "先方に確認中"
    assert ws[f"{c}3"].fill.fgColor.rgb == "FFFFFF00"
    assert ws[f"{d}5"].is_date and ws[f"{d}5"].value == datetime(2026, 1, 31)
    table = s.read([P])[P]
    assert table is not None
    got = {r.get("提案ID"): r.get("件名") for r in table.rows}
    assert got["R7-0001"] == "変更後"
    shown = [got[f"R7-{10 + i:04d}"] for i in range(len(TRICKY))]
    assert shown[:5] == list(TRICKY[:5]) and shown[5] == "bell\u2407"
    assert shown[6:9] == [12, -3.25, True]
    assert shown[9] == date(2026, 3, 2) or shown[9] == datetime(2026, 3, 2)
    assert shown[10] == datetime(2026, 3, 2, 9, 30)
    dept = openpyxl.load_workbook(s.path(BOOK))[DEPARTMENT_TEMPLATE]
    k = _letter(dept, "回答日")
    assert dept[f"{k}4"].is_date and dept[f"{k}4"].value == datetime(2026, 2, 1)
    assert _calamine(s.path(BOOK), DEPARTMENT_TEMPLATE)[3][dept[f"{k}4"].column - 1] == date(2026, 2, 1)


def test_the_patcher_and_openpyxl_write_the_same_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _desk(tmp_path / "a")
    b = _desk(tmp_path / "b")
    with monkeypatch.context() as m:
        _patcher_only(m)
        a.apply(_changes())
    with monkeypatch.context() as m:
        _openpyxl_only(m)
        b.apply(_changes())
    refs = [P, SheetRef("提案"), D]
    ta, tb = a.read(refs), b.read(refs)
    for ref in refs:
        assert ta[ref] is not None and tb[ref] is not None
        assert ta[ref].headers == tb[ref].headers  # type: ignore[union-attr]
        assert [r.values for r in ta[ref].rows] == [r.values for r in tb[ref].rows]  # type: ignore[union-attr]


def test_rows_appended_to_a_protected_department_sheet_lock_desk_cells_and_open_answer_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _desk(tmp_path)
    rows = tuple({"照会ID": f"R7-{i:04d}-02", "件名": "追加", "回答": "未回答"} for i in range(1, 121))
    _patcher_only(monkeypatch)
    s.apply([AppendRows(D, rows)])
    ws = openpyxl.load_workbook(s.path(BOOK))[DEPARTMENT_TEMPLATE]
    headers = {c.value: c.column for c in ws[1]}
    last = 6 + len(rows)
    assert ws.cell(row=last, column=headers["照会ID"]).value == "R7-0120-02"
    for r in (7, last):
        assert ws.cell(row=r, column=headers["照会ID"]).protection.locked
        assert ws.cell(row=r, column=headers["件名"]).protection.locked
        assert not ws.cell(row=r, column=headers["回答"]).protection.locked
    for r in (last + 1, last + OPEN_ROWS):  # rows ready below, typed in by programs that ignore column styles
        assert not ws.cell(row=r, column=headers["回答理由・コメント"]).protection.locked
    assert ws.protection.sheet


def test_the_sync_state_tab_is_rewritten_without_openpyxl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _desk(tmp_path)
    ref = SheetRef("検証結果")
    _patcher_only(monkeypatch)
    s.apply([ReplaceRows(ref, tuple({"コード": f"c{i}", "メッセージ": "x"} for i in range(30)))])
    s.apply([ReplaceRows(ref, ({"コード": "only"},))])
    table = s.read([ref])[ref]
    assert table is not None and [r.get("コード") for r in table.rows] == ["only"]
    assert len(_calamine(s.register, "検証結果")) == 2  # nothing left below


@pytest.mark.parametrize(
    "change",
    [
        DeleteRow(P, RowKey("提案ID", "R7-0001")),
        MarkCells(P, "提案ID", {("R7-0001", "件名"): "必須です"}),
    ],
    ids=["delete", "marks"],
)
def test_changes_the_patcher_leaves_alone_are_written_by_openpyxl(tmp_path: Path, change: Change) -> None:
    s = _desk(tmp_path)
    s.apply([change, SetCell(P, RowKey("提案ID", "R7-0002"), "件名", "変更後")])
    table = s.read([P])[P]
    assert table is not None and any(r.get("件名") == "変更後" for r in table.rows)


def test_a_formula_cell_is_not_overwritten_by_the_patcher(tmp_path: Path) -> None:
    s = _desk(tmp_path)
    wb = openpyxl.load_workbook(s.register)
    c = _letter(wb[PROPOSALS], "件名")
    wb[PROPOSALS][f"{c}2"] = "=1+1"
    wb.save(s.register)
    s.apply([SetCell(P, RowKey("提案ID", "R7-0001"), "件名", "値")])  # openpyxl writes it (and drops calcChain)
    assert openpyxl.load_workbook(s.register)[PROPOSALS][f"{c}2"].value == "値"


SHEET = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1:F3"/>
<sheetData><row r="1" spans="1:6"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>
<row r="3" spans="1:6"><c r="A3" t="s"><v>2</v></c><c r="B3" s="1"><v>45717</v></c><c r="C3" t="b"><v>1</v></c>
<c r="D3"><f>1+1</f><v>2</v></c>
<c r="E3" t="inlineStr"><is><r><t>太</t></r><r><t xml:space="preserve">字 </t></r></is></c>
<c r="F3" t="e"><v>#N/A</v></c></row></sheetData></worksheet>""".encode()
RUBY = b'<rPh sb="0" eb="1"><t>\xe3\x82\xa2</t></rPh>'  # the phonetic guide Japanese Excel adds
STRINGS = (
    b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>ID</t></si>'
    b"<si><t>date</t></si><si><r><t>R7-</t></r><r><t>0001</t></r>" + RUBY + b"</si></sst>"
)
STYLES = (
    b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="2">'
    b'<xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>'
)


ML = "application/vnd.openxmlformats-officedocument.spreadsheetml."
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"


def _types() -> bytes:
    parts = {"workbook.xml": "sheet.main", "worksheets/sheet1.xml": "worksheet",
             "sharedStrings.xml": "sharedStrings", "styles.xml": "styles"}  # fmt: skip
    return (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + "".join(f'<Override PartName="/xl/{p}" ContentType="{ML}{t}+xml"/>' for p, t in parts.items())
        + "</Types>"
    ).encode()


def _rels(targets: dict[str, str]) -> bytes:
    return (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{RELS}{t}" Target="{target}"/>'
            for i, (t, target) in enumerate(targets.items(), start=1)
        )
        + "</Relationships>"
    ).encode()


def _excel_like(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", _types())
        z.writestr("_rels/.rels", _rels({"officeDocument": "xl/workbook.xml"}))
        z.writestr(
            "xl/workbook.xml",
            b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="'
            + RELS[:-1].encode()
            + b'"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            _rels({"worksheet": "worksheets/sheet1.xml", "sharedStrings": "sharedStrings.xml", "styles": "styles.xml"}),
        )
        z.writestr("xl/worksheets/sheet1.xml", SHEET)
        z.writestr("xl/sharedStrings.xml", STRINGS)
        z.writestr("xl/styles.xml", STYLES)


def test_cells_as_excel_writes_them_read_as_openpyxl_shows_them(tmp_path: Path) -> None:
    """Shared strings (without the phonetic guide), rich text, built-in date formats, booleans,
    formulas and error values, rows Excel skipped: the view the write is resolved against."""
    path = tmp_path / "excel.xlsx"
    _excel_like(path)
    with zipfile.ZipFile(path) as z:
        sheet = xlsxpatch.SheetPart(z.read("xl/worksheets/sheet1.xml"), xlsxpatch._Book(z))
        assert sheet.header_row() == ["ID", "date"]
        assert sheet.last_row() == 3
        assert sheet.column_values(1) == [None, "R7-0001"]
        assert [sheet.value(3, c) for c in range(2, 7)] == [datetime(2025, 3, 1), True, "=1+1", "太字 ", "#N/A"]
        changes: list[Change] = [
            SetCell(SheetRef("S"), RowKey("ID", "R7-0001"), "date", date(2026, 1, 2)),
            AppendRows(SheetRef("S"), ({"ID": "R7-0002", "date": datetime(2026, 1, 2, 3, 4)},)),
        ]
        patched = xlsxpatch.PatchedBook(z, None, changes)
        out = tmp_path / "out.xlsx"
        with out.open("wb") as f:
            patched.writer()(f)
    grid = _calamine(out, "S")
    assert grid[2][:2] == ["R7-0001", date(2026, 1, 2)]
    assert grid[3][:2] == ["R7-0002", datetime(2026, 1, 2, 3, 4)]
    with zipfile.ZipFile(out) as z:
        styles = z.read("xl/styles.xml")
    assert b'<cellXfs count="3">' in styles and b'formatCode="yyyy/m/d h:mm"' in styles  # one new style, for the time


CSV_UTF8 = "csv:Text - txt - csv (StarCalc):44,34,76"  # comma, quote, UTF-8


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
@pytest.mark.parametrize("read_first", [False, True], ids=["from-xml", "as-read"])
def test_libreoffice_opens_a_patched_book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_first: bool) -> None:
    """LibreOffice reads what the patcher wrote, whether the worksheets were resolved from their XML or
    carried out while the zip was written, against the tabs as the job read them."""
    s = _desk(tmp_path)
    _patcher_only(monkeypatch)
    held = s.read([P, D]) if read_first else {}  # (held, as a job holds its read)
    s.apply(_changes())
    del held
    out = tmp_path / "csv"
    subprocess.run(
        ["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", CSV_UTF8,
         "--outdir", str(out), str(s.path(BOOK))],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    text = (out / "dept.csv").read_text(encoding="utf-8")  # (76: the filter writes UTF-8)
    assert "R7-0009-01" in text and "新しい照会" in text


def test_rows_appended_at_the_end_leave_the_rows_above_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _desk(tmp_path)
    ref = SheetRef("変更履歴")
    _patcher_only(monkeypatch)
    for n in range(3):
        s.apply(
            [AppendRows(ref, tuple({"キー": f"R7-{n}{i:03d}", "日時": datetime(2026, 3, 2, 9, i)} for i in range(4)))]
        )
    with zipfile.ZipFile(s.register) as z:
        part = xlsxpatch.sheet_parts(z)["変更履歴"]
        xml = z.read(part)
    assert b'<dimension ref="A1:' in xml and b'13"/>' in xml[: xml.find(b"<sheetData")]
    ws = openpyxl.load_workbook(s.register)["変更履歴"]
    assert ws.max_row == 13 and ws.cell(row=13, column=_column(ws, "キー")).value == "R7-2003"
    assert ws.cell(row=13, column=_column(ws, "日時")).is_date
    s.apply([ReplaceRows(SheetRef("検証結果"), ())])
    assert openpyxl.load_workbook(s.register)["検証結果"].max_row == 1


def test_rows_below_the_last_one_take_the_careful_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _desk(tmp_path)
    wb = openpyxl.load_workbook(s.register)
    wb[PROPOSALS]["A20"].fill = PatternFill("solid", fgColor="FFFFFF00")  # a formatted empty row below the table
    wb.save(s.register)
    _patcher_only(monkeypatch)
    s.apply([AppendRows(P, ({"提案ID": "R7-0100"},))])
    ws = openpyxl.load_workbook(s.register)[PROPOSALS]
    assert ws["A7"].value == "R7-0100" and ws["A20"].fill.fgColor.rgb == "FFFFFF00"


def _column(ws: Any, header: str) -> int:
    return next(int(c.column) for c in ws[1] if c.value == header)


_ROW_SHAPES = st.sampled_from(
    [
        '<row r="{n}"><c r="A{n}"><v>1</v></c></row>',
        '<row r="{n}" spans="1:3" ht="20" customHeight="1"><c r="B{n}" t="s"><v>0</v></c><c r="C{n}"/></row>',
        '<row r="{n}"/>',
        '<row r="{n}" s="3" customFormat="1"/>',
        '<row r="{n}"></row>',
        '<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>&lt;row r="9"&gt;</t></is></c></row>',
    ]
)


@given(st.lists(st.tuples(st.integers(1, 3), _ROW_SHAPES), max_size=12), st.booleans())
def test_rows_found_by_their_tags_are_the_rows_the_careful_split_finds(
    rows: list[tuple[int, str]], odd_one: bool
) -> None:
    """The fast split of a worksheet into rows (opening tag, then the next ``</row>``) finds the same
    rows, at the same places, as the regular expression over whole rows — and steps aside (the careful
    path) for XML of another shape: here a row whose ``r`` is not its first attribute."""
    parts, n = [], 0
    for gap, shape in rows:
        n += gap
        parts.append(shape.format(n=n))
    if odd_one and parts:
        parts[0] = parts[0].replace('<row r="', '<row spans="1:1" r="', 1)
    xml = b"<worksheet><sheetData>" + "".join(parts).encode() + b"</sheetData></worksheet>"

    def spans(part: xlsxpatch.SheetPart) -> dict[int, tuple[int, ...]]:
        return {
            k: (r.start, r.end, r.a_start, r.a_end, r.b_start, r.b_end, r.index, r.dirty) for k, r in part.rows.items()
        }

    fast = xlsxpatch.SheetPart(xml, None)  # type: ignore[arg-type]
    careful = xlsxpatch.SheetPart(xml, None)  # type: ignore[arg-type]
    careful._split_written_rows = lambda: None  # type: ignore[method-assign]
    assert (fast._split_written_rows() is None) == (odd_one and bool(parts))
    assert spans(fast) == spans(careful)
    assert len(fast.rows) == len(parts)
    for number, row in fast.rows.items():
        assert row.xml().startswith(b'<row r="%d"' % number) or odd_one


def _styles_first(path: Path) -> None:
    """The same book with xl/styles.xml before the worksheets in the zip (some writers order it so)."""
    with zipfile.ZipFile(path) as z:
        entries = [(i, z.read(i)) for i in z.infolist()]
    entries.sort(key=lambda e: e[0].filename != "xl/styles.xml")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in entries:
            z.writestr(info, data)


@pytest.mark.parametrize("read_first", [True, False], ids=["as-read", "from-xml"])
@pytest.mark.parametrize("styles_first", [False, True], ids=["styles-last", "styles-first"])
def test_a_date_needing_a_new_style_reads_back_as_a_date_whatever_the_zip_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_first: bool, styles_first: bool
) -> None:
    """Tabs the job has read are carried out only as the new zip is written (one worksheet held at a
    time); a date written where the cell's style shows no date needs a new style in styles.xml, which
    must be there whether styles.xml comes before or after the worksheets in the zip."""
    s = _desk(tmp_path)
    if styles_first:
        _styles_first(s.register)
    held = s.read([P]) if read_first else {}  # the job's read (held, as a job holds it): the write resolves against it
    changes: list[Change] = [
        SetCell(P, RowKey("提案ID", "R7-0002"), "件名", date(2026, 4, 1), expected="件名2"),
        SetCell(P, RowKey("提案ID", "R7-0003"), "件名", "文字のまま", expected="件名3"),
    ]
    with zipfile.ZipFile(s.register) as z:
        patched = xlsxpatch.PatchedBook(z, None, changes, as_read=s._as_read(None, _stat(s.register)))
        assert bool(patched._deferred) == read_first  # (nothing of the sheet's XML decoded yet)
    with monkeypatch.context() as m:
        _patcher_only(m)
        result = s.apply(changes)
    assert not result.conflicts and result.written
    ws = openpyxl.load_workbook(s.register)[PROPOSALS]
    c = _letter(ws, "件名")
    assert ws[f"{c}3"].is_date and ws[f"{c}3"].value == datetime(2026, 4, 1)
    assert ws[f"{c}4"].value == "文字のまま" and ws[f"{c}3"].comment.text == "先方に確認中"
    assert _calamine(s.register, PROPOSALS)[2][ws[f"{c}3"].column - 1] == date(2026, 4, 1)
    del held
