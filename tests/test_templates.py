"""The shipped .xlsx templates are what schema.py says (rebuild with scripts/build_sheet_templates.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl

from kouminrenkei_sheets.schema import CHOICE_LISTS, CHOICES, DEPARTMENT_SHEET, REGISTER_SHEETS

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "sheet_templates"


def summary(path: Path) -> dict[str, Any]:
    """What matters in a template: tabs, headers, widths, formats, dropdowns, protection, frozen panes."""
    wb = openpyxl.load_workbook(path)
    out: dict[str, Any] = {}
    for ws in wb.worksheets:
        out[ws.title] = {
            "headers": [c.value for c in ws[1]],
            "widths": {k: d.width for k, d in sorted(ws.column_dimensions.items())},
            "formats": {k: d.number_format for k, d in sorted(ws.column_dimensions.items())},
            "locked": {k: d.protection.locked for k, d in sorted(ws.column_dimensions.items())},
            "validations": sorted((str(dv.sqref), dv.formula1) for dv in ws.data_validations.dataValidation),
            "protected": bool(ws.protection.sheet),
            "freeze": ws.freeze_panes,
            "state": ws.sheet_state,
            "cells": [[c.value for c in row] for row in ws.iter_rows(min_row=2)] if ws.title == CHOICES else [],
        }
    return out


def test_templates_match_the_schema(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_sheet_templates.py"), str(tmp_path)], check=True,
                   capture_output=True)  # fmt: skip
    for name in ("register.xlsx", "department.xlsx"):
        assert summary(SHIPPED / name) == summary(tmp_path / name), (
            f"{name} が schema.py とずれています。python scripts/build_sheet_templates.py で作り直してください。"
        )


def test_register_template_has_every_sheet_and_column() -> None:
    wb = openpyxl.load_workbook(SHIPPED / "register.xlsx")
    assert wb.sheetnames == [s.name for s in REGISTER_SHEETS]
    for sheet in REGISTER_SHEETS:
        assert [c.value for c in wb[sheet.name][1]] == sheet.headers
    choices = wb[CHOICES]
    for i, (name, values) in enumerate(CHOICE_LISTS.items(), start=1):
        column = [choices.cell(row=r, column=i).value for r in range(1, len(values) + 2)]
        assert column == [name, *values]


def test_department_template_locks_desk_columns_only() -> None:
    ws = openpyxl.load_workbook(SHIPPED / "department.xlsx").worksheets[0]
    assert ws.protection.sheet
    for i, column in enumerate(DEPARTMENT_SHEET.columns, start=1):
        letter = openpyxl.utils.get_column_letter(i)
        assert ws.column_dimensions[letter].protection.locked is (column.owner.value == "desk"), column.name


def test_register_dropdowns_point_at_the_choice_sheet() -> None:
    ws = openpyxl.load_workbook(SHIPPED / "register.xlsx")["提案"]
    formulas = {dv.formula1 for dv in ws.data_validations.dataValidation}
    assert any(f.startswith("選択肢!$") for f in formulas)
    assert ws.freeze_panes == "B2"
    header = [c.value for c in ws[1]]
    date_col = openpyxl.utils.get_column_letter(header.index("受付日") + 1)
    assert ws.column_dimensions[date_col].number_format == "yyyy/m/d"
