"""Finding and reading kouminrenkei.toml; every wrong setting is one line naming the key and file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kouminrenkei_sheets.config import config_from_dict, find_config, key_lines, load_config, render_config
from kouminrenkei_sheets.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_rendered_config_loads_and_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "kouminrenkei.toml", render_config(governor="大井川 和彦")))
    assert cfg.store.backend == "xlsx"
    assert cfg.desk.governor == "大井川 和彦"
    assert cfg.desk.answer_days == 30
    assert cfg.resolve(cfg.store.register) == tmp_path.resolve() / "register.xlsx"


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "kouminrenkei.toml"
    path.write_bytes(b"\xef\xbb\xbf" + '[desk]\nname = "デスク"\n'.encode())  # as Notepad saves it
    assert load_config(path).desk.name == "デスク"


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KOUMINRENKEI_CONFIG", raising=False)
    assert find_config() == tmp_path / "kouminrenkei.toml"
    monkeypatch.setenv("KOUMINRENKEI_CONFIG", "/etc/kr.toml")
    assert find_config() == Path("/etc/kr.toml")
    assert find_config("given.toml") == Path("given.toml")


CASES = [
    # (file text, the whole message after "設定ファイル PATH の")
    (
        '[store]\nbackend = "excel"\n',
        '2行目: store.backend = "excel" は xlsx か gsheets を指定してください。',
    ),
    (
        '[store]\nbackend = "xslx"\n',
        '2行目: store.backend = "xslx" は xlsx か gsheets を指定してください。「xlsx」のことですか？',
    ),
    (
        '[store]\ndepartments = "sheets"\n',
        '2行目: store.departments = "sheets" は tabs か books を指定してください。',
    ),
    (
        "[desk]\nanswer_days = 0\n",
        "2行目: desk.answer_days = 0 は 1〜365 の日数にしてください。",
    ),
    (
        '[desk]\nanswer_days = "30"\n',
        '2行目: desk.answer_days = "30" は整数で指定してください（"…" で囲まずに 30 と書きます）。',
    ),
    (
        "[desk]\nanswer_days = 30.5\n",
        "2行目: desk.answer_days = 30.5 は整数で指定してください（例: 30）。",
    ),
    (
        "[desk]\ngovernor = 3\n",
        '2行目: desk.governor = 3 は文字列で指定してください（"3" のように "…" で囲みます）。',
    ),
    (
        '[publish]\ncp932 = "yes"\n',
        '2行目: publish.cp932 = "yes" は true か false で指定してください（"…" で囲みません）。',
    ),
    (
        '[desk]\nname = "x"\nfavourite = "x"\n',
        "3行目: desk.favourite は知らない設定です。使えるのは name、prefecture、governor、address"
        "、answer_days、actor、phone、time_zone です。",
    ),
    (
        'store = "x"\n',
        "1行目: [store] は表（セクション）でなければなりません（[store] の行の下に キー = 値 を書きます）。",
    ),
    (
        'backend = "xlsx"\n',
        '1行目: backend = "xlsx" がセクションの外に書かれています。[store] の行の下に書いてください。',
    ),
    (
        "[store\n",
        "1行目「[store」: セクション名の ] が閉じていません（例: [store]）。",
    ),
    (
        '[stroe]\nbackend = "xlsx"\n',
        "1行目: [stroe] は知らないセクションです。「store」のことですか？",
    ),
    (
        '[desk]\nname = "x"\n\n[reprot]\nout = "r"\n',
        "4行目: [reprot] は知らないセクションです。「report」のことですか？",
    ),
    (
        '[store]\nbakend = "xlsx"\n',
        "2行目: store.bakend は知らない設定です。「backend」のことですか？",
    ),
    (
        '[notify]\npassword = "x"\n',
        "2行目: notify.password は知らない設定です。パスワードは設定ファイルに書かず、入れた環境変数の名前を notify.p"
        "assword_env に書きます。",
    ),
    (
        "[desk]\nname = デスク\n",
        '2行目「name = デスク」: 値の書き方が正しくありません（文字列は "…" で囲み、true / false と数字はそのまま書き'
        "ます）。",
    ),
    (
        '[store]\nregister = "C:\\data\\r.xlsx"\n',
        "2行目「register = \"C:\\data\\r.xlsx\"」: 文字列の中の \\ は \\\\ と書くか、'…' で囲んで"
        "ください（Windows のパスなど）。",
    ),
    (
        '[desk]\nname = "a"\nname = "b"\n',
        '3行目「name = "b"」: 同じ設定が2回書かれています。1つにしてください。',
    ),
    (
        '[desk]\nname = "a\x01"\n',
        '2行目「name = "a␁"」: 使えない制御文字があります（タブ以外の制御文字は書けません）。',
    ),
    (
        '[intake]\nmapping = { "a" = "b"\n',
        '2行目「mapping = { "a" = "b"」: { … } が閉じていません（{ … } は1行に書きます）。',
    ),
    (
        "[publish]\nupdated = 2025-13-01\n",
        '2行目「updated = 2025-13-01」: 日付の書き方が正しくありません（例: 2025-04-01。文字のまま書くなら "'
        '…" で囲みます）。',
    ),
    (
        "[publish]\nupdated = 2025/10/1\n",
        '2行目「updated = 2025/10/1」: 日付の書き方が正しくありません（例: 2025-04-01。文字のまま書くなら "…'
        '" で囲みます）。',
    ),
    (
        "[publish]\nupdated = 2025-10-01\n",
        '2行目: publish.updated = 2025-10-01 は文字列で指定してください（"…" で囲みます）。',
    ),
    (
        '[publish]\nmunicipality_code = "080005"\n',
        '2行目: publish.municipality_code = "080005" は全国地方公共団体コード（6桁、検査数字付き。茨城県'
        "は 080004）にしてください。",
    ),
    (
        '[publish]\nupdated = "来週"\n',
        '2行目: publish.updated = "来週" を日付として読めません: ',
    ),
    (
        '[publish]\ncontact_email = "desk@"\n',
        '2行目: publish.contact_email = "desk@" が正しくありません: ',
    ),
    (
        '[publish]\nlicence_url = "creativecommons.org"\n',
        '2行目: publish.licence_url = "creativecommons.org" は https:// で始まるアドレスにしてください。',
    ),
    (
        '[publish]\nlicence = " "\n',
        "2行目: publish.licence が空です。利用条件（既定: クリエイティブ・コモンズ 表示 4.0 国際（CC BY 4.0）"
        "）を書いてください。",
    ),
    (
        '[desk]\ntime_zone = "Asia/Tokio"\n',
        '2行目: desk.time_zone = "Asia/Tokio" はタイムゾーン名ではありません。「Asia/Tokyo」のことですか？',
    ),
    (
        '[desk]\ntime_zone = "tokyo"\n',
        '2行目: desk.time_zone = "tokyo" はタイムゾーン名ではありません。「Asia/Tokyo」のことですか？',
    ),
    (
        '[desk]\ntime_zone = "JST"\n',
        '2行目: desk.time_zone = "JST" はタイムゾーン名ではありません。"Asia/Tokyo" のように 地域/都市 '
        "の形で書きます。",
    ),
    (
        "[store]\nowner_file_stale_hours = -1\n",
        "2行目: store.owner_file_stale_hours = -1 は 0〜8760 の時間数にしてください（0 なら古さを知らせません）。",
    ),
    (
        "[gsheets]\nreads_per_minute = 0\n",
        "2行目: gsheets.reads_per_minute = 0 は 1 以上の回数（1分あたり）にしてください。",
    ),
    (
        "[sync]\nlock_ttl = 5\n",
        "2行目: sync.lock_ttl = 5 は 10 秒以上にしてください。",
    ),
    (
        '[notify]\nsecurity = "tls"\n',
        '2行目: notify.security = "tls" は starttls・ssl・none のどれかにしてください。',
    ),
    (
        '[notify]\nsummary_weekday = "週末"\n',
        '2行目: notify.summary_weekday = "週末" は曜日（月〜日）で指定してください。',
    ),
    (
        "[notify]\nsummary_weekday = 7\n",
        "2行目: notify.summary_weekday = 7 は曜日（月〜日）で指定してください。",
    ),
    (
        "[notify]\nport = 70000\n",
        "2行目: notify.port = 70000 はポート番号（1〜65535）にしてください。",
    ),
    (
        "[notify]\nremind_every_days = -1\n",
        "2行目: notify.remind_every_days = -1 は 0〜365 の日数にしてください（0 は再通知しない）。",
    ),
    (
        '[notify]\nfrom = "desk"\n',
        '2行目: notify.from = "desk" はメールアドレスとして使えません: ',
    ),
    (
        "[run]\nlog_backups = 0\n",
        "2行目: run.log_backups = 0 は 1 以上の整数で指定してください。",
    ),
    (
        "[run]\nintake_sources = [3]\n",
        '2行目: run.intake_sources = [3] は取込元の一覧（例: ["forms/回答.csv", "gsheets:キ'
        'ー#フォームの回答 1"]）で指定してください。',
    ),
    (
        '[run]\nnotify = "yes"\n',
        '2行目: run.notify = "yes" は true か false で指定してください（"…" で囲みません）。',
    ),
    (
        '[intake]\ntimestamp = "日時"\n',
        '1行目: [intake] に mapping がありません。フォームの質問と台帳の列の対応を mapping = { "会社名" = '
        '"提案者名", … } のように書いてください。',
    ),
    (
        "[intake]\nmapping = {}\n",
        "2行目: intake.mapping が空です。フォームの質問 = 台帳の列 を書いてください。",
    ),
    (
        '[intake]\nmapping = "会社名"\n',
        '2行目: intake.mapping = "会社名" は表（{ "フォームの質問" = "台帳の列" }）で指定してください。',
    ),
    (
        '[intake]\nmapping = { "会社名" = 3 }\n',
        "2行目: intake.mapping.会社名 = 3 は台帳の列名（文字列）で指定してください。",
    ),
    (
        '[intake]\nmapping = { "会社名" = "提案者名" }\ndefaults = { "ステータス" = "受付" }\n',
        '3行目: intake.defaults.ステータス = "ステータス" は取込で自動的に入る列なので指定できません。',
    ),
    (
        '[intake]\n[intake.mapping]\n"会社名" = "会社"\n',
        '2行目: intake.mapping.会社名 = "会社" は「提案」シートにない列です（使える列: ',
    ),
]


@pytest.mark.parametrize(("text", "message"), CASES, ids=[c[1][:30] for c in CASES])
def test_a_wrong_setting_is_one_line_naming_file_line_and_fix(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "kouminrenkei.toml", text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    expected = f"設定ファイル {path} の{message}"
    if message.endswith(("です（使える列: ", ": ")):  # the rest is another module's wording
        assert str(err.value).startswith(expected), str(err.value)
    else:
        assert str(err.value) == expected
    assert "\n" not in str(err.value)


def test_without_a_file_the_message_names_the_setting() -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"store": {"backend": "excel"}})
    assert str(err.value) == '設定の store.backend = "excel" は xlsx か gsheets を指定してください。'


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "none.toml"
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"設定ファイル {path} が見つかりません（--config に指定したパスを確かめてください）。"


def test_a_folder_or_a_wrong_environment_path_says_which(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert (
        str(err.value)
        == f"設定ファイル {tmp_path} はフォルダです。設定ファイル（kouminrenkei.toml）のパスを指定してください。"
    )
    monkeypatch.setenv("KOUMINRENKEI_CONFIG", str(tmp_path / "x.toml"))
    with pytest.raises(ConfigError) as err:
        load_config()
    assert "（環境変数 KOUMINRENKEI_CONFIG に指定したパスを確かめてください）" in str(err.value)


def test_not_utf8_names_the_line_and_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "kouminrenkei.toml"
    path.write_bytes('[desk]\nname = "公民連携"\n'.encode("cp932"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(
        f"設定ファイル {path} の2行目が UTF-8 で読めません（Shift_JIS で保存されているようです）。"
    )
    path.write_bytes('[desk]\nname = "公民連携"\n'.encode("utf-16"))
    with pytest.raises(ConfigError, match="UTF-16 で保存されているようです"):
        load_config(path)


def test_the_job_sections_are_read_into_their_dataclasses(tmp_path: Path) -> None:
    text = (
        '[notify]\nhost = " smtp.example.jp "\nsecurity = "SSL"\n'
        'from = "ｄｅｓｋ＠example.jp"\nsummary_weekday = "金曜日"\n'
        '[intake]\nmapping = { " 会社名 " = "提案者名" }\nemail = ""\n'
        '[run]\nintake_sources = "forms/a.csv"\nnotify = false\n'
    )
    cfg = load_config(write(tmp_path / "k.toml", text))
    assert (cfg.notify.host, cfg.notify.security, cfg.notify.port) == ("smtp.example.jp", "ssl", 465)
    assert (cfg.notify.sender, cfg.notify.summary_weekday, cfg.notify.due_days) == ("desk@example.jp", 4, 7)
    assert cfg.intake.mapping == {"会社名": "提案者名"}
    assert (cfg.intake.timestamp, cfg.intake.email) == ("タイムスタンプ", "")
    assert cfg.run.intake_sources == ("forms/a.csv",) and cfg.run.notify is False
    assert cfg.run.log == "logs/kouminrenkei.log"
    assert cfg.has("notify") and not cfg.has("publish")


def test_a_port_written_wins_over_the_security_default() -> None:
    cfg = config_from_dict({"notify": {"security": "ssl", "port": 2465}})
    assert cfg.notify.port == 2465
    assert config_from_dict({"notify": {"security": "none"}}).notify.port == 25
    assert config_from_dict({}).notify.port == 587


@pytest.mark.parametrize("text", ["", "\n  \n", "# 空\n"])
def test_an_empty_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="設定が1つも書かれていません"):
        load_config(write(tmp_path / "k.toml", text))


def test_key_lines_find_headers_keys_and_dotted_tables() -> None:
    text = '# c\n[desk]\nname = "x"\n\n[intake.mapping]\n"会社名" = "提案者名"\n[store]\n  backend="xlsx"\n'
    lines = key_lines(text)
    assert lines[("desk", None)] == 2 and lines[("desk", "name")] == 3
    assert lines[("intake", None)] == 5 and lines[("intake", "mapping")] == 5
    assert lines[("store", "backend")] == 8


def toml_blocks(text: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", text, flags=re.S)


def test_every_setting_the_docs_show_loads(tmp_path: Path) -> None:
    """The README, the operations guide and a new file from init only use keys the loader knows."""
    root = Path(__file__).resolve().parents[1]
    blocks = [render_config(), render_config(backend="gsheets")]
    for doc in ("README.md", "docs/operations.ja.md"):
        blocks += toml_blocks((root / doc).read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    for i, block in enumerate(blocks):
        load_config(write(tmp_path / f"{i}.toml", block))  # raises on any unknown section or key


def test_publish_defaults_are_ibaraki_and_cc_by(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "k.toml", '[publish]\nupdated = "2025/10/1"\nmunicipality_code = "130001"\n'))
    assert cfg.publish.municipality_code == "130001"
    assert load_config(write(tmp_path / "d.toml", "[publish]\n")).publish.municipality_code == "080004"
    assert "CC BY 4.0" in cfg.publish.licence
