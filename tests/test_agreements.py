"""Agreement documents: content read back with python-docx, golden texts, safety, recording, CLI."""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from docx import Document
from docx.table import Table as DocxTable
from docx.text.paragraph import Paragraph

from kouminrenkei_sheets import agreements
from kouminrenkei_sheets.agreements import AgreementResult, agreement
from kouminrenkei_sheets.config import Config, config_from_dict
from kouminrenkei_sheets.errors import ConfigError, UsageError, WorkbookBusyError
from kouminrenkei_sheets.schema import CHOICES, HISTORY, HISTORY_SHEET, PROPOSAL_SHEET, PROPOSALS, HistoryKind
from kouminrenkei_sheets.store.base import SheetRef
from kouminrenkei_sheets.store.memory import MemoryStore

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
PROPOSALS_REF = SheetRef(PROPOSALS)
HISTORY_REF = SheetRef(HISTORY)
TODAY = date(2025, 6, 2)
GOVERNOR = "大井川　和彦"

ARTICLES = [
    "目的", "連携事項", "協議・実施", "連絡窓口", "秘密保持", "個人情報", "経費負担", "有効期間", "変更", "疑義",
]  # fmt: skip
RENEWAL = "1年間延長されるものとし、以後も同様とする。"
CLOSING = "本協定の締結を証するため、本書2通を作成し、甲乙記名押印の上、各自1通を保有する。"


# ---------------------------------------------------------------- helpers
def proposal(pid: str = "R7-0003", **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "提案ID": pid,
        "受付日": date(2025, 4, 10),
        "提案方向": "企業等→県",
        "提案種別": "フリー型",
        "提案者区分": "企業",
        "提案者名": "株式会社常陸ストア",
        "所在地": "茨城県水戸市笠原町1番1号",
        "代表者役職": "代表取締役社長",
        "代表者氏名": "山田　太郎",
        "担当者": "佐藤花子",
        "件名": "地域の見守りと防災に関する提案",
        "連携分野": "健康増進・福祉、災害対策、観光・産業振興",
        "連携手法": "包括連携協定",
        "関係市町村": "水戸市、日立市",
        "ステータス": "調整中",
        "協定締結日": date(2025, 7, 1),
        "協定終了日": date(2026, 3, 31),
        "自動更新": "あり",
    }
    row.update(values)
    return row


def register(*rows: dict[str, Any], choices: dict[str, list[str]] | None = None) -> MemoryStore:
    store = MemoryStore()
    headers = PROPOSAL_SHEET.headers
    store.put_table(PROPOSALS_REF, [headers, *[[r.get(h) for h in headers] for r in rows]])
    store.put_table(HISTORY_REF, [HISTORY_SHEET.headers])
    if choices:
        names = list(choices)
        depth = max(len(v) for v in choices.values())
        grid: list[list[Any]] = [names]
        grid += [[choices[n][i] if i < len(choices[n]) else None for n in names] for i in range(depth)]
        store.put_table(SheetRef(CHOICES), grid)
    return store


def config(tmp_path: Path, **desk: Any) -> Config:
    return config_from_dict({"desk": {"governor": GOVERNOR, **desk}, "store": {"backend": "memory"}}, base_dir=tmp_path)


def blocks(path: Path) -> Iterator[Paragraph | DocxTable]:
    doc = Document(str(path))
    for child in doc.element.body.iterchildren():
        if child.tag.endswith("}p"):
            yield Paragraph(child, doc)
        elif child.tag.endswith("}tbl"):
            yield DocxTable(child, doc)


def document_text(path: Path) -> str:
    """The document's paragraphs in order (a table row as its cells joined by ' | ')."""
    lines: list[str] = []
    for block in blocks(path):
        if isinstance(block, Paragraph):
            lines.append(block.text)
        else:
            lines.extend(" | ".join(c.text for c in row.cells) for row in block.rows)
    return "\n".join(lines) + "\n"


def paragraphs(path: Path) -> list[str]:
    return [b.text for b in blocks(path) if isinstance(b, Paragraph)]


def history_rows(store: MemoryStore) -> list[dict[str, Any]]:
    table = store.read_one(HISTORY_REF)
    assert table is not None
    return table.records()


def proposal_row(store: MemoryStore, pid: str) -> dict[str, Any]:
    table = store.read_one(PROPOSALS_REF)
    assert table is not None
    return dict(table.by_key("提案ID")[pid].values)


def make(tmp_path: Path, *rows: dict[str, Any], **kwargs: Any) -> tuple[AgreementResult, MemoryStore]:
    store = register(*rows)
    cfg = config(tmp_path)
    pid = None if kwargs.get("all_") else rows[0]["提案ID"]
    return agreement(cfg, store, pid, today=TODAY, **kwargs), store


# ---------------------------------------------------------------- content
def test_comprehensive_agreement_has_every_part(tmp_path: Path) -> None:
    result, _ = make(tmp_path, proposal())
    [doc] = result.documents
    assert doc.path == tmp_path / "agreements" / "協定書_R7-0003_株式会社常陸ストア.docx"
    text = paragraphs(doc.path)

    assert text[0] == "茨城県と株式会社常陸ストアとの包括連携に関する協定書"
    assert "茨城県（以下「甲」という。）と株式会社常陸ストア（以下「乙」という。）は、" in text[2]
    headings = [t for t in text if t.startswith("（") and t.endswith("）")]
    assert headings == [f"（{a}）" for a in ARTICLES]
    # Each heading is followed by its article, numbered 第1条 … 第10条.
    for n, heading in enumerate(headings, start=1):
        assert text[text.index(heading) + 1].startswith(f"第{n}条\u3000")

    items = text[text.index("（連携事項）") + 2 : text.index("（協議・実施）")]
    assert items == [
        "(1) 健康増進・福祉に関すること",
        "(2) 災害対策に関すること",
        "(3) 観光・産業振興に関すること",
        "(4) その他、地域の活性化及び県民サービスの向上に関すること",
    ]
    secrecy = text[text.index("（秘密保持）") + 1 : text.index("（個人情報）")]
    assert secrecy[1] == "2\u3000前項の規定は、本協定の終了後も、なおその効力を有する。"
    term = text[text.index("（有効期間）") + 1 : text.index("（変更）")]
    assert term[0] == "第8条\u3000本協定の有効期間は、令和7年7月1日から令和8年3月31日までとする。"
    assert RENEWAL in term[1] and term[1].startswith("2\u3000")

    assert CLOSING in text
    tail = [t for t in text[text.index(CLOSING) + 1 :] if t]
    assert tail == [
        "令和7年7月1日",
        "甲\u3000茨城県",
        f"\u3000\u3000茨城県知事\u3000{GOVERNOR}\u3000印",
        "乙\u3000茨城県水戸市笠原町1番1号",
        "\u3000\u3000株式会社常陸ストア",
        "\u3000\u3000代表取締役社長\u3000山田\u3000太郎\u3000印",
    ]


@pytest.mark.parametrize("renew", ["なし", None, " ﾅｼ "])
def test_no_renewal_clause_unless_auto_renew(tmp_path: Path, renew: str | None) -> None:
    result, _ = make(tmp_path, proposal(自動更新=renew))
    text = paragraphs(result.documents[0].path)
    term = text[text.index("（有効期間）") + 1 : text.index("（変更）")]
    assert len(term) == 1
    assert not any(RENEWAL in t for t in text)


def test_first_year_of_an_era_is_gannen(tmp_path: Path) -> None:
    row = proposal(協定締結日="2019/5/1", 協定開始日="H31.4.1", 協定終了日=datetime(2020, 3, 31))
    result, _ = make(tmp_path, row)
    text = paragraphs(result.documents[0].path)
    assert "本協定の有効期間は、平成31年4月1日から令和2年3月31日までとする。" in text[text.index("（有効期間）") + 1]
    assert "令和元年5月1日" in text


def test_start_date_defaults_to_signing_date_and_prefecture_comes_from_config(tmp_path: Path) -> None:
    store = register(proposal(協定締結日="令和7年9月1日"))
    result = agreement(config(tmp_path, prefecture="栃木県"), store, "R7-0003", today=TODAY)
    text = paragraphs(result.documents[0].path)
    assert text[0] == "栃木県と株式会社常陸ストアとの包括連携に関する協定書"
    assert "本協定の有効期間は、令和7年9月1日から令和8年3月31日までとする。" in text[text.index("（有効期間）") + 1]
    assert f"\u3000\u3000栃木県知事\u3000{GOVERNOR}\u3000印" in text


def test_project_agreement_has_theme_and_roles_table(tmp_path: Path) -> None:
    row = proposal(連携手法="事業連携協定", 件名="県産品の販路拡大に関する提案", 連携分野="観光・産業振興")
    result, _ = make(tmp_path, row)
    path = result.documents[0].path
    text = paragraphs(path)
    assert text[0] == "茨城県と株式会社常陸ストアとの県産品の販路拡大に関する事業連携協定書"
    headings = [t for t in text if t.startswith("（") and t.endswith("）")]
    assert headings == ["（目的）", "（連携事項）", "（役割分担）", *[f"（{a}）" for a in ARTICLES[2:]]]
    items = text[text.index("（連携事項）") + 2 : text.index("（役割分担）")]
    assert items == ["(1) 観光・産業振興に関すること", "(2) その他、前条の目的を達成するために必要な事項に関すること"]
    [table] = [b for b in blocks(path) if isinstance(b, DocxTable)]
    rows = [[c.text for c in r.cells] for r in table.rows]
    assert rows[0] == ["区分", "役割", "経費の負担"]
    assert rows[1][0] == "甲（茨城県）" and "関係市町村（水戸市、日立市）" in rows[1][1]
    assert rows[2][0] == "乙（株式会社常陸ストア）" and rows[2][1].startswith("県産品の販路拡大に係る事業")
    assert text[-1] == "\u3000\u3000代表取締役社長\u3000山田\u3000太郎\u3000印"


@pytest.mark.parametrize(
    ("subject", "fields", "theme"),
    [
        ("防災啓発イベントの共同開催", "災害対策", "防災啓発イベントの共同開催"),
        ("子育て支援に関する事業連携協定の提案", "子育て・教育", "子育て支援"),
        ("提案", "環境", "環境"),
        ("健康ポイント事業での連携", "健康増進・福祉", "健康ポイント事業"),
        ("地域防災力の向上に関する連携", "災害対策", "地域防災力の向上"),
        ("県産品の販路拡大の連携", "観光・産業振興", "県産品の販路拡大"),
        ("子どもの見守りにおける連携", "安全・安心", "子どもの見守り"),
        ("県内大学との連携", "子育て・教育", "県内大学"),
        ("脱炭素社会の実現に向けた連携協定", "環境", "脱炭素社会の実現"),
        ("食品ロス削減のための協力", "環境", "食品ロス削減"),
        ("空き家対策に係る事業連携協定書", "地域活性化", "空き家対策"),
        ("DXの推進に関する事業", "DX", "DXの推進"),
        ("観光振興について", "観光・産業振興", "観光振興"),
        ("健康づくり事業", "健康増進・福祉", "健康づくり事業"),
        ("農産物のブランド化に関する連携の提案", "農林水産", "農産物のブランド化"),
        ("　イメージアップ事業における連携 ", "イメージアップ", "イメージアップ事業"),
        ("に関する連携", "災害対策", "災害対策"),
    ],
)
def test_project_theme(subject: str, fields: str, theme: str) -> None:
    assert agreements._theme(subject, [fields]) == theme


def test_a_subject_ending_in_de_no_renkei_reads_as_japanese_everywhere(tmp_path: Path) -> None:
    row = proposal(連携手法="事業連携協定", 件名="健康ポイント事業での連携", 連携分野="健康増進・福祉")
    result, _ = make(tmp_path, row)
    path = result.documents[0].path
    text = paragraphs(path)
    assert text[0] == "茨城県と株式会社常陸ストアとの健康ポイント事業に関する事業連携協定書"
    assert any("健康ポイント事業に関し相互に連携し" in t for t in text)  # 第1条
    [table] = [b for b in blocks(path) if isinstance(b, DocxTable)]
    assert [c.text for c in table.rows[2].cells][1].startswith("健康ポイント事業に係る事業")
    assert not any("でに関" in t or "でに係" in t for t in text)


def test_fields_and_renewal_follow_the_desks_choice_lists(tmp_path: Path) -> None:
    store = register(
        proposal(連携分野="ＤＸ・スポーツ振興", 自動更新="する"),
        choices={"連携分野": ["DX", "スポーツ振興"], "自動更新": ["する", "しない"]},
    )
    result = agreement(config(tmp_path), store, "R7-0003", today=TODAY)
    text = paragraphs(result.documents[0].path)
    assert "(1) DXに関すること" in text and "(2) スポーツ振興に関すること" in text
    # 自動更新 only renews for the value あり.
    assert not any(RENEWAL in t for t in text)


# ---------------------------------------------------------------- golden texts
@pytest.mark.parametrize(
    ("golden", "row"),
    [
        ("agreement_comprehensive.txt", proposal()),
        (
            "agreement_project.txt",
            proposal(
                "R7-0012",
                提案者名="国立大学法人筑波研究大学",
                代表者役職="学長",
                代表者氏名="鈴木　一郎",
                所在地="茨城県つくば市天王台1丁目1番1",
                件名="デジタル人材の育成に関する連携",
                連携分野="DX",
                連携手法="事業連携協定",
                関係市町村="つくば市",
                協定締結日=date(2025, 10, 1),
                協定終了日=date(2028, 3, 31),
                自動更新="なし",
            ),
        ),
    ],
)
def test_golden_text(tmp_path: Path, golden: str, row: dict[str, Any]) -> None:
    result, _ = make(tmp_path, row)
    actual = document_text(result.documents[0].path)
    path = GOLDEN / golden
    if os.environ.get("KOUMINRENKEI_UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{golden} differs (KOUMINRENKEI_UPDATE_GOLDEN=1 rewrites it)"


# ---------------------------------------------------------------- what is missing or wrong
def test_missing_fields_are_all_named_and_nothing_is_written(tmp_path: Path) -> None:
    store = register(proposal(所在地=None, 代表者氏名="  ", 協定締結日=None, 協定終了日=None, 連携分野=None))
    cfg = config_from_dict({"store": {"backend": "memory"}}, base_dir=tmp_path)  # no governor
    with pytest.raises(UsageError) as e:
        agreement(cfg, store, "R7-0003", today=TODAY)
    message = str(e.value)
    assert message.startswith("提案 R7-0003（提案シート 2行目）の協定書を作れません。")
    assert "空欄の項目: 所在地、代表者氏名、連携分野、協定締結日、協定終了日。" in message
    assert "desk.governor（知事名）が空です" in message
    assert not (tmp_path / "agreements").exists()
    assert store.writes.get(None, 0) == 0


def test_unreadable_values_are_named_with_their_value(tmp_path: Path) -> None:
    row = proposal(協定締結日="令和7年13月1日", 連携分野="災害対策、観光", 自動更新="たぶん")
    with pytest.raises(UsageError) as e:
        make(tmp_path, row)
    message = str(e.value)
    assert "協定締結日「令和7年13月1日」: " in message
    assert "連携分野「災害対策、観光」: " in message and "観光" in message
    assert "自動更新「たぶん」: " in message
    with pytest.raises(UsageError, match=r"協定終了日「2024/3/31」が開始日（2025/7/1）より前です"):
        make(tmp_path, proposal(協定終了日=date(2024, 3, 31)))


def test_unknown_proposal_wrong_method_and_no_partner(tmp_path: Path) -> None:
    store = register(
        proposal(),
        proposal("R7-0004", 連携手法="協定によらない連携"),
        proposal("R7-0005", 提案方向="県→企業等", 提案者区分="県庁各課", 提案者名="観光戦略課"),
    )
    cfg = config(tmp_path)
    with pytest.raises(UsageError, match="提案ID「R7-9999」は提案シートにありません。"):
        agreement(cfg, store, "R7-9999")
    with pytest.raises(UsageError, match="連携手法が「協定によらない連携」のため協定書は作りません"):
        agreement(cfg, store, "R7-0004")
    # 県→企業等: 乙 is the accepting partner of the 連携先 columns, never the proposing section.
    with pytest.raises(UsageError, match="空欄の項目: 連携先名称、連携先所在地、連携先代表者役職、連携先代表者氏名。"):
        agreement(cfg, store, "R7-0005")
    with pytest.raises(UsageError, match="どちらか一方"):
        agreement(cfg, store, "R7-0003", all_=True)
    # An ID typed in full width / lower case still finds its proposal.
    assert agreement(cfg, store, "ｒ７－０００３", today=TODAY).documents[0].proposal_id == "R7-0003"


# ---------------------------------------------------------------- safety of names and files
@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ('A&B <"テスト"> 株式会社', 'A&B <"テスト"> 株式会社'),
        ("../../etc/passwd", "../../etc/passwd"),
        ("株式会社／スラッシュ/商事", "株式会社／スラッシュ/商事"),
        ("改行\n入り\x07商事{{ 7*7 }}", "改行 入り商事{{ 7*7 }}"),
    ],
)
def test_nasty_partner_names(tmp_path: Path, name: str, shown: str) -> None:
    out = tmp_path / "out"
    result, _ = make(tmp_path, proposal(提案者名=name), out=out)
    [doc] = result.documents
    assert doc.path.parent == out and [p.name for p in out.iterdir()] == [doc.path.name]
    assert doc.path.name.startswith("協定書_R7-0003_") and doc.path.suffix == ".docx"
    assert not set(doc.path.name) & set('/\\<>:"|?*\n')
    with zipfile.ZipFile(doc.path) as z:  # valid XML, or python-docx could not open it below
        assert z.testzip() is None
    assert paragraphs(doc.path)[0] == f"茨城県と{shown}との包括連携に関する協定書"


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    store = register(proposal())
    cfg = config(tmp_path)
    first = agreement(cfg, store, "R7-0003", today=TODAY).documents[0].path
    first.write_bytes(b"edited by the desk")
    with pytest.raises(UsageError, match=r"既にあります。作り直すときは --force"):
        agreement(cfg, store, "R7-0003", today=TODAY)
    assert first.read_bytes() == b"edited by the desk"
    again = agreement(cfg, store, "R7-0003", force=True, today=date(2025, 6, 3))
    assert again.documents[0].path == first and first.read_bytes().startswith(b"PK")
    assert proposal_row(store, "R7-0003")["協定書作成日"] == date(2025, 6, 3)
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temp files left


def test_path_and_date_recorded_with_history_in_one_write(tmp_path: Path) -> None:
    store = register(proposal(協定書作成日="2025/5/1"))
    result = agreement(config(tmp_path, actor="計画推進課 田中"), store, "R7-0003", today=TODAY)
    assert store.writes[None] == 1
    row = proposal_row(store, "R7-0003")
    assert row["協定書"] == "agreements/協定書_R7-0003_株式会社常陸ストア.docx" == result.documents[0].recorded
    assert row["協定書作成日"] == TODAY
    history = history_rows(store)
    assert [(h["列"], h["旧値"], h["新値"]) for h in history] == [
        ("協定書", "", "agreements/協定書_R7-0003_株式会社常陸ストア.docx"),
        ("協定書作成日", "2025/5/1", "2025/6/2"),
    ]
    for h in history:
        where = (h["シート"], h["キー"], h["種別"], h["実行者"])
        assert where == ("提案", "R7-0003", HistoryKind.AGREEMENT, "計画推進課 田中")
        assert isinstance(h["日時"], datetime)


def test_output_outside_the_config_folder_is_recorded_absolute(tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    cfg = config(tmp_path / "desk")
    store = register(proposal())
    result = agreement(cfg, store, "R7-0003", out=out, today=TODAY)
    assert result.documents[0].recorded == str((out / "協定書_R7-0003_株式会社常陸ストア.docx").resolve())


def test_a_register_that_cannot_be_written_leaves_no_document(tmp_path: Path) -> None:
    store = register(proposal())
    store.open_by[None] = "山田"  # the register is open in Excel
    with pytest.raises(WorkbookBusyError):
        agreement(config(tmp_path), store, "R7-0003", today=TODAY)
    assert list((tmp_path / "agreements").iterdir()) == []


def test_missing_history_and_columns_are_created(tmp_path: Path) -> None:
    store = MemoryStore()
    headers = [h for h in PROPOSAL_SHEET.headers if h not in ("協定書", "協定書作成日")]
    row = proposal()
    store.put_table(PROPOSALS_REF, [headers, [row.get(h) for h in headers]])
    agreement(config(tmp_path), store, "R7-0003", today=TODAY)
    assert proposal_row(store, "R7-0003")["協定書作成日"] == TODAY
    assert [h["列"] for h in history_rows(store)] == ["協定書", "協定書作成日"]


# ---------------------------------------------------------------- --all
def test_all_makes_what_is_due_and_reports_the_rest(tmp_path: Path) -> None:
    rows = [
        proposal("R7-0001"),  # 包括 / 調整中 → made
        proposal("R7-0002", 連携手法="事業連携協定", ステータス="協定締結", 提案者名="常陸銀行"),  # → made
        proposal("R7-0003", ステータス="照会中"),  # not yet
        proposal("R7-0004", 連携手法="協定によらない連携"),  # no agreement
        proposal("R7-0005", 協定書="agreements/old.docx"),  # already has one
        proposal("R7-0006", 代表者氏名=None, 所在地=None),  # cannot: reported
        proposal("R7-0007", ステータス=" 協定締結 ", 連携手法="包括連携協定 "),  # typed with spaces → made
    ]
    store = register(*rows)
    result = agreement(config(tmp_path), store, all_=True, today=TODAY)
    assert [d.proposal_id for d in result.documents] == ["R7-0001", "R7-0002", "R7-0007"]
    assert [d.method for d in result.documents] == ["包括連携協定", "事業連携協定", "包括連携協定"]
    assert result.selected == 4
    [problem] = result.problems
    assert problem.proposal_id == "R7-0006" and problem.missing == ("所在地", "代表者氏名")
    assert store.writes[None] == 1
    assert len(history_rows(store)) == 6
    assert "事業連携協定書" in paragraphs(result.documents[1].path)[0]
    # A second run finds nothing new to make (R7-0006 is still reported) and writes nothing.
    again = agreement(config(tmp_path), store, all_=True, today=TODAY)
    assert again.documents == [] and [p.proposal_id for p in again.problems] == ["R7-0006"]
    assert store.writes[None] == 1


def test_all_reports_an_unrecorded_existing_file_and_continues(tmp_path: Path) -> None:
    out = tmp_path / "agreements"
    out.mkdir()
    (out / "協定書_R7-0001_株式会社常陸ストア.docx").write_bytes(b"someone else's")
    store = register(proposal("R7-0001"), proposal("R7-0002", 提案者名="常陸銀行"))
    result = agreement(config(tmp_path), store, all_=True, today=TODAY)
    assert [d.proposal_id for d in result.documents] == ["R7-0002"]
    assert "既にあります" in result.problems[0].message
    assert (out / "協定書_R7-0001_株式会社常陸ストア.docx").read_bytes() == b"someone else's"


# ---------------------------------------------------------------- templates
def test_desk_templates_override_shipped_ones_by_file_name(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    doc = Document()
    doc.add_paragraph("独自ひな形: {{ partner.name }} / {{ date }} / {{ items|join('・') }}")
    doc.save(str(own / "包括連携協定書.docx"))
    cfg = config_from_dict(
        {"desk": {"governor": GOVERNOR}, "store": {"backend": "memory"}, "agreement": {"templates": "own"}},
        base_dir=tmp_path,
    )
    store = register(proposal(), proposal("R7-0002", 連携手法="事業連携協定"))
    result = agreement(cfg, store, all_=True, today=TODAY)
    comprehensive, project = (paragraphs(d.path) for d in result.documents)
    fields = "健康増進・福祉・災害対策・観光・産業振興"
    assert comprehensive == [f"独自ひな形: 株式会社常陸ストア / 令和7年7月1日 / {fields}"]
    assert project[0].endswith("事業連携協定書")  # no own template: the shipped one


def test_broken_desk_template_is_a_config_error(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    doc = Document()
    doc.add_paragraph("{{ partner.name ")
    doc.save(str(own / "包括連携協定書.docx"))
    (own / "事業連携協定書.docx").write_text("not a docx")
    store = register(proposal(), proposal("R7-0002", 連携手法="事業連携協定"))
    for pid, pattern in (("R7-0003", "差し込みタグが正しくありません"), ("R7-0002", "Word 文書として読めません")):
        cfg = config_from_dict(
            {"desk": {"governor": GOVERNOR}, "store": {"backend": "memory"}, "agreement": {"templates": "own"}},
            base_dir=tmp_path,
        )
        with pytest.raises(ConfigError, match=pattern):
            agreement(cfg, store, pid, today=TODAY)
    assert list((tmp_path / "agreements").iterdir()) == []
    missing = config_from_dict({"agreement": {"templates": "nowhere"}, "desk": {"governor": "x"}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"agreement\.templates"):
        agreement(missing, store, "R7-0003", today=TODAY)


def _build_script() -> ModuleType:
    path = ROOT / "scripts" / "build_agreement_templates.py"
    spec = importlib.util.spec_from_file_location("build_agreement_templates", path)
    assert spec and spec.loader
    if spec.name not in sys.modules:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look the module up while being built
        spec.loader.exec_module(module)
    return sys.modules[spec.name]


def test_shipped_templates_match_their_source(tmp_path: Path) -> None:
    build = _build_script()
    sources = build.sources()
    assert {s.stem for s in sources} == {"包括連携協定書", "事業連携協定書"}
    assert build.main(["--out", str(tmp_path)]) == 0
    for source in sources:
        shipped = build.TEMPLATE_DIR / f"{source.stem}.docx"
        with zipfile.ZipFile(tmp_path / shipped.name) as fresh, zipfile.ZipFile(shipped) as committed:
            assert fresh.namelist() == committed.namelist()
            for part in fresh.namelist():
                assert fresh.read(part) == committed.read(part), (
                    f"{shipped.name}:{part} drifted from {source.name}; run scripts/build_agreement_templates.py"
                )


def test_template_source_errors_name_the_line() -> None:
    build = _build_script()
    with pytest.raises(build.SourceError, match=r"x.txt:2: .*記号が分かりません"):
        build.parse_source("title: t\nheading: h\n", "x.txt")
    with pytest.raises(build.SourceError, match=r"x.txt:1: \[\[なし\]\]"):
        build.parse_source("para: [[なし]]に掲げる\n", "x.txt")
    blocks_ = build.parse_source("article: 目的\nclause: a\nclause: b\narticle: 次\nclause: [[目的]]参照\n")
    assert [b.text for b in blocks_] == ["（目的）", "第1条\u3000a", "2\u3000b", "（次）", "第2条\u3000第1条参照"]


# ---------------------------------------------------------------- PDF
def test_pdf_without_libreoffice_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agreements.shutil, "which", lambda name: None)
    result, _ = make(tmp_path, proposal(), pdf=True)
    assert result.documents[0].path.is_file() and result.documents[0].pdf is None
    assert result.notices == [
        "LibreOffice（soffice）がインストールされていないため、PDF は作成しませんでした（.docx は作成済み）。"
    ]


def _fake_soffice(folder: Path, *, fail: bool = False) -> Path:
    """A stand-in for LibreOffice that records its arguments and writes a tiny PDF (or fails)."""
    script = folder / "soffice"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import pathlib, sys
            args = sys.argv[1:]
            pathlib.Path({str(folder / "args.txt")!r}).write_text("\\n".join(args), encoding="utf-8")
            if {fail!r}:
                print("Error: source file could not be loaded", file=sys.stderr)
                sys.exit(1)
            out = pathlib.Path(args[args.index("--outdir") + 1])
            (out / (pathlib.Path(args[-1]).stem + ".pdf")).write_bytes(b"%PDF-1.4 fake")
            """
        ),
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in is a POSIX script")
def test_pdf_through_soffice_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = _fake_soffice(bin_dir)
    monkeypatch.setattr(agreements, "pdf_converter", lambda: str(fake))
    result, _ = make(tmp_path, proposal(), pdf=True)
    doc = result.documents[0]
    assert doc.pdf == doc.path.with_suffix(".pdf") and doc.pdf.read_bytes() == b"%PDF-1.4 fake"
    args = (bin_dir / "args.txt").read_text(encoding="utf-8").splitlines()
    assert args[1:5] == ["--headless", "--convert-to", "pdf", "--outdir"] and args[-1] == str(doc.path)
    assert args[0].startswith("-env:UserInstallation=file://")

    _fake_soffice(bin_dir, fail=True)
    again = agreement(config(tmp_path), register(proposal()), "R7-0003", pdf=True, force=True, today=TODAY)
    assert again.documents[0].pdf is None
    assert again.notices == ["R7-0003 の PDF を作れませんでした: LibreOffice の変換に失敗しました（終了コード 1、"
                             "Error: source file could not be loaded）"]  # fmt: skip
    assert doc.pdf.read_bytes() == b"%PDF-1.4 fake"


def _libreoffice_writer() -> bool:
    """LibreOffice with its Writer (what opens a .docx): a Debian install of Calc alone has none."""
    soffice = agreements.pdf_converter()
    if soffice is None:
        return False
    program = Path(os.path.realpath(soffice)).parent
    return not sys.platform.startswith("linux") or (program / "libswlo.so").exists()


@pytest.mark.skipif(not _libreoffice_writer(), reason="LibreOffice Writer is not installed")
def test_pdf_with_real_libreoffice(tmp_path: Path) -> None:  # pragma: no cover - needs LibreOffice
    result, _ = make(tmp_path, proposal(), pdf=True)
    pdf = result.documents[0].pdf
    assert pdf is not None and pdf.read_bytes().startswith(b"%PDF")


# ---------------------------------------------------------------- the command line
def test_cli_agreement(tmp_path: Path) -> None:
    from click.testing import CliRunner

    xlsx = pytest.importorskip("kouminrenkei_sheets.store.xlsx")
    from kouminrenkei_sheets.cli import cli
    from kouminrenkei_sheets.init import init_desk
    from kouminrenkei_sheets.store.base import AppendRows

    init = init_desk(tmp_path / "desk", governor=GOVERNOR)
    assert isinstance(init.store, xlsx.XlsxStore)
    rows = (proposal("R7-0001"), proposal("R7-0002", 代表者氏名=None), proposal("R7-0003", 提案者名="常陸銀行"))
    init.store.apply([AppendRows(PROPOSALS_REF, rows)])
    runner = CliRunner()
    cfg = str(init.config_path)

    ok = runner.invoke(cli, ["--config", cfg, "agreement", "R7-0001"])
    assert ok.exit_code == 0, ok.output
    assert ok.output == "作成: agreements/協定書_R7-0001_株式会社常陸ストア.docx（R7-0001 株式会社常陸ストア）\n"
    assert (tmp_path / "desk" / "agreements" / "協定書_R7-0001_株式会社常陸ストア.docx").is_file()

    again = runner.invoke(cli, ["--config", cfg, "agreement", "R7-0001"])
    assert again.exit_code == 2
    assert "既にあります。作り直すときは --force を付けてください" in again.output

    missing = runner.invoke(cli, ["--config", cfg, "agreement", "R7-0002"])
    assert missing.exit_code == 2
    assert missing.output.startswith("エラー: 提案 R7-0002（提案シート 3行目）の協定書を作れません。")
    assert "空欄の項目: 代表者氏名。" in missing.output

    unknown = runner.invoke(cli, ["--config", cfg, "agreement", "R7-9999"])
    assert (unknown.exit_code, unknown.output) == (2, "エラー: 提案ID「R7-9999」は提案シートにありません。\n")

    everything = runner.invoke(cli, ["--config", cfg, "agreement", "--all"])
    assert everything.exit_code == 1  # R7-0002 could not be made
    assert "作成: agreements/協定書_R7-0003_常陸銀行.docx（R7-0003 常陸銀行）" in everything.output
    assert "作成できません: 提案 R7-0002" in everything.output

    nothing = runner.invoke(cli, ["--config", cfg, "agreement", "--all"])
    assert nothing.exit_code == 1 and "作成: " not in nothing.output

    neither = runner.invoke(cli, ["--config", cfg, "agreement"])
    assert neither.exit_code == 2 and "提案IDか --all" in neither.output
    table = init.store.read_one(PROPOSALS_REF)
    assert table is not None
    recorded = {r.get("提案ID"): r.get("協定書") for r in table.rows}
    assert recorded == {
        "R7-0001": "agreements/協定書_R7-0001_株式会社常陸ストア.docx",
        "R7-0002": None,
        "R7-0003": "agreements/協定書_R7-0003_常陸銀行.docx",
    }
    shutil.rmtree(tmp_path / "desk" / "agreements")


def test_prefecture_to_partner_agreement_names_the_accepting_partner(tmp_path: Path) -> None:
    row = proposal(
        "R7-0005", 提案方向="県→企業等", 提案者区分="県庁各課", 提案者名="観光戦略課", 所在地=None,
        代表者役職=None, 代表者氏名=None, 連携先名称="株式会社いばらき観光ネット",
        連携先所在地="茨城県日立市幸町1番1号", 連携先代表者役職="代表取締役", 連携先代表者氏名="鈴木　一郎",
    )  # fmt: skip
    result, _ = make(tmp_path, row)
    [doc] = result.documents
    assert doc.path.name == "協定書_R7-0005_株式会社いばらき観光ネット.docx"
    text = document_text(doc.path)
    assert "茨城県と株式会社いばらき観光ネットとの包括連携に関する協定書" in text
    assert "茨城県日立市幸町1番1号" in text and "鈴木　一郎" in text
    assert "観光戦略課（以下「乙」" not in text


def test_document_properties_are_the_documents_not_the_templates(tmp_path: Path) -> None:
    import zipfile
    from datetime import UTC, datetime

    before = datetime.now(UTC).replace(microsecond=0)
    result, _ = make(tmp_path, proposal())
    [doc] = result.documents
    props = Document(str(doc.path)).core_properties
    assert props.title == "協定書（R7-0003 株式会社常陸ストア）"
    assert props.subject == "地域の見守りと防災に関する提案"
    assert props.author == props.last_modified_by == "茨城県政策企画部計画推進課公民連携デスク"
    assert props.created is not None and props.created >= before
    assert props.comments == "" and props.keywords == "" and props.revision == 1
    with zipfile.ZipFile(doc.path) as z:
        names = z.namelist()
        app = z.read("docProps/app.xml").decode("utf-8") if "docProps/app.xml" in names else ""
        rels = z.read("_rels/.rels").decode("utf-8")
    assert "thumbnail" not in rels and not any("thumbnail" in n for n in names)
    assert "Microsoft Macintosh Word" not in app and "<Application>kouminrenkei-sheets</Application>" in app


def test_the_signature_block_takes_the_desks_address_and_seal_from_the_config(tmp_path: Path) -> None:
    """記名押印: 甲's address ([desk] address) and the 印 after each name ([agreement] seal; empty = none)."""
    cases = (
        ("茨城県水戸市笠原町978番6", "印", "甲\u3000茨城県水戸市笠原町978番6"),
        ("", "", "甲\u3000茨城県"),
        ("", "（印）", "甲\u3000茨城県"),
    )
    for n, (desk_address, seal, first) in enumerate(cases):
        cfg = config_from_dict(
            {
                "desk": {"governor": GOVERNOR, "address": desk_address},
                "agreement": {"seal": seal},
                "store": {"backend": "memory"},
            },
            base_dir=tmp_path / str(n),
        )
        result = agreement(cfg, register(proposal()), "R7-0003", today=TODAY)
        text = [t for t in paragraphs(result.documents[0].path) if t]
        block = text[text.index("令和7年7月1日") + 1 :]
        mark = f"\u3000{seal}" if seal else ""
        assert block == [
            first,
            f"\u3000\u3000茨城県知事\u3000{GOVERNOR}{mark}",
            "乙\u3000茨城県水戸市笠原町1番1号",
            "\u3000\u3000株式会社常陸ストア",
            f"\u3000\u3000代表取締役社長\u3000山田\u3000太郎{mark}",
        ]
