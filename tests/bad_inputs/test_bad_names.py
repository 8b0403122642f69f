"""Bad-input corpus, names: any 課 or partner name gives a tab and a file every system takes, the
same name every time, never two 課 on one tab, never a file outside the desk folder."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from _desk import make_desk, run, snapshot

from kouminrenkei_sheets.agreements import agreement
from kouminrenkei_sheets.config import config_from_dict
from kouminrenkei_sheets.departments import departments_from_table, safe_file_name, safe_tab_name
from kouminrenkei_sheets.refer import refer
from kouminrenkei_sheets.schema import DEPARTMENTS, PROPOSAL_SHEET, PROPOSALS, Method, Status
from kouminrenkei_sheets.store.base import SheetRef
from kouminrenkei_sheets.store.memory import MemoryStore, table_from_grid
from kouminrenkei_sheets.sync import sync

TAB_NAMES = [
    ("総務/人事課", "総務／人事課"),
    ("企画:調整課", "企画：調整課"),
    ("[旧]広報課", "［旧］広報課"),
    ("何?課*", "何？課＊"),
    ("'引用'課", "＇引用'課"),
    ("History", "Ｈｉｓｔｏｒｙ"),
    ("ｿｳﾑ課", "ソウム課"),  # NFKC, as the master's names are matched
    (
        "政策企画部計画推進課公民連携デスク担当（総括・調整・広報・渉外）",
        "政策企画部計画推進課公民連携デスク担当(総括・調~",
    ),
]


@pytest.mark.parametrize(("name", "expected"), TAB_NAMES)
def test_tab_names(name: str, expected: str) -> None:
    tab = safe_tab_name(name)
    if expected.endswith("~"):  # cut: the start, then a fingerprint of the whole name
        assert re.fullmatch(re.escape(expected) + "[0-9a-f]{6}", tab), tab
    else:
        assert tab == expected
    assert len(tab.encode("utf-16-le")) // 2 <= 31
    assert not set(tab) & set("/\\:*?[]") and not tab.startswith("'") and not tab.endswith("'")
    assert safe_tab_name(name) == tab  # stable


FILE_NAMES = [
    ("総務/人事課", ".xlsx", "総務／人事課.xlsx"),
    ('a\\b:c*d?e"f<g>h|i', ".xlsx", "a＼b：c＊d？e＂f＜g＞h｜i.xlsx"),
    ("CON", ".xlsx", "ＣＯＮ.xlsx"),
    ("nul.txt", ".docx", "ｎｕｌ.txt.docx"),
    ("COM1", "", "ＣＯＭ１"),
    ("..", ".xlsx", "．．.xlsx"),
    ("末尾の点.", ".xlsx", "末尾の点．.xlsx"),
    ("  前後の空白  ", ".xlsx", "前後の空白.xlsx"),
]


@pytest.mark.parametrize(("name", "suffix", "expected"), FILE_NAMES)
def test_file_names(name: str, suffix: str, expected: str) -> None:
    assert safe_file_name(name, suffix) == expected


@pytest.mark.parametrize("name", ["株" * 94, "a" * 300, "😀" * 80, "株式会社" + "\u202e" * 3 + "x" * 200])
def test_a_long_name_fits_in_200_bytes_and_stays_distinct(name: str) -> None:
    file = safe_file_name(name, ".docx")
    assert len(file.encode("utf-8")) <= 200 and file.endswith(".docx")
    assert safe_file_name(name, ".docx") == file
    assert safe_file_name(name + "別", ".docx") != file  # cut alike, told apart by the fingerprint


def test_invisible_characters_never_make_two_departments_share_a_tab() -> None:
    names = ["総務課", "総務\u200f課", "総務\x07課", "総務/課", "総務／課"]
    assert len({safe_tab_name(n) for n in names[:4]}) == 4
    assert safe_tab_name("総務\u200f課").startswith("総務課~")


def test_the_master_maps_every_name_and_says_so(tmp_path: Path) -> None:
    master = table_from_grid(
        SheetRef(DEPARTMENTS),
        [["部局", "課", "タブ名", "ブック"], ["総務部", "総務/人事課", None, None], ["総務部", "人事課", None, None]],
    )
    config = config_from_dict({"store": {"backend": "memory"}}, base_dir=tmp_path)
    found = departments_from_table(config, master)
    assert (found["総務/人事課"].ref.sheet, found["総務/人事課"].renamed) == ("総務／人事課", "シート「総務／人事課」")
    assert found["人事課"].renamed == ""
    books = config_from_dict({"store": {"backend": "memory", "departments": "books"}}, base_dir=tmp_path)
    assert departments_from_table(books, master)["総務/人事課"].ref.book == "departments/総務／人事課.xlsx"


def test_sync_makes_a_tab_for_a_department_whose_name_excel_refuses(tmp_path: Path) -> None:
    config, store, config_path = make_desk(
        tmp_path,
        proposals=[{"提案ID": "R7-0001", "ステータス": Status.RECEIVED, "件名": "見守り"}],
        departments=[{"部局": "総務部", "課": "総務/人事課"}, {"部局": "営業戦略部", "課": "観光戦略課"}],
    )
    refer(config, store, "R7-0001", ["総務/人事課", "観光戦略課"], today=date(2025, 6, 2))
    result = sync(config, store)
    assert result.problems == []
    book = openpyxl.load_workbook(tmp_path / "register.xlsx")
    assert "総務／人事課" in book.sheetnames and "観光戦略課" in book.sheetnames
    assert book["総務／人事課"]["A2"].value == "R7-0001-01"
    out = run(config_path, "validate", "--no-write-back")
    assert (
        "課「総務/人事課」はそのままではシート名・ファイル名に使えない文字か長さのため、シート「総務／人事課」になります。"
        in out.output
    )


@pytest.mark.parametrize("book", ["../x.xlsx", "/tmp/x.xlsx", "C:\\Users\\x.xlsx", "\\\\server\\share\\x.xlsx",
                                  "departments/../../x.xlsx", "~/x.xlsx"])  # fmt: skip
def test_a_book_outside_the_desk_folder_is_never_opened(tmp_path: Path, book: str) -> None:
    desk = tmp_path / "desk"
    desk.mkdir()
    config, store, config_path = make_desk(
        desk,
        proposals=[{"提案ID": "R7-0001", "ステータス": Status.RECEIVED}],
        departments=[{"部局": "総務部", "課": "外課", "ブック": book}],
    )
    refer(config, store, "R7-0001", ["外課"], today=date(2025, 6, 2))
    outside = snapshot(tmp_path / "desk")
    result = sync(config, store)
    assert result.departments == []
    assert result.problems == [
        f"担当課シート 2行目 課「外課」: ブック「{book}」は公民連携デスクのフォルダ（{desk}）の外を指しています。"
        "フォルダ内の相対パス（例: departments/課名.xlsx）にしてください。 この課は同期しません。"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["desk"]  # nothing created beside the desk
    own = ".kouminrenkei/"  # the tool's own records beside the register (sync's versions)
    assert {k for k in snapshot(desk) if not k.startswith(own)} == {k for k in outside if not k.startswith(own)}
    out = run(config_path, "validate", "--no-write-back")
    assert out.exit_code == 1
    assert f"この課のブックは開きません: ブック「{book}」は公民連携デスクのフォルダ" in out.output


def test_a_partner_name_of_any_length_gets_its_agreement(tmp_path: Path) -> None:
    name = "一般社団法人" + "茨城県地域連携推進機構" * 8  # 94 characters, 282 bytes
    rows = [
        {"提案ID": "R7-0001", "提案者名": name, "所在地": "水戸市", "代表者役職": "理事長", "代表者氏名": "山田",
         "件名": "連携", "連携分野": "災害対策", "連携手法": Method.COMPREHENSIVE, "ステータス": Status.COORDINATING,
         "協定締結日": date(2025, 7, 1), "協定終了日": date(2026, 3, 31), "自動更新": "あり"},
        {**{"提案ID": "R7-0002", "提案者名": "CON", "所在地": "水戸市", "代表者役職": "代表", "代表者氏名": "佐藤",
            "件名": "連携", "連携分野": "環境", "連携手法": Method.COMPREHENSIVE, "ステータス": Status.COORDINATING,
            "協定締結日": date(2025, 7, 1), "協定終了日": date(2026, 3, 31), "自動更新": "なし"}},
    ]  # fmt: skip
    store = MemoryStore()
    store.put_table(
        SheetRef(PROPOSALS), [PROPOSAL_SHEET.headers, *[[r.get(h) for h in PROPOSAL_SHEET.headers] for r in rows]]
    )
    config = config_from_dict({"desk": {"governor": "大井川 和彦"}, "store": {"backend": "memory"}}, base_dir=tmp_path)
    result = agreement(config, store, all_=True, today=date(2025, 6, 2))
    assert result.problems == []
    files = sorted(p.name for p in (tmp_path / "agreements").iterdir())
    assert len(files) == 2 and all(len(f.encode()) <= 200 for f in files)
    assert "協定書_R7-0002_CON.docx" in files  # CON inside a name is fine; only the whole stem is reserved
    assert files[0].startswith("協定書_R7-0001_一般社団法人茨城県地域連携推進機構")
