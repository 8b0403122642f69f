"""Two different jobs started together on one xlsx desk, 50 rounds per pair: nothing is lost.

Two worker processes (forked, each with its own XlsxStore, as two commands on two PCs would have)
run the real public job functions on one desk made by ``init_desk`` with sample data. Each round
the desk's person makes new work for both (an answer typed in a department tab, a formula-like
title, a form answer, a proposal ready for its agreement), then both workers start together
(a barrier). After the round every write of both jobs is there: the pulled answer in 照会 and its
変更履歴 row, the validation mark on the right cell, the new proposal once, each agreement
document recorded in 協定書 and no document on disk that 協定書 does not name. sync runs without
``--wait`` every other round: when it finds the lock held it ends busy (exit 3) — and then it
must have written nothing; the parent's catch-up sync brings the answer in.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from kouminrenkei_sheets.agreements import agreement
from kouminrenkei_sheets.config import Config, load_config
from kouminrenkei_sheets.departments import load_departments
from kouminrenkei_sheets.errors import BusyError
from kouminrenkei_sheets.init import init_desk
from kouminrenkei_sheets.intake import intake
from kouminrenkei_sheets.sample_data import SAMPLE_DEPARTMENTS, generate, write_sample
from kouminrenkei_sheets.schema import HISTORY, PROPOSALS, REFERRALS, HistoryKind
from kouminrenkei_sheets.store.base import AppendRows, RowKey, SetCell, SheetRef, Table
from kouminrenkei_sheets.store.xlsx import XlsxStore
from kouminrenkei_sheets.sync import sync
from kouminrenkei_sheets.validate import validate
from test_agreements import proposal as agreement_proposal

ROUNDS = 50
P, R, H = SheetRef(PROPOSALS), SheetRef(REFERRALS), SheetRef(HISTORY)
TODAY = date(2025, 6, 2)
FORM_HEADER = "タイムスタンプ,メールアドレス,会社名,件名,区分,分野\r\n"
SETTINGS = """
[intake.mapping]
"会社名" = "提案者名"
"件名" = "件名"
"区分" = "提案者区分"
"分野" = "連携分野"
"""
SYNC, OTHER = "同期の担当", "別の処理の担当"


def as_actor(config: Config, actor: str) -> Config:
    return dataclasses.replace(config, desk=dataclasses.replace(config.desk, actor=actor))


# ---------------------------------------------------------------- the jobs each worker runs
def job_sync(config: Config, store: XlsxStore, n: int, form: Path) -> str:
    sync(config, store, wait=n % 2 == 0, now=datetime(2025, 6, 2, 9, 0))
    return "ok"


def job_validate(config: Config, store: XlsxStore, n: int, form: Path) -> str:
    validate(config, store, write_back=True, today=TODAY)
    return "ok"


def job_intake(config: Config, store: XlsxStore, n: int, form: Path) -> str:
    intake(config, store, str(form), now=datetime(2025, 6, 2, 9, 0))
    return "ok"


def job_agreement(config: Config, store: XlsxStore, n: int, form: Path) -> str:
    agreement(config, store, all_=True, today=TODAY)
    return "ok"


JOBS: dict[str, Callable[[Config, XlsxStore, int, Path], str]] = {
    "sync": job_sync,
    "validate": job_validate,
    "intake": job_intake,
    "agreement": job_agreement,
}


def worker(name: str, actor: str, config_path: Path, form: Path, barrier: Any, done: Any) -> None:
    config = as_actor(load_config(config_path), actor)
    for n in range(ROUNDS):
        barrier.wait()  # both jobs start together
        store = XlsxStore(config.resolve(config.store.register), base_dir=config.base_dir)
        try:
            outcome = JOBS[name](config, store, n, form)
        except BusyError:
            outcome = "busy"
        except Exception:
            outcome = "error: " + traceback.format_exc()
        done.put((n, name, outcome))


# ---------------------------------------------------------------- the desk
class TwoJobDesk:
    def __init__(self, root: Path) -> None:
        made = init_desk(root, departments="tabs", governor="大井川　和彦")
        with made.config_path.open("a", encoding="utf-8") as f:
            f.write(SETTINGS)
        self.config_path = made.config_path
        self.config = as_actor(load_config(made.config_path), "デスクの人")
        self.store = XlsxStore(self.config.resolve(self.config.store.register), base_dir=self.config.base_dir)
        sample = generate(6, seed=5, today=TODAY, departments=SAMPLE_DEPARTMENTS[:3])
        write_sample(self.store, sample)
        self.form = root / "form.csv"
        self.form.write_text(FORM_HEADER, encoding="utf-8-sig")
        sync(as_actor(self.config, SYNC), self.store, now=datetime(2025, 6, 2, 8, 0))  # department tabs
        self.departments = load_departments(self.config, self.store)
        # a referral whose department tab the person types answers into, round after round
        self.referral, self.department = next(
            (str(r.get("照会ID")), self.departments[str(r.get("照会先"))])
            for r in self.table(R).rows
            if str(r.get("照会先")) in self.departments and r.get("照会ID")
        )

    def table(self, ref: SheetRef) -> Table:
        t = self.store.read([ref])[ref]
        assert t is not None
        return t

    def history(self) -> list[dict[str, Any]]:
        return self.table(H).records()

    def prepare(self, n: int, other: str) -> dict[str, Any]:
        """The person's work for round ``n``: a comment in the department tab, plus the other job's input."""
        comment = f"第{n}回の回答コメント"
        at = RowKey("照会ID", self.referral)
        changes: list[Any] = [SetCell(self.department.ref, at, "回答理由・コメント", comment)]
        expect: dict[str, Any] = {"comment": comment}
        if other == "validate":
            pid = str(self.table(P).rows[n % 3].get("提案ID"))
            changes.append(SetCell(P, RowKey("提案ID", pid), "件名", f"=HYPERLINK({n})"))
            expect["marked"] = pid
        elif other == "intake":
            company = f"第{n}回の会社"
            stamp = f"2025/05/{1 + n % 28:02d} {9 + n // 28:02d}:{n % 60:02d}:00"
            with self.form.open("a", encoding="utf-8-sig") as f:
                f.write(f"{stamp},x{n}@example.jp,{company},提案{n},企業,災害対策\r\n")
            expect["company"] = company
        elif other == "agreement":
            pid = f"R7-{900 + n:04d}"
            changes.append(AppendRows(P, (agreement_proposal(pid, 提案者名=f"第{n}回の協定先"),)))
            expect["agreement"] = pid
        self.store.apply(changes)
        return expect

    def check(self, n: int, other: str, expect: dict[str, Any], outcomes: dict[str, str]) -> None:
        history = self.history()
        referral = self.table(R).by_key("照会ID")[self.referral]
        if outcomes["sync"] == "busy":  # ended busy: it must have written nothing …
            assert referral.get("回答理由・コメント") != expect["comment"], n
            assert not [h for h in history if h.get("実行者") == SYNC and h.get("新値") == expect["comment"]], n
            sync(as_actor(self.config, SYNC), self.store, wait=True, now=datetime(2025, 6, 2, 9, 0))  # … catch up
            history = self.history()
            referral = self.table(R).by_key("照会ID")[self.referral]
        assert referral.get("回答理由・コメント") == expect["comment"], n
        pulls = [h for h in history if h.get("種別") == HistoryKind.PULL and h.get("新値") == expect["comment"]]
        assert len(pulls) == 1, (n, pulls)
        proposals = self.table(P)
        ids = Counter(str(r.get("提案ID")) for r in proposals.rows if r.get("提案ID"))
        assert not [k for k, c in ids.items() if c > 1], n
        if other == "validate":
            row = proposals.by_key("提案ID")[expect["marked"]].number
            assert any(r == row and header_key_of(c) == "件名" for r, c in proposals.marks), (n, proposals.marks)
        elif other == "intake":
            mine = [r for r in proposals.rows if r.get("提案者名") == expect["company"]]
            assert len(mine) == 1, n
            pid = mine[0].get("提案ID")
            assert [h.get("種別") for h in history if h.get("キー") == pid] == [HistoryKind.INTAKE], n
        elif other == "agreement":
            row = proposals.by_key("提案ID")[expect["agreement"]]
            assert str(row.get("協定書") or "").endswith(".docx"), n
            assert any(h.get("キー") == expect["agreement"] and h.get("列") == "協定書" for h in history), n
            folder = self.config.resolve(self.config.agreement.out)
            on_disk = {p.resolve() for p in folder.glob("*.docx")}
            recorded = {
                self.config.resolve(str(r.get("協定書"))).resolve()
                for r in proposals.rows
                if str(r.get("協定書") or "").endswith(".docx")
            }
            assert on_disk == recorded, n


def header_key_of(column: str) -> str:
    from kouminrenkei_sheets.store.base import header_key

    return header_key(column)


@pytest.mark.parametrize("other", ["validate", "intake", "agreement"])
def test_two_jobs_started_together_lose_nothing(tmp_path: Path, other: str) -> None:
    desk = TwoJobDesk(tmp_path / "desk")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(3)
    done = ctx.Queue()
    workers = [
        ctx.Process(target=worker, args=("sync", SYNC, desk.config_path, desk.form, barrier, done), daemon=True),
        ctx.Process(target=worker, args=(other, OTHER, desk.config_path, desk.form, barrier, done), daemon=True),
    ]
    for w in workers:
        w.start()
    busy = 0
    try:
        for n in range(ROUNDS):
            expect = desk.prepare(n, other)
            barrier.wait(timeout=60)
            outcomes: dict[str, str] = {}
            for _ in workers:
                got_n, name, outcome = done.get(timeout=120)
                assert got_n == n
                outcomes[name] = outcome
            assert not [o for o in outcomes.values() if o.startswith("error")], outcomes
            assert outcomes[other] == "ok", outcomes  # validate, intake and agreement wait for the lock
            busy += outcomes["sync"] == "busy"
            desk.check(n, other, expect, outcomes)
    finally:
        for w in workers:
            w.join(timeout=10)
            if w.is_alive():
                w.kill()
    assert all(w.exitcode == 0 for w in workers)
    assert busy < ROUNDS  # the lock let them take turns: sync did its own work in most rounds
