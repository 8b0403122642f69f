"""Docs that cannot drift: docs/cli.md is what --help says, and README's 「自分のデスクを始める」 runs.

The README's shell blocks are run in order, in a fresh folder; between them the test does what the
README asks a person to do by hand in Excel (register a 課, type a proposal, the 課 answers).
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from kouminrenkei_sheets.cli import cli
from kouminrenkei_sheets.config import CONFIG_NAME, load_config
from kouminrenkei_sheets.departments import load_departments
from kouminrenkei_sheets.schema import DEPARTMENTS, PROPOSALS, REFERRALS, Answer, Status
from kouminrenkei_sheets.store.base import AppendRows, RowKey, SetCell, SheetRef, Store
from kouminrenkei_sheets.store.factory import open_store

ROOT = Path(__file__).resolve().parents[1]


def build_cli_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_cli_docs", ROOT / "scripts" / "build_cli_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_what_help_says() -> None:
    docs = build_cli_docs()
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == docs.render(), (
        "docs/cli.md が --help とずれています。python scripts/build_cli_docs.py で作り直してください。"
    )


def test_cli_reference_has_every_command_and_option() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        section = text[text.index(f"## kouminrenkei {name}\n") :]
        section = section[: section.index("```\n\n")]
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert opt in section, f"docs/cli.md の {name} に {opt} がありません"
    assert "_KOUMINRENKEI_COMPLETE=bash_source kouminrenkei" in text


def readme_blocks() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## 自分のデスクを始める") :]
    section = section[: section.index("\n## ", 10)]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [[line.strip() for line in block.splitlines() if line.strip()] for block in blocks]


def store_of(folder: Path) -> Store:
    return open_store(load_config(folder / CONFIG_NAME))


def register_a_department_and_a_proposal(folder: Path) -> None:
    """README steps 2–4: the desk fills in [desk], the 担当課 master and one proposal."""
    config = folder / CONFIG_NAME
    text = config.read_text(encoding="utf-8").replace('governor = ""', 'governor = "山田　一郎"')
    config.write_text(text, encoding="utf-8")
    store_of(folder).apply(
        [
            AppendRows(SheetRef(DEPARTMENTS), ({"部局": "営業戦略部", "課": "観光戦略課"},)),
            AppendRows(
                SheetRef(PROPOSALS),
                (
                    {
                        "提案ID": "R7-0001",
                        "受付日": date(2025, 5, 1),
                        "提案方向": "企業等→県",
                        "提案種別": "フリー型",
                        "提案者区分": "企業",
                        "提案者名": "株式会社常陸ストア",
                        "件名": "県産品の販路拡大での連携",
                        "連携分野": "観光・産業振興",
                        "連携手法": "事業連携協定",
                        "ステータス": Status.RECEIVED,
                    },
                ),
            ),
        ]
    )


def the_department_answers(folder: Path) -> None:
    """README step 6: 観光戦略課 types its answer into its own tab and saves."""
    config = load_config(folder / CONFIG_NAME)
    store = open_store(config)
    ref = load_departments(config, store)["観光戦略課"].ref
    table = store.read([ref])[ref]
    assert table is not None and len(table.rows) == 1, "sync で担当課のタブに照会が並んでいません"
    row = RowKey("照会ID", str(table.rows[0].get("照会ID")))
    store.apply(
        [
            SetCell(ref, row, "回答", Answer.YES),
            SetCell(ref, row, "回答日", date.today()),
            SetCell(ref, row, "回答理由・コメント", "来年度事業として実施可能"),
        ]
    )


BY_HAND: list[Callable[[Path], None] | None] = [
    register_a_department_and_a_proposal,  # after init: steps 2–4
    None,  # after validate: straight to refer
    the_department_answers,  # after the first sync
]


def test_readme_start_your_own_desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KOUMINRENKEI_CONFIG", raising=False)
    blocks = readme_blocks()
    assert len(blocks) == len(BY_HAND) + 1, "README の「自分のデスクを始める」の手順がこのテストとずれています"
    outputs: list[str] = []
    for block, by_hand in zip(blocks, [*BY_HAND, None], strict=True):
        for line in block:
            words = shlex.split(line)
            if words[0] == "cd":
                monkeypatch.chdir(Path.cwd() / words[1])
                continue
            assert words[0] == "kouminrenkei", line
            result = CliRunner().invoke(cli, words[1:], catch_exceptions=False)
            assert result.exit_code == 0, (line, result.output)
            outputs.append(result.output)
        if by_hand:
            by_hand(Path.cwd())
    desk = tmp_path / "my-desk"
    referrals = store_of(desk).read([SheetRef(REFERRALS)])[SheetRef(REFERRALS)]
    assert referrals is not None
    assert [(r.get("照会ID"), r.get("回答")) for r in referrals.rows] == [("R7-0001-01", Answer.YES)]
    history = outputs[-2]
    assert history.startswith("R7-0001 の変更履歴（古い順）") and "回答取込" in history
