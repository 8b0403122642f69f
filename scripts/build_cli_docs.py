"""Write docs/cli.md, the command reference, from each command's own ``--help`` (so it cannot drift).

python scripts/build_cli_docs.py           # rewrite docs/cli.md
python scripts/build_cli_docs.py --check   # exit 1 if docs/cli.md is not what --help says
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from click.testing import CliRunner

from kouminrenkei_sheets.cli import cli

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "cli.md"
WIDTH = 100  # the help is wrapped for this terminal width, whatever terminal runs the script

HEADER = """# コマンド一覧（kouminrenkei）

<!-- scripts/build_cli_docs.py が各コマンドの --help から生成します。直接編集しないでください。 -->

各コマンドの `--help`（`-h`）と同じ内容です。`--out` はどのコマンドでも **出力先のフォルダ** です
（`report --out` は、その中に `report-年月日.拡張子` を作ります。以前どおり `report.md` のように
形式の拡張子で終わるパスを渡すと、そのファイルに書きます）。

"""

FOOTER = """## 終了コード

| コード | 意味 | 返すコマンド |
|---|---|---|
| 0 | 正常 | すべて |
| 1 | 検証エラーがある、送れない宛先がある、作れない協定書がある（--all） | validate・run・notify・agreement |
| 2 | 使い方・設定の誤り（知らない提案ID・課名、設定ファイルの誤り、台帳が開けない） | すべて |
| 3 | 別の処理（sync・通知・取込）が実行中、台帳が Excel で開かれていて通知を次回に回した | sync・run・notify・intake |
| 4 | サービス（Google スプレッドシート・メールサーバー）が再試行後も失敗、接続できない | すべて |

## シェル補完

click の補完がそのまま使えます。次の 1 行をシェルの設定ファイルに加えてください。

```sh
# bash（~/.bashrc）
eval "$(_KOUMINRENKEI_COMPLETE=bash_source kouminrenkei)"
# zsh（~/.zshrc）
eval "$(_KOUMINRENKEI_COMPLETE=zsh_source kouminrenkei)"
# fish（~/.config/fish/completions/kouminrenkei.fish）
_KOUMINRENKEI_COMPLETE=fish_source kouminrenkei | source
```

## 表示の言語

画面の表示はすべて日本語です。ログ用に click の英語の表示が必要なときは、環境変数
`KOUMINRENKEI_LANG=en` を設定してください（このツール自身の表示は日本語のままです）。
"""


def help_text(args: list[str]) -> str:
    env = {"KOUMINRENKEI_LANG": ""}
    result = CliRunner().invoke(cli, [*args, "--help"], env=env, terminal_width=WIDTH, catch_exceptions=False)
    if result.exit_code != 0:  # pragma: no cover - a broken --help is a bug the tests report
        raise SystemExit(f"{' '.join(args)} --help が失敗しました: {result.output}")
    return result.output.rstrip() + "\n"


def render() -> str:
    """The whole of docs/cli.md."""
    parts = [HEADER, "## kouminrenkei\n\n```text\n", help_text([]), "```\n\n"]
    for name in sorted(cli.commands):
        parts += [f"## kouminrenkei {name}\n\n```text\n", help_text([name]), "```\n\n"]
    parts.append(FOOTER)
    return "".join(parts)


def main(argv: list[str]) -> int:
    os.environ.pop("KOUMINRENKEI_LANG", None)
    text = render()
    if "--check" in argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} が --help とずれています。python scripts/build_cli_docs.py で作り直してください。")
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"コマンド一覧を更新しました: {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
