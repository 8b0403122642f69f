"""validate's fast column paths (issue 16) give the findings of the paths they stand in for."""

from __future__ import annotations

import copy
import re
from datetime import date, datetime
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kouminrenkei_sheets import validate as validate_module
from kouminrenkei_sheets.schema import DEPARTMENT_SHEET, PROPOSAL_SHEET, PROPOSALS, REFERRAL_SHEET, REFERRALS
from kouminrenkei_sheets.store.base import SheetRef
from kouminrenkei_sheets.values import Unknown
from test_validate import DEPARTMENT_ROWS, TODAY, Grids, build_store, config, valid_grids

# Cells as people and programs leave them: blanks of every kind, full-width digits, numbers that are
# whole, bools (equal to 1 and 0), dates and datetimes, IDs and 和暦 as text, formulas' text, error values.
MESSY = st.sampled_from(
    [None, "", " ", "\u3000", "\u200b", "１２", "12", 12, 12.0, 1, 1.0, True, False, 0, 0.0, 2.5, float("nan"),
     date(2025, 4, 1), datetime(2025, 4, 1), datetime(2025, 4, 1, 9, 30), "2025/4/1", "令和7年4月1日", "R7.4.1",
     "R7-0001", "ｒ７－０００１", "R7-0001-01", "=SUM(A1:A3)", "+81 29 301 2523", "-", "@", "a@example.jp",
     "029-301-2523", "健康推進課", "承諾", "回答待ち", "Ⅱ期", "髙橋", "\x07ベル", Unknown("#N/A", "error"),
     Unknown("=TODAY()", "formula"), "本文\n=HYPERLINK(1)"]
)  # fmt: skip
_SHEETS = [(PROPOSALS, PROPOSAL_SHEET), (REFERRALS, REFERRAL_SHEET)]


@st.composite
def messy_registers(draw: st.DrawFn) -> Grids:
    grids = valid_grids()
    department = str(DEPARTMENT_ROWS[0]["課"])
    targets = [*_SHEETS, (department, DEPARTMENT_SHEET)]
    for _ in range(draw(st.integers(1, 12))):
        sheet, schema = draw(st.sampled_from(targets))
        g = grids[SheetRef(sheet)]
        column = draw(st.sampled_from(list(schema.headers)))
        row = draw(st.integers(2, max(2, len(g))))
        while len(g) < row:
            g.append([None] * len(g[0]))
        g[row - 1][g[0].index(column)] = draw(MESSY)
    return grids


def _findings(grids: Grids) -> list[tuple[Any, ...]]:
    report = validate_module.validate(config(), build_store(copy.deepcopy(grids)), today=TODAY, write_back=False)
    return [(f.code, f.sheet, f.row, f.column, f.key, f.value, f.message, f.severity) for f in report.findings]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_registers())
def test_columns_keyed_by_value_find_what_columns_keyed_by_type_and_value_find(grids: Grids) -> None:
    """A column whose kinds cannot be equal to each other is keyed by its values; keyed by (type, value)
    as every column once was, the findings are the same, sheet, row, column, value and message."""
    fast = _findings(grids)
    with mock.patch.object(validate_module, "_PLAIN_KINDS", frozenset()):
        assert _findings(grids) == fast


_OLD_SUSPECT_LINES = re.compile(
    "(?m)^[=+\\-@]|["
    + validate_module._CONTROL
    + re.escape(validate_module._PLATFORM_SYMBOLS)
    + re.escape(validate_module._PLATFORM_KANJI)
    + "]"
)


@given(st.lists(st.text(alphabet=st.sampled_from("ab =+-@\n\r\x07\x1f\x7fⅡ①髙﨑あ\u3000"), max_size=6), max_size=5))
def test_the_column_search_finds_what_the_one_pattern_found(texts: list[str]) -> None:
    joined = "\n".join(texts)
    fast = bool(validate_module._SUSPECT_CHARS.search(joined)) or validate_module._formula_line(joined)
    assert fast is (_OLD_SUSPECT_LINES.search(joined) is not None)
