"""Benchmark ``validate`` on a big register: 10,000 proposals and 30,000 referrals in one .xlsx.

Measured in the same run, on the same data:
  (a) loading the workbook with openpyxl (read-only) and touching every cell — the floor for any
      tool that reads the file;
  (b) frictionless validating the same tables exported to CSV with an equivalent schema
      (types, required, enums, ID patterns, unique keys, the 照会 → 提案 foreign key).
Targets (issue 16): validate within 1.5x of the calamine read (a'), the reader the store uses, and at
least 2x faster than (b); met / MISSED per line, exit 1 on a miss; peak memory from getrusage.

    python scripts/bench_validate.py [--proposals 10000] [--referrals 30000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
from frictionless import Package

from kouminrenkei_sheets.config import config_from_dict
from kouminrenkei_sheets.schema import (
    CHOICE_LISTS,
    CHOICE_SHEET,
    CHOICES,
    DEPARTMENT_MASTER_SHEET,
    DEPARTMENT_SHEET,
    DEPARTMENTS,
    FINDINGS,
    FINDINGS_SHEET,
    MUNICIPALITIES,
    PROPOSAL_SHEET,
    PROPOSALS,
    REFERRAL_SHEET,
    REFERRALS,
    Answer,
    Direction,
    Method,
    Status,
    ValueType,
)
from kouminrenkei_sheets.store.base import SheetRef
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.store.xlsx import XlsxStore
from kouminrenkei_sheets.validate import validate
from kouminrenkei_sheets.values import fiscal_year, proposal_id, referral_id, to_wareki

TODAY = date(2026, 3, 1)
BUREAUS = ("政策企画部", "総務部", "防災・危機管理部", "県民生活環境部", "福祉部", "保健医療部", "営業戦略部",
           "産業戦略部", "農林水産部", "土木部", "教育庁")  # fmt: skip
WORDS = ("地域", "防災", "観光", "健康", "子育て", "環境", "農業", "DX", "見守り", "物流", "移住", "スポーツ",
         "文化", "食育", "脱炭素", "人材育成", "商店街", "キャッシュレス", "空き家", "交通")  # fmt: skip


# ---------------------------------------------------------------- the data
def make_data(n_proposals: int, n_referrals: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    departments = [
        {"部局": BUREAUS[i % len(BUREAUS)], "課": f"{WORDS[i % len(WORDS)]}推進第{i // len(WORDS) + 1}課",
         "連絡先メール": f"dept{i:02d}@pref.example.jp"}
        for i in range(40)
    ]  # fmt: skip
    names = [d["課"] for d in departments]
    partners = [f"株式会社サンプル{i:04d}" for i in range(2000)]
    counters: dict[int, int] = {}
    start = date(2023, 4, 1)
    span = (TODAY - start).days - 40
    receipts = sorted(start + timedelta(days=rng.randrange(span)) for _ in range(n_proposals))
    # referrals per proposal: n_referrals spread over the proposals, at least one each
    per = [1] * n_proposals
    for _ in range(n_referrals - n_proposals):
        per[rng.randrange(n_proposals)] += 1
    proposals: list[dict[str, Any]] = []
    referrals: list[dict[str, Any]] = []
    for i, received in enumerate(receipts):
        fy = fiscal_year(received)
        counters[fy] = counters.get(fy, 0) + 1
        pid = proposal_id(fy, counters[fy])
        fields = rng.sample(CHOICE_LISTS["連携分野"], k=rng.choice((1, 1, 2, 3)))
        method = rng.choice(Method.ALL)
        k = per[i]
        answers = [rng.choice(Answer.ALL) for _ in range(k)]
        if Answer.YES in answers:
            status = rng.choice((Status.COORDINATING, Status.IMPLEMENTING, Status.COMPLETED, Status.AGREED))
        elif all(a == Answer.NO for a in answers):
            status = Status.FAILED
        else:
            status = rng.choice((Status.REFERRED, Status.ON_HOLD))
        if status == Status.AGREED:
            method = rng.choice(Method.AGREEMENTS)
        title = "".join(rng.sample(WORDS, 3)) + f"に関する連携（その{i % 97 + 1}）"
        row: dict[str, Any] = {
            "提案ID": pid,
            "受付日": to_wareki(received) if i % 10 == 0 else datetime.combine(received, datetime.min.time()),
            "提案方向": Direction.PARTNER_TO_PREFECTURE,
            "提案種別": rng.choice(CHOICE_LISTS["提案種別"]),
            "提案者区分": "企業",
            "提案者名": rng.choice(partners),
            "法人番号": _corporate_number(rng),
            "所在地": f"茨城県水戸市笠原町{rng.randrange(1, 999)}番地",
            "代表者役職": "代表取締役",
            "代表者氏名": "山田 太郎",
            "担当者": "佐藤",
            "メール": f"contact{i}@example.co.jp",
            "電話": f"029-{rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}",
            "件名": title,
            "概要": f"{title}。" + "双方の強みを生かし、県内全域で取組を広げる。" * rng.randrange(1, 4),
            "連携分野": "、".join(fields),
            "連携手法": method,
            "関係市町村": "、".join(rng.sample(MUNICIPALITIES, k=rng.choice((0, 1, 2)))) or None,
            "ステータス": status,
            "公表": rng.choice(CHOICE_LISTS["公表"]),
        }
        if status in (Status.AGREED, Status.IMPLEMENTING, Status.COMPLETED):
            signed = received + timedelta(days=30)
            row["協定締結日"] = datetime.combine(signed, datetime.min.time())
            row["協定開始日"] = row["協定締結日"]
            row["協定終了日"] = datetime.combine(signed + timedelta(days=364), datetime.min.time())
        proposals.append(row)
        referred = received + timedelta(days=rng.randrange(1, 10))
        for j, answer in enumerate(answers, start=1):
            final = answer in Answer.FINAL
            referrals.append(
                {
                    "照会ID": referral_id(pid, j),
                    "提案ID": pid,
                    "照会先": rng.choice(names),
                    "照会日": datetime.combine(referred, datetime.min.time()),
                    # open referrals are not overdue, except some (a realistic few findings)
                    "回答期限": datetime.combine(
                        TODAY + timedelta(days=10) if rng.random() < 0.98 else referred + timedelta(days=30),
                        datetime.min.time(),
                    ),
                    "回答": answer,
                    "回答日": datetime.combine(referred + timedelta(days=20), datetime.min.time()) if final else None,
                    "回答理由・コメント": "既存事業と連携して実施可能" if final else None,
                    "先方担当者": "鈴木" if final else None,
                    "次回予定日": None,
                }
            )
    # a few mistakes of the usual kinds (about 0.5% of rows)
    for row in rng.sample(proposals, n_proposals // 200):
        row[rng.choice(["受付日", "連携手法", "メール"])] = rng.choice(["2025/13/1", "包括連携", "a@@b"])
    return {"departments": departments, "proposals": proposals, "referrals": referrals}


def _corporate_number(rng: random.Random) -> str:
    base = [rng.randint(0, 9) for _ in range(12)]
    total = sum(d * (1 if n % 2 else 2) for n, d in enumerate(reversed(base), start=1))
    return str(9 - total % 9) + "".join(map(str, base))


def write_xlsx(path: Path, data: dict[str, list[dict[str, Any]]]) -> None:
    """The register with its department tabs (departments = tabs).

    Written in openpyxl's normal mode, which stores text as shared strings the way Excel does
    (write-only mode writes inline strings, which read back several times slower than a real file).
    """
    wb = openpyxl.Workbook()
    wb.remove(wb.active)

    def sheet(name: str, headers: list[str], rows: list[dict[str, Any]]) -> None:
        ws = wb.create_sheet(name)
        ws.append(headers)
        for r in rows:
            ws.append([r.get(h) for h in headers])

    proposals = {p["提案ID"]: p for p in data["proposals"]}
    sheet(PROPOSALS, PROPOSAL_SHEET.headers, data["proposals"])
    sheet(REFERRALS, REFERRAL_SHEET.headers, data["referrals"])
    sheet(DEPARTMENTS, DEPARTMENT_MASTER_SHEET.headers, data["departments"])
    depth = max(len(v) for v in CHOICE_LISTS.values())
    choices = [{k: v[i] for k, v in CHOICE_LISTS.items() if i < len(v)} for i in range(depth)]
    sheet(CHOICES, CHOICE_SHEET.headers, choices)
    sheet(FINDINGS, FINDINGS_SHEET.headers, [])
    by_department: dict[str, list[dict[str, Any]]] = {}
    for r in data["referrals"]:
        p = proposals[r["提案ID"]]
        row = {c.name: (r if c.source[0] == REFERRALS else p).get(c.source[1])
               for c in DEPARTMENT_SHEET.columns if c.source}  # fmt: skip
        by_department.setdefault(r["照会先"], []).append(row)
    for d in data["departments"]:
        sheet(d["課"], DEPARTMENT_SHEET.headers, by_department.get(d["課"], []))
    wb.save(path)


# ---------------------------------------------------------------- (b) frictionless on CSV
_FRICTIONLESS_TYPES = {ValueType.DATE: "date", ValueType.DATETIME: "datetime"}
_ID_PATTERNS = {"提案ID": r"[MTSHR]\d{1,2}-\d{4,}", "照会ID": r"[MTSHR]\d{1,2}-\d{4,}-\d{2,}"}


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _schema(sheet: Any, *, key: str | None, only_department: bool = False) -> dict[str, Any]:
    fields = []
    for c in sheet.columns:
        field: dict[str, Any] = {"name": c.name, "type": _FRICTIONLESS_TYPES.get(c.type, "string")}
        constraints: dict[str, Any] = {"maxLength": 50_000} if field["type"] == "string" else {}
        if c.required and not only_department:
            constraints["required"] = True
        if c.type is ValueType.CHOICE and c.choices:
            constraints["enum"] = list(CHOICE_LISTS[c.choices])
        if c.type is ValueType.ID:
            constraints["pattern"] = _ID_PATTERNS[c.name]
        if c.type is ValueType.EMAIL:
            field["format"] = "email"
        if c.type is ValueType.CORPORATE_NUMBER:
            constraints["pattern"] = r"\d{13}"
        if c.type is ValueType.PHONE:
            constraints["pattern"] = r"0[\d-]{9,12}"
        if c.name == key:
            constraints["unique"] = True
        if constraints:
            field["constraints"] = constraints
        fields.append(field)
    return {"fields": fields}


def write_csv_package(folder: Path, data: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The same tables as CSV (ISO dates), and a data package descriptor with an equivalent schema."""
    department_rows: list[dict[str, Any]] = []
    proposals = {p["提案ID"]: p for p in data["proposals"]}
    for r in data["referrals"]:
        p = proposals[r["提案ID"]]
        department_rows.append({c.name: (r if c.source[0] == REFERRALS else p).get(c.source[1])
                                for c in DEPARTMENT_SHEET.columns if c.source})  # fmt: skip
    tables = [
        ("proposals", PROPOSAL_SHEET, data["proposals"]),
        ("referrals", REFERRAL_SHEET, data["referrals"]),
        ("department_sheets", DEPARTMENT_SHEET, department_rows),
    ]
    for name, sheet, rows in tables:
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(sheet.headers)
            for r in rows:
                w.writerow([_csv_value(r.get(h)) for h in sheet.headers])
    proposals_schema = _schema(PROPOSAL_SHEET, key="提案ID")
    proposals_schema["primaryKey"] = ["提案ID"]
    referrals_schema = _schema(REFERRAL_SHEET, key="照会ID")
    referrals_schema["foreignKeys"] = [
        {"fields": ["提案ID"], "reference": {"resource": "proposals", "fields": ["提案ID"]}}
    ]
    return {
        "name": "register",
        "resources": [
            {"name": "proposals", "path": "proposals.csv", "schema": proposals_schema},
            {"name": "referrals", "path": "referrals.csv", "schema": referrals_schema},
            {"name": "department_sheets", "path": "department_sheets.csv",
             "schema": _schema(DEPARTMENT_SHEET, key="照会ID", only_department=True)},
        ],
    }  # fmt: skip


# ---------------------------------------------------------------- timing
def timed(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median wall time of ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def load_only(path: Path) -> int:
    """(a): what any reader of the file must do: open it read-only and visit every cell."""
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    cells = 0
    try:
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                cells += len(row)
    finally:
        wb.close()
    return cells


def load_only_calamine(path: Path) -> int:
    """(a'): the same floor with calamine, the compiled reader the xlsx store uses."""
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    cells = 0
    try:
        for name in wb.sheet_names:
            for row in wb.get_sheet_by_name(name).to_python(skip_empty_area=False):
                cells += len(row)
    finally:
        wb.close()
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--proposals", type=int, default=10_000)
    parser.add_argument("--referrals", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated files in this folder")
    parser.add_argument("--skip-frictionless", action="store_true")
    args = parser.parse_args(argv)

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-validate-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        data = make_data(args.proposals, args.referrals, args.seed)
        register = folder / "register.xlsx"
        write_xlsx(register, data)
        descriptor = write_csv_package(folder, data)
        size = register.stat().st_size / 1e6
        print(f"data: {len(data['proposals']):,} proposals, {len(data['referrals']):,} referrals, "
              f"{len(data['departments'])} department tabs; register.xlsx {size:.1f} MB "
              f"(built in {time.perf_counter() - t0:.1f} s)")  # fmt: skip

        config = config_from_dict({"store": {"backend": "xlsx", "register": str(register)}}, base_dir=folder)
        store = XlsxStore(register, base_dir=folder)

        t_load, cells = timed(lambda: load_only(register), args.repeat)
        print(f"(a) openpyxl read-only load of every cell ({cells:,} cells): {t_load:.2f} s")
        t_fast, _ = timed(lambda: load_only_calamine(register), args.repeat)
        print(f"(a') calamine load of every cell (the store's reader): {t_fast:.2f} s")

        t_validate, report = timed(lambda: validate(config, store, write_back=False, today=TODAY), args.repeat)
        print(f"validate (--no-write-back): {t_validate:.2f} s — {report.counts}")

        validate(config, store, write_back=True, today=TODAY)  # writes 検証結果 and marks once
        saves = store.saves
        t_steady, again = timed(lambda: validate(config, store, write_back=True, today=TODAY), args.repeat)
        assert store.saves == saves and again.written == [], "an unchanged register must not be rewritten"
        print(f"validate (write-back, nothing changed → nothing written): {t_steady:.2f} s")

        # The checks alone: the same tables already in memory (MemoryStore), minus its copy-on-read.
        memory = MemoryStore()
        tables = store.read([SheetRef(n) for n in store.sheet_names(None)])
        for ref, table in tables.items():
            if table is not None:
                memory.put_table(ref, [table.headers, *([r.values.get(c) for c in table.columns] for r in table.rows)])
        mem_config = config_from_dict({"store": {"backend": "memory"}})
        t_mem, _ = timed(lambda: validate(mem_config, memory, write_back=False, today=TODAY), args.repeat)
        t_copy, _ = timed(lambda: memory.read(list(tables)), args.repeat)
        t_checks = max(t_mem - t_copy, 1e-9)
        print(f"validate's checks alone (tables already in memory): {t_checks:.2f} s")

        floor_ok = t_validate <= 1.5 * t_fast
        print(f"ratio validate / (a) openpyxl load only: {t_validate / t_load:.2f}x (for reference)")
        print(f"ratio validate with write-back check / (a'): {t_steady / t_fast:.2f}x")
        print(
            f"ratio validate / (a') calamine load only (the floor it has): {t_validate / t_fast:.2f}x "
            f"(target ≤ 1.5x): {'met' if floor_ok else 'MISSED'}"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory: {peak:.0f} MiB")
        fl_ok = True
        if not args.skip_frictionless:
            package = Package(descriptor, basepath=str(folder))
            t_fl, fl_report = timed(lambda: package.validate(), 1)
            print(f"(b) frictionless on the same data as CSV: {t_fl:.2f} s — "
                  f"{len(fl_report.flatten(['type']))} errors")  # fmt: skip
            fl_ok = t_fl >= 2 * t_validate
            print(
                f"ratio (b) frictionless / validate end to end: {t_fl / t_validate:.2f}x (target ≥ 2x): "
                f"{'met' if fl_ok else 'MISSED'} (frictionless cannot express the 和暦, 選択肢-sheet or "
                "near-duplicate 件名 rules)"
            )
            print(f"ratio (b) frictionless / validate's checks alone: {t_fl / t_checks:.1f}x")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    ok = floor_ok and fl_ok
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
