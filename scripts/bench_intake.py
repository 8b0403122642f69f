"""Benchmark ``intake`` into an .xlsx register whose 提案 tab holds many formatted, empty rows
(a desk's template with fills down to row N, nothing typed): two form answers imported.

Measured in the same run, on the same register (each figure the median of --repeat runs, every run
on a fresh copy of the prepared register), against the floor the job really has:
  floor              python-calamine reads the register (what the store reads with) + openpyxl
                     loads and saves it once (what the store writes an .xlsx with);
  intake             kouminrenkei intake of the two answers.
Targets: intake <= 1.5x the floor, and linear in rows: the seconds per 1,000 formatted rows at
--rows must be at most 1.5x those at --rows / 10 (the quadratic scan issue 13 found took 2k rows
6 s, 10k 107 s, 100k > 600 s). Each line says met / MISSED; the exit code is 1 when one is missed.

    python scripts/bench_intake.py [--rows 100000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import openpyxl
from openpyxl.styles import PatternFill
from python_calamine import CalamineWorkbook

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


def build(folder: Path, rows: int) -> Path:
    """A register whose 提案 tab has ``rows`` filled, empty rows, and the form export beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    register = folder / "prepared.xlsx"
    XlsxStore(register).create_book(None, REGISTER_SHEETS)
    wb = openpyxl.load_workbook(register)
    ws = wb[PROPOSALS]
    fill = PatternFill("solid", fgColor="FFFFCC")
    for r in range(2, rows + 2):
        ws.cell(r, 1).fill = fill
    wb.save(register)
    (folder / "form.csv").write_bytes(FORM.encode("utf-8-sig"))
    return register


def median_time(prepared: Path, repeat: int, job: Callable[[Path], object]) -> float:
    times = []
    for _ in range(repeat):
        work = prepared.with_name("register.xlsx")
        shutil.copyfile(prepared, work)
        t = time.perf_counter()
        job(work)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def floor(path: Path) -> None:
    book = CalamineWorkbook.from_path(str(path))
    for name in book.sheet_names:
        book.get_sheet_by_name(name).to_python()
    openpyxl.load_workbook(path).save(path)


def measure(folder: Path, rows: int, repeat: int) -> tuple[float, float, list[str]]:
    prepared = build(folder, rows)
    config = config_from_dict({"store": {"backend": "xlsx"}, "intake": {"mapping": MAPPING}}, base_dir=folder)
    imported: list[str] = []

    def job(path: Path) -> None:
        result = intake(config, XlsxStore(path), str(folder / "form.csv"), now=datetime(2025, 6, 1))
        imported[:] = [a.proposal_id for a in result.imported]

    return median_time(prepared, repeat, floor), median_time(prepared, repeat, job), imported


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-intake-"))
    missed = False
    try:
        per_k: dict[int, float] = {}
        for rows in (max(args.rows // 10, 10), args.rows):
            base, took, imported = measure(folder / str(rows), rows, args.repeat)
            ratio = took / base
            per_k[rows] = took / rows * 1000
            ok = ratio <= 1.5 and imported == ["R7-0001", "R7-0002"]
            missed |= not ok
            print(
                f"{rows:>7,} formatted rows: floor (calamine + load/save) {base:6.2f} s, intake {took:6.2f} s "
                f"= {ratio:.2f}x, target <= 1.5x: {verdict(ok)} (imported {', '.join(imported) or 'nothing'})"
            )
        small, large = sorted(per_k)
        growth = per_k[large] / per_k[small]
        ok = growth <= 1.5
        missed |= not ok
        print(
            f"scaling: {per_k[small]:.3f} s per 1,000 rows at {small:,}, {per_k[large]:.3f} s at {large:,} "
            f"= {growth:.2f}x, target <= 1.5x (linear): {verdict(ok)}"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(folder)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
