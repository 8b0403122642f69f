"""intake: form answers (CSV in any encoding Excel or Google writes, .xlsx) become proposals exactly once."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from kouminrenkei_sheets.config import Config, config_from_dict, load_config
from kouminrenkei_sheets.errors import ConfigError, UsageError
from kouminrenkei_sheets.intake import _parse_timestamp, intake
from kouminrenkei_sheets.schema import HISTORY, PROPOSALS, REGISTER_SHEETS, HistoryKind
from kouminrenkei_sheets.store.base import AppendRows, SheetRef, Table
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.validate import validate

P = SheetRef(PROPOSALS)
H = SheetRef(HISTORY)
NOW = datetime(2025, 6, 10, 12, 0)
MAPPING = {
    "会社・団体名": "提案者名",
    "団体の種類": "提案者区分",
    "法人番号": "法人番号",
    "ご担当者名": "担当者",
    "電話番号": "電話",
    "提案のタイトル": "件名",
    "提案の内容": "概要",
    "期待する効果": "概要",
    "連携したい分野": "連携分野",
}
HEADERS = ["タイムスタンプ", "メールアドレス", *MAPPING, "その他ご意見"]
ANSWERS = [
    # arrives in 令和7年度
    ["2025/05/01 9:15:30", "info@alpha.example.jp", "アルファ株式会社", "企業", "1180301018771", "山田 花子",
     "029-123-4567", "防災備蓄の共同実施", "備蓄品の共同購入", "費用の削減", "災害対策, 安全・安心", "特になし"],
    # arrives in 令和6年度 (March), listed after the May one
    ["2025/03/28 17:02:05", "npo@beta.example.org", "NPO法人ベータ", "NPO・市民団体", "", "佐藤 一郎",
     "", "子ども食堂の支援", "週末の食事提供", "", "子育て・教育", ""],
]  # fmt: skip


def make_config(tmp_path: Path | None = None, **intake: Any) -> Config:
    section: dict[str, Any] = {"mapping": MAPPING}
    section.update(intake)
    return config_from_dict({"store": {"backend": "memory"}, "intake": section}, base_dir=tmp_path or Path("."))


def make_store() -> MemoryStore:
    store = MemoryStore()
    store.create_book(None, REGISTER_SHEETS)
    existing = (
        {"提案ID": "R7-0003", "受付日": date(2025, 4, 20), "提案者名": "既存の会社", "件名": "既存"},
        {"提案ID": "R6-0041", "受付日": date(2025, 2, 1), "提案者名": "前年度の会社", "件名": "前年度"},
        {"提案ID": "手入力のメモ", "提案者名": "IDの形式でない行"},
    )
    store.apply([AppendRows(P, existing)])
    store.writes.clear()
    return store


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    lines = [",".join(HEADERS), *(",".join(f'"{c}"' for c in r) for r in rows)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def table(store: MemoryStore, ref: SheetRef) -> Table:
    t = store.read([ref])[ref]
    assert t is not None
    return t


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "cp932"])
def test_csv_answers_get_the_next_id_of_their_year(tmp_path: Path, encoding: str) -> None:
    store = make_store()
    source = write_csv(tmp_path / "answers.csv", ANSWERS, encoding)
    result = intake(make_config(), store, str(source), now=NOW)

    # IDs follow arrival order: the March answer is 令和6年度 and continues R6-0041
    assert [(a.proposal_id, a.source_row) for a in result.imported] == [("R6-0042", 3), ("R7-0004", 2)]
    rows = table(store, P).by_key("提案ID")
    alpha = rows["R7-0004"].values
    assert alpha["受付日"] == date(2025, 5, 1)
    assert alpha["提案者名"] == "アルファ株式会社"
    assert alpha["ステータス"] == "受付"
    assert alpha["提案方向"] == "企業等→県"
    assert alpha["メール"] == "info@alpha.example.jp"  # the form's e-mail question, unless mapped
    assert alpha["概要"] == "備蓄品の共同購入\n費用の削減"  # two questions, one column
    assert alpha["連携分野"] == "災害対策, 安全・安心"  # kept as typed
    assert alpha["受付キー"] == "2025-05-01T09:15:30|info@alpha.example.jp"
    assert alpha["更新日時"] == NOW
    assert rows["R6-0042"].values["概要"] == "週末の食事提供"
    assert result.unmapped_questions == ["その他ご意見"]

    history = table(store, H).rows
    assert [(r.get("キー"), r.get("種別"), r.get("シート")) for r in history] == [
        ("R6-0042", HistoryKind.INTAKE, PROPOSALS),
        ("R7-0004", HistoryKind.INTAKE, PROPOSALS),
    ]
    assert history[0].get("新値") == "フォーム回答を取込（answers.csv 3行目）"
    assert store.writes == {None: 1}  # one write of the register


def test_the_same_answer_is_never_imported_twice(tmp_path: Path) -> None:
    store, config = make_store(), make_config()
    source = write_csv(tmp_path / "answers.csv", ANSWERS)
    intake(config, store, str(source), now=NOW)
    writes = dict(store.writes)

    again = intake(config, store, str(source), now=NOW)
    assert again.imported == []
    assert [(s.source_row, s.proposal_id) for s in again.skipped] == [(3, "R6-0042"), (2, "R7-0004")]
    assert store.writes == writes  # nothing written

    # the next export of the form holds the old answers and one new one
    later = [*ANSWERS, ["2025/06/09 8:00:00", "x@gamma.example.jp", "ガンマ大学", "大学・研究機関", "", "", "",
                        "共同研究", "", "", "DX", ""]]  # fmt: skip
    third = intake(config, store, str(write_csv(tmp_path / "later.csv", later, "cp932")), now=NOW)
    assert [a.proposal_id for a in third.imported] == ["R7-0005"]
    assert len(table(store, P).rows) == 3 + 3


def test_xlsx_download_of_the_same_form_is_recognised(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "フォームの回答 1"
    ws.append(HEADERS)
    for r in ANSWERS:
        stamp = datetime.strptime(r[0], "%Y/%m/%d %H:%M:%S")
        ws.append([stamp, *r[1:4], int(r[4]) if r[4] else None, *r[5:]])
    xlsx = tmp_path / "form.xlsx"
    wb.save(xlsx)

    store, config = make_store(), make_config()
    first = intake(config, store, str(xlsx), now=NOW)
    assert [a.proposal_id for a in first.imported] == ["R6-0042", "R7-0004"]
    assert table(store, P).by_key("提案ID")["R7-0004"].get("法人番号") == 1180301018771  # a number cell, as is
    # the CSV download of the same form: same timestamps and e-mails, so nothing new
    again = intake(config, store, str(write_csv(tmp_path / "answers.csv", ANSWERS)), now=NOW)
    assert again.imported == [] and len(again.skipped) == 2
    # a named tab
    other = intake(config, make_store(), f"{xlsx}#フォームの回答 1", now=NOW)
    assert len(other.imported) == 2
    with pytest.raises(UsageError, match="シート「ない」がありません"):
        intake(config, make_store(), f"{xlsx}#ない", now=NOW)


def test_bad_values_are_imported_as_typed_and_flagged_by_validation(tmp_path: Path) -> None:
    bad = [["2025/05/02 10:00:00", "not-an-address", "デルタ商事", "商社", "1234", "", "", "提案", "", "", "宇宙", ""]]
    store, config = make_store(), make_config()
    result = intake(config, store, str(write_csv(tmp_path / "bad.csv", bad)), now=NOW)
    [answer] = result.imported
    row = table(store, P).by_key("提案ID")[answer.proposal_id]
    assert row.get("法人番号") == "1234" and row.get("メール") == "not-an-address"

    report = validate(config, store, write_back=False, today=NOW.date())
    flagged = {(f.column, f.code) for f in report.findings if f.sheet == PROPOSALS and f.row == row.number}
    assert ("法人番号", "corporate_number.invalid") in flagged
    assert ("メール", "email.invalid") in flagged
    assert ("提案者区分", "choice.invalid") in flagged
    assert ("連携分野", "choice.invalid") in flagged


def test_unreadable_or_missing_timestamps_are_still_imported(tmp_path: Path) -> None:
    rows = [
        ["先週の金曜", "a@example.jp", "A社", "企業", "", "", "", "件名A", "", "", "DX", ""],
        ["", "b@example.jp", "B社", "企業", "", "", "", "件名B", "", "", "DX", ""],
    ]
    store, config = make_store(), make_config()
    result = intake(config, store, str(write_csv(tmp_path / "odd.csv", rows)), now=NOW)
    by_row = {a.source_row: a for a in result.imported}
    assert by_row[2].received == "先週の金曜"  # kept as typed for validation to point at
    assert "日付として読めません" in by_row[2].notes[0]
    assert by_row[3].received == NOW.date()  # no timestamp: the day it was imported
    assert {a.proposal_id for a in result.imported} == {"R7-0004", "R7-0005"}
    assert intake(config, store, str(tmp_path / "odd.csv"), now=NOW).imported == []


def test_a_repeated_answer_in_one_source_is_imported_once(tmp_path: Path) -> None:
    store = make_store()
    result = intake(make_config(), store, str(write_csv(tmp_path / "dup.csv", [ANSWERS[0], ANSWERS[0]])), now=NOW)
    assert len(result.imported) == 1
    assert [(s.source_row, s.reason) for s in result.skipped] == [(3, "2行目と同じ回答")]


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    store = make_store()
    result = intake(make_config(), store, str(write_csv(tmp_path / "a.csv", ANSWERS)), dry_run=True, now=NOW)
    assert [a.proposal_id for a in result.imported] == ["R6-0042", "R7-0004"]
    assert result.dry_run and result.written == []
    assert store.writes == {}
    assert len(table(store, P).rows) == 3
    assert "2 件を取り込みます" in result.summary()


def test_defaults_and_a_mapped_direction(tmp_path: Path) -> None:
    config = make_config(defaults={"連携手法": "未定", "提案種別": "フリー型"})
    store = make_store()
    intake(config, store, str(write_csv(tmp_path / "a.csv", ANSWERS[:1])), now=NOW)
    row = table(store, P).by_key("提案ID")["R7-0004"]
    assert (row.get("連携手法"), row.get("提案種別"), row.get("提案方向")) == ("未定", "フリー型", "企業等→県")


@pytest.mark.parametrize(
    ("intake_section", "message"),
    [
        ({"mapping": {"会社名": "会社の名前"}}, "intake.mapping.会社名 = '会社の名前' は「提案」シートにない列です"),
        ({"mapping": {"番号": "提案ID"}}, "intake.mapping.番号 = '提案ID' は取込で自動的に入る列"),
        ({"mapping": {}}, "intake.mapping が空です"),
        ({"mapping": {"会社名": 3}}, "intake.mapping.会社名 = 3"),
        ({"mapping": {"会社名": "提案者名"}, "timestmp": "x"}, "intake.timestmp は知らない設定です"),
        ({"mapping": {"会社名": "提案者名"}, "defaults": {"状態": "受付"}}, "intake.defaults.状態"),
    ],
)
def test_mapping_errors_name_the_key_and_the_file(tmp_path: Path, intake_section: dict[str, Any], message: str) -> None:
    path = tmp_path / "kouminrenkei.toml"
    path.write_text('[store]\nbackend = "memory"\n', encoding="utf-8")
    config = load_config(path)
    config.extra["intake"] = intake_section
    with pytest.raises(ConfigError) as e:
        intake(config, make_store(), str(write_csv(tmp_path / "a.csv", ANSWERS)), now=NOW)
    assert message in str(e.value)
    assert str(path) in str(e.value)


def test_a_question_missing_from_the_form_is_a_config_error(tmp_path: Path) -> None:
    config = make_config(mapping={**MAPPING, "ご住所": "所在地"})
    with pytest.raises(ConfigError, match=r"質問「ご住所」が取込元 a\.csv の見出しにありません"):
        intake(config, make_store(), str(write_csv(tmp_path / "a.csv", ANSWERS)), now=NOW)


def test_no_intake_section_is_a_config_error(tmp_path: Path) -> None:
    config = config_from_dict({"store": {"backend": "memory"}})
    with pytest.raises(ConfigError, match=r"\[intake\] がありません"):
        intake(config, make_store(), str(write_csv(tmp_path / "a.csv", ANSWERS)), now=NOW)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("answers.txt", "形式が分かりません"),
        ("missing.csv", "が見つかりません"),
        ("gsheets:", "キーがありません"),
    ],
)
def test_unusable_sources_are_usage_errors(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        intake(make_config(), make_store(), str(tmp_path / source) if ":" not in source else source, now=NOW)


def test_a_csv_in_an_unknown_encoding_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes(",".join(HEADERS).encode("utf-16"))
    with pytest.raises(UsageError, match="文字コードが分かりません"):
        intake(make_config(), make_store(), str(path), now=NOW)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025/04/01 9:15:30", datetime(2025, 4, 1, 9, 15, 30)),
        ("2025-04-01 09:15", datetime(2025, 4, 1, 9, 15)),
        ("2025/04/01 午後 3:15:30", datetime(2025, 4, 1, 15, 15, 30)),
        ("2025/4/1 12:05:00 AM", datetime(2025, 4, 1, 0, 5)),
        ("２０２５／４／１　９：１５：３０", datetime(2025, 4, 1, 9, 15, 30)),
        ("令和7年4月1日", datetime(2025, 4, 1)),
        (datetime(2025, 4, 1, 9, 15, 30, 500), datetime(2025, 4, 1, 9, 15, 30)),
        (45748.5, datetime(2025, 4, 1, 12, 0)),
        ("2025/02/30 10:00:00", None),
        ("先週", None),
        (None, None),
    ],
)
def test_form_timestamps(value: Any, expected: datetime | None) -> None:
    assert _parse_timestamp(value) == expected


def test_a_google_forms_tab_is_read_through_the_gsheets_backend(tmp_path: Path) -> None:
    from fakes.google_api import FakeGoogle, GSheetsStoreFactory

    with FakeGoogle() as fake:
        store = GSheetsStoreFactory(fake, tmp_path)()
        store.create_book(None, REGISTER_SHEETS)
        store.apply([AppendRows(P, ({"提案ID": "R7-0003", "受付日": date(2025, 4, 20)},))])
        form = fake.add_spreadsheet(
            "提案フォーム（回答）", tabs={"フォームの回答 1": [HEADERS, *ANSWERS]}, role="reader"
        )
        config = store.config
        config.extra["intake"] = {"mapping": MAPPING}

        result = intake(config, store, f"gsheets:{form}#フォームの回答 1", now=NOW)
        assert result.source == f"gsheets:{form}#フォームの回答 1"
        assert [a.proposal_id for a in result.imported] == ["R6-0001", "R7-0004"]
        row = table_of(store, P).by_key("提案ID")["R7-0004"]
        assert row.get("受付キー") == "2025-05-01T09:15:30|info@alpha.example.jp"
        assert row.get("提案者名") == "アルファ株式会社"

        # the same tab by its URL (gid of the first tab): nothing new
        again = intake(config, store, f"https://docs.google.com/spreadsheets/d/{form}/edit#gid=0", now=NOW)
        assert again.imported == [] and len(again.skipped) == 2
        with pytest.raises(UsageError, match="gid=42"):
            intake(config, store, f"https://docs.google.com/spreadsheets/d/{form}/edit#gid=42", now=NOW)
        assert not fake.errors


def table_of(store: Any, ref: SheetRef) -> Table:
    t = store.read([ref])[ref]
    assert t is not None
    return t
