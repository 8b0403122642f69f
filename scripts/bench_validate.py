"""Benchmark ``validate`` on a growing register: 1,000 / 10,000 / 30,000 referrals (a third as many
proposals) in one .xlsx with 40 department tabs, against the floor the job really has.

Measured for each size, in a fresh process (so that its peak memory is its own), medians of ``--repeat``
after one untimed run of each:
  floor     calamine reading every tab validate reads, nothing else (the compiled reader the store uses),
            one tab after another and with its parse on a thread of its own (which it lets the
            interpreter run beside, as the store reads): the faster of the two;
  read      the store's read of the same tabs (calamine plus turning cells into tables);
  validate  ``validate --no-write-back`` end to end, and once more with write-back over an unchanged
            register (which must write nothing);
  peer      frictionless validating the same tables exported to CSV with an equivalent schema (types,
            required, enums, ID patterns, unique keys, the 照会 → 提案 foreign key). It cannot express the
            和暦 dates, the desk's 選択肢 sheet, status and date-order rules or the near-duplicate 件名 check.
Wall times decide (CPU times are shown beside them: on a shared machine they show what the wall hides).
Targets (issue 16), at 10,000 referrals: validate ≤ 1.5x the floor; frictionless ≥ 2x validate's time;
linear to 30,000 (≤ 1.25x the time per referral at 10,000). Each printed with met / MISSED; exit 1 on a miss.

    python scripts/bench_validate.py [--sizes 1000,10000,30000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl

from kouminrenkei_sheets.config import config_from_dict
from kouminrenkei_sheets.schema import (
    CHOICE_LISTS,
    CHOICE_SHEET,
    CHOICES,
    DEPARTMENT_MASTER_SHEET,
    DEPARTMENT_SHEET,
    DEPARTMENTS,
    EXCHANGES,
    FINDINGS,
    FINDINGS_SHEET,
    MUNICIPALITIES,
    PROPOSAL_SHEET,
    PROPOSALS,
    REFERRAL_SHEET,
    REFERRALS,
    SHEETS,
    Answer,
    Direction,
    Method,
    Status,
    ValueType,
)
from kouminrenkei_sheets.store.base import SheetRef
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
TARGET_FLOOR = 1.5  # validate / calamine floor, at most
TARGET_PEER = 2.0  # frictionless / validate, at least
TARGET_LINEAR = 1.25  # time per referral at the largest size / at the target size, at most


CPU: dict[str, float] = {}  # the median CPU time of each measurement, beside its wall time


def timed_in_turn(
    jobs: dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]], repeat: int
) -> dict[str, tuple[float, Any]]:
    """The median wall time of ``repeat`` runs of each job (the median CPU time to ``CPU[name]``: on a
    machine shared with other work it shows what the wall time hides), the jobs taking turns (floor,
    read, validate, floor, read …): a machine whose speed drifts while the benchmark runs (shared,
    throttled) slows the floor and the job alike. Each job is ``(run, summary)``: only the summary of
    its last result is kept, so no job runs beside another's tables."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    cpu: dict[str, list[float]] = {name: [] for name in jobs}
    summaries: dict[str, Any] = {}
    for _ in range(max(1, repeat)):
        for name, (func, summary) in jobs.items():
            t0, c0 = time.perf_counter(), time.process_time()
            result = func()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            summaries[name] = summary(result)
            del result
    for name in jobs:
        CPU[name] = statistics.median(cpu[name])
    return {name: (statistics.median(times[name]), summaries[name]) for name in jobs}


def validated_sheets(store: XlsxStore) -> list[str]:
    """The tabs ``validate --no-write-back`` reads (see validate._Run.read): the register's own that it
    checks and every department tab (not 検証結果, which only a write-back reads, nor 変更履歴)."""
    names = store.sheet_names(None)
    checked = {PROPOSALS, REFERRALS, EXCHANGES, DEPARTMENTS, CHOICES}
    return [n for n in names if n in checked or (n not in SHEETS and not n.startswith("_"))]


def calamine_floor(path: Path, sheets: list[str]) -> int:
    """Every cell of these tabs through calamine, nothing else: what any reader of the book must do."""
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    cells = 0
    try:
        for name in sheets:
            for row in wb.get_sheet_by_name(name).to_python(skip_empty_area=False):
                cells += len(row)
    finally:
        wb.close()
    return cells


def calamine_floor_overlapped(path: Path, sheets: list[str]) -> int:
    """The same, as fast as calamine goes on this machine when its parse (compiled, the interpreter let
    go) runs on a thread of its own while this one turns the parsed tabs into Python values: the way
    the store reads. The floor is the faster of the two, so overlapping is not counted as the job's gain."""
    import queue
    import threading

    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    parsed: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def parse_all() -> None:
        for name in sheets:
            parsed.put(wb.get_sheet_by_name(name))

    thread = threading.Thread(target=parse_all)
    thread.start()
    cells = 0
    try:
        for _ in sheets:
            for row in parsed.get().to_python(skip_empty_area=False):
                cells += len(row)
    finally:
        thread.join()
        wb.close()
    return cells


def prepare(folder: Path, referrals: int, seed: int) -> Path:
    """The register and its CSV export for one size (kept and reused when ``folder`` already has them)."""
    folder.mkdir(parents=True, exist_ok=True)
    register, descriptor = folder / "register.xlsx", folder / "datapackage.json"
    if not (register.is_file() and descriptor.is_file()):
        data = make_data(max(1, referrals // 3), referrals, seed)
        write_xlsx(register, data)
        descriptor.write_text(json.dumps(write_csv_package(folder, data), ensure_ascii=False), encoding="utf-8")
    return folder


def measure(folder: Path, repeat: int, with_peer: bool) -> dict[str, Any]:
    """One size, in this process: every time (medians), the findings and this process's peak memory."""
    register = folder / "register.xlsx"
    config = config_from_dict({"store": {"backend": "xlsx", "register": str(register)}}, base_dir=folder)
    store = XlsxStore(register, base_dir=folder)
    sheets = validated_sheets(store)
    out: dict[str, Any] = {"size_mb": register.stat().st_size / 1e6, "tabs": len(sheets)}
    calamine_floor(register, sheets)  # one untimed run of each (imports, first-call set-up)
    validate(config, store, write_back=False, today=TODAY)
    calamine_floor_overlapped(register, sheets)
    refs = [SheetRef(n) for n in sheets]
    jobs: dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]] = {
        "floor": (lambda: calamine_floor(register, sheets), lambda cells: cells),
        "floor_overlap": (lambda: calamine_floor_overlapped(register, sheets), lambda cells: cells),
        "read": (
            lambda: store.read(refs),
            lambda tables: {name: len(tables[SheetRef(name)].rows) for name in (PROPOSALS, REFERRALS)},
        ),
        "validate": (lambda: validate(config, store, write_back=False, today=TODAY), lambda report: report.counts),
    }
    if with_peer:
        from frictionless import Package

        package = Package(json.loads((folder / "datapackage.json").read_text(encoding="utf-8")), basepath=str(folder))
        jobs["peer"] = (package.validate, lambda report: len(report.flatten(["type"])))
    got = timed_in_turn(jobs, repeat)
    out["floor_serial"], out["cells"] = got["floor"]
    out["floor_overlap"] = got["floor_overlap"][0]
    out["floor"] = min(out["floor_serial"], out["floor_overlap"])
    out["read"], out["rows"] = got["read"]
    out["validate"], out["counts"] = got["validate"]
    if with_peer:
        out["peer"], out["peer_errors"] = got["peer"]
    validate(config, store, write_back=True, today=TODAY)  # writes 検証結果 and the marks once
    saves = store.saves
    steady = (lambda: validate(config, store, write_back=True, today=TODAY), lambda report: bool(report.written))
    out["steady"], wrote = timed_in_turn({"steady": steady}, repeat)["steady"]
    out["steady_wrote"] = store.saves != saves or wrote
    out["cpu"] = dict(CPU)
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _line(what: str, seconds: float, cpu: float, rest: str = "") -> None:
    print(f"  {what:<50}{seconds:6.2f} s (cpu {cpu:5.2f} s) {rest}".rstrip())


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,30000", help="referrals per run, comma-separated")
    parser.add_argument("--target-size", type=int, default=10_000, help="the size the ratio targets are checked at")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is shown")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="keep (and reuse) the generated files in this folder")
    parser.add_argument("--skip-frictionless", action="store_true")
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)  # one size, in a child
    args = parser.parse_args(argv)

    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.repeat, not args.skip_frictionless)))
        return 0

    sizes = sorted({int(n) for n in args.sizes.split(",") if n.strip()})
    if args.target_size not in sizes:
        sizes = sorted({*sizes, args.target_size})
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-validate-"))
    results: dict[int, dict[str, Any]] = {}
    try:
        for n in sizes:
            t0 = time.perf_counter()
            folder = prepare(root / f"referrals-{n}", n, args.seed)
            built = time.perf_counter() - t0
            child = [sys.executable, __file__, "--measure", str(folder), "--repeat", str(args.repeat)]
            if args.skip_frictionless:
                child.append("--skip-frictionless")
            done = subprocess.run(child, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 2
            r = results[n] = json.loads(done.stdout.splitlines()[-1])
            print(
                f"{n:,} referrals ({r['rows'][PROPOSALS]:,} proposals, {r['tabs']} tabs, {r['cells']:,} cells, "
                f"register.xlsx {r['size_mb']:.1f} MB, prepared in {built:.1f} s), medians of {args.repeat}:"
            )
            floor, cpu = r["floor"], r["cpu"]
            _line("calamine read of the tabs validate reads", r["floor_serial"], cpu["floor"])
            _line("  the same, parse on a thread of its own", r["floor_overlap"], cpu["floor_overlap"])
            print(f"  {'floor: the faster of the two':<50}{floor:6.2f} s")
            _line(
                "the store's read of the same tabs (to tables)",
                r["read"],
                cpu["read"],
                f"= {r['read'] / floor:.2f}x the floor",
            )
            checks = r["validate"] - r["read"]
            _line(
                "validate --no-write-back",
                r["validate"],
                cpu["validate"],
                f"= {r['validate'] / floor:.2f}x the floor (checks after the read ≈ {checks:.2f} s) — {r['counts']}",
            )
            wrote = "— WROTE, must not" if r["steady_wrote"] else "(nothing written)"
            _line("validate, write-back over an unchanged register", r["steady"], cpu["steady"], wrote)
            if "peer" in r:
                ratio = r["peer"] / r["validate"]
                errors = r["peer_errors"]
                _line(
                    "peer: frictionless on the same data as CSV",
                    r["peer"],
                    cpu["peer"],
                    f"= {ratio:.2f}x validate's ({errors} errors)",
                )
            print(f"  {'peak memory of this size’s process':<50}{r['peak_mib']:6.0f} MiB")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    print(f"scaling (medians of {args.repeat}):")
    print("  referrals     floor     read  validate  validate per 1,000  validate cpu  peak MiB")
    for n, r in results.items():
        print(
            f"  {n:>9,} {r['floor']:8.2f}s {r['read']:7.2f}s {r['validate']:8.2f}s "
            f"{1000 * r['validate'] / n:17.3f}s {r['cpu']['validate']:12.2f}s {r['peak_mib']:9.0f}"
        )

    t = results[args.target_size]
    oks: list[bool] = []
    ratio = t["validate"] / t["floor"]
    oks.append(ratio <= TARGET_FLOOR)
    print(f"targets at {args.target_size:,} referrals:")
    cpu_ratio = t["cpu"]["validate"] / t["cpu"]["floor"]
    print(
        f"  validate / calamine floor: {ratio:.2f}x (target ≤ {TARGET_FLOOR}x): {_verdict(oks[-1])} "
        f"(in CPU time {cpu_ratio:.2f}x)"
    )
    if "peer" in t:
        peer = t["peer"] / t["validate"]
        oks.append(peer >= TARGET_PEER)
        print(
            f"  frictionless / validate (peer, CSV): {peer:.2f}x (target ≥ {TARGET_PEER}x): {_verdict(oks[-1])}\n"
            "    (frictionless cannot express the 和暦, 選択肢-sheet, status, date-order or near-duplicate 件名 rules)"
        )
    oks.append(not t["steady_wrote"])
    print(f"  write-back over an unchanged register writes nothing: {_verdict(oks[-1])}")
    biggest = max(results)
    if biggest > args.target_size:
        b = results[biggest]
        growth = (b["validate"] / biggest) / (t["validate"] / args.target_size)
        oks.append(growth <= TARGET_LINEAR)
        times, more = b["validate"] / t["validate"], biggest / args.target_size
        print(
            f"  linear to {biggest:,}: {times:.2f}x the time for {more:.1f}x the referrals = {growth:.2f}x "
            f"the time per referral (target ≤ {TARGET_LINEAR}x): {_verdict(oks[-1])}"
        )
    ok = all(oks)
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
