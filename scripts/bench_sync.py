"""Benchmark ``sync`` on .xlsx: 10,000 referrals over 30 department workbooks, 5% of the rows edited.

Measured in the same run, on the same files (each figure the median of --repeat runs, every run
starting from a copy of the same prepared folder), against the floors the job really has:
  floor (calamine)   python-calamine reads every cell of the tabs the sync reads (提案, 照会, 担当課,
                     _sync and each department's sheet) — what the store reads with;
  floor (planning)   the same sync planned on the same tables in memory (MemoryStore, dry run), less the
                     MemoryStore's read of them: no file read or written, only the merge itself — issue
                     16 counts it in the floor;
  floor (zip)        every workbook's zip rewritten entry by entry — the least a writer of them does;
  floor (stat)       a stat of every file — the least telling whether anything changed can cost;
  floor (load+save)  openpyxl loads and saves every workbook (what the store writes with, for reference);
  sync (dry run)     the same sync planned but not written (what reading and planning cost, for reference);
  sync (edits)       kouminrenkei sync after 5% of the referrals were edited (answers typed in the
                     department books, desk edits in the register: every workbook has something to write);
  sync (confirm)     the next sync: the books' versions were recorded after its own writes, so it
                     is quiet already (reads nothing, writes nothing);
  sync (quiet)       the one after: no book changed since → must read nothing and write no file.
Targets (issue 16): edits <= 2x (calamine + planning + zip), the ratio without planning printed beside
it; 30k referrals (--referrals 30000): the same; quiet <= 0.2 s; no edits write no file; the
sync's own peak memory <= 300 MiB (the sync with edits runs in a process of its own, as a scheduled
job does; its peak from getrusage, the interpreter and imports included).
Each line says met / MISSED; the exit code is 1 when a target is missed.

    python scripts/bench_sync.py [--referrals 10000] [--departments 30] [--edited 0.05] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

import openpyxl
from python_calamine import CalamineWorkbook

from kouminrenkei_sheets.config import Config, load_config
from kouminrenkei_sheets.departments import load_departments
from kouminrenkei_sheets.init import init_desk
from kouminrenkei_sheets.schema import (
    DEPARTMENTS,
    FIELDS,
    PROPOSALS,
    REFERRALS,
    SYNC_STATE,
    Answer,
    Direction,
    Method,
    Status,
)
from kouminrenkei_sheets.store.base import (
    AppendRows,
    CellValue,
    Change,
    RowKey,
    SetCell,
    SheetRef,
    Store,
    Table,
    header_key,
)
from kouminrenkei_sheets.store.factory import open_store
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.sync import sync
from kouminrenkei_sheets.values import proposal_id, referral_id

TODAY = date(2026, 3, 2)
BUREAUS = ("政策企画部", "総務部", "防災・危機管理部", "県民生活環境部", "福祉部", "保健医療部", "営業戦略部",
           "産業戦略部", "農林水産部", "土木部")  # fmt: skip


def seed(store: Store, referrals: int, departments: int, rng: random.Random) -> None:
    """A register with ``departments`` 課 and ``referrals`` referrals (about 2.5 per proposal)."""
    names = [f"{BUREAUS[i % len(BUREAUS)][:-1]}第{i + 1}課" for i in range(departments)]
    proposals: list[dict[str, CellValue]] = []
    rows: list[dict[str, CellValue]] = []
    n = 0
    while len(rows) < referrals:
        n += 1
        pid = proposal_id(2025, n)
        received = TODAY - timedelta(days=rng.randrange(300))
        fields = rng.sample(FIELDS, k=rng.choice((1, 2)))
        proposals.append(
            {
                "提案ID": pid,
                "受付日": received,
                "提案方向": Direction.PARTNER_TO_PREFECTURE,
                "提案種別": "フリー型",
                "提案者区分": "企業",
                "提案者名": f"株式会社サンプル{n:05d}",
                "担当者": "山田太郎",
                "件名": f"{fields[0]}に関する連携（{n}）",
                "概要": f"株式会社サンプル{n:05d}と県が{'・'.join(fields)}の分野で連携する。" * 2,
                "連携分野": "、".join(fields),
                "連携手法": rng.choice(Method.ALL),
                "ステータス": Status.REFERRED,
                "アイデア保護": rng.choice((None, None, None, "概要")),
            }
        )
        for b, to in enumerate(rng.sample(names, k=min(rng.choice((1, 2, 3, 4)), referrals - len(rows))), start=1):
            rows.append(
                {
                    "照会ID": referral_id(pid, b),
                    "提案ID": pid,
                    "照会先": to,
                    "照会日": received + timedelta(days=7),
                    "回答期限": received + timedelta(days=37),
                    "回答": Answer.NONE,
                }
            )
    store.apply(
        [
            AppendRows(SheetRef(DEPARTMENTS), tuple({"部局": "政策企画部", "課": name} for name in names)),
            AppendRows(SheetRef(PROPOSALS), tuple(proposals)),
            AppendRows(SheetRef(REFERRALS), tuple(rows)),
        ]
    )


def edit(config: Config, store: Store, share: float, rng: random.Random) -> int:
    """Edit ``share`` of the referral rows: 4 in 5 answered in the department book, 1 in 5 by the desk."""
    departments = load_departments(config, store)
    refs = [d.ref for d in departments.values()]
    tables = store.read(refs)
    changes: list[Change] = []
    all_rows = [(ref, row) for ref in refs for row in (tables[ref].rows if tables[ref] else [])]
    picked = rng.sample(all_rows, k=int(len(all_rows) * share))
    referrals = store.read([SheetRef(REFERRALS)])[SheetRef(REFERRALS)]
    assert referrals is not None
    for i, (ref, row) in enumerate(picked):
        at = RowKey("照会ID", str(row.get("照会ID")))
        if i % 5:
            answer = rng.choice((Answer.YES, Answer.NO, Answer.EXAMINING, Answer.DISCUSS))
            changes.append(SetCell(ref, at, "回答", answer))
            changes.append(SetCell(ref, at, "回答日", TODAY))
            changes.append(SetCell(ref, at, "回答理由・コメント", f"{answer}: 課内で検討した結果"))
        else:
            changes.append(SetCell(SheetRef(REFERRALS), at, "回答期限", TODAY + timedelta(days=30)))
    store.apply(changes)
    return len(picked)


def books(config: Config, store: Store) -> list[Path]:
    paths = [config.resolve(config.store.register)]
    for d in load_departments(config, store).values():
        assert d.ref.book is not None
        paths.append(config.resolve(d.ref.book))
    return paths


def floor_load_save(paths: list[Path], out: Path) -> None:
    out.mkdir(exist_ok=True)
    for i, p in enumerate(paths):
        wb = openpyxl.load_workbook(p)
        wb.save(out / f"{i}.xlsx")


def floor_load(paths: list[Path]) -> None:
    for p in paths:
        openpyxl.load_workbook(p).close()


def floor_read_only(paths: list[Path]) -> None:
    for p in paths:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
        for ws in wb.worksheets:
            for _ in ws.iter_rows(values_only=True):
                pass
        wb.close()


def floor_calamine(tabs: dict[Path, list[str]]) -> None:
    for p, names in tabs.items():
        wb = CalamineWorkbook.from_path(str(p))
        for name in names:
            wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        wb.close()


def read_tabs(config: Config, store: Store) -> dict[Path, list[str]]:
    """The tabs a sync reads, by file: the register's four and each department's sheet."""
    tabs = {config.resolve(config.store.register): [PROPOSALS, REFERRALS, DEPARTMENTS, SYNC_STATE]}
    for d in load_departments(config, store).values():
        assert d.ref.book is not None
        tabs.setdefault(config.resolve(d.ref.book), []).append(d.ref.sheet)
    return tabs


def planning_floor(folder: Path) -> float:
    """The sync's own work: the same desk's tables copied into a MemoryStore, then a dry-run sync
    there (it reads from memory and plans every write, writes nothing)."""
    config = load_config(folder / "kouminrenkei.toml")
    config.desk.actor = "bench"
    store = open_store(config)
    refs = [SheetRef(n) for n in store.sheet_names(None)] + [d.ref for d in load_departments(config, store).values()]
    memory = MemoryStore()
    for ref, table in store.read(refs).items():
        assert table is not None
        keys = [header_key(h) for h in table.headers]
        grid: list[list[CellValue]] = [list(table.headers)]
        for row in table.rows:
            grid.extend([] for _ in range(row.number - 1 - len(grid)))
            grid.append([row.values.get(k) for k in keys])
        memory.put_table(ref, grid, hidden=table.hidden)
    in_memory = dataclasses.replace(config, store=dataclasses.replace(config.store, backend="memory"))
    del store
    planned = timed(lambda: sync(in_memory, memory, dry_run=True))
    # (less what the MemoryStore's own read of those tables costs: that is not the merge)
    register = [SheetRef(PROPOSALS), SheetRef(REFERRALS), SheetRef(DEPARTMENTS), SheetRef(SYNC_STATE)]
    tabs = register + [d.ref for d in load_departments(in_memory, memory).values()]
    return max(0.0, planned - timed(lambda: memory.read(tabs)))


def floor_zip(paths: list[Path], out: Path) -> None:
    out.mkdir(exist_ok=True)
    for i, p in enumerate(paths):
        with zipfile.ZipFile(p) as src, zipfile.ZipFile(out / f"z{i}.xlsx", "w", zipfile.ZIP_DEFLATED) as dst:
            for item in src.infolist():
                dst.writestr(item, src.read(item.filename))


def floor_stat(paths: list[Path]) -> None:
    for p in paths:
        os.stat(p)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


CHILD = """
import json, resource, sys, time
from pathlib import Path
from kouminrenkei_sheets.config import load_config
from kouminrenkei_sheets.store.factory import open_store
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.sync import sync
config = load_config(Path(sys.argv[1]) / "kouminrenkei.toml")
config.desk.actor = "bench"
store = open_store(config)
start = time.perf_counter()
sync(config, store, dry_run=sys.argv[2] == "dry")
seconds = time.perf_counter() - start
try:  # (Linux: this process's own peak; getrusage would count the parent's, inherited through exec)
    peak = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
except (OSError, IndexError, ValueError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps([seconds, peak]))
"""


def sync_in_child(folder: Path, *, dry_run: bool = False) -> tuple[float, float]:
    """The sync with edits in a process of its own, as a scheduled job runs it: its time (imports
    left out) and its peak memory (imports included), not inflated by preparing the desk here."""
    how = "dry" if dry_run else "write"
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), how], capture_output=True, text=True, check=True)
    seconds, peak = json.loads(done.stdout.strip().splitlines()[-1])
    return float(seconds), float(peak)


def small_edit(config: Config, store: Store, step: str) -> tuple[str | None, list[str | None], list[Path], float]:
    """One person's edit, then a sync timed: "one", an answer saved in the first department's book;
    "desk", a proposal's 件名 changed in the register. The department book edited (None: only the
    register), the books the sync read, the files it wrote, its time."""
    departments = list(load_departments(config, store).values())
    saved = departments[0].ref.book if step == "one" else None
    if step == "one":
        ref = departments[0].ref
        table = store.read([ref])[ref]
        assert table is not None and table.rows
        at = RowKey("照会ID", str(table.rows[0].get("照会ID")))
        store.apply([SetCell(ref, at, "回答理由・コメント", "一件だけの入力")])
    else:
        proposals = store.read([SheetRef(PROPOSALS)])[SheetRef(PROPOSALS)]
        assert proposals is not None and proposals.rows
        at = RowKey("提案ID", str(proposals.rows[0].get("提案ID")))
        store.apply([SetCell(SheetRef(PROPOSALS), at, "件名", "件名を直した")])
    files = books(config, store)
    before = mtimes(files)
    read: list[str | None] = []
    inner = store.read

    def counted(refs: Sequence[SheetRef]) -> dict[SheetRef, Table | None]:
        read.extend(r.book for r in refs if r.book not in read)
        return inner(refs)

    store.read = counted  # type: ignore[method-assign]
    try:
        seconds = timed(lambda: sync(config, store))
    finally:
        del store.read  # (the method again)
    return saved, read, [p for p, t in mtimes(files).items() if before[p] != t], seconds


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def mtimes(paths: list[Path]) -> dict[Path, int]:
    return {p: os.stat(p).st_mtime_ns for p in paths}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--referrals", type=int, default=10_000)
    parser.add_argument("--departments", type=int, default=30)
    parser.add_argument("--edited", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="keep the prepared desk in this folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    prepared = args.keep or work / "prepared"
    try:
        rng = random.Random(11)
        init_desk(prepared, departments="books")
        config = load_config(prepared / "kouminrenkei.toml")
        config.desk.actor = "bench"
        store = open_store(config)
        seed(store, args.referrals, args.departments, rng)
        first = timed(lambda: sync(config, store))
        edited = edit(config, store, args.edited, rng)
        paths = [p.relative_to(prepared) for p in books(config, store)]
        size = sum((prepared / p).stat().st_size for p in paths)
        print(f"{args.referrals} referrals over {args.departments} department workbooks "
              f"({size / 1e6:.1f} MB in {len(paths)} files); first sync (creates the books) {first:.2f}s; "
              f"{edited} rows edited")  # fmt: skip

        keys = ("calamine", "planning", "zip", "stat", "load+save", "dry", "edits", "confirm", "quiet", "memory",
                "one", "one floor", "desk", "desk floor")  # fmt: skip
        figures: dict[str, list[float]] = {k: [] for k in keys}
        files_read: dict[str, int] = {}
        files_written: dict[str, int] = {}
        written: list[int] = []
        for i in range(args.repeat):
            run = work / f"run{i}"
            shutil.copytree(prepared, run)
            files = [run / p for p in paths]
            tabs = {run / p.relative_to(prepared): names for p, names in read_tabs(config, store).items()}
            figures["calamine"].append(timed(lambda tabs=tabs: floor_calamine(tabs)))
            figures["planning"].append(planning_floor(run))
            figures["zip"].append(timed(lambda files=files, i=i: floor_zip(files, work / f"zip{i}")))
            figures["stat"].append(timed(lambda files=files: floor_stat(files)))
            figures["load+save"].append(timed(lambda files=files, i=i: floor_load_save(files, work / f"out{i}")))
            cfg = load_config(run / "kouminrenkei.toml")
            cfg.desk.actor = "bench"
            st = open_store(cfg)
            before = mtimes(files)
            figures["dry"].append(sync_in_child(run, dry_run=True)[0])
            seconds, peak = sync_in_child(run)
            figures["edits"].append(seconds)
            figures["memory"].append(peak)
            written.append(sum(1 for p, t in mtimes(files).items() if before[p] != t))
            for step in ("confirm", "quiet"):
                before = mtimes(files)
                result = None

                def again(cfg: Config = cfg, st: Store = st) -> None:
                    nonlocal result
                    result = sync(cfg, st)

                figures[step].append(timed(again))
                assert result is not None and not result.changes and not result.files_written
                if mtimes(files) != before:
                    print(f"FAIL: the sync with no edits ({step}) wrote a file")
                    return 1
                if step == "quiet" and not result.unchanged:
                    print("FAIL: the second sync with no edits still read the books")
                    return 1
            register_path = cfg.resolve(cfg.store.register)
            for step in ("one", "desk"):
                saved, read, wrote, seconds = small_edit(cfg, st, step)
                want = {register_path} | ({cfg.resolve(saved)} if saved is not None else set())
                got = {register_path if b is None else cfg.resolve(b) for b in read}
                if got != want:
                    print(f"FAIL: the sync after one {step} edit read {len(got)} files: {sorted(map(str, got))}")
                    return 1
                floor_tabs = {p: tabs[p] for p in got}
                figures[step].append(seconds)
                figures[step + " floor"].append(
                    timed(lambda t=floor_tabs: floor_calamine(t))
                    + timed(lambda w=wrote, i=i, step=step: floor_zip(w, work / f"{step}{i}"))
                )
                files_read[step], files_written[step] = len(got), len(wrote)
            shutil.rmtree(run)

        med = {k: statistics.median(v) for k, v in figures.items()}
        floor_io = med["calamine"] + med["zip"]
        floor_edits = floor_io + med["planning"]
        edits_ok = med["edits"] <= 2 * floor_edits
        quiet_ok = med["quiet"] <= 0.2
        memory_ok = max(figures["memory"]) <= 300
        print(f"floor: calamine read of the tabs sync reads {med['calamine']:7.2f}s ({len(paths)} workbooks)")
        print(f"floor: planning (the same sync in memory)   {med['planning']:7.2f}s")
        print(f"floor: zip rewrite of all                   {med['zip']:7.2f}s")
        print(f"floor: stat of all                          {med['stat'] * 1000:7.2f}ms")
        print(f"(openpyxl load+save of all, for reference)  {med['load+save']:7.2f}s")
        print(f"sync with {args.edited:.0%} of rows edited              {med['edits']:7.2f}s  "
              f"= {med['edits'] / floor_edits:.2f}x (calamine + planning + zip), target <= 2x: "
              f"{verdict(edits_ok)}; {max(written)} of {len(paths)} files written")  # fmt: skip
        print(f"  (the same against calamine + zip alone, no planning: {med['edits'] / floor_io:.2f}x; "
              f"beyond the floors: {med['edits'] - floor_edits:.2f}s)")  # fmt: skip
        print(f"(sync --dry-run: reads and plans, no write) {med['dry']:7.2f}s; the writing itself "
              f"{med['edits'] - med['dry']:.2f}s = {(med['edits'] - med['dry']) / med['zip']:.2f}x zip")  # fmt: skip
        print(f"sync right after it (no edits)             {med['confirm'] * 1000:7.1f}ms "
              f"= {med['confirm'] / med['calamine']:.4f}x calamine; no file written")  # fmt: skip
        print(f"sync with no edits since (quiet)            {med['quiet'] * 1000:7.1f}ms "
              f"= {med['quiet'] / max(med['stat'], 1e-9):.0f}x stat, target <= 200 ms: {verdict(quiet_ok)}; "
              f"nothing read, no file written")  # fmt: skip
        small_ok = {}
        small = (("one", "one answer typed in one department book"), ("desk", "one 件名 changed by the desk"))
        for step, what in small:
            floor = med[step + " floor"] + med["planning"]
            small_ok[step] = med[step] <= 2 * floor
            print(f"sync after {what}: {med[step]:.2f}s = {med[step] / floor:.2f}x (calamine of the "
                  f"{files_read[step]} files read + planning + zip of the {files_written[step]} written), "
                  f"target <= 2x: {verdict(small_ok[step])}; {files_read[step]} of {len(paths)} files read "
                  f"(only the changed ones: met)")  # fmt: skip
        print(f"peak memory of the sync with edits          {max(figures['memory']):7.0f} MiB, "
              f"target <= 300 MiB: {verdict(memory_ok)}")  # fmt: skip
        print(f"peak memory of the whole benchmark          {peak_mib():7.0f} MiB (preparing the desk, floors)")
        ok = edits_ok and quiet_ok and memory_ok and all(small_ok.values())
        print("targets met" if ok else "TARGET MISSED")
        return 0 if ok else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
