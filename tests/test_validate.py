"""validate: a bad-input corpus (one bad and one good case per rule), malformed registers, write-back."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kouminrenkei_sheets import cli as cli_module
from kouminrenkei_sheets.config import Config, config_from_dict
from kouminrenkei_sheets.errors import StoreError
from kouminrenkei_sheets.findings import Report
from kouminrenkei_sheets.schema import (
    CHOICE_LISTS,
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
    Sheet,
    Status,
)
from kouminrenkei_sheets.store.base import CellValue, SheetRef, Store
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.store.xlsx import XlsxStore, set_cell_value
from kouminrenkei_sheets.validate import validate
from kouminrenkei_sheets.values import to_wareki, to_wareki_short

TODAY = date(2025, 11, 1)
Grids = dict[SheetRef, list[list[CellValue]]]

DEPARTMENT_ROWS = [
    {"部局": "防災・危機管理部", "課": "防災・危機管理課", "連絡先メール": "bousai@pref.example.jp"},
    {"部局": "営業戦略部", "課": "観光戦略課", "連絡先メール": "kanko@pref.example.jp"},
    {"部局": "保健医療部", "課": "健康推進課", "連絡先メール": "kenko@pref.example.jp"},
]

# Five proposals (rows 2-6 of 提案) whose statuses agree with their referrals (rows 2-5 of 照会).
PROPOSAL_ROWS: list[dict[str, CellValue]] = [
    {
        "提案ID": "R7-0001", "受付日": date(2025, 4, 10), "提案方向": Direction.PARTNER_TO_PREFECTURE,
        "提案種別": "フリー型", "提案者区分": "企業", "提案者名": "株式会社常陸ストア", "法人番号": "1180301018771",
        "所在地": "茨城県水戸市南町二丁目3番1号", "担当者": "桜井", "メール": "sakurai@hitachi-store.example.jp",
        "電話": "029-301-2523", "件名": "災害時の物資供給に関する連携", "概要": "災害時に店舗の物資を供給する。",
        "連携分野": "災害対策、安全・安心", "連携手法": Method.COMPREHENSIVE, "関係市町村": "水戸市、日立市",
        "ステータス": Status.AGREED, "公表": "可", "協定締結日": "令和7年6月1日", "協定開始日": date(2025, 6, 1),
        "協定終了日": date(2026, 3, 31), "自動更新": "あり",
    },
    {
        "提案ID": "R7-0002", "受付日": "2025/5/1", "提案方向": Direction.PARTNER_TO_PREFECTURE,
        "提案種別": "テーマ型", "提案者区分": "大学・研究機関", "提案者名": "国立大学法人つくば先端科学大学",
        "件名": "観光データの共同分析", "連携分野": "観光・産業振興", "連携手法": Method.UNDECIDED,
        "ステータス": Status.REFERRED,
    },
    {
        "提案ID": "R7-0003", "受付日": "R7.6.1", "提案方向": Direction.PREFECTURE_TO_PARTNER,
        "提案種別": "フリー型", "提案者区分": "県庁各課", "提案者名": "健康推進課",
        "件名": "健康ポイント事業の協賛募集", "連携分野": "健康増進・福祉", "連携手法": Method.NO_AGREEMENT,
        "ステータス": Status.COORDINATING,
    },
    {
        "提案ID": "R7-0004", "受付日": date(2025, 7, 1), "提案方向": Direction.PARTNER_TO_PREFECTURE,
        "提案種別": "フリー型", "提案者区分": "NPO・市民団体", "提案者名": "NPO法人ひたち子育て応援団",
        "件名": "子ども食堂の支援", "連携分野": "子育て・教育", "連携手法": Method.NO_AGREEMENT,
        "ステータス": Status.FAILED,
    },
    {
        "提案ID": "R7-0005", "受付日": date(2025, 10, 25), "提案方向": Direction.PARTNER_TO_PREFECTURE,
        "提案種別": "フリー型", "提案者区分": "企業", "提案者名": "株式会社筑波ロジスティクス",
        "件名": "物流網を生かした見守り", "連携分野": "安全・安心", "連携手法": Method.UNDECIDED,
        "ステータス": Status.RECEIVED,
    },
]  # fmt: skip

REFERRAL_ROWS: list[dict[str, CellValue]] = [
    {"照会ID": "R7-0001-01", "提案ID": "R7-0001", "照会先": "防災・危機管理課", "照会日": date(2025, 4, 15),
     "回答": Answer.YES, "回答日": date(2025, 4, 30), "回答理由・コメント": "既存事業と連携可能"},
    {"照会ID": "R7-0002-01", "提案ID": "R7-0002", "照会先": "観光戦略課", "照会日": date(2025, 10, 20),
     "回答": Answer.NONE},
    {"照会ID": "R7-0003-01", "提案ID": "R7-0003", "照会先": "株式会社霞ヶ浦フーズ", "照会日": date(2025, 6, 5),
     "回答": Answer.YES, "回答日": date(2025, 6, 20)},
    {"照会ID": "R7-0004-01", "提案ID": "R7-0004", "照会先": "健康推進課", "照会日": date(2025, 7, 5),
     "回答": Answer.NO, "回答日": date(2025, 7, 20)},
]  # fmt: skip


def grid(sheet: Sheet, rows: list[dict[str, CellValue]]) -> list[list[CellValue]]:
    return [list(sheet.headers)] + [[row.get(h) for h in sheet.headers] for row in rows]


def choices_grid() -> list[list[CellValue]]:
    names = list(CHOICE_LISTS)
    depth = max(len(v) for v in CHOICE_LISTS.values())
    return [names] + [[CHOICE_LISTS[n][i] if i < len(CHOICE_LISTS[n]) else None for n in names] for i in range(depth)]


def department_rows(name: str) -> list[dict[str, CellValue]]:
    by_id = {p["提案ID"]: p for p in PROPOSAL_ROWS}
    out = []
    for r in REFERRAL_ROWS:
        if r["照会先"] != name:
            continue
        p = by_id[r["提案ID"]]
        row = {c.name: r.get(c.source[1]) if c.source[0] == REFERRALS else p.get(c.source[1])
               for c in DEPARTMENT_SHEET.columns if c.source}  # fmt: skip
        out.append(row)
    return out


def valid_grids() -> Grids:
    """A small register that has nothing wrong with it (department sheets as tabs of the register)."""
    grids: Grids = {
        SheetRef(PROPOSALS): grid(PROPOSAL_SHEET, PROPOSAL_ROWS),
        SheetRef(REFERRALS): grid(REFERRAL_SHEET, REFERRAL_ROWS),
        SheetRef(DEPARTMENTS): grid(DEPARTMENT_MASTER_SHEET, DEPARTMENT_ROWS),
        SheetRef(CHOICES): choices_grid(),
        SheetRef(FINDINGS): [list(FINDINGS_SHEET.headers)],
    }
    for d in DEPARTMENT_ROWS:
        name = str(d["課"])
        grids[SheetRef(name)] = grid(DEPARTMENT_SHEET, department_rows(name))
    return grids


# ---------------------------------------------------------------- building a store
def build_store(grids: Grids, backend: str = "memory", tmp_path: Path | None = None) -> Store:
    """The one place that turns grids into a store (memory now; xlsx for the round-trip tests)."""
    if backend == "memory":
        store = MemoryStore()
        for ref, g in grids.items():
            store.put_table(ref, g)
        return store
    assert backend == "xlsx" and tmp_path is not None
    books: dict[str | None, openpyxl.Workbook] = {}
    for ref, g in grids.items():
        wb = books.get(ref.book)
        if wb is None:
            wb = books[ref.book] = openpyxl.Workbook()
            wb.remove(wb.active)
        ws = wb.create_sheet(ref.sheet)
        for r, row in enumerate(g, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    set_cell_value(ws.cell(row=r, column=c), value)  # text stays text, as staff typed it
    for book, wb in books.items():
        path = tmp_path / (book or "register.xlsx")
        path.parent.mkdir(parents=True, exist_ok=True)
        wb.save(path)
    return XlsxStore(tmp_path / "register.xlsx", base_dir=tmp_path)


MakeStore = Callable[[Grids], Store]


@pytest.fixture(params=["memory", "xlsx", "gsheets"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    """The same suite on every backend: memory, xlsx files, and Google Sheets (a local fake)."""
    backend = request.param
    if backend == "gsheets":
        factory = request.getfixturevalue("gsheets_store_factory")

        def on_sheets(grids: Grids) -> Store:
            store = factory()
            for ref, g in grids.items():
                store.put_table(ref, g)
            return store

        on_sheets.backend = "gsheets"  # type: ignore[attr-defined]
        return on_sheets
    counter = iter(range(10_000))

    def local(grids: Grids) -> Store:
        return build_store(grids, backend, tmp_path / f"desk{next(counter)}")

    local.backend = backend  # type: ignore[attr-defined]
    return local


def config(**store: Any) -> Config:
    return config_from_dict({"store": {"backend": "memory", **store}})


def run(make_store: MakeStore, grids: Grids, **kwargs: Any) -> Report:
    return validate(config(), make_store(grids), today=TODAY, write_back=False, **kwargs)


def set_cell(grids: Grids, sheet: str, row: int, column: str, value: CellValue) -> None:
    """Change one cell by spreadsheet row number and header (adding the row if needed)."""
    g = grids[SheetRef(sheet)]
    col = g[0].index(column)
    while len(g) < row:
        g.append([None] * len(g[0]))
    g[row - 1][col] = value


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


def where(report: Report, code: str) -> list[tuple[str, int | None, str | None]]:
    return [(f.sheet, f.row, f.column) for f in report.findings if f.code == code]


# ---------------------------------------------------------------- the valid register
def test_valid_register_has_no_findings(make_store: MakeStore) -> None:
    report = run(make_store, valid_grids())
    assert report.findings == []
    assert report.valid
    assert report.to_dict() == {"valid": True, "counts": {"error": 0, "warning": 0, "info": 0}, "findings": []}


# ---------------------------------------------------------------- one bad and one good case per rule
Edit = tuple[str, int, str, CellValue]  # sheet, row, column, value

# A second referral of R7-0001 (row 6 of 照会), answered.
SECOND_REFERRAL: list[Edit] = [
    (REFERRALS, 6, "提案ID", "R7-0001"),
    (REFERRALS, 6, "照会先", "観光戦略課"),
    (REFERRALS, 6, "照会日", date(2025, 4, 15)),
    (REFERRALS, 6, "回答", Answer.NO),
    (REFERRALS, 6, "回答日", date(2025, 4, 20)),
]

CORPUS: list[tuple[str, list[Edit], list[Edit], str, tuple[str, int, str]]] = [
    # (rule, bad edits, good edits, expected code, (sheet, row, column) of the finding)
    (
        "required",
        [(PROPOSALS, 3, "件名", "  ")],
        [(PROPOSALS, 3, "件名", " 観光データ ")],
        "required",
        (PROPOSALS, 3, "件名"),
    ),
    (
        "required, only a zero-width space (sync reads it as blank too: values.is_blank)",
        [(PROPOSALS, 3, "件名", "\u200b\u3000")],
        [(PROPOSALS, 3, "件名", "\u200b観光データ")],
        "required",
        (PROPOSALS, 3, "件名"),
    ),
    (
        "required referral",
        [(REFERRALS, 3, "照会日", None)],
        [(REFERRALS, 3, "照会日", "2025/10/21")],
        "required",
        (REFERRALS, 3, "照会日"),
    ),
    (
        "date",
        [(PROPOSALS, 2, "受付日", "2025/13/1")],
        [(PROPOSALS, 2, "受付日", "令和７年４月１０日")],
        "date.invalid",
        (PROPOSALS, 2, "受付日"),
    ),
    (
        "date as bool",
        [(REFERRALS, 2, "回答日", True)],
        [(REFERRALS, 2, "回答日", 45777)],
        "date.invalid",
        (REFERRALS, 2, "回答日"),
    ),
    (
        "email",
        [(PROPOSALS, 2, "メール", "sakurai@@example.jp")],
        [(PROPOSALS, 2, "メール", "ｓａｋｕｒａｉ＠example.jp")],
        "email.invalid",
        (PROPOSALS, 2, "メール"),
    ),
    (
        "phone",
        [(PROPOSALS, 2, "電話", "029-301")],
        [(PROPOSALS, 2, "電話", "(029)301-2523")],
        "phone.invalid",
        (PROPOSALS, 2, "電話"),
    ),
    (
        "corporate number",
        [(PROPOSALS, 2, "法人番号", "1180301018772")],
        [(PROPOSALS, 2, "法人番号", 1180301018771)],
        "corporate_number.invalid",
        (PROPOSALS, 2, "法人番号"),
    ),
    (
        "master e-mail",
        [(DEPARTMENTS, 2, "連絡先メール", "bousai@")],
        [(DEPARTMENTS, 2, "連絡先メール", "b@pref.jp")],
        "email.invalid",
        (DEPARTMENTS, 2, "連絡先メール"),
    ),
    (
        "choice",
        [(PROPOSALS, 3, "提案種別", "自由型")],
        [(PROPOSALS, 3, "提案種別", " テーマ型　")],
        "choice.invalid",
        (PROPOSALS, 3, "提案種別"),
    ),
    (
        "multi choice",
        [(PROPOSALS, 2, "連携分野", "災害対策、宇宙開発")],
        [(PROPOSALS, 2, "連携分野", "安全・安心・災害対策")],
        "choice.invalid",
        (PROPOSALS, 2, "連携分野"),
    ),
    (
        "municipality",
        [(PROPOSALS, 2, "関係市町村", "水戸市、宇都宮市")],
        [(PROPOSALS, 2, "関係市町村", "水戸市/つくば市")],
        "ref.municipality",
        (PROPOSALS, 2, "関係市町村"),
    ),
    (
        "proposal id format",
        [(PROPOSALS, 6, "提案ID", "R7-5")],
        [(PROPOSALS, 6, "提案ID", "Ｒ７－０００５")],
        "id.format",
        (PROPOSALS, 6, "提案ID"),
    ),
    (
        "id as a number",
        [(PROPOSALS, 6, "提案ID", 5)],
        [(PROPOSALS, 6, "提案ID", "r7-0005")],
        "id.format",
        (PROPOSALS, 6, "提案ID"),
    ),
    (
        "id fiscal year",
        [(PROPOSALS, 6, "提案ID", "R6-0005")],
        [(PROPOSALS, 6, "提案ID", "R7-0006")],
        "id.fiscal_year",
        (PROPOSALS, 6, "提案ID"),
    ),
    (
        "id duplicate",
        [(PROPOSALS, 6, "提案ID", "R7-0004")],
        [(PROPOSALS, 6, "提案ID", "R7-0009")],
        "id.duplicate",
        (PROPOSALS, 6, "提案ID"),
    ),
    (
        "referral id format",
        [(REFERRALS, 3, "照会ID", "R7-0002-1")],
        [(REFERRALS, 3, "照会ID", "R7-0002-02")],
        "id.format",
        (REFERRALS, 3, "照会ID"),
    ),
    (
        "referral id duplicate",
        [*SECOND_REFERRAL, (REFERRALS, 6, "照会ID", "R7-0001-01")],
        [*SECOND_REFERRAL, (REFERRALS, 6, "照会ID", "R7-0001-02")],
        "id.duplicate",
        (REFERRALS, 6, "照会ID"),
    ),
    (
        "referral id vs proposal",
        [(REFERRALS, 3, "照会ID", "R7-0003-02")],
        [(REFERRALS, 3, "照会ID", "R7-0002-02")],
        "id.mismatch",
        (REFERRALS, 3, "照会ID"),
    ),
    (
        "department master duplicate",
        [(DEPARTMENTS, 4, "課", "観光戦略課")],
        [(DEPARTMENTS, 4, "課", "健康推進課")],
        "id.duplicate",
        (DEPARTMENTS, 4, "課"),
    ),
    (
        "proposal reference",
        [*SECOND_REFERRAL, (REFERRALS, 6, "提案ID", "R7-0099"), (REFERRALS, 6, "照会ID", "R7-0099-01")],
        [*SECOND_REFERRAL, (REFERRALS, 6, "照会ID", "R7-0001-02")],
        "ref.proposal",
        (REFERRALS, 6, "提案ID"),
    ),
    (
        "department reference",
        [(REFERRALS, 2, "照会先", "防災危機管理課")],
        [(REFERRALS, 2, "照会先", " 防災・危機管理課 ")],
        "ref.department",
        (REFERRALS, 2, "照会先"),
    ),
    (
        "partner only for 県→企業等",
        [(PROPOSALS, 4, "提案方向", Direction.PARTNER_TO_PREFECTURE)],
        [(PROPOSALS, 4, "提案方向", Direction.PREFECTURE_TO_PARTNER)],
        "ref.department",
        (REFERRALS, 4, "照会先"),
    ),
    (
        "照会日 before 受付日",
        [(REFERRALS, 2, "照会日", "2025/4/9")],
        [(REFERRALS, 2, "照会日", "2025/4/10")],
        "date.order",
        (REFERRALS, 2, "照会日"),
    ),
    (
        "回答日 before 照会日",
        [(REFERRALS, 2, "回答日", date(2025, 4, 14))],
        [(REFERRALS, 2, "回答日", date(2025, 4, 15))],
        "date.order",
        (REFERRALS, 2, "回答日"),
    ),
    (
        "回答期限 before 照会日",
        [(REFERRALS, 3, "回答期限", date(2025, 10, 1))],
        [(REFERRALS, 3, "回答期限", date(2025, 12, 1))],
        "date.order",
        (REFERRALS, 3, "回答期限"),
    ),
    (
        "agreement period",
        [(PROPOSALS, 2, "協定終了日", "2025/5/31")],
        [(PROPOSALS, 2, "協定終了日", "2028/5/31")],
        "date.order",
        (PROPOSALS, 2, "協定終了日"),
    ),
    (
        "future 受付日",
        [(PROPOSALS, 6, "受付日", date(2025, 11, 2))],
        [(PROPOSALS, 6, "受付日", date(2025, 11, 1))],
        "date.future",
        (PROPOSALS, 6, "受付日"),
    ),
    (
        "future 協定締結日 of a signed agreement",
        [(PROPOSALS, 2, "協定締結日", date(2025, 12, 1))],
        [(PROPOSALS, 2, "協定締結日", date(2025, 12, 1)), (PROPOSALS, 2, "ステータス", Status.COORDINATING)],
        "date.future",
        (PROPOSALS, 2, "協定締結日"),
    ),
    (
        "future 回答日 in a department sheet",
        [("防災・危機管理課", 2, "回答日", "2026/1/5")],
        [("防災・危機管理課", 2, "次回予定日", "2026/1/5")],
        "date.future",
        ("防災・危機管理課", 2, "回答日"),
    ),
    (
        "照会中 needs a referral",
        [(PROPOSALS, 6, "ステータス", Status.REFERRED)],
        [(PROPOSALS, 6, "ステータス", Status.CHECKING)],
        "status.referral",
        (PROPOSALS, 6, "ステータス"),
    ),
    (
        "調整中 needs 連携可",
        [(PROPOSALS, 3, "ステータス", Status.COORDINATING)],
        [(PROPOSALS, 3, "ステータス", Status.ON_HOLD)],
        "status.feasible",
        (PROPOSALS, 3, "ステータス"),
    ),
    (
        "不成立 needs all 連携不可",
        [(REFERRALS, 5, "回答", Answer.DISCUSS)],
        [(REFERRALS, 5, "回答", "連携不可 ")],
        "status.failed",
        (PROPOSALS, 5, "ステータス"),
    ),
    (
        "協定締結 needs its date",
        [(PROPOSALS, 2, "協定締結日", None)],
        [(PROPOSALS, 2, "協定締結日", "R7.6.1")],
        "status.agreement_date",
        (PROPOSALS, 2, "協定締結日"),
    ),
    (
        "協定締結 needs an agreement",
        [(PROPOSALS, 2, "連携手法", Method.NO_AGREEMENT)],
        [(PROPOSALS, 2, "連携手法", Method.PROJECT)],
        "status.agreement_method",
        (PROPOSALS, 2, "連携手法"),
    ),
    (
        "skipped steps",
        [(PROPOSALS, 6, "ステータス", Status.IMPLEMENTING)],
        [(PROPOSALS, 6, "ステータス", Status.WITHDRAWN)],
        "status.skipped",
        (PROPOSALS, 6, "ステータス"),
    ),
    (
        "answer without its date",
        [(REFERRALS, 5, "回答日", None)],
        [(REFERRALS, 5, "回答日", "2025-07-20")],
        "answer.date_missing",
        (REFERRALS, 5, "回答日"),
    ),
    (
        "date without an answer",
        [(REFERRALS, 3, "回答日", date(2025, 10, 30))],
        [(REFERRALS, 3, "回答日", date(2025, 10, 30)), (REFERRALS, 3, "回答", Answer.DISCUSS)],
        "answer.missing",
        (REFERRALS, 3, "回答"),
    ),
    (
        "overdue",
        [(REFERRALS, 3, "照会日", date(2025, 9, 1))],
        [(REFERRALS, 3, "照会日", date(2025, 10, 2))],
        "overdue",
        (REFERRALS, 3, "回答"),
    ),
    (
        "overdue by 回答期限",
        [(REFERRALS, 3, "回答期限", date(2025, 10, 25))],
        [(REFERRALS, 3, "回答期限", date(2025, 11, 1))],
        "overdue",
        (REFERRALS, 3, "回答"),
    ),
    (
        "duplicate proposal",
        [(PROPOSALS, 6, "提案者名", "株式会社 常陸ストア"), (PROPOSALS, 6, "件名", "災害時の物資供給に関する連携。")],
        [(PROPOSALS, 6, "提案者名", "株式会社常陸ストア"), (PROPOSALS, 6, "件名", "店舗での見守り活動")],
        "duplicate.proposal",
        (PROPOSALS, 6, "件名"),
    ),
    (
        "duplicate referral",
        [
            (REFERRALS, 6, "照会ID", "R7-0002-02"),
            (REFERRALS, 6, "提案ID", "R7-0002"),
            (REFERRALS, 6, "照会先", "観光戦略課"),
            (REFERRALS, 6, "照会日", date(2025, 10, 21)),
        ],
        [
            (REFERRALS, 6, "照会ID", "R7-0002-02"),
            (REFERRALS, 6, "提案ID", "R7-0002"),
            (REFERRALS, 6, "照会先", "健康推進課"),
            (REFERRALS, 6, "照会日", date(2025, 10, 21)),
        ],
        "duplicate.referral",
        (REFERRALS, 6, "照会先"),
    ),
    (
        "formula-like text",
        [(PROPOSALS, 3, "概要", '=HYPERLINK("http://example.com")')],
        [(PROPOSALS, 3, "概要", "-")],
        "text.formula",
        (PROPOSALS, 3, "概要"),
    ),
    (
        "formula-like in a department's answer",
        [("観光戦略課", 2, "回答理由・コメント", "@担当者へ")],
        [("観光戦略課", 2, "回答理由・コメント", "-5")],
        "text.formula",
        ("観光戦略課", 2, "回答理由・コメント"),
    ),
    (
        "platform characters",
        [(PROPOSALS, 4, "件名", "①健康ポイント㈱")],
        [(PROPOSALS, 4, "件名", "(1)健康ポイント(株)")],
        "text.platform_chars",
        (PROPOSALS, 4, "件名"),
    ),
    (
        "control characters",
        [(PROPOSALS, 4, "備考", "確認\x07済み")],
        [(PROPOSALS, 4, "備考", "確認\n済み\t")],
        "text.control_chars",
        (PROPOSALS, 4, "備考"),
    ),
    (
        "too long for a cell",
        [(PROPOSALS, 4, "概要", "あ" * 50_001)],
        [(PROPOSALS, 4, "概要", "あ" * 10_000)],
        "text.too_long",
        (PROPOSALS, 4, "概要"),
    ),
    (
        "department answer choice",
        [("防災・危機管理課", 2, "回答", "OK")],
        [("防災・危機管理課", 2, "回答", "連携 可")],
        "choice.invalid",
        ("防災・危機管理課", 2, "回答"),
    ),
]


XLSX_CANNOT_HOLD = ("control characters", "too long for a cell")


@pytest.mark.parametrize(("rule", "bad", "good", "code", "at"), CORPUS, ids=[c[0] for c in CORPUS])
def test_rule_bad_and_good(
    make_store: MakeStore, rule: str, bad: list[Edit], good: list[Edit], code: str, at: tuple[str, int, str]
) -> None:
    if getattr(make_store, "backend", "") == "xlsx" and rule in XLSX_CANNOT_HOLD:
        pytest.skip("an .xlsx cell holds at most 32,767 characters and no control characters")
    grids = valid_grids()
    for edit in bad:
        set_cell(grids, *edit)
    report = run(make_store, grids)
    assert at in where(report, code), [f.message for f in report.findings]
    finding = next(f for f in report.findings if f.code == code and (f.sheet, f.row, f.column) == at)
    assert finding.message and finding.severity in ("error", "warning", "info")

    grids = valid_grids()
    for edit in good:
        set_cell(grids, *edit)
    report = run(make_store, grids)
    assert report.findings == [], [f.message for f in report.findings]


def test_messages_name_what_is_right(make_store: MakeStore) -> None:
    grids = valid_grids()
    set_cell(grids, PROPOSALS, 2, "連携手法", "包括連携")
    set_cell(grids, REFERRALS, 2, "照会先", "防災危機管理課")
    set_cell(grids, REFERRALS, 3, "照会日", date(2025, 9, 1))
    set_cell(grids, PROPOSALS, 6, "提案ID", "R6-0005")
    set_cell(grids, PROPOSALS, 5, "代表者氏名", "髙橋 﨑子")
    report = run(make_store, grids)
    by_code = {f.code: f for f in report.findings}
    assert "「包括連携協定」ではありませんか" in by_code["choice.invalid"].message
    assert "「防災・危機管理課」ではありませんか" in by_code["ref.department"].message
    overdue = by_code["overdue"]
    assert overdue.message == "照会先「観光戦略課」の回答期限 2025/10/1 を31日過ぎています（回答: 未回答）。"
    assert overdue.key == "R7-0002-01" and overdue.severity == "warning"
    assert "「R7-」" in by_code["id.fiscal_year"].message and "令和7年度" in by_code["id.fiscal_year"].message
    kanji = by_code["text.platform_chars"]
    assert kanji.severity == "info" and "「髙」→「高」" in kanji.message


def test_custom_choice_list_from_the_choices_sheet(make_store: MakeStore) -> None:
    grids = valid_grids()
    set_cell(grids, PROPOSALS, 2, "連携分野", "災害対策、宇宙開発")
    column = grids[SheetRef(CHOICES)][0].index("連携分野")
    grids[SheetRef(CHOICES)][len(CHOICE_LISTS["連携分野"]) + 1][column] = "宇宙開発"
    assert run(make_store, grids).findings == []


def test_answer_days_setting_moves_the_default_deadline(make_store: MakeStore) -> None:
    grids = valid_grids()
    set_cell(grids, REFERRALS, 3, "照会日", date(2025, 10, 1))  # 31 days before TODAY
    cfg = config_from_dict({"store": {"backend": "memory"}, "desk": {"answer_days": 45}})
    assert validate(cfg, make_store(grids), today=TODAY, write_back=False).findings == []
    assert "overdue" in codes(run(make_store, grids))


def test_overdue_is_not_reported_for_closed_proposals(make_store: MakeStore) -> None:
    grids = valid_grids()
    set_cell(grids, REFERRALS, 3, "照会日", date(2025, 5, 2))
    set_cell(grids, PROPOSALS, 3, "ステータス", Status.WITHDRAWN)
    assert run(make_store, grids).findings == []


def test_a_number_in_a_text_column_and_dates_as_text_are_fine(make_store: MakeStore) -> None:
    grids = valid_grids()
    set_cell(grids, PROPOSALS, 6, "件名", 12345)
    set_cell(grids, PROPOSALS, 6, "受付日", "2025年10月25日")
    set_cell(grids, REFERRALS, 2, "照会日", "R7/4/15")
    set_cell(grids, REFERRALS, 2, "回答日", 45777)  # an Excel serial: 2025-04-30
    assert run(make_store, grids).findings == []


def test_duplicate_detection_is_per_proposer(make_store: MakeStore) -> None:
    grids = valid_grids()
    set_cell(grids, PROPOSALS, 6, "件名", "災害時の物資供給に関する連携")  # same title, another proposer
    assert "duplicate.proposal" not in codes(run(make_store, grids))


# ---------------------------------------------------------------- malformed registers
@pytest.mark.parametrize("sheet", [PROPOSALS, REFERRALS, DEPARTMENTS])
def test_missing_register_sheet_is_one_error(make_store: MakeStore, sheet: str) -> None:
    grids = valid_grids()
    del grids[SheetRef(sheet)]
    report = run(make_store, grids)
    assert where(report, "structure.missing_sheet") == [(sheet, None, None)]
    assert not report.valid
    # nothing else is piled on because of the missing sheet
    assert {f.code for f in report.findings} <= {"structure.missing_sheet", "structure.missing_column"} | (
        {"status.referral", "status.feasible", "status.failed"} if sheet == REFERRALS else set()
    ) | ({"structure.missing_sheet"} if sheet == DEPARTMENTS else set())


def test_missing_choices_sheet_falls_back_to_defaults(make_store: MakeStore) -> None:
    grids = valid_grids()
    del grids[SheetRef(CHOICES)]
    set_cell(grids, PROPOSALS, 3, "提案種別", "自由型")
    report = run(make_store, grids)
    assert [(f.code, f.severity) for f in report.findings if f.sheet == CHOICES] == [
        ("structure.missing_sheet", "warning")
    ]
    assert where(report, "choice.invalid") == [(PROPOSALS, 3, "提案種別")]


def test_empty_choice_list_falls_back_to_defaults(make_store: MakeStore) -> None:
    grids = valid_grids()
    g = grids[SheetRef(CHOICES)]
    col = g[0].index("回答")
    for row in g[1:]:
        row[col] = None
    report = run(make_store, grids)
    assert where(report, "structure.empty_list") == [(CHOICES, None, "回答")]
    assert report.valid


def test_renamed_header_suggests_the_schema_header(make_store: MakeStore) -> None:
    grids = valid_grids()
    g = grids[SheetRef(PROPOSALS)]
    g[0][g[0].index("件名")] = "案件名"
    report = run(make_store, grids)
    [f] = [f for f in report.findings if f.code == "structure.missing_column"]
    assert (f.sheet, f.column, f.severity) == (PROPOSALS, "件名", "error")
    assert "「案件名」" in f.message and "「件名」に直して" in f.message
    assert "required" not in codes(report)  # no error per row for a missing column


def test_duplicated_header_is_one_finding(make_store: MakeStore) -> None:
    grids = valid_grids()
    g = grids[SheetRef(PROPOSALS)]
    for row in g:
        row.append(row[g[0].index("件名")])
    report = run(make_store, grids)
    assert where(report, "structure.duplicate_header") == [(PROPOSALS, None, "件名")]


def test_header_spacing_and_width_variants_are_the_same_header(make_store: MakeStore) -> None:
    grids = valid_grids()
    g = grids[SheetRef(REFERRALS)]
    g[0][g[0].index("照会ID")] = " 照会 ＩＤ "
    assert run(make_store, grids).findings == []


@pytest.mark.parametrize(
    "header_row",
    [
        ["提案一覧（令和7年度）"] + [None] * (len(PROPOSAL_SHEET.headers) - 1),  # a merged title row
        [1, 2, 3],  # numbers for headers
        [],  # nothing at all
    ],
    ids=["merged title", "numbers", "empty"],
)
def test_header_row_that_is_not_headers_is_one_error(make_store: MakeStore, header_row: list[CellValue]) -> None:
    grids = valid_grids()
    grids[SheetRef(PROPOSALS)][0] = header_row
    report = run(make_store, grids)
    own = [f for f in report.findings if f.sheet == PROPOSALS]
    assert [f.code for f in own] == ["structure.no_header"]


def test_merged_sub_headers_give_missing_columns_not_a_crash(make_store: MakeStore) -> None:
    grids = valid_grids()
    g = grids[SheetRef(PROPOSALS)]
    start, end = g[0].index("協定開始日"), g[0].index("協定終了日")
    g[0][start], g[0][end] = "協定期間", None  # a merged cell over two columns keeps its first value
    report = run(make_store, grids)
    missing = {f.column for f in report.findings if f.code == "structure.missing_column"}
    assert missing == {"協定開始日", "協定終了日"}


def test_blank_rows_in_the_middle_are_skipped(make_store: MakeStore) -> None:
    grids = valid_grids()
    g = grids[SheetRef(PROPOSALS)]
    g.insert(3, [None] * len(g[0]))
    g.insert(3, ["  ", "\u3000"] + [None] * (len(g[0]) - 2))
    report = run(make_store, grids)
    assert report.findings == []


def test_a_table_of_garbage_gives_findings_not_a_traceback(make_store: MakeStore) -> None:
    grids = valid_grids()
    weird: list[CellValue] = [True, 3.5, -1, date(2025, 1, 1), "=1+1", "\x00\x1f", "ℵ" * 12_000, "①", "@", "+"]
    g = grids[SheetRef(PROPOSALS)]
    for i in range(20):
        g.append([weird[(i + j) % len(weird)] for j in range(len(g[0]))])
    r = grids[SheetRef(REFERRALS)]
    for i in range(10):
        r.append([weird[(i * 3 + j) % len(weird)] for j in range(len(r[0]))])
    report = run(make_store, grids)
    assert not report.valid
    json.dumps(report.to_dict(), ensure_ascii=False)  # serialisable
    assert all(f.value is None or len(f.value) <= 200 for f in report.findings)


def test_missing_register_book_is_one_clear_error() -> None:
    with pytest.raises(StoreError):
        validate(config(), MemoryStore(), today=TODAY)


def test_department_books(make_store: MakeStore) -> None:
    """departments = books: a department's own workbook is checked; a missing one is reported."""
    grids = valid_grids()
    for d in DEPARTMENT_ROWS:
        del grids[SheetRef(str(d["課"]))]
    on_sheets = getattr(make_store, "backend", "") == "gsheets"
    book = "departments/防災・危機管理課" + ("" if on_sheets else ".xlsx")  # a spreadsheet has no suffix
    grids[SheetRef("照会回答", book)] = grid(DEPARTMENT_SHEET, department_rows("防災・危機管理課"))
    set_cell(grids, "提案", 2, "件名", "災害時の物資供給に関する連携")
    grids[SheetRef("照会回答", book)][1][DEPARTMENT_SHEET.headers.index("回答")] = "可"
    store = make_store(grids)
    cfg = config(departments="books", backend="gsheets" if on_sheets else "memory")
    report = validate(cfg, store, today=TODAY, write_back=False)
    sheet = f"{book}:照会回答"
    assert (sheet, 2, "回答") in where(report, "choice.invalid")
    missing = {(f.sheet, f.severity) for f in report.findings if f.code == "structure.missing_book"}
    suffix = "" if on_sheets else ".xlsx"
    assert missing == {
        (f"departments/観光戦略課{suffix}:照会回答", "warning"),
        (f"departments/健康推進課{suffix}:照会回答", "warning"),
    }


def test_desk_text_shown_cut_on_a_department_sheet_is_said_in_its_note(make_store: MakeStore) -> None:
    """sync copies the desk's long 概要 onto the department's sheet cut to fit: that cell (and only it)
    gets an info finding saying so; the same text uncut says nothing."""
    from kouminrenkei_sheets.values import cut_to_fit

    grids = valid_grids()
    set_cell(grids, "観光戦略課", 2, "概要", cut_to_fit("あ" * 40_000, 32_767, kept="台帳"))
    report = run(make_store, grids)
    assert where(report, "text.shown_cut") == [("観光戦略課", 2, "概要")]
    assert [f.severity for f in report.findings if f.code == "text.shown_cut"] == ["info"]
    set_cell(grids, "観光戦略課", 2, "概要", "あ" * 100)
    assert where(run(make_store, grids), "text.shown_cut") == []


def test_missing_answer_column_in_a_department_sheet_is_an_error(make_store: MakeStore) -> None:
    grids = valid_grids()
    g = grids[SheetRef("観光戦略課")]
    col = g[0].index("回答")
    for row in g:
        del row[col]
    report = run(make_store, grids)
    assert [(f.code, f.severity) for f in report.findings] == [("structure.missing_column", "error")]


# ---------------------------------------------------------------- write-back
def _bad_grids() -> Grids:
    grids = valid_grids()
    set_cell(grids, PROPOSALS, 3, "提案種別", "自由型")
    set_cell(grids, REFERRALS, 3, "照会日", date(2025, 9, 1))
    return grids


def test_write_back_rows_and_marks_then_nothing_when_unchanged() -> None:
    store = build_store(_bad_grids())
    assert isinstance(store, MemoryStore)
    before = copy.deepcopy({name: ms.grid for name, ms in store.books[None].items() if name != FINDINGS})
    report = validate(config(), store, today=TODAY)
    assert report.written == ["台帳"] and store.writes[None] == 1
    findings = store.read_one(SheetRef(FINDINGS))
    assert findings is not None
    assert [(r.get("コード"), r.get("シート"), r.get("行"), r.get("列")) for r in findings.rows] == [
        ("choice.invalid", PROPOSALS, 3, "提案種別"),
        ("overdue", REFERRALS, 3, "回答"),
    ]
    assert findings.rows[0].get("重大度") == "エラー"
    marks = store.read_one(SheetRef(PROPOSALS)).marks  # type: ignore[union-attr]
    assert list(marks) == [(3, "提案種別")] and "自由型" in marks[3, "提案種別"]
    assert list(store.read_one(SheetRef(REFERRALS)).marks) == [(3, "回答")]  # type: ignore[union-attr]
    # no value was changed anywhere
    after = {name: ms.grid for name, ms in store.books[None].items() if name != FINDINGS}
    assert after == before

    again = validate(config(), store, today=TODAY)
    assert again.written == [] and store.writes[None] == 1  # wrote nothing
    assert again.to_dict() == report.to_dict()


def test_write_back_clears_marks_where_the_cell_is_now_right() -> None:
    store = build_store(_bad_grids())
    assert isinstance(store, MemoryStore)
    validate(config(), store, today=TODAY)
    store.books[None][PROPOSALS].grid[2][PROPOSAL_SHEET.headers.index("提案種別")] = "テーマ型"
    report = validate(config(), store, today=TODAY)
    assert report.codes() == ["overdue"]
    assert store.read_one(SheetRef(PROPOSALS)).marks == {}  # type: ignore[union-attr]
    assert len(store.read_one(SheetRef(FINDINGS)).rows) == 1  # type: ignore[union-attr]
    assert store.writes[None] == 2


def test_no_write_back_writes_nothing() -> None:
    store = build_store(_bad_grids())
    assert isinstance(store, MemoryStore)
    report = validate(config(), store, today=TODAY, write_back=False)
    assert len(report.findings) == 2 and store.writes.get(None, 0) == 0


def test_clean_register_without_findings_sheet_writes_nothing() -> None:
    grids = valid_grids()
    del grids[SheetRef(FINDINGS)]
    store = build_store(grids)
    assert isinstance(store, MemoryStore)
    assert validate(config(), store, today=TODAY).written == []
    assert store.writes.get(None, 0) == 0


def test_register_open_in_excel_is_skipped_not_fatal() -> None:
    store = build_store(_bad_grids())
    assert isinstance(store, MemoryStore)
    store.open_by[None] = "山田"
    report = validate(config(), store, today=TODAY)
    assert report.skipped == {"台帳": "山田さんが開いています"} and len(report.findings) == 2


def test_xlsx_write_back_round_trip_is_stable(tmp_path: Path) -> None:
    """Marks and 検証結果 read back from .xlsx equal what was written, so the next run writes nothing."""
    grids = _bad_grids()
    set_cell(grids, PROPOSALS, 4, "件名", "①健康ポイント\n事業")  # a line break in the finding's value
    store = build_store(grids, "xlsx", tmp_path)
    assert isinstance(store, XlsxStore)
    first = validate(config(), store, today=TODAY)
    assert store.saves == 1 and len(first.findings) == 3
    second = validate(config(), store, today=TODAY)
    assert store.saves == 1 and second.written == []
    assert second.to_dict() == first.to_dict()


# ---------------------------------------------------------------- the command line
@pytest.fixture
def cli_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[Grids], tuple[Store, Path]]:
    def make(grids: Grids) -> tuple[Store, Path]:
        store = build_store(grids)
        monkeypatch.setattr("kouminrenkei_sheets.store.factory.open_store", lambda cfg: store)
        path = tmp_path / "kouminrenkei.toml"
        path.write_text('[store]\nbackend = "memory"\n', encoding="utf-8")
        return store, path

    return make


def test_cli_json_equals_the_report(
    cli_store: Callable[[Grids], tuple[Store, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, path = cli_store(_bad_grids())
    monkeypatch.setattr("kouminrenkei_sheets.validate.date", _FixedDate)
    monkeypatch.setattr("kouminrenkei_sheets.clock.today", lambda config, **_: TODAY)  # the desk's "today"
    result = CliRunner().invoke(cli_module.cli, ["--config", str(path), "validate", "--format", "json"])
    assert result.exit_code == 1, result.output
    expected = validate(config(), store, today=TODAY, write_back=False).to_dict()
    assert json.loads(result.output) == expected


def test_cli_text_output_and_exit_codes(
    cli_store: Callable[[Grids], tuple[Store, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kouminrenkei_sheets.validate.date", _FixedDate)
    monkeypatch.setattr("kouminrenkei_sheets.clock.today", lambda config, **_: TODAY)  # the desk's "today"
    store, path = cli_store(_bad_grids())
    result = CliRunner().invoke(cli_module.cli, ["--config", str(path), "validate", "--no-write-back"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "■ 提案（エラー 1件・警告 0件・情報 0件）"
    assert lines[1].startswith("  エラー 3行目 提案種別 [R7-0002] 提案種別を選び直してください: ")
    assert lines[1].endswith("(choice.invalid)")
    assert "■ 照会（エラー 0件・警告 1件・情報 0件）" in lines
    assert lines[-1] == "検証結果: エラー 1件・警告 1件・情報 0件"
    assert isinstance(store, MemoryStore) and store.writes.get(None, 0) == 0

    store, path = cli_store(valid_grids())
    result = CliRunner().invoke(cli_module.cli, ["--config", str(path), "validate"])
    assert result.exit_code == 0 and result.output == "検証結果: エラー 0件・警告 0件・情報 0件\n"


def test_cli_missing_config_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_module.cli, ["--config", str(tmp_path / "none.toml"), "validate"])
    assert result.exit_code == 2
    assert result.output.startswith("エラー: 設定ファイル")


class _FixedDate(date):
    @classmethod
    def today(cls) -> _FixedDate:
        return cls(TODAY.year, TODAY.month, TODAY.day)


# ---------------------------------------------------------------- property: valid registers give no errors
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30).filter(lambda s: s.strip())


def _typed_date(draw: st.DrawFn, d: date) -> CellValue:
    form = draw(st.sampled_from(["date", "slash", "wareki", "short", "iso"]))
    return {
        "date": d,
        "slash": f"{d.year}/{d.month}/{d.day}",
        "wareki": to_wareki(d),
        "short": to_wareki_short(d),
        "iso": d.isoformat(),
    }[form]


def _padded(draw: st.DrawFn, value: str) -> str:
    return draw(st.sampled_from(["", " ", "\u3000"])) + value + draw(st.sampled_from(["", " "]))


@st.composite
def registers(draw: st.DrawFn) -> Grids:
    departments = [str(d["課"]) for d in DEPARTMENT_ROWS]
    proposals: list[dict[str, CellValue]] = []
    referrals: list[dict[str, CellValue]] = []
    counters: dict[int, int] = {}
    for _ in range(draw(st.integers(1, 8))):
        received = TODAY - timedelta(days=draw(st.integers(0, 900)))
        fy = received.year if received.month >= 4 else received.year - 1
        counters[fy] = counters.get(fy, 0) + 1
        code = {2023: "R5", 2024: "R6", 2025: "R7", 2022: "R4"}[fy]
        pid = f"{code}-{counters[fy]:04d}"
        to_partner = draw(st.booleans())
        status = draw(st.sampled_from(Status.ALL))
        method = draw(st.sampled_from(Method.AGREEMENTS if status == Status.AGREED else Method.ALL))
        # answers that agree with the status
        needs_yes = status in (Status.COORDINATING, Status.AGREED, Status.IMPLEMENTING, Status.COMPLETED)
        n_refs = draw(st.integers(1 if status == Status.REFERRED or needs_yes else 0, 3))
        if status == Status.FAILED:
            answers = [Answer.NO] * n_refs
        else:
            answers = [draw(st.sampled_from(Answer.ALL)) for _ in range(n_refs)]
            if needs_yes:
                answers[0] = Answer.YES
        row: dict[str, CellValue] = {
            "提案ID": pid,
            "受付日": _typed_date(draw, received),
            "提案方向": Direction.PREFECTURE_TO_PARTNER if to_partner else Direction.PARTNER_TO_PREFECTURE,
            "提案種別": _padded(draw, draw(st.sampled_from(CHOICE_LISTS["提案種別"]))),
            "提案者区分": draw(st.sampled_from(CHOICE_LISTS["提案者区分"])),
            "提案者名": draw(_TEXT),
            "件名": draw(_TEXT),
            "概要": draw(st.none() | _TEXT),
            "連携分野": "、".join(draw(st.lists(st.sampled_from(CHOICE_LISTS["連携分野"]), min_size=1, max_size=3))),
            "連携手法": _padded(draw, method),
            "関係市町村": "、".join(draw(st.lists(st.sampled_from(MUNICIPALITIES), max_size=3))) or None,
            "ステータス": _padded(draw, status),
        }
        if status in (Status.AGREED, Status.IMPLEMENTING, Status.COMPLETED) and method in Method.AGREEMENTS:
            row["協定締結日"] = _typed_date(draw, received)
            row["協定開始日"] = received
            row["協定終了日"] = received + timedelta(days=draw(st.integers(0, 1000)))
        proposals.append(row)
        for i, answer in enumerate(answers, start=1):
            referred = received + timedelta(days=draw(st.integers(0, (TODAY - received).days)))
            answered = referred + timedelta(days=draw(st.integers(0, (TODAY - referred).days)))
            target = draw(_TEXT) if to_partner else draw(st.sampled_from(departments))
            referrals.append(
                {
                    "照会ID": f"{pid}-{i:02d}",
                    "提案ID": pid,
                    "照会先": target if to_partner else _padded(draw, target),
                    "照会日": _typed_date(draw, referred),
                    "回答期限": TODAY + timedelta(days=draw(st.integers(0, 60))),  # never overdue
                    "回答": _padded(draw, answer),
                    "回答日": _typed_date(draw, answered) if answer in Answer.FINAL else None,
                    "回答理由・コメント": draw(st.none() | _TEXT),
                }
            )
    grids = valid_grids()
    for d in DEPARTMENT_ROWS:
        del grids[SheetRef(str(d["課"]))]
    grids[SheetRef(PROPOSALS)] = grid(PROPOSAL_SHEET, proposals)
    grids[SheetRef(REFERRALS)] = grid(REFERRAL_SHEET, referrals)
    return grids


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grids=registers())
def test_random_valid_registers_have_no_errors(grids: Grids) -> None:
    report = validate(config(), build_store(grids), today=TODAY, write_back=False)
    errors = [f"{f.sheet}!{f.row} {f.column}: {f.message}" for f in report.findings if f.severity == "error"]
    assert errors == []


# ---------------------------------------------------------------- 交流 (exchange meetings)
EXCHANGE_ROWS: list[dict[str, CellValue]] = [
    {"交流ID": "R7-K01", "開催日": date(2025, 4, 5), "名称": "公民連携フォーラム2025", "形式": "フォーラム",
     "参加企業等": "株式会社常陸ストア、国立大学法人つくば先端科学大学", "参加課": "防災・危機管理課、観光戦略課",
     "概要": "連携事例の紹介と意見交換", "公表": "可", "成果": "R7-0001、R7-0002", "担当者": "桜井"},
    {"交流ID": "R7-K02", "開催日": date(2026, 1, 20), "名称": "物流事業者との意見交換会", "形式": "意見交換会",
     "参加課": "観光戦略課", "公表": "協議中"},
]  # fmt: skip


def exchange_grids(rows: list[dict[str, CellValue]] | None = None) -> Grids:
    from kouminrenkei_sheets.schema import EXCHANGE_SHEET, EXCHANGES

    grids = valid_grids()
    grids[SheetRef(EXCHANGES)] = grid(EXCHANGE_SHEET, copy.deepcopy(EXCHANGE_ROWS if rows is None else rows))
    return grids


def test_valid_exchanges_have_no_findings_even_with_a_planned_date(make_store: MakeStore) -> None:
    assert run(make_store, exchange_grids()).findings == []


def test_a_register_without_the_exchange_tab_is_not_a_finding() -> None:
    assert run(lambda g: build_store(g), valid_grids()).findings == []


def test_exchange_rules_report_sheet_row_column_and_value() -> None:
    grids = exchange_grids()
    set_cell(grids, "交流", 2, "参加課", "防災・危機管理課、観光戦略科")  # a typo of 観光戦略課
    set_cell(grids, "交流", 2, "成果", "R7-0001, R7-0099、R7-1")
    set_cell(grids, "交流", 3, "交流ID", "R7-K01")
    set_cell(grids, "交流", 3, "形式", "講演会")
    set_cell(grids, "交流", 3, "開催日", "2025/13/1")
    set_cell(grids, "交流", 4, "交流ID", "R7-K03")
    set_cell(grids, "交流", 4, "開催日", date(2025, 11, 1))
    set_cell(grids, "交流", 4, "名称", "事後の説明会")
    set_cell(grids, "交流", 4, "形式", "説明会")
    set_cell(grids, "交流", 4, "成果", "R7-0001")  # received 2025-04-10, before this meeting
    report = run(lambda g: build_store(g), grids)
    found = {(f.code, f.row, f.column): f for f in report.findings}
    assert set(found) == {
        ("exchange.department", 2, "参加課"),
        ("exchange.proposal", 2, "成果"),
        ("exchange.proposal_format", 2, "成果"),
        ("id.duplicate", 3, "交流ID"),
        ("choice.invalid", 3, "形式"),
        ("date.invalid", 3, "開催日"),
        ("exchange.result_order", 4, "成果"),
    }
    assert {f.sheet for f in report.findings} == {"交流"}
    assert found["exchange.department", 2, "参加課"].message == (
        "参加課の「観光戦略科」は担当課マスタ（担当課）にありません。「観光戦略課」ではありませんか。"
    )
    assert (
        found["exchange.proposal", 2, "成果"].message == "成果の提案ID「R7-0099」の提案が「提案」シートにありません。"
    )
    assert "「R7-1」" in found["exchange.proposal_format", 2, "成果"].message
    assert found["exchange.result_order", 4, "成果"].severity == "warning"
    assert found["exchange.result_order", 4, "成果"].key == "R7-K03"
    assert found["id.duplicate", 3, "交流ID"].value == "R7-K01"
