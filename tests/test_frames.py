"""frames(): the register as typed DataFrames for analysts — dates, 年度, categories, what was typed kept."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd

from kouminrenkei_sheets.config import config_from_dict
from kouminrenkei_sheets.frames import FISCAL_YEAR, TYPED_SUFFIX, frames
from kouminrenkei_sheets.schema import HISTORY, PROPOSALS, REFERRALS, REGISTER_SHEETS, Status
from kouminrenkei_sheets.store.base import AppendRows, SheetRef
from kouminrenkei_sheets.store.memory import MemoryStore

CONFIG = config_from_dict({"store": {"backend": "memory"}}, base_dir=Path("."))
PROPOSAL_ROWS = (
    {"提案ID": "R7-0001", "受付日": date(2025, 4, 10), "ステータス": "照会中", "件名": "防災備蓄",
     "担当者": "山田 太郎"},
    {"提案ID": "R7-0002", "受付日": "令和7年5月1日", "ステータス": "ちょうせいちゅう", "件名": "観光"},
    {"提案ID": "R6-0009", "受付日": "先週", "ステータス": Status.COMPLETED, "件名": "子育て"},
)  # fmt: skip
REFERRAL_ROWS = (
    {"照会ID": "R7-0001-01", "提案ID": "R7-0001", "照会先": "防災・危機管理課", "照会日": date(2025, 3, 31)},
    {"照会ID": "R7-0002-01", "提案ID": "R7-0002", "照会先": "観光振興課", "照会日": "2025/04/01", "回答": "連携可"},
)  # fmt: skip
HISTORY_ROWS = (
    {"日時": "2025-06-30 10:00:00", "シート": REFERRALS, "キー": "R7-0001-01", "列": "回答", "旧値": "未回答",
     "新値": "検討中", "実行者": "sync", "種別": "取込"},
)  # fmt: skip


def fill(store: MemoryStore) -> None:
    store.apply(
        [
            AppendRows(SheetRef(PROPOSALS), PROPOSAL_ROWS),
            AppendRows(SheetRef(REFERRALS), REFERRAL_ROWS),
            AppendRows(SheetRef(HISTORY), HISTORY_ROWS),
        ]
    )


def memory_desk() -> MemoryStore:
    store = MemoryStore()
    store.create_book(None, REGISTER_SHEETS)
    fill(store)
    return store


def test_dates_are_dates_and_what_could_not_be_read_is_kept_beside_it() -> None:
    p = frames(CONFIG, memory_desk())[PROPOSALS]
    assert p["受付日"].dtype.kind == "M"
    assert list(p["受付日"][:2]) == [pd.Timestamp(2025, 4, 10), pd.Timestamp(2025, 5, 1)]
    assert pd.isna(p["受付日"][2]) and list(p["受付日" + TYPED_SUFFIX].fillna("")) == ["", "", "先週"]
    assert list(p["行"]) == [2, 3, 4]  # the sheet rows, for going back to the cell


def test_fiscal_year_from_the_received_date_else_the_id() -> None:
    f = frames(CONFIG, memory_desk())
    assert list(f[PROPOSALS][FISCAL_YEAR]) == [2025, 2025, 2024]  # R6-0009 has no readable 受付日
    assert list(f[REFERRALS][FISCAL_YEAR]) == [2024, 2025]  # 3/31 belongs to the year before


def test_choices_are_categories_in_the_schemas_order_and_a_typo_is_kept() -> None:
    p = frames(CONFIG, memory_desk())[PROPOSALS]
    assert isinstance(p["ステータス"].dtype, pd.CategoricalDtype)
    assert list(p["ステータス"].cat.categories) == list(Status.ALL)
    assert p["ステータス"][0] == "照会中" and pd.isna(p["ステータス"][1])
    assert p["ステータス" + TYPED_SUFFIX][1] == "ちょうせいちゅう"
    counts = p.groupby(FISCAL_YEAR)["ステータス"].value_counts()
    assert counts[(2025, "照会中")] == 1 and counts[(2024, Status.COMPLETED)] == 1


def test_personal_columns_are_left_out_unless_asked_for() -> None:
    store = memory_desk()
    assert "担当者" not in frames(CONFIG, store)[PROPOSALS].columns
    assert frames(CONFIG, store, personal=True)[PROPOSALS]["担当者"][0] == "山田 太郎"


def test_history_times_are_timestamps_and_nothing_is_written() -> None:
    memory = memory_desk()
    writes = dict(memory.writes)
    h = frames(CONFIG, memory)[HISTORY]
    assert h["日時"][0] == pd.Timestamp(datetime(2025, 6, 30, 10, 0))
    assert memory.writes == writes


def test_an_empty_register_gives_empty_frames_with_the_columns() -> None:
    store = MemoryStore()
    store.create_book(None, REGISTER_SHEETS)
    f = frames(CONFIG, store)
    assert f[PROPOSALS].empty and "件名" in f[PROPOSALS].columns and FISCAL_YEAR in f[PROPOSALS].columns


def test_the_frames_count_each_fiscal_year_and_method_as_the_report_does() -> None:
    """An analyst's groupby on frames() and the desk's report give the same 年度 × 連携手法 counts
    (one 年度 rule, workflow.proposal_fiscal_year, and one choice matching under both)."""
    from kouminrenkei_sheets.reports import report
    from kouminrenkei_sheets.sample_data import generate, write_sample

    store = MemoryStore()
    store.create_book(None, REGISTER_SHEETS)
    write_sample(store, generate(80, seed=11, today=date(2026, 3, 2), messy=0.1))
    proposals = frames(CONFIG, store)[PROPOSALS]
    counted = proposals.dropna(subset=[FISCAL_YEAR]).groupby([FISCAL_YEAR, "連携手法"], observed=True).size()
    from_frames = {(int(fy), str(m)): int(n) for (fy, m), n in counted.items()}
    rep = report(CONFIG, store, today=date(2026, 3, 2))
    from_report = {(y.fiscal_year, t.label): t.count for y in rep.years for t in y.by_method if t.count}
    readable = {k: v for k, v in from_report.items() if k[1] in set(proposals["連携手法"].cat.categories)}
    assert from_frames == readable and len(from_frames) >= 3
    assert {y.fiscal_year: y.total for y in rep.years} == {
        int(k): int(v) for k, v in proposals[FISCAL_YEAR].value_counts().items()
    }
