"""refer: one 照会 row per recipient, the proposal moved to 照会中, every bad argument refused untouched."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from kouminrenkei_sheets import cli as cli_module
from kouminrenkei_sheets import refer as refer_module
from kouminrenkei_sheets.config import Config, config_from_dict, load_config
from kouminrenkei_sheets.errors import BusyError, UsageError
from kouminrenkei_sheets.refer import refer
from kouminrenkei_sheets.schema import (
    DEPARTMENTS,
    HISTORY,
    PROPOSALS,
    REFERRALS,
    REGISTER_SHEETS,
    Answer,
    Direction,
    HistoryKind,
    Status,
)
from kouminrenkei_sheets.store.base import WRITE_LOCK, AppendRows, CellValue, SheetRef, Store
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.store.xlsx import XlsxStore
from kouminrenkei_sheets.values import to_wareki

TODAY = date(2025, 6, 2)
IN, OUT = Direction.PARTNER_TO_PREFECTURE, Direction.PREFECTURE_TO_PARTNER
NOW = datetime(2025, 6, 2, 10, 30)
BACKENDS = ["memory", "xlsx"]


def new_store(config: Config) -> Store:
    store: Store
    if config.store.backend == "memory":
        store = MemoryStore()
    else:
        store = XlsxStore(config.resolve(config.store.register), base_dir=config.base_dir)
    store.create_book(None, REGISTER_SHEETS)
    return store


@pytest.fixture(params=BACKENDS)
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Config, Store]:
    config = config_from_dict(
        {"desk": {"actor": "デスク", "answer_days": 21}, "store": {"backend": request.param}}, base_dir=tmp_path
    )
    store = new_store(config)
    store.apply(
        [
            AppendRows(
                SheetRef(DEPARTMENTS),
                ({"部局": "防災・危機管理部", "課": "防災・危機管理課"}, {"部局": "営業戦略部", "課": "観光戦略課"}),
            ),
            AppendRows(
                SheetRef(PROPOSALS),
                (
                    {"提案ID": "R7-0001", "提案方向": IN, "ステータス": Status.RECEIVED},
                    {"提案ID": "R7-0002", "提案方向": OUT, "ステータス": Status.CHECKING},
                    {"提案ID": "R7-0003", "提案方向": IN, "ステータス": Status.COORDINATING},
                    {"提案ID": "R7-0004", "提案方向": IN, "ステータス": Status.FAILED},
                ),
            ),
            AppendRows(
                SheetRef(REFERRALS),
                (
                    {"照会ID": "R7-0003-01", "提案ID": "R7-0003", "照会先": "防災・危機管理課", "回答": "連携可"},
                    {"照会ID": "R7-0003-03", "提案ID": "R7-0003", "照会先": "株式会社X"},  # added by hand
                    {"照会ID": "R7-0004-01", "提案ID": "R7-0004", "照会先": "観光戦略課", "回答": "連携不可"},
                ),
            ),
        ]
    )
    return config, store


def rows(store: Store, sheet: str) -> list[dict[str, CellValue]]:
    table = store.read([SheetRef(sheet)])[SheetRef(sheet)]
    assert table is not None
    return [{k: "" if v is None else v for k, v in r.values.items()} for r in table.rows]


def status(store: Store, pid: str) -> CellValue:
    return next(r["ステータス"] for r in rows(store, PROPOSALS) if r["提案ID"] == pid)


def as_date(value: CellValue) -> date:
    assert isinstance(value, date)
    return value.date() if isinstance(value, datetime) else value


def test_one_row_per_recipient_and_the_proposal_is_referred(desk: tuple[Config, Store]) -> None:
    config, store = desk
    result = refer(config, store, "R7-0001", ["防災・危機管理課", "観光戦略課"], today=TODAY, now=NOW)
    assert [r.referral_id for r in result.referrals] == ["R7-0001-01", "R7-0001-02"]
    assert (result.status_before, result.status_after) == (Status.RECEIVED, Status.REFERRED)
    added = [r for r in rows(store, REFERRALS) if r["提案ID"] == "R7-0001"]
    assert [(r["照会ID"], r["照会先"], r["回答"]) for r in added] == [
        ("R7-0001-01", "防災・危機管理課", Answer.NONE),
        ("R7-0001-02", "観光戦略課", Answer.NONE),
    ]
    assert {as_date(r["照会日"]) for r in added} == {TODAY}
    assert {as_date(r["回答期限"]) for r in added} == {date(2025, 6, 23)}  # desk.answer_days = 21
    assert status(store, "R7-0001") == Status.REFERRED
    history = [h for h in rows(store, HISTORY) if h["種別"] == HistoryKind.REFER]
    assert [(h["シート"], h["キー"], h["列"], h["旧値"], h["新値"], h["実行者"]) for h in history] == [
        (REFERRALS, "R7-0001-01", "照会先", "", "防災・危機管理課", "デスク"),
        (REFERRALS, "R7-0001-02", "照会先", "", "観光戦略課", "デスク"),
        (PROPOSALS, "R7-0001", "ステータス", Status.RECEIVED, Status.REFERRED, "デスク"),
    ]


def test_branch_numbers_continue_after_hand_added_rows(desk: tuple[Config, Store]) -> None:
    config, store = desk
    result = refer(config, store, "R7-0003", ["観光戦略課"], due=date(2025, 7, 1), today=TODAY)
    [referral] = result.referrals
    assert referral.referral_id == "R7-0003-04"
    assert referral.due == date(2025, 7, 1)
    assert not result.status_changed and status(store, "R7-0003") == Status.COORDINATING


def test_what_people_type_is_matched_after_normalisation(desk: tuple[Config, Store]) -> None:
    config, store = desk
    result = refer(config, store, "ｒ７－０００１", ["　防災・危機管理課 "], today=TODAY)
    assert [(r.referral_id, r.recipient) for r in result.referrals] == [("R7-0001-01", "防災・危機管理課")]


def test_a_failed_proposal_reopens_when_referred_elsewhere(desk: tuple[Config, Store]) -> None:
    config, store = desk
    result = refer(config, store, "R7-0004", ["防災・危機管理課"], today=TODAY)
    assert (result.status_before, result.status_after) == (Status.FAILED, Status.REFERRED)


def test_partners_only_for_proposals_from_the_prefecture(desk: tuple[Config, Store]) -> None:
    config, store = desk
    result = refer(config, store, "R7-0002", ["株式会社常陸ストア", "観光戦略課"], today=TODAY)
    assert [(r.recipient, r.is_department) for r in result.referrals] == [
        ("株式会社常陸ストア", False),
        ("観光戦略課", True),
    ]
    assert status(store, "R7-0002") == Status.REFERRED


@pytest.mark.parametrize(
    ("proposal", "to", "due", "message"),
    [
        ("R7-0999", ["観光戦略課"], None, "提案ID「R7-0999」は提案シートにありません"),
        ("", ["観光戦略課"], None, "提案ID「」は提案シートにありません"),
        ("R7-0001", ["観光戦略"], None, "照会先「観光戦略」は担当課マスタにありません。「観光戦略課」のことですか？"),
        ("R7-0001", ["株式会社常陸ストア"], None, "企業等への照会は、提案方向が「県→企業等」の提案だけです"),
        ("R7-0001", ["", " "], None, "照会先を --to で1つ以上指定してください"),
        ("R7-0001", ["観光戦略課"], date(2025, 6, 1), "回答期限 2025/6/1 が照会日 2025/6/2 より前です"),
        ("R7-0003", ["防災・危機管理課"], None, "既に「防災・危機管理課」へ照会しています（照会ID R7-0003-01）"),
    ],
)
def test_bad_arguments_change_nothing(
    desk: tuple[Config, Store], proposal: str, to: list[str], due: date | None, message: str
) -> None:
    config, store = desk
    before = store.book_version(None)
    with pytest.raises(UsageError) as e:
        refer(config, store, proposal, to, due=due, today=TODAY)
    assert message in str(e.value)
    assert e.value.exit_code == 2
    assert store.book_version(None) == before


def test_refer_waits_for_a_running_sync_then_gives_up(
    desk: tuple[Config, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store = desk
    monkeypatch.setattr(refer_module, "WRITE_LOCK_WAIT", 0.0)
    with store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0), pytest.raises(BusyError):
        refer(config, store, "R7-0001", ["観光戦略課"], today=TODAY)


def test_cli(tmp_path: Path) -> None:
    from kouminrenkei_sheets.init import init_desk
    from kouminrenkei_sheets.store.factory import open_store

    init_desk(tmp_path)
    config_path = tmp_path / "kouminrenkei.toml"
    store = open_store(load_config(config_path))
    store.apply(
        [
            AppendRows(SheetRef(DEPARTMENTS), ({"部局": "営業戦略部", "課": "観光戦略課"},)),
            AppendRows(SheetRef(PROPOSALS), ({"提案ID": "R7-0001", "ステータス": Status.RECEIVED},)),
        ]
    )
    runner = CliRunner()
    due = date.today() + timedelta(days=60)
    args = ["--config", str(config_path), "refer", "R7-0001", "--to", "観光戦略課", "--due", to_wareki(due)]
    out = runner.invoke(cli_module.cli, args)
    assert out.exit_code == 0, out.output
    assert "照会: R7-0001-01 → 観光戦略課（照会日 " in out.output
    assert f"回答期限 {due.year}/{due.month}/{due.day}）" in out.output
    assert "ステータス: R7-0001 受付 → 照会中" in out.output
    out = runner.invoke(cli_module.cli, ["--config", str(config_path), "refer", "R7-0001", "--to", "観光課"])
    assert out.exit_code == 2
    assert out.output.startswith("エラー: 照会先「観光課」は担当課マスタにありません。")
    out = runner.invoke(cli_module.cli, ["--config", str(config_path), "refer", "R7-0001", "--to", "観光戦略課",
                                         "--due", "2025/2/30"])  # fmt: skip
    assert out.exit_code == 2 and "日付として読めません" in out.output
