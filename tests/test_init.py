"""init's department layout (a book per department by default, tabs with a warning), and that what
``run`` leaves in 検証結果 is what a fresh check of the sheets finds."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner

from kouminrenkei_sheets.cli import cli
from kouminrenkei_sheets.config import load_config
from kouminrenkei_sheets.init import BOOKS_WHY, TABS_WARNING, init_desk
from kouminrenkei_sheets.refer import refer
from kouminrenkei_sheets.run import run
from kouminrenkei_sheets.schema import DEPARTMENTS, FINDINGS, PROPOSALS, Status
from kouminrenkei_sheets.store.base import AppendRows, SheetRef
from kouminrenkei_sheets.store.factory import open_store
from kouminrenkei_sheets.validate import validate


def test_init_makes_a_book_per_department_by_default_and_says_why(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "desk")])
    assert result.exit_code == 0, result.output
    assert BOOKS_WHY in result.stdout and TABS_WARNING not in result.output
    assert load_config(tmp_path / "desk" / "kouminrenkei.toml").store.departments == "books"
    assert init_desk(tmp_path / "lib").to_dict()["departments"] == "books"


def test_init_with_tabs_warns_that_every_department_sees_the_register(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "desk"), "--departments", "tabs"])
    assert result.exit_code == 0, result.output
    assert TABS_WARNING in result.stderr and TABS_WARNING not in result.stdout
    for what in ("個人情報", "アイデア保護", "他の課のタブ", "Excel で開いている間は同期できません"):
        assert what in TABS_WARNING
    assert load_config(tmp_path / "desk" / "kouminrenkei.toml").store.departments == "tabs"
    data = json.loads(
        CliRunner().invoke(cli, ["init", str(tmp_path / "j"), "--departments", "tabs", "--format", "json"]).stdout
    )
    assert (data["departments"], data["notes"]) == ("tabs", [TABS_WARNING])


def test_init_help_explains_the_choice() -> None:
    text = CliRunner().invoke(cli, ["init", "--help"]).output
    assert "[既定: books]" in text
    assert "課ごとの別ブック" in text and "個人情報" in text and "同期できません" in text


def test_findings_after_run_are_a_fresh_validate(tmp_path: Path) -> None:
    """run syncs before it validates: no 'book missing' for books the sync has just made."""
    init_desk(tmp_path, departments="books")
    config = load_config(tmp_path / "kouminrenkei.toml")
    store = open_store(config)
    store.apply(
        [
            AppendRows(SheetRef(DEPARTMENTS), ({"部局": "防災・危機管理部", "課": "防災政策課"},)),
            AppendRows(
                SheetRef(PROPOSALS),
                (
                    {
                        "提案ID": "R7-0001",
                        "受付日": "4月31日",  # a mistake: a finding that stays
                        "提案方向": "企業等→県",
                        "提案種別": "フリー型",
                        "提案者区分": "企業",
                        "提案者名": "株式会社常陸ストア",
                        "件名": "防災訓練",
                        "連携分野": "災害対策",
                        "連携手法": "未定",
                        "ステータス": Status.RECEIVED,
                    },
                ),
            ),
        ]
    )
    refer(config, store, "R7-0001", ["防災政策課"], today=date(2025, 5, 1))
    before = validate(config, open_store(config), write_back=False)
    assert "structure.missing_book" in {f.code for f in before.findings}  # the book sync will make

    run(config, store)
    written = open_store(config).read([SheetRef(FINDINGS)])[SheetRef(FINDINGS)]
    assert written is not None
    on_sheet = sorted(
        (str(r.get("コード")), str(r.get("シート")), r.get("行"), r.get("列"), r.get("キー")) for r in written.rows
    )
    fresh = validate(config, open_store(config), write_back=False)
    assert on_sheet == sorted((f.code, f.sheet, f.row, f.column, f.key) for f in fresh.findings)
    assert on_sheet and "structure.missing_book" not in {c[0] for c in on_sheet}
