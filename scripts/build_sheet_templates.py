"""Rebuild the ready-made .xlsx templates in sheet_templates/ from schema.py.

Run after changing the schema: ``python scripts/build_sheet_templates.py``. A test fails when the
committed templates drift from the schema.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kouminrenkei_sheets.schema import DEPARTMENT_TEMPLATE, REGISTER_SHEETS, department_sheet_named
from kouminrenkei_sheets.store.xlsx import TEMPLATE_NAMES, save_template

OUT = Path(__file__).resolve().parents[1] / "sheet_templates"


def main(out: Path = OUT) -> int:
    out.mkdir(parents=True, exist_ok=True)
    register, department = TEMPLATE_NAMES
    save_template(out / register, REGISTER_SHEETS)
    save_template(out / department, [department_sheet_named(DEPARTMENT_TEMPLATE)])
    print(f"テンプレートを更新しました: {out / register}, {out / department}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
