"""Every word the command line shows a person is Japanese: every command's and option's help, and the
error for every wrong value, missing value and unknown option (click's own messages included)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kouminrenkei_sheets.cli import DATE, FISCAL_YEAR, cli
from kouminrenkei_sheets.messages import CLICK_MESSAGES, CLICK_PLURALS, japanese_os_errors

# Three English words in a row is a sentence nobody translated; the rest are click's short words.
ENGLISH_SENTENCE = re.compile(r"\b[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,}){2,}\b")
ENGLISH_WORDS = re.compile(
    r"\b(?:Usage|Options|Commands|Error|Missing|Invalid|Try|Did you mean|default|required|version|"
    r"Show|No such|not one of|is not|does not|requires|Aborted|Got unexpected)\b"
)


def english_in(text: str) -> list[str]:
    """The English a person would read in ``text`` (quoted values, paths and option names aside)."""
    text = re.sub(r"'[^']*'", "", text)  # a value or option as it was typed: 'xml', '--to'
    text = re.sub(r"(?:[A-Za-z]:)?[/\\][^\s（）、。]*", "", text)  # paths
    text = re.sub(r"--?[a-z][a-z-]*", "", text)  # option names
    return ENGLISH_SENTENCE.findall(text) + ENGLISH_WORDS.findall(text)


def commands() -> Iterator[tuple[list[str], click.Command]]:
    yield [], cli
    for name, command in sorted(cli.commands.items()):
        yield [name], command


COMMANDS = list(commands())


def wrong_values(param: click.Parameter, tmp_path: Path) -> list[str]:
    """Values click rejects for this option before any work starts."""
    kind = param.type
    if isinstance(kind, click.Choice):
        return ["xml"]
    if kind is DATE:
        return ["2025/2/30", "きのう"]
    if kind is FISCAL_YEAR:
        return ["X99"]
    if isinstance(kind, click.types.IntParamType):
        return ["たくさん", "0"] if param.name == "limit" else ["たくさん"]
    if isinstance(kind, click.Path) and not kind.file_okay:
        a_file = tmp_path / "a-file.txt"
        a_file.write_text("x", encoding="utf-8")
        return [str(a_file)]
    if isinstance(kind, click.Path) and not kind.dir_okay:
        return [str(tmp_path)]
    return []


def run(args: list[str]) -> click.testing.Result:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "kouminrenkei" for p, _ in COMMANDS])
def test_help_is_japanese_and_complete(path: list[str], command: click.Command) -> None:
    result = run([*path, "--help"])
    assert result.exit_code == 0, result.output
    assert english_in(result.output) == [], result.output
    assert result.output.startswith("使い方: kouminrenkei")
    assert "オプション:" in result.output
    assert command.help and command.get_short_help_str(200).strip()
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{' '.join(path)} {param.opts[0]} に説明がありません"
            assert param.opts[0] in result.output


def test_every_command_is_listed_with_a_japanese_summary() -> None:
    out = run(["--help"]).output
    listing = out[out.index("コマンド:") :].splitlines()[1:]
    names = {line.split()[0]: line.split(maxsplit=1)[1] for line in listing if line.strip()}
    assert set(names) == set(cli.commands)
    for name, summary in names.items():
        assert re.search(r"[ぁ-んァ-ヶ一-龠]", summary), (name, summary)
        assert not summary.endswith("..."), (name, summary)


def test_version_line_is_japanese() -> None:
    result = run(["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"kouminrenkei バージョン \d+\.\d+\.\d+\S*\n", result.output)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "kouminrenkei" for p, _ in COMMANDS])
def test_wrong_values_are_japanese_usage_errors(path: list[str], command: click.Command, tmp_path: Path) -> None:
    cases: list[list[str]] = [[*path, "--no-such-option"]]
    for param in command.params:
        if not isinstance(param, click.Option) or param.name in ("help", "version"):
            continue
        option = param.opts[0]
        if param.is_flag:
            cases.append([*path, f"{option}=はい"])
        else:
            cases.append([*path, option])  # the value is missing
            cases.extend([*path, option, value] for value in wrong_values(param, tmp_path))
    if isinstance(command, click.Group):
        cases += [["no-such-command"], ["valdate"]]
    for args in cases:
        result = run(args)
        assert result.exit_code == 2, (args, result.output)
        assert "エラー: " in result.output, (args, result.output)
        assert english_in(result.output) == [], (args, result.output)


def test_missing_arguments_and_options_are_japanese() -> None:
    result = run(["refer"])
    assert result.exit_code == 2
    assert "エラー: 必須の引数を指定してください: '提案ID'." in result.output
    result = run(["refer", "R7-0001"])
    assert "エラー: 必須のオプションを指定してください: '--to'." in result.output
    result = run(["init", "--backend", "xml"])
    expected = (
        "エラー: '--backend' の値が正しくありません: 'xml' は使えません。'xlsx', 'gsheets' のどれかを指定してください。"
    )
    assert expected in result.output
    result = run(["validate", "--frmat", "json"])
    assert "エラー: '--frmat' というオプションはありません。 （もしかして: '--format'）" in result.output


def test_english_stays_available_for_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOUMINRENKEI_LANG", "en")
    result = run(["refer", "R7-0001"])
    assert "Error: Missing option '--to'." in result.output


def test_the_catalogue_keeps_clicks_placeholders() -> None:
    for english, japanese in CLICK_MESSAGES.items():
        assert set(re.findall(r"\{\w+[^}]*\}|%\(\w+\)s", english)) == set(
            re.findall(r"\{\w+[^}]*\}|%\(\w+\)s", japanese)
        ), english
    for (_, plural), japanese in CLICK_PLURALS.items():
        assert set(re.findall(r"\{\w+\}", japanese)) <= set(re.findall(r"\{\w+\}", plural)), plural


REFUSED = "接続を拒否されました（サーバーが動いていないか、ホスト名・ポートが違います）"
NO_HOST = "サーバー名が見つかりません（ホスト名を確認してください）"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("SMTP サーバー localhost:2525 に接続できません: [Errno 111] Connection refused",
         f"SMTP サーバー localhost:2525 に接続できません: {REFUSED}"),
        ("Google に接続できません（[Errno -2] Name or service not known）", f"Google に接続できません（{NO_HOST}）"),
        ("[Errno 110] Connection timed out", "応答がありません（タイムアウト）"),
        ("台帳を読めません: [Errno 9999] Something odd", "台帳を読めません: [Errno 9999] Something odd"),
    ],
)  # fmt: skip
def test_os_errors_read_as_japanese(message: str, expected: str) -> None:
    assert japanese_os_errors(message) == expected
