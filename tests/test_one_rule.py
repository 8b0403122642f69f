"""One rule, one behaviour: validate, notify and report agree on what is overdue, which proposal a
referral belongs to, and what アイデア保護 protects — the disagreements issue 17 reproduced."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from kouminrenkei_sheets.config import Config, config_from_dict
from kouminrenkei_sheets.notify import HIDDEN_SUBJECT, Kind, notify
from kouminrenkei_sheets.reports import report, write_report
from kouminrenkei_sheets.schema import DEPARTMENTS, HISTORY, PROPOSALS, REFERRALS, REGISTER_SHEETS, Status
from kouminrenkei_sheets.store.base import AppendRows, SheetRef
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.validate import validate
from kouminrenkei_sheets.workflow import CLOSED_STATUSES, days_overdue, due_date, read_protection

TODAY = date(2025, 7, 1)
DUE = date(2025, 6, 1)  # a month before TODAY: overdue unless the referral or its proposal is closed


def config() -> Config:
    notify_section = {"host": "127.0.0.1", "port": 25, "security": "none", "from": "bot@pref.example.jp"}
    return config_from_dict({"store": {"backend": "memory"}, "notify": notify_section}, base_dir=Path("."))


def desk(status: str, *, referral_pid: str = "R7-0001", protection: str | None = None) -> MemoryStore:
    store = MemoryStore()
    store.create_book(None, REGISTER_SHEETS)
    proposal = {
        "提案ID": "R7-0001",
        "件名": "秘密の件名",
        "ステータス": status,
        "受付日": date(2025, 4, 10),
        "提案者区分": "企業",
        "連携手法": "未定",
        "アイデア保護": protection,
    }
    referral = {
        "照会ID": "R7-0001-01",
        "提案ID": referral_pid,
        "照会先": "健康推進課",
        "照会日": date(2025, 5, 1),
        "回答期限": DUE,
        "回答": "検討中",
    }
    department = {"部局": "保健福祉部", "課": "健康推進課", "連絡先メール": "kenko@pref.example.jp"}
    store.apply(
        [
            AppendRows(SheetRef(PROPOSALS), (proposal,)),
            AppendRows(SheetRef(REFERRALS), (referral,)),
            AppendRows(SheetRef(DEPARTMENTS), (department,)),
        ]
    )
    return store


def overdue_in_validate(store: MemoryStore) -> bool:
    found = validate(config(), store, write_back=False, today=TODAY)
    return any(f.code == "overdue" for f in found.findings)


def overdue_in_report(store: MemoryStore) -> bool:
    return report(config(), store, today=TODAY).overdue_count == 1


def overdue_in_notify(store: MemoryStore) -> bool:
    result = notify(config(), store, dry_run=True, now=datetime.combine(TODAY, datetime.min.time()))
    return any(i.kind == Kind.OVERDUE for n in result.notices for i in n.items)


def test_the_closed_statuses_are_complete_and_the_ends() -> None:
    assert set(CLOSED_STATUSES) == {Status.COMPLETED, Status.FAILED, Status.WITHDRAWN, Status.ON_HOLD}


def test_a_completed_proposal_is_overdue_nowhere_and_an_open_one_everywhere() -> None:
    """Before: 完了 was closed for validate and notify, open for report."""
    for status in Status.ALL:
        store = desk(status)
        expected = status not in CLOSED_STATUSES
        seen = (overdue_in_validate(store), overdue_in_notify(store), overdue_in_report(store))
        assert seen == (expected, expected, expected), status


def test_a_referral_typed_with_a_lower_case_proposal_id_belongs_to_that_proposal_in_the_report() -> None:
    """Before: sync matched "r7-0001" to R7-0001, report did not (so a 完了 proposal's referral was overdue)."""
    open_one = report(config(), desk(Status.COORDINATING, referral_pid="r7-0001"), today=TODAY)
    assert [r.title for d in open_one.overdue for r in d.referrals] == ["秘密の件名"]
    assert not overdue_in_report(desk(Status.COMPLETED, referral_pid="ｒ７－０００１"))


def test_an_unreadable_protection_entry_protects_the_title_in_the_report_too() -> None:
    """Before: report failed open (an unreadable アイデア保護 protected nothing); notify and publish failed closed."""
    rep = report(config(), desk(Status.COORDINATING, protection="件名とか色々"), today=TODAY)
    assert [r.title for d in rep.overdue for r in d.referrals] == ["（アイデア保護）"]
    result = notify(
        config(), desk(Status.COORDINATING, protection="件名とか色々"), dry_run=True, now=datetime(2025, 7, 1, 9)
    )
    bodies = "".join(n.body for n in result.notices)
    assert "秘密の件名" not in bodies and HIDDEN_SUBJECT in bodies


def test_read_protection_reads_separators_and_fails_closed() -> None:
    assert read_protection("件名・概要").columns == {"件名", "概要"}
    assert read_protection(None).columns == frozenset() and read_protection(None).problem is None
    unreadable = read_protection("件名、ひみつ")
    assert unreadable.problem and "ひみつ" in unreadable.problem
    assert {"件名", "概要"} <= unreadable.columns


def test_due_date_and_days_overdue_rules() -> None:
    assert due_date(None, True, date(2025, 5, 1), 14) == date(2025, 5, 15)
    assert due_date(None, False, date(2025, 5, 1), 14) is None  # a typed, unreadable 回答期限: no guess
    assert days_overdue("検討中", Status.COORDINATING, DUE, TODAY) == 30
    assert days_overdue("連携可", Status.COORDINATING, DUE, TODAY) is None
    assert days_overdue(None, "完了", DUE, TODAY) is None
    assert days_overdue(None, Status.COORDINATING, DUE, DUE) is None  # due today is not yet late


def test_a_control_character_in_history_does_not_crash_the_xlsx_report(tmp_path: Path) -> None:
    """Before: store/export.py's copy of the cell writer lacked the illegal-character cleaning."""
    store = desk(Status.COORDINATING)
    row = {"日時": "2025-06-30 10:00:00", "シート": REFERRALS, "キー": "R7-0001-01", "列": "回答",
           "旧値": "検討\x07中", "新値": "連携\x1b可", "実行者": "sync", "種別": "同期"}  # fmt: skip
    store.apply([AppendRows(SheetRef(HISTORY), (row,))])
    path = write_report(report(config(), store, today=TODAY), "xlsx", tmp_path / "report.xlsx")
    values = [c for ws in openpyxl.load_workbook(path).worksheets for r in ws.iter_rows(values_only=True) for c in r]
    assert any(isinstance(v, str) and v.startswith("連携") and v.endswith("可") for v in values)


def test_a_sync_result_says_its_counts_once_for_the_cli_run_and_demo() -> None:
    """The counts line lives on SyncResult (summary()); cli, run and demo print it, none builds its own."""
    import inspect

    from kouminrenkei_sheets import cli, demo, run
    from kouminrenkei_sheets.sync import SyncResult

    assert SyncResult().summary().startswith("担当課シートへ反映: 0件、回答の取り込み: 0件")
    assert "変わったブックはありません" in SyncResult(unchanged=True).summary()
    for module in (cli, run, demo):
        source = inspect.getsource(module)
        assert ".summary()" in source and "回答の取り込み" not in source and "回答の取込 " not in source


def test_every_history_row_is_built_by_one_function_with_the_schemas_columns() -> None:
    import inspect
    from datetime import datetime as dt

    from kouminrenkei_sheets import agreements, intake, refer, sync
    from kouminrenkei_sheets.schema import HISTORY_SHEET
    from kouminrenkei_sheets.store.base import history_row

    row = history_row(now=dt(2025, 7, 1, 9), actor="desk", sheet="照会", key="R7-0001-01", column="回答",
                      old=" 検討中 ", new=date(2025, 7, 1), kind="同期")  # fmt: skip
    assert set(row) == set(HISTORY_SHEET.headers)
    assert row["旧値"] == " 検討中 "  # text exactly as it was: spaces are part of what someone typed
    for module in (agreements, intake, refer, sync):
        source = inspect.getsource(module)
        assert "history_row(" in source and '"旧値":' not in source, module.__name__


def _header_literals() -> list[tuple[str, int, str]]:
    """Japanese string literals that name a column outside schema.py: the first argument of
    ``.get/.has/.column`` (a row or table read), the column of RowKey/SetCell, ``unique=`` of AppendRows."""
    import ast
    import re

    package = Path(__file__).resolve().parent.parent / "kouminrenkei_sheets"
    japanese = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
    found: list[tuple[str, int, str]] = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "schema.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            named: list[ast.expr] = []
            if isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "has", "column") and node.args:
                named.append(node.args[0])
            callee = node.func.id if isinstance(node.func, ast.Name) else ""
            if callee == "RowKey" and node.args:
                named.append(node.args[0])
            if callee == "SetCell" and len(node.args) >= 3:
                named.append(node.args[2])
            named += [k.value for k in node.keywords if k.arg == "unique"]
            for arg in named:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and japanese.search(arg.value):
                    found.append((str(path.relative_to(package)), arg.lineno, arg.value))
    return found


def test_every_column_a_module_names_is_one_the_schema_has() -> None:
    """A header renamed or mistyped is a failing test, not a column read as blank in production."""
    from kouminrenkei_sheets import schema
    from kouminrenkei_sheets.schema import SHEETS, Sheet

    headers = {h for s in SHEETS.values() for h in s.headers}
    headers |= {h for v in vars(schema).values() if isinstance(v, Sheet) for h in v.headers}
    literals = _header_literals()
    assert len(literals) > 50  # the scan sees the modules' row reads (it would pass on nothing otherwise)
    unknown = [f"{path}:{line} {name!r}" for path, line, name in literals if name not in headers]
    assert unknown == []


def test_column_name_refuses_a_column_the_sheet_does_not_have() -> None:
    from kouminrenkei_sheets.schema import PROPOSAL_SHEET, column_name

    assert column_name(PROPOSAL_SHEET, "件名") == "件名"
    with pytest.raises(LookupError, match="照会ID"):
        column_name(PROPOSAL_SHEET, "照会ID")


def test_results_own_their_exit_code_and_the_cli_only_passes_it_on() -> None:
    import inspect

    from kouminrenkei_sheets import cli
    from kouminrenkei_sheets.agreements import AgreementProblem, AgreementResult
    from kouminrenkei_sheets.errors import EXIT_BUSY, EXIT_DATA, EXIT_OK
    from kouminrenkei_sheets.findings import Finding, Report, Severity
    from kouminrenkei_sheets.notify import NotifyResult
    from kouminrenkei_sheets.sync import SyncResult

    assert (AgreementResult().exit_code, AgreementResult(problems=[AgreementProblem("R7-0001", "x")]).exit_code) == (
        EXIT_OK,
        EXIT_DATA,
    )
    error = Finding("x", Severity.ERROR, "提案", 2, "件名", "R7-0001", "", "x")
    assert (Report().exit_code, Report(findings=[error]).exit_code) == (EXIT_OK, EXIT_DATA)
    assert (NotifyResult().exit_code, NotifyResult(postponed="台帳が開かれています").exit_code) == (EXIT_OK, EXIT_BUSY)
    assert SyncResult().exit_code == EXIT_OK
    source = inspect.getsource(cli)
    assert ".exit(1)" not in source and ".exit(3)" not in source  # every command passes its result's code on


def test_one_reader_of_the_desks_choice_lists() -> None:
    """agreements, publish, reports and frames read 選択肢 through workflow.choice_list (three copies before)."""
    import inspect

    from kouminrenkei_sheets import agreements, frames, publish, reports
    from kouminrenkei_sheets.schema import CHOICES, FIELDS
    from kouminrenkei_sheets.store.base import Row, Table
    from kouminrenkei_sheets.workflow import choice_list

    table = Table(SheetRef(CHOICES), ["連携分野"], [Row(2, {"連携分野": " ＤＸ "}), Row(3, {"連携分野": "DX"})])
    assert choice_list(table, "連携分野") == ("DX",)  # normalised, each once
    assert choice_list(None, "連携分野") == FIELDS == choice_list(table, "市町村", FIELDS)
    for module in (agreements, publish, reports, frames):
        source = inspect.getsource(module)
        assert "choice_list(" in source and "def _choice_list" not in source and "def _choices" not in source
