"""The command line's wiring: init and demo, exit codes, one-line Japanese errors, help for every command."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from kouminrenkei_sheets.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_init_creates_config_and_register(tmp_path: Path) -> None:
    code, out, _ = run("init", str(tmp_path / "desk"))
    assert code == 0
    assert (tmp_path / "desk" / "kouminrenkei.toml").is_file()
    assert (tmp_path / "desk" / "register.xlsx").is_file()
    assert "設定ファイルを作成しました" in out


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    run("init", str(tmp_path))
    code, _, err = run("init", str(tmp_path))
    assert code == 2
    assert err.strip() == (
        f"エラー: {tmp_path / 'kouminrenkei.toml'} と台帳（register.xlsx）は既にあります。"
        "設定を作り直すときは --force を付けてください（元の設定は .bak に残します）。"
    )


def test_init_gsheets_needs_a_register(tmp_path: Path) -> None:
    code, _, err = run("init", str(tmp_path), "--backend", "gsheets")
    assert code == 2
    assert "--register" in err


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "kouminrenkei.toml"
    cfg.write_text('[store]\nbackend = "excel"\n', encoding="utf-8")
    # any command that needs the configuration
    commands = [name for name in cli.commands if name not in ("init", "demo")]
    assert commands, "no command reads the configuration yet"
    code, out, err = run("--config", str(cfg), commands[0], *(["R7-0001"] if commands[0] in NEEDS_ID else []))
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("エラー: ") and "store.backend" in err
    assert "Traceback" not in out + err


NEEDS_ID = {"refer", "history", "agreement"}


def test_missing_config_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KOUMINRENKEI_CONFIG", raising=False)
    commands = [name for name in cli.commands if name not in ("init", "demo")]
    if not commands:
        pytest.skip("no command reads the configuration yet")
    code, _, err = run(commands[0], *(["R7-0001"] if commands[0] in NEEDS_ID else []))
    assert code == 2
    assert "kouminrenkei.toml が見つかりません" in err


def test_demo_builds_and_refuses_an_existing_folder(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    code, out, err = run("demo", str(target))
    assert code == 0, err
    assert f"デモの公民連携デスクを作成しました: {target.resolve()}" in out
    assert (target / "register.xlsx").is_file()
    code, _, err = run("demo", str(target))
    assert code == 2 and "--force" in err
    code, _, err = run("demo", str(target), "--force")
    assert code == 0, err


def test_demo_never_removes_a_folder_that_is_not_a_demo(tmp_path: Path) -> None:
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "大事な書類.txt").write_text("x", encoding="utf-8")
    code, _, err = run("demo", str(precious), "--force")
    assert code == 2 and "デモのフォルダではない" in err
    assert (precious / "大事な書類.txt").exists()


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        code, _out, _ = run(name, "--help")
        assert code == 0
        assert command.help and command.help.strip(), name
        assert re.search(rf"kouminrenkei (\[[^\]]*\] )?{name}\b", readme), f"README.md に {name} の説明がありません"


def test_python_dash_m_entry_point() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "kouminrenkei_sheets", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "公民連携" in done.stdout


def test_the_readme_python_examples_run_on_a_demo_desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Python blocks are run as written (in one namespace, in order) on a fresh demo desk."""
    from kouminrenkei_sheets.demo import build_demo

    build_demo(tmp_path / "desk", today=date(2026, 3, 2))
    monkeypatch.chdir(tmp_path / "desk")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 2
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert "f" in namespace and "report" in namespace
