"""intake: form answers (CSV in any encoding Excel or Google writes, .xlsx) become proposals exactly once."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from kouminrenkei_sheets.config import Config, config_from_dict
from kouminrenkei_sheets.errors import ConfigError, UsageError
from kouminrenkei_sheets.intake import _parse_timestamp, intake
from kouminrenkei_sheets.schema import HISTORY, PROPOSALS, REGISTER_SHEETS, HistoryKind
from kouminrenkei_sheets.store.base import AppendRows, RowKey, SetCell, SheetRef, Table
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
    # the minute and e-mail name the answer, a fingerprint of its content tells two answers apart
    assert re.fullmatch(r"2025-05-01T09:15\|info@alpha\.example\.jp#[0-9a-f]{16}", alpha["受付キー"])
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
        ({"mapping": {"会社名": "会社の名前"}}, 'intake.mapping.会社名 = "会社の名前" は「提案」シートにない列です'),
        ({"mapping": {"番号": "提案ID"}}, 'intake.mapping.番号 = "提案ID" は取込で自動的に入る列'),
        ({"mapping": {}}, "intake.mapping が空です"),
        ({"mapping": {"会社名": 3}}, "intake.mapping.会社名 = 3"),
        ({"mapping": {"会社名": "提案者名"}, "timestmp": "x"}, "intake.timestmp は知らない設定です"),
        ({"mapping": {"会社名": "提案者名"}, "defaults": {"状態": "受付"}}, "intake.defaults.状態"),
    ],
)
def test_mapping_errors_name_the_key_and_the_file(tmp_path: Path, intake_section: dict[str, Any], message: str) -> None:
    path = tmp_path / "kouminrenkei.toml"
    with pytest.raises(ConfigError) as e:  # checked when the config is read, before any job runs
        config_from_dict({"store": {"backend": "memory"}, "intake": intake_section}, path=path)
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
        config.intake.mapping = dict(MAPPING)
        config.written["intake"] = ("mapping",)

        result = intake(config, store, f"gsheets:{form}#フォームの回答 1", now=NOW)
        assert result.source == f"gsheets:{form}#フォームの回答 1"
        assert [a.proposal_id for a in result.imported] == ["R6-0001", "R7-0004"]
        row = table_of(store, P).by_key("提案ID")["R7-0004"]
        assert re.fullmatch(r"2025-05-01T09:15\|info@alpha\.example\.jp#[0-9a-f]{16}", str(row.get("受付キー")))
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


# ---------------------------------------------------------------- identifying answers
def resaved_in_excel(rows: list[list[str]]) -> list[list[str]]:
    """What Excel writes back when a person opens the CSV and saves it: 2025/5/1 9:15, no seconds."""
    out = []
    for r in rows:
        stamp = datetime.strptime(r[0], "%Y/%m/%d %H:%M:%S")
        out.append([f"{stamp.year}/{stamp.month}/{stamp.day} {stamp.hour}:{stamp.minute:02d}", *r[1:]])
    return out


def test_an_excel_resave_a_reorder_or_a_reexport_imports_nothing(tmp_path: Path) -> None:
    store, config = make_store(), make_config()
    intake(config, store, str(write_csv(tmp_path / "a.csv", ANSWERS)), now=NOW)
    before = table(store, P).rows
    writes = dict(store.writes)

    for name, rows in [
        ("resaved.csv", resaved_in_excel(ANSWERS)),
        ("reordered.csv", list(reversed(ANSWERS))),
        ("resaved_reordered.csv", resaved_in_excel(list(reversed(ANSWERS)))),
    ]:
        result = intake(config, store, str(write_csv(tmp_path / name, rows)), now=NOW)
        assert result.imported == [] and result.edited == [], name
        assert sorted(s.proposal_id for s in result.skipped) == ["R6-0042", "R7-0004"], name
    assert store.writes == writes  # nothing written
    assert table(store, P).rows == before


def test_two_answers_in_the_same_second_from_one_address_are_two_proposals(tmp_path: Path) -> None:
    second = [*ANSWERS[0][:2], "アルファ株式会社", "企業", "", "山田 花子", "", "別の提案", "広報の協力", "", "DX", ""]
    store, config = make_store(), make_config()
    result = intake(config, store, str(write_csv(tmp_path / "a.csv", [ANSWERS[0], second])), now=NOW)
    assert [a.proposal_id for a in result.imported] == ["R7-0004", "R7-0005"]
    rows = table(store, P).by_key("提案ID")
    assert (rows["R7-0004"].get("件名"), rows["R7-0005"].get("件名")) == ("防災備蓄の共同実施", "別の提案")
    # both again, re-saved in Excel and reordered: still two, nothing new
    again = intake(config, store, str(write_csv(tmp_path / "b.csv", resaved_in_excel([second, ANSWERS[0]]))), now=NOW)
    assert again.imported == [] and again.edited == [] and len(again.skipped) == 2


def test_an_answer_changed_in_place_updates_its_proposal_while_it_is_still_received(tmp_path: Path) -> None:
    store, config = make_store(), make_config()
    intake(config, store, str(write_csv(tmp_path / "a.csv", ANSWERS)), now=NOW)
    changed = [[*ANSWERS[0][:7], "防災備蓄の共同実施（改訂）", *ANSWERS[0][8:]], ANSWERS[1]]
    later = datetime(2025, 6, 11, 9, 0)

    dry = intake(config, store, str(write_csv(tmp_path / "b.csv", changed)), dry_run=True, now=later)
    assert [(e.proposal_id, e.updated, e.columns) for e in dry.edited] == [("R7-0004", True, ["件名"])]
    assert table(store, P).by_key("提案ID")["R7-0004"].get("件名") == "防災備蓄の共同実施"

    result = intake(config, store, str(tmp_path / "b.csv"), now=later)
    assert result.imported == []  # never a second proposal
    assert [(e.proposal_id, e.updated, e.columns) for e in result.edited] == [("R7-0004", True, ["件名"])]
    row = table(store, P).by_key("提案ID")["R7-0004"]
    assert row.get("件名") == "防災備蓄の共同実施（改訂）" and row.get("更新日時") == later
    history = [r for r in table(store, H).rows if r.get("キー") == "R7-0004" and r.get("列") == "件名"]
    assert [(h.get("旧値"), h.get("新値"), h.get("種別")) for h in history] == [
        ("防災備蓄の共同実施", "防災備蓄の共同実施（改訂）", HistoryKind.INTAKE)
    ]
    assert "修正された回答 1 件（1 件は提案に反映しました、0 件は要確認）" in result.summary()
    assert intake(config, store, str(tmp_path / "b.csv"), now=later).edited == []  # once


def google_forms_export(rows: list[list[str]], ids: list[str]) -> list[list[str]]:
    url = "https://docs.google.com/forms/d/e/1FAIpQL/viewform?edit2=2_ABaOnu"
    return [[*r, f"{url}{i}"] for r, i in zip(rows, ids, strict=True)]


def write_forms_csv(path: Path, rows: list[list[str]]) -> Path:
    lines = [",".join([*HEADERS, "回答の編集URL"]), *(",".join(f'"{c}"' for c in r) for r in rows)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    return path


def test_a_google_forms_edit_with_a_new_timestamp_is_found_by_its_edit_url(tmp_path: Path) -> None:
    store, config = make_store(), make_config()
    first = intake(config, store, str(write_forms_csv(tmp_path / "a.csv", google_forms_export(ANSWERS, ["a", "b"]))))
    assert [a.proposal_id for a in first.imported] == ["R6-0042", "R7-0004"]
    assert str(table(store, P).by_key("提案ID")["R7-0004"].get("受付キー")).startswith("ID:2_ABaOnua#")
    # the partner edits the answer in Google Forms three days later: new timestamp, same edit URL
    edited = ["2025/05/04 10:00:00", *ANSWERS[0][1:7], ANSWERS[0][7], "備蓄品の共同購入と訓練", *ANSWERS[0][9:]]
    rows = google_forms_export([edited, ANSWERS[1]], ["a", "b"])
    result = intake(config, store, str(write_forms_csv(tmp_path / "b.csv", rows)), now=NOW)
    assert result.imported == []
    assert [(e.proposal_id, e.updated, e.columns) for e in result.edited] == [("R7-0004", True, ["概要"])]
    assert table(store, P).by_key("提案ID")["R7-0004"].get("概要") == "備蓄品の共同購入と訓練\n費用の削減"
    assert len(table(store, P).rows) == 5


def test_an_edit_of_a_proposal_the_desk_has_moved_on_is_flagged_not_written(tmp_path: Path) -> None:
    store, config = make_store(), make_config()
    intake(config, store, str(write_forms_csv(tmp_path / "a.csv", google_forms_export(ANSWERS, ["a", "b"]))))
    assert "R7-0004" in table(store, P).by_key("提案ID")
    store.apply([SetCell(P, RowKey("提案ID", "R7-0004"), "ステータス", "照会中")])
    edited = [ANSWERS[0][0], *ANSWERS[0][1:7], "全く別の件名", *ANSWERS[0][8:]]
    rows = google_forms_export([edited, ANSWERS[1]], ["a", "b"])
    result = intake(config, store, str(write_forms_csv(tmp_path / "b.csv", rows)), now=NOW)
    [edit] = result.edited
    assert (edit.proposal_id, edit.updated, edit.columns) == ("R7-0004", False, ["件名"])
    assert "ステータスが「照会中」のため台帳は変えず" in edit.reason
    assert result.needs_attention
    assert table(store, P).by_key("提案ID")["R7-0004"].get("件名") == "防災備蓄の共同実施"  # untouched
    logged = [r for r in table(store, H).rows if r.get("キー") == "R7-0004" and r.get("列") == "件名"]
    assert [r.get("新値") for r in logged] == ["【未反映】フォームで修正された回答: 全く別の件名"]  # not lost
    assert intake(config, store, str(tmp_path / "b.csv"), now=NOW).edited == []  # reported once


def test_keys_written_before_fingerprints_still_match(tmp_path: Path) -> None:
    store, config = make_store(), make_config()
    store.apply([AppendRows(P, ({"提案ID": "R7-0004", "受付キー": "2025-05-01T09:15:30|info@alpha.example.jp"},))])
    result = intake(config, store, str(write_csv(tmp_path / "a.csv", resaved_in_excel(ANSWERS))), now=NOW)
    assert [s.proposal_id for s in result.skipped] == ["R7-0004"]
    assert [a.source_row for a in result.imported] == [3]


def test_an_over_long_answer_is_cut_with_the_cut_said_and_kept_whole_in_history(tmp_path: Path) -> None:
    long_text = "あいうえお" * 8_000  # 40,000 characters: more than an .xlsx cell (32,767) holds
    rows = [[*ANSWERS[0][:8], long_text, "", *ANSWERS[0][10:]]]
    store, config = make_store(), make_config()
    [answer] = intake(config, store, str(write_csv(tmp_path / "a.csv", rows)), now=NOW).imported
    assert answer.notes == [
        "概要が40,000文字あり、1セルの上限（32,767文字）を超えています。台帳のセルには末尾を切って入れ"
        "（切ったことはセルの末尾に明記）、全文は変更履歴に種別「全文控え」で残しました。内容を分けるか要約してください"
    ]
    shown = str(table(store, P).by_key("提案ID")[answer.proposal_id].get("概要"))
    assert len(shown) <= 32_767 and shown.startswith(long_text[:32_687])
    assert shown.endswith("…（全40,000文字のうち32,687文字まで表示。全文は変更履歴（種別「全文控え」）にあります）")
    parts = [r for r in table(store, H).rows if r.get("種別") == "全文控え"]
    assert [(r.get("キー"), r.get("列"), r.get("旧値")) for r in parts] == [
        (answer.proposal_id, "概要", "全文 1/2（40,000文字）"),
        (answer.proposal_id, "概要", "全文 2/2（40,000文字）"),
    ]
    assert all(len(str(r.get("新値"))) <= 32_767 for r in parts)
    assert "".join(str(r.get("新値")) for r in parts) == long_text  # nothing lost
    again = intake(config, store, str(write_csv(tmp_path / "a.csv", rows)), now=NOW)
    assert again.imported == [] and again.edited == []  # the cut cell is not taken for an edited answer
    from kouminrenkei_sheets.validate import validate

    [said] = [f for f in validate(config, store, write_back=False).findings if f.code == "text.shown_cut"]
    assert (said.sheet, said.column, said.key) == ("提案", "概要", answer.proposal_id)
    assert said.message.endswith(
        "全40,000文字のうち32,687文字までを表示しています。全文は変更履歴（種別「全文控え」）にあります。"
    )


def test_formatted_empty_rows_do_not_push_new_proposals_down(tmp_path: Path) -> None:
    from openpyxl.styles import PatternFill

    from kouminrenkei_sheets.store.xlsx import XlsxStore

    register = tmp_path / "register.xlsx"
    XlsxStore(register).create_book(None, REGISTER_SHEETS)
    wb = openpyxl.load_workbook(register)
    ws = wb[PROPOSALS]
    for r in range(2, 3002):  # a desk's template: 3,000 rows with fills and nothing typed
        ws.cell(r, 1).fill = PatternFill("solid", fgColor="FFFFCC")
    wb.save(register)
    config = config_from_dict({"store": {"backend": "xlsx"}, "intake": {"mapping": MAPPING}}, base_dir=tmp_path)
    result = intake(config, XlsxStore(register), str(write_csv(tmp_path / "a.csv", ANSWERS)), now=NOW)
    assert [a.proposal_id for a in result.imported] == ["R6-0001", "R7-0001"]
    ws = openpyxl.load_workbook(register)[PROPOSALS]
    assert [ws.cell(r, 1).value for r in (2, 3, 4)] == ["R6-0001", "R7-0001", None]
    assert ws.max_row == 3001  # the formatted rows are still there, no cells added below them
