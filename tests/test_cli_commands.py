"""The commands a desk lives in, on a real (demo) desk: --format json pinned to each library result,
report --mark, run --wait, notify --dry-run without SMTP, history by 照会ID, the config found from a
subfolder, init on an existing config, progress on stderr, long listings cut with --limit/--all."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kouminrenkei_sheets.cli import cli, progress_display
from kouminrenkei_sheets.config import CONFIG_NAME, find_config, load_config
from kouminrenkei_sheets.schema import DEPARTMENTS, HISTORY, PROPOSALS, HistoryKind, Status
from kouminrenkei_sheets.store.base import AppendRows, SheetRef
from kouminrenkei_sheets.store.factory import open_store


@pytest.fixture(scope="module")
def demo_desk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kouminrenkei_sheets.demo import build_demo

    folder = tmp_path_factory.mktemp("demo") / "desk"
    build_demo(folder, echo=lambda line: None)
    return folder


@pytest.fixture
def desk(demo_desk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the demo desk, as the current folder."""
    folder = tmp_path / "desk"
    shutil.copytree(demo_desk, folder, ignore=shutil.ignore_patterns("*.lock*"))
    monkeypatch.chdir(folder)
    monkeypatch.delenv("KOUMINRENKEI_CONFIG", raising=False)
    return folder


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def capture(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[Any]:
    """Wrap the real library function so the test sees exactly what the command got back."""
    seen: list[Any] = []
    real: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(module, name, wrapper)
    return seen


def as_json(data: Any) -> Any:
    return json.loads(json.dumps(data, ensure_ascii=False))


def a_received_proposal(desk: Path) -> tuple[str, str]:
    store = open_store(load_config(desk / CONFIG_NAME))
    tables = store.read([SheetRef(PROPOSALS), SheetRef(DEPARTMENTS)])
    pid = next(str(r.get("提案ID")) for r in tables[SheetRef(PROPOSALS)].rows if r.get("ステータス") == Status.RECEIVED)
    department = str(tables[SheetRef(DEPARTMENTS)].rows[0].get("課"))
    return pid, department


# ---------------------------------------------------------------- --format json = the library's to_dict()
def test_refer_json_is_the_library_result(desk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kouminrenkei_sheets import refer

    pid, department = a_received_proposal(desk)
    seen = capture(monkeypatch, refer, "refer")
    result = invoke("refer", pid, "--to", department, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == as_json(seen[0].to_dict())
    assert json.loads(result.stdout)["referrals"][0]["recipient"] == department


def test_agreement_json_is_the_library_result(desk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kouminrenkei_sheets import agreements

    store = open_store(load_config(desk / CONFIG_NAME))
    made = [r for r in store.read([SheetRef(PROPOSALS)])[SheetRef(PROPOSALS)].rows if r.get("協定書")]
    seen = capture(monkeypatch, agreements, "agreement")
    result = invoke("agreement", str(made[0].get("提案ID")), "--force", "--out", "again", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == as_json(seen[0].to_dict())
    assert len(data["documents"]) == 1 and (desk / "again").is_dir()


def test_publish_json_is_the_library_result(desk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kouminrenkei_sheets import publish

    seen = capture(monkeypatch, publish, "publish")
    result = invoke("publish", "--out", "web", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == as_json(seen[0].to_dict())
    assert data["count"] > 0 and Path(data["out_dir"]).resolve() == (desk / "web").resolve()


def test_run_json_is_the_library_result(desk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kouminrenkei_sheets import run

    text = (desk / CONFIG_NAME).read_text(encoding="utf-8")  # no [notify] section: no mails
    text = re.sub(r"(?ms)^\[notify\]\n.*?(?=^\[|\Z)", "", text)
    (desk / CONFIG_NAME).write_text(text, encoding="utf-8")
    seen = capture(monkeypatch, run, "run")
    result = invoke("run", "--format", "json")
    data = json.loads(result.stdout)
    assert data == as_json(seen[0].to_dict())
    assert [s["step"] for s in data["steps"]] == ["intake", "sync", "validate", "notify"]
    assert result.exit_code == data["exit_code"] == 1  # the demo's register has one error


def test_init_json_is_the_library_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kouminrenkei_sheets import init as init_module

    seen = capture(monkeypatch, init_module, "init_desk")
    result = invoke("init", str(tmp_path / "new"), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == as_json(seen[0].to_dict())
    assert data["config_written"] is True and data["backup"] is None


@pytest.mark.parametrize(
    ("args", "module", "name"),
    [
        (("history", "R7-0001"), "reports", "history"),
        (("intake", "forms/回答.csv", "--dry-run"), "intake", "intake"),
        (("notify", "--dry-run"), "notify", "notify"),
        (("validate", "--no-write-back"), "validate", "validate"),
        (("sync", "--dry-run"), "sync", "sync"),
        (("report",), "reports", "report"),
    ],
)
def test_other_json_outputs_are_the_library_results(
    desk: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], module: str, name: str
) -> None:
    import importlib

    seen = capture(monkeypatch, importlib.import_module(f"kouminrenkei_sheets.{module}"), name)
    result = invoke(*args, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    got = seen[0]
    expected = [e.to_dict() for e in got] if isinstance(got, list) else got.to_dict()
    assert json.loads(result.stdout) == as_json(expected)


# ---------------------------------------------------------------- behaviours
def test_report_marks_only_with_mark(desk: Path) -> None:
    marker = desk / "reports" / ".last_report.json"
    marker.unlink(missing_ok=True)
    first = json.loads(invoke("report", "--format", "json").stdout)
    second = json.loads(invoke("report", "--format", "json").stdout)
    assert first["changes"] == second["changes"] != [] and not marker.exists()
    assert invoke("report", "--format", "md", "--mark").exit_code == 0
    assert marker.exists()
    assert json.loads(invoke("report", "--format", "json").stdout)["changes"] == []


def test_run_wait_is_passed_to_sync(desk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kouminrenkei_sheets import sync

    seen: list[bool] = []
    real = sync.sync

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("wait", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(sync, "sync", spy)
    invoke("run", "--quiet")
    invoke("run", "--wait", "--quiet")
    assert seen == [False, True]
    assert "--wait" in invoke("run", "--help").output


def test_notify_dry_run_needs_no_smtp(desk: Path) -> None:
    text = (desk / CONFIG_NAME).read_text(encoding="utf-8")
    section = text[text.index("[notify]") :].split("\n\n")[0]
    (desk / CONFIG_NAME).write_text(text.replace(section, '[notify]\ndesk = "desk@example.lg.jp"'), encoding="utf-8")
    result = invoke("notify", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "送信予定" in result.stdout and "--dry-run のため送信しません" in result.stdout
    sent = invoke("notify")
    assert sent.exit_code == 2 and "notify.host（SMTP サーバー）が空です" in sent.stderr
    # no [notify] at all: a dry run still shows what would go out
    (desk / CONFIG_NAME).write_text(text.replace(section, ""), encoding="utf-8")
    assert invoke("notify", "--dry-run").exit_code == 0


def test_notify_connection_refused_is_one_japanese_line(desk: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = (desk / CONFIG_NAME).read_text(encoding="utf-8")
    (desk / CONFIG_NAME).write_text(text.replace('host = "localhost"', f'host = "127.0.0.1"\nport = {port}'))
    result = invoke("notify")
    assert result.exit_code == 4
    assert result.stderr == (
        f"エラー: SMTP サーバー 127.0.0.1:{port} に接続できません: "
        "接続を拒否されました（サーバーが動いていないか、ホスト名・ポートが違います）\n"
    )


def test_history_takes_a_referral_id_and_normalises_the_heading(desk: Path) -> None:
    by_proposal = json.loads(invoke("history", "R7-0001", "--format", "json").stdout)
    by_referral = json.loads(invoke("history", "ｒ７－０００１－０１", "--format", "json").stdout)
    assert by_referral and all(e["key"] == "R7-0001-01" for e in by_referral)
    assert {e["key"] for e in by_proposal} >= {"R7-0001-01"}
    text = invoke("history", "ｒ７－０００１").stdout
    assert text.startswith("R7-0001 の変更履歴（古い順）")
    unknown = invoke("history", "R7-0001-99")
    assert unknown.exit_code == 2
    assert unknown.stderr == "エラー: 照会ID「R7-0001-99」は台帳の「照会」シートにも変更履歴にもありません。\n"


def test_history_shows_old_english_kinds_in_japanese(desk: Path) -> None:
    store = open_store(load_config(desk / CONFIG_NAME))
    from datetime import datetime

    old = {"日時": datetime(2024, 4, 1, 9, 0), "シート": "照会", "キー": "R7-0001-01", "列": "回答", "種別": "pull"}
    store.apply([AppendRows(SheetRef(HISTORY), (old,))])
    entries = json.loads(invoke("history", "R7-0001-01", "--format", "json").stdout)
    assert entries[0]["kind"] == HistoryKind.PULL == "回答取込"


def test_config_is_found_from_a_subfolder(desk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = desk / "agreements" / "2025"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert find_config() == desk / CONFIG_NAME
    result = invoke("history", "R7-0001")
    assert result.exit_code == 0, result.output


def test_init_on_a_config_without_a_register_makes_the_register(tmp_path: Path) -> None:
    config = tmp_path / CONFIG_NAME
    invoke("init", str(tmp_path))
    own = config.read_text(encoding="utf-8").replace('governor = ""', 'governor = "大井川　和彦"')
    config.write_text(own, encoding="utf-8")
    (tmp_path / "register.xlsx").unlink()
    result = invoke("init", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"既存の設定ファイルを使いました（変更していません）: {config}\n")
    assert (tmp_path / "register.xlsx").is_file()
    assert config.read_text(encoding="utf-8") == own


def test_init_force_keeps_the_old_settings_beside(tmp_path: Path) -> None:
    config = tmp_path / CONFIG_NAME
    invoke("init", str(tmp_path))
    own = config.read_text(encoding="utf-8").replace('governor = ""', 'governor = "大井川　和彦"')
    config.write_text(own, encoding="utf-8")
    result = invoke("init", str(tmp_path), "--force")
    assert result.exit_code == 0, result.output
    backup = tmp_path / f"{CONFIG_NAME}.bak"
    assert f"元の設定ファイルは {backup} に残しました" in result.stdout
    assert backup.read_text(encoding="utf-8") == own
    assert 'governor = ""' in config.read_text(encoding="utf-8")
    assert invoke("init", str(tmp_path), "--force").exit_code == 0
    assert (tmp_path / f"{CONFIG_NAME}.bak2").exists() and backup.read_text(encoding="utf-8") == own


def test_validate_listing_is_cut_with_limit_and_shown_with_all(desk: Path) -> None:
    full = invoke("validate", "--no-write-back", "--all").stdout
    findings = [line for line in full.splitlines() if line.startswith("  ")]
    assert len(findings) > 3
    cut = invoke("validate", "--no-write-back", "--limit", "3").stdout
    assert [line for line in cut.splitlines() if line.startswith("  ")] == findings[:3]
    assert f"…ほか {len(findings) - 3} 件の指摘は省略しました（すべて表示するには --all、件数は --limit N）。" in cut
    assert cut.splitlines()[-1] == full.splitlines()[-1]  # the counts are of everything


def test_sync_dry_run_labels_are_japanese(desk: Path) -> None:
    pid, department = a_received_proposal(desk)
    assert invoke("refer", pid, "--to", department).exit_code == 0
    out = invoke("sync", "--dry-run").stdout
    assert f"［{HistoryKind.PUSH}］" in out
    assert not any(word in out for word in ("push", "pull", "revert", "rollup"))


def test_progress_is_drawn_on_a_terminal_only() -> None:
    from rich.console import Console

    screen = io.StringIO()
    with progress_display("検証しています", console=Console(file=screen, force_terminal=True, width=100)) as step:
        step("観光戦略課", 3, 12)
    assert "検証しています" in screen.getvalue() and "観光戦略課" in screen.getvalue()
    assert "3/12" in screen.getvalue()
    for quiet, terminal in ((True, True), (False, False)):
        screen = io.StringIO()
        console = Console(file=screen, force_terminal=terminal, width=100)
        with progress_display("検証しています", quiet=quiet, console=console) as step:
            step("観光戦略課", 3, 12)
        assert screen.getvalue() == ""


def test_validate_reports_each_sheet_to_its_progress(desk: Path) -> None:
    from kouminrenkei_sheets.validate import validate

    config = load_config(desk / CONFIG_NAME)
    seen: list[tuple[str, int, int]] = []
    validate(config, open_store(config), write_back=False, progress=lambda *a: seen.append(a))
    total = seen[0][2]
    assert seen[0] == ("台帳", 0, total) and seen[-1] == ("完了", total, total)
    assert [done for _, done, _ in seen] == list(range(total + 1))


def test_connection_errors_from_any_library_are_one_line(monkeypatch: pytest.MonkeyPatch, desk: Path) -> None:
    from kouminrenkei_sheets import reports

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(reports, "report", refused)
    result = invoke("report")
    assert result.exit_code == 4
    assert result.stderr == (
        "エラー: サービスに接続できません: "
        "接続を拒否されました（サーバーが動いていないか、ホスト名・ポートが違います）\n"
    )
