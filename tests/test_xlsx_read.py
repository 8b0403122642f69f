"""The xlsx reader's column-wise conversion (issue 16) against the per-cell one it replaces."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kouminrenkei_sheets.store.base import SheetRef, table_from_grid
from kouminrenkei_sheets.store.xlsx import _calamine_rows, _calamine_value, _overlay_unknown
from kouminrenkei_sheets.values import Unknown

# What calamine hands over for a cell: text (empty for a blank cell), floats (whole or not), ints,
# bools, dates, datetimes, times and durations; and what the overlay puts in (error values, formulas
# without a stored result).
_CALAMINE_CELLS = st.one_of(
    st.just(""),
    st.text(alphabet=" \u3000\u200b\t\nａ１R7-0001ー漢#N/A", max_size=8),
    st.floats(allow_nan=False, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6).map(float.__floor__).map(float),
    st.just(2.0**53),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    st.sampled_from([Unknown("#N/A", "error"), Unknown("=TODAY()", "formula")]),
)


def _per_cell(raw: list[list[Any]]) -> list[list[Any]]:
    return [[v if v.__class__ is str and v else _calamine_value(v) for v in row] for row in raw]


def _typed(rows: Any) -> list[list[tuple[type, Any]]]:
    return [[(type(v), v) for v in row] for row in rows]


@st.composite
def _sheets(draw: st.DrawFn) -> list[list[Any]]:
    width = draw(st.integers(0, 5))
    height = draw(st.integers(0, 6))
    # columns of one kind as often as mixed ones (a column of dates, of text …)
    kinds = [
        draw(st.sampled_from([_CALAMINE_CELLS, st.text(max_size=3), st.dates(), st.booleans()])) for _ in range(width)
    ]
    return [[draw(kinds[c]) for c in range(width)] for _ in range(height)]


@given(_sheets())
def test_column_wise_conversion_is_the_per_cell_one(raw: list[list[Any]]) -> None:
    assert _typed(_calamine_rows([list(r) for r in raw])) == _typed(_per_cell(raw))


@given(
    _sheets(),
    st.dictionaries(
        st.tuples(st.integers(1, 8), st.integers(1, 7)),
        _CALAMINE_CELLS.filter(lambda v: isinstance(v, Unknown)),
        max_size=3,
    ),
)
def test_overlay_before_the_conversion_is_the_overlay_after(raw: list[list[Any]], unknown: dict[Any, Any]) -> None:
    """Error cells are put in before the conversion now (they may make the grid ragged)."""
    before = [list(r) for r in raw]
    _overlay_unknown(before, unknown)
    after = _per_cell(raw)
    _overlay_unknown(after, unknown)
    assert _typed(_calamine_rows(before)) == _typed(after)


@given(_sheets())
def test_tables_are_the_same_without_the_surrogate_search(raw: list[list[Any]]) -> None:
    """A grid without lone surrogates (calamine's) makes the same table whether they are looked for or not;
    with repeated and empty headers (the cell-by-cell path) and rows of tuples as the reader gives them."""
    ref = SheetRef("照会")
    headers: list[Any] = ["照会ID", "回答", "回答", None, "備考"][: len(raw[0])] if raw else []
    grid = [headers, *_per_cell(raw[1:])]
    a = table_from_grid(ref, grid)
    b = table_from_grid(ref, _calamine_rows([list(headers), *raw[1:]]), no_surrogates=True)
    assert (a.headers, [(r.number, r.values) for r in a.rows], a.replaced) == (
        b.headers,
        [(r.number, r.values) for r in b.rows],
        b.replaced,
    )


def test_a_real_book_reads_the_same_column_wise(tmp_path: Any) -> None:
    """Through openpyxl and calamine: text, blanks, whole floats, dates, datetimes, bools, times, formulas'
    cached values and error values read as the per-cell conversion reads them."""
    from openpyxl import Workbook
    from python_calamine import CalamineWorkbook

    wb = Workbook()
    ws = wb.active
    ws.title = "提案"
    ws.append(["提案ID", "受付日", "件数", "金額", "済", "時刻", "備考"])
    ws.append(["R7-0001", date(2025, 4, 1), 3, 2.5, True, time(9, 30), "  "])
    ws.append([None, datetime(2025, 4, 1, 10, 0), 4.0, None, False, None, "=1+1"])
    ws.append(["R7-0003", "令和7年4月1日", None, 10**16, None, None, "#N/A"])
    path = tmp_path / "b.xlsx"
    wb.save(path)
    book = CalamineWorkbook.from_path(str(path))
    raw = book.get_sheet_by_name("提案").to_python(skip_empty_area=False)
    book.close()
    assert _typed(_calamine_rows([list(r) for r in raw])) == _typed(_per_cell(raw))


def test_sheet_names_from_the_workbook_part_are_openpyxls(tmp_path: Any) -> None:
    """The names as openpyxl gives them (order, hidden tabs, characters XML escapes), and a file that is
    not a book is still a StoreError, not a traceback."""
    import pytest
    from openpyxl import Workbook, load_workbook

    from kouminrenkei_sheets.errors import StoreError
    from kouminrenkei_sheets.store.xlsx import XlsxStore

    wb = Workbook()
    wb.active.title = "提案"
    for name in ("R&D <課>", "'引用'", "_sync", "照会"):
        wb.create_sheet(name)
    wb["_sync"].sheet_state = "hidden"
    path = tmp_path / "register.xlsx"
    wb.save(path)
    store = XlsxStore(path, base_dir=tmp_path)
    assert store.sheet_names(None) == load_workbook(path, read_only=True).sheetnames
    path.write_bytes(b"not a zip")
    with pytest.raises(StoreError):
        store.sheet_names(None)


# ---------------------------------------------------------------- reading ahead
def _two_books(tmp_path: Any) -> tuple[Any, list[Any]]:
    from openpyxl import Workbook

    from kouminrenkei_sheets.store.base import SheetRef
    from kouminrenkei_sheets.store.xlsx import XlsxStore

    for name, rows in (("register.xlsx", 3), ("dept.xlsx", 2)):
        wb = Workbook()
        wb.active.title = "提案"
        wb.active.append(["提案ID", "件名"])
        for i in range(1, rows + 1):
            wb.active.append([f"R7-{i:04d}", f"{name}の件名{i}"])
        wb.create_sheet("照会").append(["照会ID", "回答"])
        wb["照会"].append(["R7-0001-01", "連携可"])
        wb.save(tmp_path / name)
    store = XlsxStore(tmp_path / "register.xlsx", base_dir=tmp_path)
    refs = [SheetRef("提案"), SheetRef("照会"), SheetRef("提案", "dept.xlsx"), SheetRef("無いタブ", "dept.xlsx")]
    return store, refs


def _shown(table: Any) -> Any:
    return None if table is None else (table.headers, [(r.number, r.values) for r in table.rows])


def test_reading_ahead_gives_what_openpyxl_reads_and_stops_its_thread(tmp_path: Any) -> None:
    """Tabs of two books taken in any order are those openpyxl reads; a tab the book lacks is None;
    once closed, no reading thread is left behind."""
    import threading

    store, refs = _two_books(tmp_path)
    expected = {
        r: _shown(t)
        for b in (None, "dept.xlsx")
        for r, t in store._read_openpyxl(b, [x for x in refs if x.book == b]).items()
    }
    with store.read_ahead(refs) as reading:
        got = {r: _shown(reading.get(r)) for r in reversed(refs)}
        assert reading.get(refs[0]) is reading.get(refs[0])  # (made once)
    assert got == expected and got[refs[3]] is None and len(got[refs[2]][1]) == 2
    assert not [t for t in threading.enumerate() if t.name == "kouminrenkei-read"]


def test_a_book_calamine_rejects_midway_is_read_with_openpyxl(tmp_path: Any, monkeypatch: Any) -> None:
    """calamine fails on the register's second tab: that tab and the rest of the book come from openpyxl,
    the tab already parsed stays as calamine read it, and the other book is not affected."""
    import kouminrenkei_sheets.store.xlsx as xlsx

    store, refs = _two_books(tmp_path)
    expected = {
        r: _shown(t)
        for b in (None, "dept.xlsx")
        for r, t in store._read_openpyxl(b, [x for x in refs if x.book == b]).items()
    }
    real = xlsx.CalamineWorkbook
    fell_back: list[Any] = []

    class Picky:
        def __init__(self, book: Any) -> None:
            self._book = book
            self.sheets_metadata = book.sheets_metadata

        @classmethod
        def from_path(cls, path: str) -> Any:
            return cls(real.from_path(path))

        @classmethod
        def from_filelike(cls, f: Any) -> Any:
            return cls(real.from_filelike(f))

        def get_sheet_by_name(self, name: str) -> Any:
            if name == "照会":
                raise ValueError("calamine: unsupported cell")
            return self._book.get_sheet_by_name(name)

        def close(self) -> None:
            self._book.close()

    original = store._read_openpyxl
    monkeypatch.setattr(xlsx, "CalamineWorkbook", Picky)
    monkeypatch.setattr(
        store, "_read_openpyxl", lambda book, wanted: fell_back.append((book, wanted)) or original(book, wanted)
    )
    assert {r: _shown(t) for r, t in store.read(refs).items()} == expected
    assert fell_back == [(None, [refs[1]])]
    fell_back.clear()
    with store.read_ahead(refs) as reading:  # (the same with calamine on a thread of its own)
        assert {r: _shown(reading.get(r)) for r in refs} == expected
    assert fell_back == [(None, [refs[1]])]


def test_a_missing_or_broken_book_is_its_own_tabs_error(tmp_path: Any) -> None:
    """One StoreError for the tabs of the book that cannot be read (in Japanese, naming the file), and
    the tabs of the other book as they are."""
    import pytest

    from kouminrenkei_sheets.errors import StoreError
    from kouminrenkei_sheets.store.base import SheetRef

    store, refs = _two_books(tmp_path)
    (tmp_path / "dept.xlsx").write_bytes(b"not a zip")
    gone = SheetRef("提案", "gone.xlsx")
    with store.read_ahead([*refs, gone]) as reading:
        with pytest.raises(StoreError, match=r"dept\.xlsx.*Excel ブック"):
            reading.get(refs[2])
        with pytest.raises(StoreError, match=r"gone\.xlsx.*見つかりません"):
            reading.get(gone)
        assert len(reading.get(refs[0]).rows) == 3  # type: ignore[union-attr]
    with pytest.raises(StoreError, match=r"dept\.xlsx"):
        store.read(refs)


def test_a_book_saved_anew_while_its_tabs_are_read_is_read_as_one_version(tmp_path: Any) -> None:
    """Someone saves the register (Excel writes a new file and renames it over the old one) after the
    first tab was taken: the other tabs of that reading are still the version the first came from, and
    the version the store remembers is that one (so a write that follows resolves against the new file)."""
    import os

    from openpyxl import load_workbook

    store, refs = _two_books(tmp_path)
    register = tmp_path / "register.xlsx"
    with store.read_ahead(refs[:2]) as reading:
        first = reading.get(refs[0])
        wb = load_workbook(register)
        wb["照会"]["B2"] = "連携不可"
        wb["提案"].append(["R7-0009", "あとから"])
        wb.save(tmp_path / "saved.xlsx")
        os.replace(tmp_path / "saved.xlsx", register)
        second = reading.get(refs[1])
    assert first is not None and [r.get("提案ID") for r in first.rows] == ["R7-0001", "R7-0002", "R7-0003"]
    assert second is not None and [r.get("回答") for r in second.rows] == ["連携可"]
    assert store._read_tabs[(None, "照会")][0] != (register.stat().st_mtime_ns, register.stat().st_size)
    assert [r.get("回答") for r in store.read([refs[1]])[refs[1]].rows] == ["連携不可"]  # type: ignore[union-attr]


def test_what_the_xml_says_is_the_same_read_ahead_or_not(tmp_path: Any) -> None:
    """Error cells, formulas without a stored result and the tool's notes come from the worksheet's XML,
    which read_ahead looks at while it waits for calamine: the tables are those a plain read makes."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment

    from kouminrenkei_sheets.store.base import TOOL_AUTHOR, SheetRef
    from kouminrenkei_sheets.store.xlsx import XlsxStore
    from kouminrenkei_sheets.values import Unknown

    wb = Workbook()
    for n, name in enumerate(("提案", "照会", "観光課")):
        ws = wb.active if n == 0 else wb.create_sheet(name)
        ws.title = name
        ws.append(["ID", "件数", "備考"])
        for i in range(1, 30):
            ws.append([f"R7-{i:04d}", i, f"{name}{i}"])
        ws["B3"] = "=1+1"  # (openpyxl stores no result: unknown)
        ws["C4"] = "#N/A"  # (an error cell: openpyxl writes it as one)
        ws["A6"].comment = Comment("【エラー】確かめてください", TOOL_AUTHOR)
    path = tmp_path / "register.xlsx"
    wb.save(path)
    store = XlsxStore(path, base_dir=tmp_path)
    refs = [SheetRef("提案"), SheetRef("照会"), SheetRef("観光課")]

    def shown(t: Any) -> Any:
        return ([(r.number, r.values) for r in t.rows], t.marks)

    plain = {r: shown(t) for r, t in store.read(refs).items()}
    with store.read_ahead(refs) as reading:
        ahead = {r: shown(reading.get(r)) for r in reversed(refs)}
    assert ahead == plain
    rows, marks = plain[refs[2]]
    assert isinstance(rows[1][1]["件数"], Unknown) and isinstance(rows[2][1]["備考"], Unknown)
    assert marks == {(6, "ID"): "【エラー】確かめてください"}
