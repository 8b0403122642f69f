"""Bad-input corpus, the configuration file: each mistake a desk makes in kouminrenkei.toml is one
Japanese line naming the file, the line, what is written and what would be right; exit code 2; and
nothing in the desk folder is written (no register save, no log, no new folder). A file saved with
Notepad's BOM is accepted and works."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from _desk import run

from kouminrenkei_sheets.errors import ConfigError
from kouminrenkei_sheets.init import init_desk

CONFIG = "kouminrenkei.toml"
COMMANDS = (["validate"], ["sync"], ["run"])  # validate writes findings back, sync writes books, run a log


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template") / "desk"
    init_desk(folder, departments="tabs")
    return folder


@pytest.fixture
def desk(template: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "desk"
    shutil.copytree(template, folder)
    return folder


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file and folder under ``folder`` with its mtime and a hash of its bytes."""
    return {
        str(p.relative_to(folder)): (
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "",
        )
        for p in sorted(folder.rglob("*"))
    }


def line_of(text: str, written: str | int) -> int:
    """The line (1-based) where ``written`` last appears in the file's text (or that line number)."""
    return written if isinstance(written, int) else text[: text.rindex(written)].count("\n") + 1


def replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def append(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


# (id, how the desk's file is changed, the written text whose line is named, the message after "の")
EDITS = [
    ("mistyped section", replace("[store]", "[stroe]"), "[stroe]",
     "{n}行目: [stroe] は知らないセクションです。「store」のことですか？"),
    ("mistyped report section", replace("[report]", "[reprot]"), "[reprot]",
     "{n}行目: [reprot] は知らないセクションです。「report」のことですか？"),
    ("mistyped key", replace('backend = "xlsx"', 'bakend = "xlsx"'), "bakend",
     "{n}行目: store.bakend は知らない設定です。「backend」のことですか？"),
    ("key above every section", lambda text: 'backend = "xlsx"\n' + text, 1,
     '{n}行目: backend = "xlsx" がセクションの外に書かれています。[store] の行の下に書いてください。'),
    ("unterminated string", replace('governor = ""', 'governor = "大井川'), 'governor = "大井川',
     '{n}行目「governor = "大井川」: 文字列の " が行末までに閉じていません。'),
    ("windows path", replace('register = "register.xlsx"', 'register = "C:\\desk\\register.xlsx"'), "register = ",
     '{n}行目「register = "C:\\desk\\register.xlsx"」: 文字列の中の \\ は \\\\ と書くか、'
     "'…' で囲んでください（Windows のパスなど）。"),
    ("section twice", append('\n[store]\nbackend = "xlsx"\n'), "[store]",
     "{n}行目「[store]」: 同じセクションが2回あります。1つにまとめてください。"),
    ("string for a number", replace("answer_days = 30", 'answer_days = "30"'), "answer_days",
     '{n}行目: desk.answer_days = "30" は整数で指定してください（"…" で囲まずに 30 と書きます）。'),
    ("number for a string", replace('governor = ""', "governor = 0"), "governor = 0",
     '{n}行目: desk.governor = 0 は文字列で指定してください（"0" のように "…" で囲みます）。'),
    ("word for true/false", replace("cp932 = false", 'cp932 = "いいえ"'), "cp932 =",
     '{n}行目: publish.cp932 = "いいえ" は true か false で指定してください（"…" で囲みません）。'),
    ("unknown time zone", replace('time_zone = "Asia/Tokyo"', 'time_zone = "Asia/Tokio"'), "time_zone",
     '{n}行目: desk.time_zone = "Asia/Tokio" はタイムゾーン名ではありません。「Asia/Tokyo」のことですか？'),
    ("negative hours", replace("owner_file_stale_hours = 12", "owner_file_stale_hours = -1"), "owner_file_stale_hours",
     "{n}行目: store.owner_file_stale_hours = -1 は 0〜8760 の時間数にしてください（0 なら古さを知らせません）。"),
    ("unknown backend", replace('backend = "xlsx"', 'backend = "excel"'), 'backend = "excel"',
     '{n}行目: store.backend = "excel" は xlsx か gsheets を指定してください。'),
    ("mistyped backend", replace('backend = "xlsx"', 'backend = "xslx"'), 'backend = "xslx"',
     '{n}行目: store.backend = "xslx" は xlsx か gsheets を指定してください。「xlsx」のことですか？'),
    ("notify security", append('\n[notify]\nhost = "smtp.example.lg.jp"\nsecurity = "tls"\n'), 'security = "tls"',
     '{n}行目: notify.security = "tls" は starttls・ssl・none のどれかにしてください。'),
    ("intake column", append('\n[intake]\nmapping = { "会社名" = "会社" }\n'), "mapping =",
     '{n}行目: intake.mapping.会社名 = "会社" は「提案」シートにない列です（使える列: '),
    ("run log backups", append("\n[run]\nlog_backups = 0\n"), "log_backups",
     "{n}行目: run.log_backups = 0 は 1 以上の整数で指定してください。"),
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(("edit", "written", "message"), [e[1:] for e in EDITS], ids=[e[0] for e in EDITS])
def test_a_wrong_setting_is_one_line_and_writes_nothing(
    desk: Path, command: list[str], edit: Callable[[str], str], written: str | int, message: str
) -> None:
    path = desk / CONFIG
    text = edit(path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    expected = f"エラー: 設定ファイル {path} の" + message.format(n=line_of(text, written))
    assert_refused(desk, command, expected)


def assert_refused(desk: Path, command: list[str], expected: str, *, config: Path | None = None) -> None:
    before = snapshot(desk)
    result = run(config or desk / CONFIG, *command)
    assert result.exit_code == ConfigError.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # never a traceback
    if expected.endswith("（使える列: "):  # the list of columns is schema.py's
        assert result.output.startswith(expected), result.output
    else:
        assert result.output == expected + "\n"  # one line, exactly
    assert snapshot(desk) == before


NOTHING = "（設定が1つも書かれていません）。設定を書くか、このファイルを消して kouminrenkei init で作り直してください。"
SAVE_AS_UTF8 = (
    "文字コードを UTF-8 にして保存し直してください"
    "（メモ帳なら「名前を付けて保存」の「エンコード」で UTF-8 を選びます）。"
)
FILES = [
    ("empty", b"", "は空です" + NOTHING),
    ("only comments", "# 設定\n\n".encode(), "はコメントしかありません" + NOTHING),
    ("shift_jis", '# 設定\n[desk]\nname = "公民連携デスク"\n'.encode("cp932"),
     "の1行目が UTF-8 で読めません（Shift_JIS で保存されているようです）。" + SAVE_AS_UTF8),
    ("shift_jis below ascii lines", '[store]\nbackend = "xlsx"\n[desk]\nname = "公民連携デスク"\n'.encode("cp932"),
     "の4行目が UTF-8 で読めません（Shift_JIS で保存されているようです）。" + SAVE_AS_UTF8),
    ("utf-16", '[desk]\nname = "公民連携デスク"\n'.encode("utf-16"),
     "の1行目が UTF-8 で読めません（UTF-16 で保存されているようです）。" + SAVE_AS_UTF8),
    ("array of tables", b'[[store]]\nbackend = "xlsx"\n',
     "の [store] は表（セクション）でなければなりません（[store] の行の下に キー = 値 を書きます）。"),
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(("content", "message"), [f[1:] for f in FILES], ids=[f[0] for f in FILES])
def test_an_unreadable_file_is_one_line_and_writes_nothing(
    desk: Path, command: list[str], content: bytes, message: str
) -> None:
    path = desk / CONFIG
    path.write_bytes(content)
    assert_refused(desk, command, f"エラー: 設定ファイル {path} {message}")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_missing_config_path_is_one_line(desk: Path, command: list[str]) -> None:
    missing = desk / "kouminrenkei.tml"
    expected = f"エラー: 設定ファイル {missing} が見つかりません（--config に指定したパスを確かめてください）。"
    assert_refused(desk, command, expected, config=missing)


def test_a_utf8_bom_is_accepted_and_every_job_works(desk: Path) -> None:
    """Notepad saves UTF-8 with a BOM: the file reads exactly as without it."""
    path = desk / CONFIG
    plain = run(path, "validate", "--no-write-back")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    for command in (["validate", "--no-write-back"], ["validate"], ["sync"], ["report"]):
        result = run(path, *command)
        assert result.exit_code == 0, result.output
        assert "エラー" not in result.output.replace("エラー 0件", "")
    assert run(path, "validate", "--no-write-back").output == plain.output
    assert run(path, "run").exit_code == 0
    assert (desk / "logs" / "kouminrenkei.log").is_file()
