"""The Japanese catalogue for the command line's own words: click's messages, metavars, OS errors.

click passes every message through gettext; :class:`JapaneseCatalogue` answers those look-ups from
the table below, and ``cli.py`` installs it. ``KOUMINRENKEI_LANG=en`` keeps click's English (for logs).
"""

from __future__ import annotations

import errno
import os
import re
from typing import Final

LANG_ENV: Final = "KOUMINRENKEI_LANG"

# click 8.1–8.x message ids (gettext msgid → 日本語). Placeholders stay as click formats them.
CLICK_MESSAGES: Final[dict[str, str]] = {
    # help
    "Usage:": "使い方:",
    "Options": "オプション",
    "Commands": "コマンド",
    "Positional arguments": "引数",
    "Show this message and exit.": "このヘルプを表示して終了します。",
    "Show the version and exit.": "バージョンを表示して終了します。",
    "%(prog)s, version %(version)s": "%(prog)s バージョン %(version)s",
    "default: {default}": "既定: {default}",
    "env var: {var}": "環境変数: {var}",
    "required": "必須",
    "(dynamic)": "（実行時に決定）",
    "deprecated": "非推奨",
    "Choose from:\n\t{choices}": "次から選んでください:\n\t{choices}",
    "Choice({choices})": "選択肢（{choices}）",
    # errors
    "Error: {message}": "エラー: {message}",
    "Try '{command} {option}' for help.": "使い方は '{command} {option}' で確認できます。",
    "Invalid value: {message}": "値が正しくありません: {message}",
    "Invalid value for {param_hint}: {message}": "{param_hint} の値が正しくありません: {message}",
    "Missing argument": "必須の引数を指定してください:",
    "Missing option": "必須のオプションを指定してください:",
    "Missing parameter": "必須の指定がありません:",
    "Missing {param_type}": "{param_type}がありません",
    "Missing parameter: {param_name}": "指定がありません: {param_name}",
    "argument": "引数",
    "option": "オプション",
    "parameter": "指定",
    "No such option {name!r}.": "{name!r} というオプションはありません。",
    "No such option: {name}": "{name} というオプションはありません。",
    "No such command {name!r}.": "{name!r} というコマンドはありません。",
    "Missing command.": "コマンドを指定してください。",
    "unknown error": "不明なエラー",
    "Aborted!": "中断しました。",
    "Could not open file {filename!r}: {message}": "ファイル {filename!r} を開けません: {message}",
    "Value must be an iterable.": "値は並び（複数の値）でなければなりません。",
    "Option {name!r} does not take a value.": "オプション {name!r} は値をとりません。",
    "Argument {name!r} takes {nargs} values.": "引数 {name!r} には値を {nargs} 個指定します。",
    "Invalid start character for option ({option})": "オプションの先頭の文字が正しくありません（{option}）",
    "{value!r} is not a valid {number_type}.": "{value!r} は{number_type}ではありません。",
    "{value} is not in the range {range}.": "{value} は範囲 {range} にありません。",
    "{value!r} is not a valid boolean. Recognized values: {states}": (
        "{value!r} は真偽値として読めません。使える値: {states}"
    ),
    "{value!r} is not a valid UUID.": "{value!r} は UUID ではありません。",
    "integer": "整数",
    "float": "数値",
    "file": "ファイル",
    "directory": "フォルダ",
    "path": "パス",
    "{name} {filename!r} does not exist.": "{name} {filename!r} がありません。",
    "{name} {filename!r} is a file.": "{name} {filename!r} はファイルです（フォルダを指定してください）。",
    "{name} {filename!r} is a directory.": "{name} {filename!r} はフォルダです（ファイルを指定してください）。",
    "{name} {filename!r} is not readable.": "{name} {filename!r} を読めません。",
    "{name} {filename!r} is not writable.": "{name} {filename!r} に書き込めません。",
    "{name} {filename!r} is not executable.": "{name} {filename!r} を実行できません。",
    "Do you want to continue?": "続けますか？",
    "Confirm the action without prompting.": "確認せずに実行します。",
    "Repeat for confirmation": "確認のためもう一度入力してください",
    "Error: The two entered values do not match.": "エラー: 二つの入力が一致しません。",
    "Error: invalid input": "エラー: 入力が正しくありません",
    "Press any key to continue...": "何かキーを押すと続けます…",
    "Shell completion is not supported for Bash versions older than 4.4.": (
        "Bash 4.4 より古い版では補完を使えません。"
    ),
    "Couldn't detect Bash version, shell completion is not supported.": (
        "Bash の版が分からないため、補完を使えません。"
    ),
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}": (
        "注意: コマンド {name!r} は非推奨です。{extra_message}"
    ),
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}": (
        "注意: {param_type} {name!r} は非推奨です。{extra_message}"
    ),
}

# (singular, plural) → 日本語 (Japanese has no plural: one text for both).
CLICK_PLURALS: Final[dict[tuple[str, str], str]] = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"): (
        "余分な引数があります（{args}）"
    ),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."): (
        "値を {nargs} 個指定します（指定されたのは {len} 個）。"
    ),
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"): "（もしかして: {possibilities}）",
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."): (
        "オプション {name!r} には値を指定してください。"
    ),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."): (
        "{value!r} は使えません。{choices} のどれかを指定してください。"
    ),
    ("{value!r} does not match the format {format}.", "{value!r} does not match the formats {formats}."): (
        "{value!r} は書式 {formats} に合いません。"
    ),
    (
        "{len_type} values are required, but {len_value} was given.",
        "{len_type} values are required, but {len_value} were given.",
    ): "値が {len_type} 個必要ですが、{len_value} 個です。",
}


def english_requested() -> bool:
    """Whether a setting asks for click's English (``KOUMINRENKEI_LANG=en``), e.g. for a log."""
    return os.environ.get(LANG_ENV, "").strip().lower().startswith("en")


class JapaneseCatalogue:
    """gettext / ngettext over the tables above; an unknown message stays as click wrote it."""

    def gettext(self, message: str) -> str:
        if english_requested():
            return message
        return CLICK_MESSAGES.get(message, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        if english_requested():
            return singular if n == 1 else plural
        text = CLICK_PLURALS.get((singular, plural))
        if text is None:
            return singular if n == 1 else plural
        # the singular forms name their placeholder in the singular; give both spellings the same text
        if "{possibilities}" in text and n == 1:
            return text.replace("{possibilities}", "{possibility}")
        if "{choices}" in text and n == 1:
            return text.replace("{choices}", "{choice}")
        if "{formats}" in text and n == 1:
            return text.replace("{formats}", "{format}")
        if "{len}" in text and n == 1:
            return text.replace("{len}", "1")
        return text


CATALOGUE: Final = JapaneseCatalogue()

# ---------------------------------------------------------------- OS errors
_ERRNO_TEXT: Final[dict[int, str]] = {
    errno.ECONNREFUSED: "接続を拒否されました（サーバーが動いていないか、ホスト名・ポートが違います）",
    errno.ECONNRESET: "接続が途中で切れました",
    errno.ETIMEDOUT: "応答がありません（タイムアウト）",
    errno.EHOSTUNREACH: "サーバーに届きません（ネットワークを確認してください）",
    errno.ENETUNREACH: "ネットワークに接続できません",
    errno.ENOENT: "ファイルまたはフォルダがありません",
    errno.EACCES: "アクセスが許可されていません",
    errno.EPERM: "操作が許可されていません",
    errno.ENOSPC: "ディスクの空きがありません",
    errno.EEXIST: "既にあります",
    errno.EISDIR: "フォルダです",
    errno.ENOTDIR: "フォルダではありません",
}
_ERRNO_PATTERN = re.compile(r"\[Errno (-?\d+)\] ([^:：,，)）\]]+)")
_GAI_PATTERN = re.compile(r"\[Errno -?\d+\] (?:Name or service not known|nodename nor servname provided[^:,)]*)")


def os_error_text(error: OSError) -> str:
    """An OSError as one Japanese phrase: 「接続を拒否されました（…）」, not ``[Errno 111] Connection refused``."""
    import socket

    if isinstance(error, socket.gaierror):
        return "サーバー名が見つかりません（ホスト名を確認してください）"
    if isinstance(error, TimeoutError) and error.errno is None:
        return _ERRNO_TEXT[errno.ETIMEDOUT]
    if error.errno in _ERRNO_TEXT:
        text = _ERRNO_TEXT[error.errno]
        return f"{text}: {error.filename}" if error.filename else text
    return japanese_os_errors(str(error)) or type(error).__name__


def japanese_os_errors(text: str) -> str:
    """Replace every ``[Errno N] English`` inside a message with its Japanese phrase (a safety net)."""
    text = _GAI_PATTERN.sub("サーバー名が見つかりません（ホスト名を確認してください）", text)

    def replace(match: re.Match[str]) -> str:
        known = _ERRNO_TEXT.get(int(match.group(1)))
        return known if known else match.group(0)

    return _ERRNO_PATTERN.sub(replace, text)
