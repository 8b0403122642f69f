"""Benchmark ``intake`` into an .xlsx register whose 提案 tab holds many formatted, empty rows
(a desk's template with fills down to row N, nothing typed): two form answers imported.

    python scripts/bench_intake.py [--rows 100000] [--keep DIR]

Prints the seconds for building the register (not timed as intake), and for the intake itself.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import openpyxl
from openpyxl.styles import PatternFill

from kouminrenkei_sheets.config import config_from_dict
from kouminrenkei_sheets.intake import intake
from kouminrenkei_sheets.schema import PROPOSALS, REGISTER_SHEETS
from kouminrenkei_sheets.store.xlsx import XlsxStore

MAPPING = {"会社・団体名": "提案者名", "提案のタイトル": "件名", "提案の内容": "概要"}
FORM = (
    "タイムスタンプ,メールアドレス,会社・団体名,提案のタイトル,提案の内容\r\n"
    "2025/05/01 9:15:30,info@alpha.example.jp,アルファ株式会社,防災備蓄の共同実施,備蓄品の共同購入\r\n"
    "2025/05/02 10:00:00,npo@beta.example.org,NPO法人ベータ,子ども食堂の支援,週末の食事提供\r\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-intake-"))
    folder.mkdir(parents=True, exist_ok=True)
    register = folder / "register.xlsx"
    register.unlink(missing_ok=True)
    t0 = time.perf_counter()
    XlsxStore(register).create_book(None, REGISTER_SHEETS)
    wb = openpyxl.load_workbook(register)
    ws = wb[PROPOSALS]
    fill = PatternFill("solid", fgColor="FFFFCC")
    for r in range(2, args.rows + 2):
        ws.cell(r, 1).fill = fill
    wb.save(register)
    built = time.perf_counter() - t0
    (folder / "form.csv").write_bytes(FORM.encode("utf-8-sig"))
    config = config_from_dict({"store": {"backend": "xlsx"}, "intake": {"mapping": MAPPING}}, base_dir=folder)
    t1 = time.perf_counter()
    result = intake(config, XlsxStore(register), str(folder / "form.csv"), now=datetime(2025, 6, 1))
    took = time.perf_counter() - t1
    print(f"register with {args.rows:,} formatted empty rows in 提案: built in {built:.1f} s")
    print(f"intake of 2 answers: {took:.1f} s, imported {[a.proposal_id for a in result.imported]}")
    if args.keep is None:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
