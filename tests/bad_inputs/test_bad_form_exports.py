"""Bad-input corpus, form exports: each bad file is one Japanese line, exit 2, and nothing written."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from _desk import make_desk, run, snapshot

from kouminrenkei_sheets.config import load_config
from kouminrenkei_sheets.intake import intake

CASES = [
    # (file name, bytes, the one line on stderr after "エラー: ")
    ("bad.csv", b"\xff\xfe\x00\x81\x00",
     "bad.csv の文字コードが分かりません。UTF-8（BOM 付き可）か Shift_JIS（cp932）で保存してください。"),
    ("q.csv", "タイムスタンプ,氏名\r\n2025/5/1 9:00:00,x\r\n".encode(),
     "設定ファイル {config} の intake.email の質問「メールアドレス」が取込元 q.csv の見出しにありません"
     "（見出し: タイムスタンプ、氏名）。"),
    ("empty.csv", b"",
     "設定ファイル {config} の intake.timestamp の質問「タイムスタンプ」が取込元 empty.csv の見出しにありません"
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


def test_an_error_value_in_a_form_export_is_kept_as_its_text_and_said(tmp_path: Path) -> None:
    _, store, config_path = make_desk(tmp_path)
    config_path.write_text(
        config_path.read_text(encoding="utf-8") + '\n[intake]\nmapping = { "会社名" = "提案者名", "件名" = "件名" }\n',
        encoding="utf-8",
    )
    config = load_config(config_path)
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["タイムスタンプ", "メールアドレス", "会社名", "件名"])
    ws.append(["2025/05/01 9:15:30", "a@example.jp", "株式会社エー", "=CONCAT(A1)"])  # no stored result
    ws["C2"] = "#REF!"  # an error cell
    wb.save(tmp_path / "form.xlsx")
    [answer] = intake(config, store, str(tmp_path / "form.xlsx")).imported
    assert answer.notes == [
        "提案者名はエラー値「#REF!」が入っていて、値が分かりません（数式か参照を直してください）。"
        "セルの文字「#REF!」のまま取り込みました（元の回答を確かめてください）",
        "件名は数式「=CONCAT(A1)」の結果がブックに保存されていないため、値が分かりません"
        "（Excel で開いて保存し直すか、数式をやめて値を入力してください）。"
        "セルの文字「=CONCAT(A1)」のまま取り込みました（元の回答を確かめてください）",
    ]
