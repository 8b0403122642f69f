"""Benchmark the gsheets backend: sync of 10,000 referrals over 30 department spreadsheets, 100 ms a call.

Runs against the local fake of the Sheets/Drive APIs (tests/fakes/google_api.py) in its own process,
with a latency added to every request, through the real gspread and google-auth code. In the same run:

  (a) the minimum: one values:batchGet for every spreadsheet the sync reads and one values:batchUpdate
      for every spreadsheet it writes, sent with bare gspread calls 8 at a time (the floor for any tool);
  (b) ``sync``: requests by endpoint and per spreadsheet, and wall time, when 5% of the department rows
      were edited (answers pulled into 照会, desk-owned cells put back), then with no edits;
  (c) targets, exit 1 on a miss: in the 5%-edited sync at most 2 reads + 1 write for the register
      (the lock's claim and release printed apart: Sheets has no compare-and-set to fold them into)
      and for the worst department spreadsheet (issue 16); a quiet sync (nothing changed since the
      last one) <= 2 requests, whatever the number of departments (try --departments 100), and the
      one after it 1 (Drive's version of the register then vouches for it);
  (d) one person's edit since (typed as a person, not through the tool's account): the desk's 件名 in
      the register, then one answer in a department spreadsheet: no spreadsheet is read that nobody
      saved, except those the last sync wrote (Drive cannot tell our write from a person's), and each
      spreadsheet touched <= 2 reads + 1 write, the lock apart.

    python scripts/bench_gsheets.py [--referrals 10000] [--departments 30] [--latency 0.1] [--edited 0.05]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakes.google_api import (  # noqa: E402
    SERVICE_ACCOUNT,
    FakeGoogleTransport,
    private_key_for_tests,
    public_key_pem,
    serve_forever,
    service_account_json,
)
from kouminrenkei_sheets.config import Config, config_from_dict  # noqa: E402
from kouminrenkei_sheets.departments import department_ref  # noqa: E402
from kouminrenkei_sheets.schema import (  # noqa: E402
    DEPARTMENT_TEMPLATE,
    DEPARTMENTS,
    FIELDS,
    PROPOSALS,
    REFERRALS,
    REGISTER_SHEETS,
    SYNC_STATE,
    Answer,
    Method,
    Status,
)
from kouminrenkei_sheets.store.base import AppendRows, SheetRef, header_key  # noqa: E402
from kouminrenkei_sheets.store.factory import gsheets_options, open_gsheets  # noqa: E402
from kouminrenkei_sheets.store.gsheets import GSheetsStore, load_credentials  # noqa: E402
from kouminrenkei_sheets.store.memory import MemoryStore  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 0)


class RemoteFake:
    """The fake Google in a child process, so that its work does not share the benchmark's GIL."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        urls = context.Queue()
        self.process = context.Process(target=serve_forever, args=(urls,), daemon=True)
        self.process.start()
        self.url: str = urls.get(timeout=60)
        self.http = requests.Session()

    def control(self, what: str, **body: Any) -> dict[str, Any]:
        r = self.http.post(f"{self.url}/_fake/{what}", json=body)
        r.raise_for_status()
        return dict(r.json())

    def counts(self, key: str | None = None) -> Counter[str]:
        r = self.http.get(f"{self.url}/_fake/counts", params={"key": key} if key else {})
        data = r.json()
        if data["errors"]:
            sys.exit("the fake failed:\n" + "\n".join(data["errors"]))
        return Counter({k: v for k, v in data["counts"].items() if not k.startswith("oauth")})

    def close(self) -> None:
        self.process.terminate()
        self.process.join(10)


def register_rows(referrals: int, departments: int, rng: random.Random) -> list[AppendRows]:
    names = [f"課{i:02d}" for i in range(departments)]
    depts = tuple({"部局": "部局", "課": n, "連絡先メール": f"ka{i:02d}@pref.example.jp"} for i, n in enumerate(names))
    proposals: list[dict[str, Any]] = []
    refs: list[dict[str, Any]] = []
    n = 0
    while len(refs) < referrals:
        n += 1
        pid = f"R7-{n:04d}"
        received = date(2025, 4, 1) + timedelta(days=rng.randrange(300))
        proposals.append(
            {
                "提案ID": pid,
                "受付日": received,
                "提案者名": f"株式会社サンプル{n}",
                "件名": f"連携提案{n}",
                "概要": "店舗網を活かした取組",
                "連携分野": rng.choice(FIELDS),
                "連携手法": rng.choice(Method.ALL),
                "ステータス": Status.REFERRED,
            }
        )
        for j, dept in enumerate(rng.sample(names, k=min(3, departments, referrals - len(refs))), start=1):
            refs.append(
                {
                    "照会ID": f"{pid}-{j:02d}",
                    "提案ID": pid,
                    "照会先": dept,
                    "照会日": received + timedelta(days=3),
                    "回答期限": received + timedelta(days=33),
                }
            )
    return [
        AppendRows(SheetRef(DEPARTMENTS), depts),
        AppendRows(SheetRef(PROPOSALS), tuple(proposals)),
        AppendRows(SheetRef(REFERRALS), tuple(refs)),
    ]


def edit_departments(store: GSheetsStore, books: list[str], share: float, rng: random.Random) -> int:
    """Department staff edit ``share`` of their rows as people do (USER_ENTERED): mostly answers,
    now and then a desk-owned 件名 (which the sync puts back)."""
    refs = [SheetRef(DEPARTMENT_TEMPLATE, b) for b in books]
    tables = store.read(refs)
    edited = 0
    for ref in refs:
        table = tables[ref]
        assert table is not None
        col = {name: table.column_number(name) for name in ("回答", "回答日", "件名")}
        data = []
        for row in table.rows:
            if rng.random() >= share:
                continue
            edited += 1
            if rng.random() < 0.8:
                cells = {"回答": rng.choice((Answer.YES, Answer.NO, Answer.EXAMINING)), "回答日": "2026/2/20"}
            else:
                cells = {"件名": "課で書き換えた件名"}
            for name, value in cells.items():
                letter = chr(64 + col[name])  # type: ignore[operator]
                data.append({"range": f"'{ref.sheet}'!{letter}{row.number}", "values": [[value]]})
        if data:
            key = store.resolve_key(ref.book)
            store.http.values_batch_update(key, body={"valueInputOption": "USER_ENTERED", "data": data})
    return edited


def memory_copy(store: GSheetsStore, books: list[str], config: Config) -> tuple[MemoryStore, Config]:
    """The same register and department sheets in a MemoryStore: sync there costs only its own work."""
    mem_config = config_from_dict({"store": {"backend": "memory", "register": "register", "departments": "books"}})
    mem = MemoryStore()
    refs = [SheetRef(t) for t in store.sheet_names()] + [SheetRef(DEPARTMENT_TEMPLATE, b) for b in books]
    for ref, table in store.read(refs).items():
        assert table is not None
        grid: list[list[Any]] = [list(table.headers)]
        keys = [header_key(h) for h in table.headers]
        for row in table.rows:
            while len(grid) < row.number - 1:
                grid.append([])
            grid.append([row.values.get(k) for k in keys])
        book = ref.book
        if book is not None:  # the memory backend names department books like files
            book = department_ref(mem_config, book.rsplit("/", 1)[-1]).book
        mem.put_table(SheetRef(ref.sheet, book), grid, hidden=table.hidden)
    return mem, mem_config


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def minimum(url: str, config: Config, reads: dict[str, list[str]], writes: list[str]) -> float:
    """The same spreadsheets read and written with bare gspread calls, 8 at a time: the floor."""
    from gspread.http_client import HTTPClient

    credentials, _ = load_credentials(gsheets_options(config).credentials)
    client = HTTPClient(credentials)
    base = f"{url}/v4/spreadsheets"
    params = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"}

    def read(key: str) -> None:
        client.request(
            "get", f"{base}/{key}/values:batchGet", params={**params, "ranges": [f"'{t}'" for t in reads[key]]}
        )

    def write(key: str) -> None:
        data = [{"range": f"'{reads[key][0]}'!A1", "values": [[None]]}]  # a real request that changes nothing
        client.request("post", f"{base}/{key}/values:batchUpdate", json={"valueInputOption": "RAW", "data": data})

    client.request("get", f"{base}/{next(iter(reads))}/values:batchGet", params={"ranges": ["'提案'!A1"]})  # token
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(read, reads))
        list(pool.map(write, writes))
    return time.perf_counter() - start


READS = ("sheets.values.batchGet", "sheets.spreadsheets.get", "drive.files.get")
WRITES = ("sheets.values.batchUpdate", "sheets.values.append", "sheets.spreadsheets.batchUpdate")


def type_as_a_person(fake: RemoteFake, store: GSheetsStore, book: str | None, tab: str, column: str, text: str) -> None:
    """A person types ``text`` into the first data row's ``column`` (their own account, not the tool's)."""
    ref = SheetRef(tab, book)
    table = store.read([ref])[ref]
    assert table is not None and table.rows
    number = table.column_number(column)
    assert number is not None
    key = store.resolve_key(book)
    fake.control("type_cell", key=key, title=tab, cell=f"{chr(64 + number)}{table.rows[0].number}", value=text)


def reads_of(counts: Counter[str]) -> int:
    return sum(counts[e] for e in READS)


def writes_of(counts: Counter[str]) -> int:
    return sum(counts[e] for e in WRITES)


def worst(by_key: dict[str, Counter[str]], keys: list[str | None]) -> list[str]:
    """The department spreadsheet with the most requests (one, or none)."""
    touched = [k for k in keys if k and by_key.get(k)]
    return [max(touched, key=lambda k: (reads_of(by_key[k]) + writes_of(by_key[k]), k))] if touched else []


def report(
    label: str, seconds: float, calls: Counter[str], floor_calls: int, floor_seconds: float, work_seconds: float
) -> None:
    used = sum(calls.values())
    print(f"\n{label}")
    print(f"  requests: {used} (minimum {floor_calls}: ratio {used / floor_calls:.2f})")
    for endpoint, n in sorted(calls.items()):
        print(f"    {endpoint:34s} {n:5d}")
    both = floor_seconds + work_seconds
    print(f"  wall time: {seconds:.2f} s; minimum I/O {floor_seconds:.2f} s (ratio {seconds / floor_seconds:.2f});")
    print(f"  sync's own work (MemoryStore) + minimum I/O: {both:.2f} s (ratio {seconds / both:.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--referrals", type=int, default=10_000)
    parser.add_argument("--departments", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every API request")
    parser.add_argument("--edited", type=float, default=0.05, help="share of department rows edited")
    args = parser.parse_args()
    try:
        from kouminrenkei_sheets.sync import sync
    except ImportError:
        sys.exit("kouminrenkei_sheets.sync がありません（このベンチマークは sync を測ります）。")
    rng = random.Random(7)
    fake = RemoteFake()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            key = private_key_for_tests()
            fake.control("service_account", email=SERVICE_ACCOUNT, public_key=public_key_pem(key))
            credentials = Path(tmp) / "service-account.json"
            credentials.write_text(json.dumps(service_account_json(fake.url + "/token", SERVICE_ACCOUNT, key)))
            folder = fake.control("folder")["id"]
            register = fake.control("spreadsheet", title="公民連携台帳", parents=[folder])["key"]

            def config(**quota: int) -> Config:
                settings = {"credentials": str(credentials), "drive_folder": folder, **quota}
                store = {"backend": "gsheets", "register": register, "departments": "books"}
                return config_from_dict({"store": store, "gsheets": settings}, base_dir=Path(tmp))

            def open_here(config: Config) -> GSheetsStore:
                """The store a run opens, its requests sent to the fake by an injected transport."""
                return open_gsheets(config, transport=FakeGoogleTransport(fake.url))

            # -- setup without latency or quota: the register, then a first sync that makes the spreadsheets
            setup_config = config(reads_per_minute=100_000, writes_per_minute=100_000)
            setup = open_here(setup_config)
            setup.create_book(None, REGISTER_SHEETS)
            setup.apply(register_rows(args.referrals, args.departments, rng))
            fake.control("reset_calls")
            seconds, first = timed(lambda: sync(setup_config, setup, now=NOW))
            print(
                f"setup: {args.referrals} referrals; a first sync made and filled {args.departments} department "
                f"spreadsheets in {seconds:.1f} s with {sum(fake.counts().values())} requests (no latency)"
            )
            books = [f"departments/課{i:02d}" for i in range(args.departments)]
            keys = [setup.resolve_key(b) for b in books]
            assert all(keys), first.problems[:3]
            edited = edit_departments(setup, books, args.edited, rng)
            print(f"edits: {edited} department rows ({args.edited:.0%}), typed through the API as people do")
            fake.control("latency", seconds=args.latency)
            print(
                f"latency: {args.latency * 1000:.0f} ms per request; quota: fewer than 60 reads and 60 writes a minute"
            )

            run_config = config()

            def run(day: int) -> tuple[float, Any, Counter[str], dict[str, Counter[str]], GSheetsStore, float]:
                store = open_here(run_config)  # a new run: nothing cached
                mem, mem_config = memory_copy(setup, books, run_config)
                mem_seconds, mem_result = timed(lambda: sync(mem_config, mem, now=NOW + timedelta(days=day)))
                print(
                    f"\nthe same sync on a MemoryStore copy (its own work, no I/O): {mem_seconds:.2f} s "
                    f"(pulled {mem_result.pulled}, put back {mem_result.reverted})"
                )
                fake.control("reset_calls")
                seconds, result = timed(lambda: sync(run_config, store, now=NOW + timedelta(days=day)))
                by_key = {k: fake.counts(k) for k in [register, *keys] if k}
                return seconds, result, fake.counts(), by_key, store, mem_seconds

            # -- (b) a sync with edits, against the minimum for the same spreadsheets
            seconds, result, calls, by_key, store, work = run(1)
            written = [k for k, c in by_key.items() if c["sheets.spreadsheets.batchUpdate"]]
            reads = {register: [PROPOSALS, REFERRALS, DEPARTMENTS, SYNC_STATE]} | {
                k: [DEPARTMENT_TEMPLATE] for k in keys if k
            }
            floor_seconds = minimum(fake.url, run_config, reads, written)
            print(
                f"\nsync: pulled {result.pulled}, put back {result.reverted}, "
                f"spreadsheets written {len(result.files_written)}"
            )
            floor_calls = len(reads) + len(written)
            report(f"sync with {args.edited:.0%} edited", seconds, calls, floor_calls, floor_seconds, work)
            # the lock's own requests: its claim and its release (values:append each); its log is read
            # back in the sync's first read of the register (no request of its own)
            lock = Counter({"sheets.values.append": 2})
            data = by_key[register] - lock
            print(f"  register, all requests: {dict(by_key[register])}")
            print(f"  register, the lock apart: claim + release = {sum(lock.values())} writes (values:append)")
            budget_ok = True
            for label, counts in [
                ("register without the lock", data),
                *[(f"worst department ({k[:8]}…)", by_key[k]) for k in worst(by_key, keys)],
            ]:
                r, w = reads_of(counts), writes_of(counts)
                ok = r <= 2 and w <= 1
                budget_ok = budget_ok and ok
                print(
                    f"  {label}: {r} reads + {w} write(s) {dict(counts)}; "
                    f"target <= 2 reads + 1 write: {'met' if ok else 'MISSED'}"
                )
            over = [k for k in keys if k and (reads_of(by_key[k]) > 2 or writes_of(by_key[k]) > 1)]
            budget_ok = budget_ok and not over
            print(
                f"  <= 2 reads + 1 write per spreadsheet touched, register included (lock apart): "
                f"{'met' if budget_ok else 'MISSED'}" + (f" — over: {over[:5]}" if over else "")
            )
            shapes = Counter(tuple(sorted(by_key[k].items())) for k in keys if k)
            for shape, n in shapes.most_common():
                print(f"  {n} department spreadsheets: {dict(shape)}")
            waited = store.http.read_limiter.waited + store.http.write_limiter.waited
            print(f"  rate limiter waited {waited:.1f} s; retries {store.http.retries}")

            # -- a sync with nothing new
            seconds, result, calls, by_key, store, work = run(2)
            floor_seconds = minimum(fake.url, run_config, reads, [])
            report("sync with no edits", seconds, calls, len(reads), floor_seconds, work)
            print(f"  spreadsheets written: {result.files_written or 'none'}")

            # -- and the one after: no spreadsheet changed since, so nothing is read
            seconds, result, calls, by_key, store, work = run(3)
            requests = sum(calls.values())
            quiet_ok = result.unchanged and requests <= 2 and not result.files_written
            print(
                f"sync with no edits since (quiet): {requests} request(s) {dict(calls)}, {seconds:.2f} s; "
                f"target <= 2 requests whatever the number of departments: {'met' if quiet_ok else 'MISSED'}"
            )
            # -- and on: that run read the register as recorded, so Drive's version of it now vouches for it
            seconds, result, calls, by_key, store, work = run(3)
            requests = sum(calls.values())
            quiet_ok = quiet_ok and result.unchanged and requests <= 1 and not result.files_written
            print(
                f"the next quiet sync: {requests} request(s) {dict(calls)}, {seconds:.2f} s "
                f"(the register's Drive version vouches for it); target <= 1: {'met' if requests <= 1 else 'MISSED'}"
            )

            # -- one person's edit since: only what changed is read (a book nobody saved is taken from _sync)
            small_ok = True
            written_last: set[str] = set()  # spreadsheets the last sync wrote: read once more (see below)
            for day, (what, book, tab, column) in enumerate(
                (
                    ("the desk changed one 件名", None, PROPOSALS, "件名"),
                    ("one department answered", books[0], DEPARTMENT_TEMPLATE, "回答理由・コメント"),
                ),
                start=4,
            ):
                type_as_a_person(fake, setup, book, tab, column, "一件だけの入力")
                seconds, result, calls, by_key, store, work = run(day)
                saved = {setup.resolve_key(book)}
                touched = [k for k, c in by_key.items() if c]
                needless = [k for k in touched if k not in saved | written_last and not writes_of(by_key[k])]
                lock_apart = {k: by_key[k] - (lock if k == register else Counter()) for k in touched}
                over = [k for k, c in lock_apart.items() if reads_of(c) > 2 or writes_of(c) > 1]
                ok = not needless and not over
                small_ok = small_ok and ok
                again = len([k for k in touched if k in written_last and k not in saved and k != register])
                print(
                    f"sync after {what}: {sum(calls.values())} requests, {seconds:.2f} s; {len(touched)} of "
                    f"{len(by_key)} spreadsheets touched ({len(result.files_written)} written; {again} read once "
                    f"more as the last sync wrote them, which Drive cannot tell from a person's edit); read "
                    f"without need: {'none (met)' if not needless else f'{len(needless)} (MISSED)'}; "
                    f"<= 2 reads + 1 write each (lock apart): {'met' if not over else 'MISSED'}; "
                    f"the register: {dict(by_key[register])}"
                )
                written_last = {k for k, c in by_key.items() if c["sheets.spreadsheets.batchUpdate"]}

            # -- (c) the stretch goal: which spreadsheets changed, from Drive
            probe = open_here(config())
            fake.control("reset_calls")
            seconds, versions = timed(lambda: [probe.book_version(b) for b in [None, *books]])
            print(
                f"\nbook_version of all {len(versions)} spreadsheets: {sum(fake.counts().values())} request(s) "
                f"{dict(fake.counts())}, {seconds:.2f} s"
            )
    finally:
        fake.close()
    ok = budget_ok and quiet_ok and small_ok
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
