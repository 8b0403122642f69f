"""The register as pandas DataFrames, for analysts in a notebook: 提案, 照会 and 変更履歴 typed.

``frames(config, store)`` reads the three tabs in one go and returns one DataFrame each: dates as
dates, the 年度 of every proposal and referral, choice columns as categories in the order of the
desk's 選択肢 tab (the schema's lists where it has none),
and — wherever a person typed something the parser could not read — what was typed, beside the
parsed value (column ``<列>（入力値）``), so nothing typed is hidden by the typing::

    from kouminrenkei_sheets import load_config, open_store
    from kouminrenkei_sheets.frames import frames
    f = frames(load_config(), open_store(load_config()))
    f["提案"].groupby("年度")["ステータス"].value_counts()

Read-only: no lock is taken and nothing is written. Personal columns are left out unless asked for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

import pandas as pd

from .config import Config
from .schema import (
    CHOICE_LISTS,
    CHOICES,
    HISTORY,
    HISTORY_SHEET,
    PROPOSAL_SHEET,
    PROPOSALS,
    REFERRAL_SHEET,
    REFERRALS,
    Column,
    Sheet,
    ValueType,
)
from .store.base import CellValue, SheetRef, Store, Table
from .values import (
    ValueProblem,
    date_or_none,
    display,
    fiscal_year,
    is_blank,
    match_choice,
    normalize_text,
    parse_date,
)
from .workflow import choice_list, proposal_fiscal_year

TYPED_SUFFIX = "（入力値）"  # beside a parsed column: the text a person typed where it could not be read
FISCAL_YEAR = "年度"


def frames(config: Config, store: Store, *, personal: bool = False) -> dict[str, pd.DataFrame]:
    """提案, 照会 and 変更履歴 as typed DataFrames (a tab missing from the register is an empty frame).

    ``personal`` keeps the personal columns (担当者, メール, 電話 …); they are left out by default so a
    notebook shared with colleagues does not carry them.
    """
    del config  # the register's place comes from the store; the config is the public signature's
    sheets = (PROPOSAL_SHEET, REFERRAL_SHEET, HISTORY_SHEET)
    tables = store.read([*(SheetRef(s.name) for s in sheets), SheetRef(CHOICES)])
    lists = _lists(tables.get(SheetRef(CHOICES)))
    out: dict[str, pd.DataFrame] = {}
    for sheet in sheets:
        out[sheet.name] = _frame(sheet, tables.get(SheetRef(sheet.name)), lists, personal=personal)
    return out


def proposal_frame(table: Table | None, choices: Table | None) -> pd.DataFrame:
    """提案 as :func:`frames` gives it (personal columns left out), from tables already read."""
    return _frame(PROPOSAL_SHEET, table, _lists(choices), personal=False)


def counts_by_year(
    frame: pd.DataFrame, column: str, *, blank: str, items: Callable[[str], Sequence[str]] | None = None
) -> dict[int, Counter[str]]:
    """Per 年度, how many proposals hold each value of ``column``: the choice where it matched, else
    what was typed (normalised), ``blank`` where empty. ``items`` splits a multi-choice cell (each item
    counted once per proposal; a blank cell counts nothing). Proposals whose 年度 is unknown are left out."""
    typed = column + TYPED_SUFFIX
    if items is None:
        label = frame[column].astype("object")
        if typed in frame:
            label = label.where(label.notna(), frame[typed].astype("object").map(normalize_text, na_action="ignore"))
        values = label.where(label.notna(), blank)
    else:
        values = frame[column].astype("object").map(lambda v: sorted(set(items(v))) if isinstance(v, str) else [])
    pairs = pd.DataFrame({"fy": frame[FISCAL_YEAR], "v": values}).dropna(subset=["fy"])
    if items is not None:
        pairs = pairs.explode("v").dropna(subset=["v"])
    out: dict[int, Counter[str]] = {}
    for key, n in pairs.groupby(["fy", "v"], sort=False).size().items():
        fy, value = cast(tuple[Any, Any], key)
        out.setdefault(int(fy), Counter())[str(value)] = int(n)
    return out


def _lists(choices: Table | None) -> dict[str, tuple[str, ...]]:
    """Every choice list in force: the desk's 選択肢 tab, the schema's where it lists none."""
    return {name: choice_list(choices, name, default) for name, default in CHOICE_LISTS.items()}


def _frame(sheet: Sheet, table: Table | None, lists: dict[str, tuple[str, ...]], *, personal: bool) -> pd.DataFrame:
    columns = [c for c in sheet.columns if personal or not c.personal]
    rows = table.rows if table is not None else []
    data: dict[str, object] = {"行": pd.Series([r.number for r in rows], dtype="Int64")}  # the sheet row
    for column in columns:
        raw = [r.get(column.name) for r in rows]
        parsed, typed = _parse(column, raw, lists)
        data[column.name] = parsed
        if typed is not None:
            data[column.name + TYPED_SUFFIX] = pd.Series(typed, dtype="string")
    frame = pd.DataFrame(data)
    if sheet.name == PROPOSALS:
        years = [proposal_fiscal_year(r.get("受付日"), r.get("提案ID")) for r in rows]
        frame.insert(1, FISCAL_YEAR, pd.Series(years, dtype="Int64"))
    elif sheet.name == REFERRALS:
        frame.insert(1, FISCAL_YEAR, pd.Series([_year(r.get("照会日")) for r in rows], dtype="Int64"))
    return frame


def _parse(
    column: Column, raw: Sequence[CellValue], lists: dict[str, tuple[str, ...]]
) -> tuple[Any, list[str | None] | None]:
    """A column's values as pandas holds them, and what was typed where that could not be read (or None)."""
    if column.type in (ValueType.DATE, ValueType.DATETIME):
        read = _date_stamp if column.type is ValueType.DATE else _timestamp
        values, typed = _convert(raw, read)
        return pd.Series(values, dtype="datetime64[s]"), typed
    if column.type is ValueType.CHOICE and column.choices in lists:
        choices = lists[column.choices]  # the desk's 選択肢 tab where it lists them
        values, typed = _convert(raw, lambda v: match_choice(v, choices))
        return pd.Series(values, dtype=pd.CategoricalDtype(list(choices))), typed
    if column.type is ValueType.NUMBER:
        values, typed = _convert(raw, lambda v: float(v) if isinstance(v, int | float) else float(display(v)))
        return pd.Series(values, dtype="Float64"), typed
    return pd.Series([None if is_blank(v) else display(v) for v in raw], dtype="string"), None


def _convert(
    raw: Sequence[CellValue], parse: Callable[[CellValue], object]
) -> tuple[list[object], list[str | None] | None]:
    values: list[object] = []
    typed: list[str | None] = []
    for v in raw:
        if is_blank(v):
            values.append(None)
            typed.append(None)
            continue
        try:
            values.append(parse(v))
            typed.append(None)
        except (ValueProblem, ValueError, TypeError):
            values.append(None)
            typed.append(display(v))
    return values, (typed if any(t is not None for t in typed) else None)


def _date_stamp(value: CellValue) -> pd.Timestamp:
    return pd.Timestamp(parse_date(value))


def _timestamp(value: CellValue) -> pd.Timestamp:
    if isinstance(value, datetime):
        return pd.Timestamp(value)
    stamp = pd.to_datetime(display(value), errors="raise")
    return pd.Timestamp(stamp)


def _year(value: CellValue) -> int | None:
    d = date_or_none(value)
    return fiscal_year(d) if d is not None else None


__all__ = [
    "FISCAL_YEAR",
    "HISTORY",
    "PROPOSALS",
    "REFERRALS",
    "TYPED_SUFFIX",
    "counts_by_year",
    "frames",
    "proposal_frame",
]
