"""Finding and reading kouminrenkei.toml; every wrong setting is one line naming the key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kouminrenkei_sheets.config import find_config, load_config, render_config
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[store]\nbackend = "excel"\n', "store.backend = 'excel' は xlsx か gsheets"),
        ('[store]\ndepartments = "sheets"\n', "store.departments"),
        ("[desk]\nanswer_days = 0\n", "desk.answer_days = 0"),
        ('[desk]\nanswer_days = "30"\n', "desk.answer_days = '30' は 整数"),
        ("[desk]\ngovernor = 3\n", "desk.governor = 3 は 文字列"),
        ('[desk]\nfavourite = "x"\n', "desk.favourite は知らない設定"),
        ('store = "x"\n', "[store] は表"),
        ("[store\n", "の1行目「[store」: セクション名の ] が閉じていません（例: [store]）。"),
        ('[stroe]\nbackend = "xlsx"\n', "の [stroe] は知らないセクションです。「store」のことですか？"),
        ('[reprot]\nout = "r"\n', "の [reprot] は知らないセクションです。「report」のことですか？"),
        ('[store]\nbakend = "xlsx"\n', "の store.bakend は知らない設定です。「backend」のことですか？"),
        ("[desk]\nname = デスク\n", "の2行目「name = デスク」: 値の書き方が正しくありません"),
        ('[store]\nregister = "C:\\data\\r.xlsx"\n', 'の2行目「register = "C:\\data\\r.xlsx"」: 文字列の中の \\ は'),
        ('[desk]\nname = "a"\nname = "b"\n', 'の3行目「name = "b"」: 同じ設定が2回書かれています'),
        ('[publish]\nmunicipality_code = "080005"\n', "publish.municipality_code = '080005' は全国地方公共団体コード"),
        ('[publish]\nmunicipality_code = "08000"\n', "茨城県は 080004"),
        ('[publish]\nupdated = "来週"\n', "publish.updated = '来週' を日付として読めません"),
        ('[publish]\ncontact_email = "desk@"\n', "publish.contact_email = 'desk@' が正しくありません"),
        ('[publish]\nlicence_url = "creativecommons.org"\n', "publish.licence_url = 'creativecommons.org' は https://"),
        ('[publish]\nlicence = " "\n', "publish.licence が空です"),
    ],
)
def test_wrong_setting_names_key_and_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "kouminrenkei.toml", text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value).strip()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="見つかりません"):
        load_config(tmp_path / "none.toml")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "kouminrenkei.toml"
    path.write_bytes('[desk]\nname = "公民連携"\n'.encode("cp932"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)


def test_unknown_sections_are_kept_for_later_jobs(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "k.toml", '[notify]\nhost = "127.0.0.1"\n'))
    assert cfg.section("notify") == {"host": "127.0.0.1"}
    assert cfg.section("intake") == {}


def test_publish_defaults_are_ibaraki_and_cc_by(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "k.toml", '[publish]\nupdated = "2025/10/1"\nmunicipality_code = "130001"\n'))
    assert cfg.publish.municipality_code == "130001"
    assert load_config(write(tmp_path / "d.toml", "")).publish.municipality_code == "080004"
    assert "CC BY 4.0" in cfg.publish.licence
