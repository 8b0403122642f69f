"""run: the scheduled sequence, its exit codes, its log file, and a command that stays quiet when all is well."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from kouminrenkei_sheets.cli import cli
from kouminrenkei_sheets.config import Config, config_from_dict
from kouminrenkei_sheets.errors import EXIT_BUSY, EXIT_CONFIG, EXIT_DATA, EXIT_SERVICE, ConfigError
from kouminrenkei_sheets.init import init_desk
from kouminrenkei_sheets.run import first_priority, run
from kouminrenkei_sheets.schema import DEPARTMENTS, PROPOSALS, REFERRALS, REGISTER_SHEETS
from kouminrenkei_sheets.store.base import WRITE_LOCK, AppendRows, SheetRef
from kouminrenkei_sheets.store.memory import MemoryStore

NOW = datetime(2025, 6, 2, 9, 0)
MAPPING = {"会社名": "提案者名", "件名": "件名", "区分": "提案者区分", "分野": "連携分野"}
DEFAULTS = {"提案種別": "フリー型", "連携手法": "未定"}
FORM = "タイムスタンプ,メールアドレス,会社名,件名,区分,分野\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Inbox:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox, port = _Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def make_config(tmp_path: Path, **sections: Any) -> Config:
    data: dict[str, Any] = {"store": {"backend": "memory"}, "intake": {"mapping": MAPPING, "defaults": DEFAULTS}}
    data.update(sections)
    return config_from_dict(data, base_dir=tmp_path)


def make_store() -> MemoryStore:
    store = MemoryStore()
    store.create_book(None, REGISTER_SHEETS)
    store.apply(
        [
            AppendRows(
                SheetRef(DEPARTMENTS),
                ({"部局": "防災・危機管理部", "課": "防災・危機管理課", "連絡先メール": "bousai@pref.example.jp"},),
            )
        ]
    )
    return store


def write_form(path: Path, *rows: str) -> Path:
    path.write_text(FORM + "".join(r + "\r\n" for r in rows), encoding="utf-8-sig")
    return path


def test_exit_codes_follow_what_a_person_must_fix_first() -> None:
    assert first_priority([]) == 0
    assert first_priority([0, 0]) == 0
    assert first_priority([EXIT_DATA, EXIT_BUSY]) == EXIT_BUSY
    assert first_priority([EXIT_BUSY, EXIT_SERVICE, EXIT_DATA]) == EXIT_SERVICE
    assert first_priority([EXIT_SERVICE, EXIT_CONFIG]) == EXIT_CONFIG


def test_a_clean_run_is_quiet_and_logged(tmp_path: Path) -> None:
    result = run(make_config(tmp_path), make_store(), now=NOW)
    assert result.exit_code == 0
    assert not result.needs_attention
    assert [(s.name, s.skipped) for s in result.steps] == [
        ("intake", True),
        ("sync", False),
        ("validate", False),
        ("notify", True),
    ]
    log = (tmp_path / "logs" / "kouminrenkei.log").read_text(encoding="utf-8")
    assert "validate: 検証 エラー 0件" in log
    assert "終了（終了コード 0）" in log


def test_new_answers_are_imported_then_validated_and_reported(tmp_path: Path) -> None:
    (tmp_path / "forms").mkdir()
    write_form(tmp_path / "forms" / "a.csv", "2025/06/01 10:00:00,a@example.jp,A社,防災訓練,企業,災害対策")
    config = make_config(tmp_path, run={"intake_sources": ["forms/*.csv"]})
    store = make_store()
    first = run(config, store, now=NOW)
    assert first.exit_code == 0, first.to_dict()
    assert first.step("intake").attention == ["新しい提案を 1 件取り込みました: R7-0001"]
    second = run(config, store, now=NOW)
    assert second.exit_code == 0 and not second.needs_attention  # nothing new: quiet


def test_a_register_open_in_excel_is_caught_up_later_without_alarm(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(FORM + "2025/06/01 10:00:00,a@example.jp,A社,防災訓練,企業,災害対策\r\n")
    config = make_config(tmp_path, run={"intake_sources": ["a.csv"]})
    store = make_store()
    store.open_by[None] = "山田"
    result = run(config, store, now=NOW)
    assert result.exit_code == 0, result.to_dict()
    assert result.step("intake").summary.startswith("次回に持ち越し: ")
    assert not result.needs_attention
    store.open_by.clear()
    assert run(config, store, now=NOW).step("intake").attention == ["新しい提案を 1 件取り込みました: R7-0001"]


def test_data_errors_exit_1(tmp_path: Path) -> None:
    store = make_store()
    store.apply([AppendRows(SheetRef(PROPOSALS), ({"提案ID": "R7-0001", "受付日": "4月31日"},))])
    result = run(make_config(tmp_path), store, now=NOW)
    assert result.exit_code == EXIT_DATA
    assert result.step("validate").attention[0].startswith("台帳にエラーが")
    assert result.step("sync").exit_code == 0  # the other steps still ran


def test_a_missing_source_is_exit_2_but_the_rest_still_runs(tmp_path: Path) -> None:
    config = make_config(tmp_path, run={"intake_sources": ["missing.csv"]})
    result = run(config, make_store(), now=NOW)
    assert result.exit_code == EXIT_CONFIG
    assert "missing.csv が見つかりません" in result.step("intake").errors[0]
    assert not result.step("validate").errors and not result.step("sync").errors


def test_busy_sync_is_exit_3(tmp_path: Path) -> None:
    store = make_store()
    with store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0):
        result = run(make_config(tmp_path), store, now=NOW)
    assert result.exit_code == EXIT_BUSY
    assert "書き込んでいます" in result.step("lock").errors[0]
    assert [s.name for s in result.steps] == ["lock"]  # no step ran without the lock


def test_a_dead_mail_server_is_exit_4(tmp_path: Path) -> None:
    store = make_store()
    store.apply(
        [
            AppendRows(SheetRef(PROPOSALS), ({"提案ID": "R7-0001", "件名": "x", "ステータス": "照会中"},)),
            AppendRows(
                SheetRef(REFERRALS),
                (
                    {
                        "照会ID": "R7-0001-01",
                        "提案ID": "R7-0001",
                        "照会先": "防災・危機管理課",
                        "照会日": date(2025, 6, 1),
                    },
                ),
            ),
        ]
    )
    notify = {"host": "127.0.0.1", "port": free_port(), "security": "none", "from": "bot@example.jp", "timeout": 2}
    result = run(make_config(tmp_path, notify=notify), store, now=NOW)
    assert result.step("notify").exit_code == EXIT_SERVICE
    assert result.exit_code == EXIT_SERVICE  # any data errors of the tiny register rank below a dead server


def test_the_log_rotates(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "kouminrenkei.log"
    log.parent.mkdir()
    log.write_text("x" * 10_000, encoding="utf-8")
    config = make_config(tmp_path, run={"log_max_bytes": 10_000, "log_backups": 2})
    run(config, make_store(), now=NOW)
    assert (tmp_path / "logs" / "kouminrenkei.log.1").read_text(encoding="utf-8").startswith("xxx")
    assert "終了" in log.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"intake_sources": "a.csv", "every": 5}, "run.every は知らない設定です"),
        ({"intake_sources": [3]}, "run.intake_sources"),
        ({"log_backups": 0}, "run.log_backups = 0"),
        ({"notify": "yes"}, 'run.notify = "yes"'),
    ],
)
def test_wrong_run_settings(tmp_path: Path, section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run(make_config(tmp_path, run=section), make_store(), now=NOW)


# ---------------------------------------------------------------- the commands, on an .xlsx desk
@pytest.fixture
def desk(tmp_path: Path) -> Path:
    init = init_desk(tmp_path / "desk")
    forms = tmp_path / "desk" / "forms"
    forms.mkdir()
    with init.config_path.open("a", encoding="utf-8") as f:
        f.write(
            '\n[intake]\nmapping = { "会社名" = "提案者名", "件名" = "件名", '
            '"区分" = "提案者区分", "分野" = "連携分野" }\n'
            'defaults = { "提案種別" = "フリー型", "連携手法" = "未定" }\n'
            '\n[run]\nintake_sources = ["forms/*.csv"]\nlog = "logs/run.log"\n'
        )
    return init.config_path


def test_run_command_is_silent_when_nothing_needs_a_person(desk: Path) -> None:
    runner = CliRunner()
    quiet = runner.invoke(cli, ["--config", str(desk), "run"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.output == ""
    assert (desk.parent / "logs" / "run.log").is_file()

    write_form(desk.parent / "forms" / "a.csv", "2025/06/01 10:00:00,a@example.jp,A社,防災訓練,企業,宇宙開発")
    loud = runner.invoke(cli, ["--config", str(desk), "run"])
    assert loud.exit_code == 1  # the answer's 分野 is no choice: imported, then flagged
    assert "新しい提案を 1 件取り込みました: R7-0001" in loud.output
    assert "台帳にエラーが 1 件あります。" in loud.output


def test_run_command_reports_a_config_error_in_one_line(desk: Path) -> None:
    with desk.open("a", encoding="utf-8") as f:
        f.write('\n[notify]\nhost = "127.0.0.1"\nsecurity = "tls"\nfrom = "bot@example.jp"\n')
    result = CliRunner().invoke(cli, ["--config", str(desk), "run"])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("エラー: ") and 'notify.security = "tls"' in line


def test_intake_command_dry_run_then_for_real(desk: Path) -> None:
    source = write_form(desk.parent / "forms" / "a.csv", "2025/06/01 10:00:00,a@example.jp,A社,防災訓練,企業,災害対策")
    runner = CliRunner()
    dry = runner.invoke(cli, ["--config", str(desk), "intake", str(source), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines()[:2] == ["a.csv: 1 件を取り込みます。", "  R7-0001  受付日 2025/6/1  A社（2行目）"]
    real = runner.invoke(cli, ["--config", str(desk), "intake", str(source)])
    assert real.output.startswith("a.csv: 1 件を取り込みました。")
    again = runner.invoke(cli, ["--config", str(desk), "intake", str(source)])
    assert again.output.startswith("a.csv: 0 件を取り込みました（取込済みなど 1 件は対象外）。")


def test_notify_command_dry_run_shows_the_mails(desk: Path, smtp: tuple[_Inbox, int]) -> None:
    inbox, port = smtp
    with desk.open("a", encoding="utf-8") as f:
        f.write(f'\n[notify]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nfrom = "bot@example.jp"\n')
    from kouminrenkei_sheets.config import load_config
    from kouminrenkei_sheets.store.factory import open_store

    store = open_store(load_config(desk))
    store.apply(
        [
            AppendRows(
                SheetRef(DEPARTMENTS),
                ({"部局": "福祉部", "課": "子ども政策課", "連絡先メール": "kodomo@pref.example.jp"},),
            ),
            AppendRows(SheetRef(PROPOSALS), ({"提案ID": "R7-0001", "件名": "子ども食堂", "ステータス": "照会中"},)),
            AppendRows(
                SheetRef(REFERRALS),
                ({"照会ID": "R7-0001-01", "提案ID": "R7-0001", "照会先": "子ども政策課", "照会日": date.today()},),
            ),
        ]
    )
    runner = CliRunner()
    dry = runner.invoke(cli, ["--config", str(desk), "notify", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "■ 送信予定: kodomo@pref.example.jp　【公民連携デスク】照会のお知らせ（新規1件）" in dry.output
    assert "R7-0001-01　件名: 子ども食堂" in dry.output
    assert inbox.count == 0
    sent = runner.invoke(cli, ["--config", str(desk), "notify"])
    assert sent.exit_code == 0, sent.output
    assert inbox.count == 1
    assert runner.invoke(cli, ["--config", str(desk), "notify"]).output == "0 通のメールを送りました。\n"


# ---------------------------------------------------------------- the scheduler files in scripts/
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def test_the_cron_line_runs_every_five_minutes() -> None:
    lines = [
        line
        for line in (SCRIPTS / "kouminrenkei.cron").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    [line] = lines
    fields = line.split(None, 5)
    assert fields[:5] == ["*/5", "*", "*", "*", "*"]
    assert "kouminrenkei --config /srv/kouminrenkei/kouminrenkei.toml run" in fields[5]
    assert "run" in cli.commands


def test_the_systemd_units_start_run_every_five_minutes() -> None:
    import configparser

    def units(name: str) -> configparser.ConfigParser:
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(SCRIPTS / name, encoding="utf-8")
        return parser

    service, timer = units("kouminrenkei.service"), units("kouminrenkei.timer")
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"].endswith("/kouminrenkei run")
    assert service["Service"]["Environment"] == "KOUMINRENKEI_CONFIG=/srv/kouminrenkei/kouminrenkei.toml"
    assert service["Service"]["WorkingDirectory"] == "/srv/kouminrenkei"
    assert timer["Timer"]["OnCalendar"] == "*:0/5"
    assert timer["Timer"]["Unit"] == "kouminrenkei.service"


# ---------------------------------------------------------------- quiet runs
class _CountingReads:
    def __init__(self, store: MemoryStore) -> None:
        self.count = 0
        inner = store.read

        def read(refs: Any) -> Any:
            self.count += 1
            return inner(refs)

        store.read = read  # type: ignore[method-assign]


def _settled(tmp_path: Path, **sections: Any) -> tuple[Config, MemoryStore]:
    """A desk after runs until one wrote nothing (validate's first write-back moves the register on)."""
    config, store = make_config(tmp_path, **sections), make_store()
    for _ in range(3):
        run(config, store, now=NOW)
    return config, store


def test_a_run_after_which_nothing_changed_reads_nothing_and_takes_no_lock(tmp_path: Path) -> None:
    config, store = _settled(tmp_path)
    reads, writes = _CountingReads(store), dict(store.writes)
    result = run(config, store, now=NOW.replace(hour=10))
    assert [(s.name, s.skipped, s.summary) for s in result.steps] == [
        ("run", True, "前回の実行から変わったブック・取込元はありません（読み込み・書き込みなし）")
    ]
    assert result.exit_code == 0 and reads.count == 0 and store.writes == writes
    log = (tmp_path / "logs" / "kouminrenkei.log").read_text(encoding="utf-8")
    assert log.rstrip().endswith(
        "前回の実行から変わったブック・取込元はありません（読み込み・書き込みなし）（終了コード 0）"
    )


def test_a_persons_edit_a_new_day_or_a_new_form_file_makes_the_next_run_a_full_one(tmp_path: Path) -> None:
    form = write_form(tmp_path / "form.csv")
    config, store = _settled(tmp_path, run={"intake_sources": ["form.csv"]})
    assert run(config, store, now=NOW).steps[0].name == "run"  # quiet
    assert run(config, store, now=datetime(2025, 6, 3, 9, 0)).steps[0].name == "intake"  # overdue counts by day
    assert run(config, store, now=datetime(2025, 6, 3, 9, 5)).steps[0].name == "run"
    write_form(form, "2025/06/03 9:10:00,new@example.jp,ガンマ株式会社,新しい提案,企業,DX")
    again = run(config, store, now=datetime(2025, 6, 3, 9, 15))
    assert again.steps[0].name == "intake" and again.step("intake").result  # the new answer is imported
    run(config, store, now=datetime(2025, 6, 3, 9, 20))
    assert run(config, store, now=datetime(2025, 6, 3, 9, 25)).steps[0].name == "run"
    store.apply([AppendRows(SheetRef(PROPOSALS), ({"提案ID": "R7-0099", "件名": "人が足した行"},))])  # a person types
    assert run(config, store, now=datetime(2025, 6, 3, 9, 30)).step("validate").summary.startswith("検証")


def test_a_quiet_run_over_data_errors_says_them_again_with_exit_1(tmp_path: Path) -> None:
    """Errors in the register stay until a person fixes them: a quiet run repeats the last run's lines
    and exit code (a scheduler's alert does not clear by itself), without reading anything."""
    config, store = make_config(tmp_path), make_store()
    store.apply([AppendRows(SheetRef(PROPOSALS), ({"提案ID": "R7-0001", "受付日": "4月31日"},))])
    full = run(config, store, now=NOW)
    for _ in range(2):
        run(config, store, now=NOW)
    reads = _CountingReads(store)
    quiet = run(config, store, now=NOW)
    assert [s.name for s in quiet.steps] == ["run"] and reads.count == 0
    assert quiet.exit_code == full.exit_code == EXIT_DATA
    assert quiet.steps[0].attention == full.step("validate").attention
    assert quiet.steps[0].attention[0].startswith("台帳にエラーが")
