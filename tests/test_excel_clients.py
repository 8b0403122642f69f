"""The books the tool writes, opened in a real spreadsheet program: LibreOffice Calc, headless.

A department person opens their book, types an answer into 回答 and 回答日 of a row the sync wrote,
saves; the next sync brings it into the register. Skipped (at once) where LibreOffice is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from kouminrenkei_sheets.schema import DEPARTMENT_TEMPLATE, REFERRALS
from kouminrenkei_sheets.store.base import SheetRef
from kouminrenkei_sheets.sync import sync
from test_files import _demo, _refer_and_sync

SOFFICE = shutil.which("soffice")
SCRIPT = Path(__file__).parent / "programs" / "libreoffice_type.py"

pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")


def _uno_python() -> str:
    """A Python that can import LibreOffice's uno module (python3-uno), else skip."""
    for candidate in (os.environ.get("KOUMINRENKEI_UNO_PYTHON"), "/usr/bin/python3", shutil.which("python3")):
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import uno"], capture_output=True, check=False)
            if probe.returncode == 0:
                return candidate
    pytest.skip("no Python with LibreOffice's uno module (apt-get install python3-uno)")


def _type_in_libreoffice(book: Path, key: str, typed: dict[str, str]) -> dict[str, object]:
    python = _uno_python()
    proc = subprocess.run(
        [python, str(SCRIPT), str(book), DEPARTMENT_TEMPLATE, key, json.dumps(typed, ensure_ascii=False)],
        capture_output=True,
        timeout=180,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")},
    )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-2000:]
    result: dict[str, object] = json.loads(proc.stdout.decode("utf-8").strip().splitlines()[-1])
    return result


@pytest.mark.skipif(sys.platform == "win32", reason="the helper starts soffice through a Unix pipe name")
def test_a_department_types_its_answer_in_libreoffice_and_sync_pulls_it(tmp_path: Path) -> None:
    desk = _demo(tmp_path / "desk")
    department = _refer_and_sync(desk)
    book = desk.store.path(f"departments/{department}.xlsx")
    ws = openpyxl.load_workbook(book)[DEPARTMENT_TEMPLATE]
    headers = {c.value: c.column for c in ws[1]}
    keys = [ws.cell(row=r, column=1).value for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=1).value]
    key = str(keys[-1])  # the row this sync has just written
    subject = ws.cell(row=len(keys) + 1, column=headers["件名"]).value

    typed = _type_in_libreoffice(book, key, {"回答": "検討中", "回答日": "2026-12-01", "件名": "勝手に変えた件名"})

    assert typed["protected"] is True
    assert typed["locked"] == {"回答": False, "回答日": False, "件名": True}
    # The answer cells took what was typed; the desk's 件名 refused it, as Calc refuses a keyboard.
    assert typed["typed"] == {"回答": "検討中", "回答日": "2026-12-01", "件名": subject}

    result = sync(desk.config, desk.store)
    assert result.conflicts == [] and result.skipped_busy == {}
    referrals = desk.store.read([SheetRef(REFERRALS)])[SheetRef(REFERRALS)]
    assert referrals is not None
    row = referrals.by_key("照会ID")[key]
    assert row.get("回答") == "検討中"
    answered = row.get("回答日")
    assert isinstance(answered, date)
    assert (answered.date() if isinstance(answered, datetime) else answered) == date(2026, 12, 1)
    # The book LibreOffice saved is still a protected department book the tool keeps in shape.
    ws = openpyxl.load_workbook(book)[DEPARTMENT_TEMPLATE]
    assert ws.protection.sheet
    headers = {c.value: c.column for c in ws[1]}
    for r in range(2, len(keys) + 2):
        assert ws.cell(row=r, column=headers["回答"]).protection.locked is False
        assert ws.cell(row=r, column=headers["件名"]).protection.locked is True
