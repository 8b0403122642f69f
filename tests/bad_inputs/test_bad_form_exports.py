"""Bad-input corpus, form exports: each bad file is one Japanese line, exit 2, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from _desk import make_desk, run, snapshot

CASES = [
    # (file name, bytes, the one line on stderr after "エラー: ")
    ("bad.csv", b"\xff\xfe\x00\x81\x00",
     "bad.csv の文字コードが分かりません。UTF-8（BOM 付き可）か Shift_JIS（cp932）で保存してください。"),
    ("q.csv", "タイムスタンプ,氏名\r\n2025/5/1 9:00:00,x\r\n".encode(),
     "{config} の intake.email の質問「メールアドレス」が取込元 q.csv の見出しにありません"
     "（見出し: タイムスタンプ、氏名）。"),
    ("empty.csv", b"",
     "{config} の intake.timestamp の質問「タイムスタンプ」が取込元 empty.csv の見出しにありません"
     "（見出し: （なし））。"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "data", "line"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_form_export_is_one_line_and_writes_nothing(tmp_path: Path, name: str, data: bytes, line: str) -> None:
    _, _, config_path = make_desk(tmp_path)
    config_path.write_text(
        config_path.read_text(encoding="utf-8") + '\n[intake]\nmapping = { "会社名" = "提案者名" }\n', encoding="utf-8"
    )
    (tmp_path / name).write_bytes(data)
    before = snapshot(tmp_path)
    result = run(config_path, "intake", str(tmp_path / name))
    assert result.exit_code == 2, result.output
    expected = "エラー: " + line.format(config=config_path)
    assert result.output.replace(str(tmp_path / name), name) == expected + "\n"
    assert snapshot(tmp_path) == before
