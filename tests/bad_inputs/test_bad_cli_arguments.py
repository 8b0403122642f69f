"""Bad-input corpus, CLI arguments: each is one Japanese line, its exit code, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from _desk import make_desk, run, snapshot

from kouminrenkei_sheets.schema import Status

CASES = [
    # (arguments, exit code, the start of the one line on stderr)
    (["refer", "R7-10", "--to", "観光戦略課"], 1,
     "エラー: 提案シート 3行目の提案ID「R7-10」は形が正しくないため照会できません"
     "（\"R7-10\" は提案IDの形ではありません（例: R7-0001））。"),
    (["refer", "R7-9999", "--to", "観光戦略課"], 2, "エラー: 提案ID「R7-9999」は提案シートにありません。"),
    (["refer", "あいう", "--to", "観光戦略課"], 2,
     "エラー: 提案ID「あいう」は提案シートにありません。（\"あいう\" は提案IDの形ではありません（例: R7-0001））"),
    (["refer", "R7-0001", "--to", "総務/人事課"], 2, "エラー: 照会先「総務/人事課」は担当課マスタにありません。"),
    (["refer", "R7-0001", "--to", "観光戦略課", "--due", "2025/2/30"], 2, "エラー: '--due' の値が正しくありません"),
    (["refer", "R7-0001", "--to", " "], 2, "エラー: 照会先を --to で1つ以上指定してください"),
    (["sync", "--department", "ない課"], 2, "エラー: 「ない課」は担当課マスタにありません。"),
    (["agreement", "R7-\x00"], 2, "エラー:"),
    (["publish", "--fiscal-year", "令和百年度"], 2, "エラー: '--fiscal-year' の値が正しくありません"),
    (["intake", "answers.txt"], 2, "エラー:"),
    # bytes a shell passes that are not UTF-8 arrive as lone surrogates ("\udcff"): shown, never a crash
    (["sync", "--department", "\udcff"], 2, "エラー: 「"),
    (["refer", "R7-0001", "--to", "観光\udcfe課"], 2, "エラー: 照会先「観光"),
    (["agreement", "R7-\ud800"], 2, "エラー:"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "line"), CASES, ids=[" ".join(c[0])[:40] for c in CASES])
def test_a_bad_argument_is_one_line_and_writes_nothing(tmp_path: Path, args: list[str], code: int, line: str) -> None:
    proposals = [
        {"提案ID": "R7-0001", "ステータス": Status.RECEIVED},
        {"提案ID": "R7-10", "ステータス": Status.RECEIVED},  # typed by hand, badly formed
    ]
    _, _, config_path = make_desk(tmp_path, proposals)
    (tmp_path / "kouminrenkei.toml").write_text(
        (tmp_path / "kouminrenkei.toml").read_text(encoding="utf-8")
        + '\n[intake]\nmapping = { "会社名" = "提案者名" }\n',
        encoding="utf-8",
    )
    before = snapshot(tmp_path)
    result = run(config_path, *args)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # never a traceback
    assert "Traceback" not in result.output
    if line.startswith("エラー: '--"):  # click's own usage errors (in Japanese), with the usage line
        assert line in result.output
    else:
        assert result.output.startswith(line), result.output
        assert result.output.count("\n") == 1  # one line
    assert snapshot(tmp_path) == before
