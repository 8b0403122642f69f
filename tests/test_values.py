"""Tests for values.py: dates and 和暦, 年度, choices, 法人番号, e-mail, phone, IDs."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kouminrenkei_sheets.schema import FIELDS, MUNICIPALITIES, PROPOSER_TYPES
from kouminrenkei_sheets.values import (
    ValueProblem,
    check_corporate_number,
    check_email,
    check_phone,
    corporate_check_digit,
    display,
    excel_serial,
    fiscal_year,
    fiscal_year_code,
    fiscal_year_label,
    fiscal_year_range,
    is_blank,
    match_choice,
    match_multi_choice,
    normalize_text,
    parse_date,
    parse_fiscal_year_code,
    parse_number,
    parse_proposal_id,
    parse_referral_id,
    proposal_id,
    referral_id,
    split_multi,
    to_wareki,
    to_wareki_short,
)

APR1 = date(2025, 4, 1)

# --------------------------------------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2025/4/1", APR1),
        ("2025-04-01", APR1),
        ("2025.4.1", APR1),
        ("2025年4月1日", APR1),
        ("2025年04月01日", APR1),
        ("2025年4月1", APR1),
        ("20250401", APR1),
        ("令和7年4月1日", APR1),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("令和1年5月1日", date(2019, 5, 1)),
        ("R7.4.1", APR1),
        ("R7/4/1", APR1),
        ("R7-4-1", APR1),
        ("r7.4.1", APR1),
        ("R07.04.01", APR1),
        ("R.7.4.1", APR1),
        ("R元.5.1", date(2019, 5, 1)),
        ("令和7.4.1", APR1),
        ("R7年4月1日", APR1),
        ("H31.4.30", date(2019, 4, 30)),
        ("平成31年4月30日", date(2019, 4, 30)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("H1.1.8", date(1989, 1, 8)),
        ("昭和64年1月7日", date(1989, 1, 7)),
        ("S64.1.7", date(1989, 1, 7)),
        ("昭和元年12月25日", date(1926, 12, 25)),
        ("大正15年12月24日", date(1926, 12, 24)),
        ("大正元年7月30日", date(1912, 7, 30)),
        ("明治45年7月29日", date(1912, 7, 29)),
        ("M45.7.29", date(1912, 7, 29)),
        # full-width, stray spaces, line breaks, IME dashes, era ligatures
        ("２０２５／４／１", APR1),
        ("２０２５年４月１日", APR1),
        ("令和７年４月１日", APR1),
        ("Ｒ７．４．１", APR1),
        (" 2025 / 4 / 1 ", APR1),
        ("令和 7 年 4 月 1 日", APR1),
        ("\u30002025/4/1\n", APR1),
        ("2025ー04ー01", APR1),
        ("2025－04－01", APR1),
        ("㋿7.4.1", APR1),
        ("㍻31年4月30日", date(2019, 4, 30)),
        # weekday and time suffixes
        ("令和7年4月1日（火）", APR1),
        ("2025/4/1(火)", APR1),
        ("2025/4/1（火曜日）", APR1),
        ("2025/4/1 10:00", APR1),
        ("2025-04-01T10:00:00", APR1),
        ("2025/04/01 0:00:00", APR1),
        # cells
        (APR1, APR1),
        (datetime(2025, 4, 1, 0, 0), APR1),
        (datetime(2025, 4, 1, 23, 59), APR1),
        (45748, APR1),
        (45748.0, APR1),
        (45748.75, APR1),
        (20250401, APR1),
        (61, date(1900, 3, 1)),
        (59, date(1900, 2, 28)),
        (1, date(1900, 1, 1)),
        (43586, date(2019, 5, 1)),
    ],
)
def test_parse_date_reads(typed: object, expected: date) -> None:
    assert parse_date(typed) == expected


@pytest.mark.parametrize(
    ("typed", "reason", "suggestion"),
    [
        ("2025/2/30", "2025年2月30日はありません（2月は28日までです）", None),
        ("2024/2/30", "2024年2月30日はありません（2月は29日までです）", None),
        ("2025/4/31", "2025年4月31日はありません（4月は30日までです）", None),
        ("2025/13/1", "2025年13月1日はありません（月は1〜12です）", None),
        ("2025/0/1", "2025年0月1日はありません（月は1〜12です）", None),
        ("令和7年2月30日", "令和7年2月30日はありません（2月は28日までです）", None),
        ("平成31年5月1日", "平成31年5月1日はありません。平成は31年4月30日までです", "令和元年5月1日"),
        ("H31.5.1", "平成31年5月1日はありません。平成は31年4月30日までです", "令和元年5月1日"),
        ("平成32年1月1日", "平成32年1月1日はありません。平成は31年4月30日までです", "令和2年1月1日"),
        ("令和元年4月30日", "令和元年4月30日はありません。令和は元年5月1日からです", "平成31年4月30日"),
        ("R1.1.1", "令和元年1月1日はありません。令和は元年5月1日からです", "平成31年1月1日"),
        ("平成元年1月7日", "平成元年1月7日はありません。平成は元年1月8日からです", "昭和64年1月7日"),
        ("昭和64年1月8日", "昭和64年1月8日はありません。昭和は64年1月7日までです", "平成元年1月8日"),
        ("平成0年1月1日", "平成0年はありません（最初の年は元年です）", None),
        ("R0.5.1", "令和0年はありません（最初の年は元年です）", None),
        ("明治元年1月1日", "明治元年1月1日はありません。明治は元年1月25日からです", None),
        ("1800/1/1", "1800年1月1日は扱える範囲（1868〜2199年）の外です", None),
        ("令和7年4月1日（水）", "2025/4/1 は火曜日です（「水」と書かれています）", "2025/4/1(火)"),
        (60, "シリアル値 60 は1900年2月29日で、実在しない日付です（Excel の仕様）", None),
    ],
)
def test_parse_date_rejects_impossible_dates_saying_why(typed: object, reason: str, suggestion: str | None) -> None:
    with pytest.raises(ValueProblem) as caught:
        parse_date(typed)
    assert caught.value.reason == reason
    assert str(caught.value) == reason
    assert caught.value.suggestion == suggestion


@pytest.mark.parametrize(
    "typed",
    ["25/4/1", "4/1", "2025/4", "R7", "令和七年四月一日", "あした", "2025/4/1/1", "X7.4.1", "2025年度", "12345"],
)
def test_parse_date_rejects_unreadable_text_with_examples(typed: str) -> None:
    with pytest.raises(ValueProblem, match=r"日付として読めません（例: 2025/4/1、"):
        parse_date(typed)


@pytest.mark.parametrize("serial", [0, -1, -45748, 0.5, 1e9, 10_000_000.0, float("nan"), float("inf"), 110_000])
def test_parse_date_rejects_absurd_serial_numbers(serial: float) -> None:
    with pytest.raises(ValueProblem, match="日付のシリアル値として範囲外です"):
        parse_date(serial)


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        (None, '"" は日付ではありません'),
        (True, '"TRUE" は日付ではありません'),
        (time(10, 0), '"10:00" は時刻だけで、日付がありません'),
        ("", "日付が空欄です"),
        ("\u3000", "日付が空欄です"),
        (["2025/4/1"], "は日付ではありません"),
    ],
)
def test_parse_date_rejects_non_dates(cell: object, reason: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        parse_date(cell)
    assert reason in caught.value.reason


def test_excel_serial_matches_parse_date() -> None:
    assert excel_serial(APR1) == 45748
    assert parse_date(excel_serial(date(2100, 12, 31))) == date(2100, 12, 31)


# --------------------------------------------------------------------------------------------------------
# 和暦 and 年度


@pytest.mark.parametrize(
    ("day", "long", "short"),
    [
        (APR1, "令和7年4月1日", "R7.4.1"),
        (date(2019, 5, 1), "令和元年5月1日", "R1.5.1"),
        (date(2019, 4, 30), "平成31年4月30日", "H31.4.30"),
        (date(1989, 1, 8), "平成元年1月8日", "H1.1.8"),
        (date(1989, 1, 7), "昭和64年1月7日", "S64.1.7"),
        (date(1926, 12, 25), "昭和元年12月25日", "S1.12.25"),
        (date(1926, 12, 24), "大正15年12月24日", "T15.12.24"),
        (date(1912, 7, 30), "大正元年7月30日", "T1.7.30"),
        (date(1912, 7, 29), "明治45年7月29日", "M45.7.29"),
        (date(2100, 12, 31), "令和82年12月31日", "R82.12.31"),
    ],
)
def test_wareki_formats_and_reads_back(day: date, long: str, short: str) -> None:
    assert to_wareki(day) == long
    assert to_wareki_short(day) == short
    assert parse_date(long) == day
    assert parse_date(short) == day


def test_wareki_before_meiji_is_a_problem() -> None:
    with pytest.raises(ValueProblem, match="和暦で表せません"):
        to_wareki(date(1868, 1, 24))


@pytest.mark.parametrize(
    ("day", "fy"),
    [
        (date(2025, 4, 1), 2025),
        (date(2025, 3, 31), 2024),
        (date(2026, 3, 31), 2025),
        (date(2025, 12, 31), 2025),
        (date(2026, 1, 1), 2025),
        (date(2019, 4, 30), 2019),
    ],
)
def test_fiscal_year_runs_april_to_march(day: date, fy: int) -> None:
    assert fiscal_year(day) == fy
    first, last = fiscal_year_range(fy)
    assert first <= day <= last


@pytest.mark.parametrize(
    ("fy", "label", "code"),
    [
        (2025, "令和7年度", "R7"),
        (2020, "令和2年度", "R2"),
        (2019, "令和元年度", "R1"),
        (2018, "平成30年度", "H30"),
        (1989, "平成元年度", "H1"),
        (1988, "昭和63年度", "S63"),
    ],
)
def test_fiscal_year_label_and_code(fy: int, label: str, code: str) -> None:
    assert fiscal_year_label(fy) == label
    assert fiscal_year_code(fy) == code
    assert parse_fiscal_year_code(code) == fy
    assert parse_fiscal_year_code(label) == fy


@pytest.mark.parametrize(
    ("typed", "fy"),
    [
        ("R7", 2025),
        ("r７", 2025),
        ("Ｒ７", 2025),
        ("R07", 2025),
        ("令和7年度", 2025),
        ("令和元年度", 2019),
        ("R元", 2019),
        ("H31", 2019),
        ("平成31年度", 2019),
        ("S64", 1989),
        ("2025", 2025),
        ("2025年度", 2025),
        ("FY2025", 2025),
        (" R7 ", 2025),
    ],
)
def test_parse_fiscal_year_code(typed: str, fy: int) -> None:
    assert parse_fiscal_year_code(typed) == fy


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("H32", "平成32年度はありません。平成は31年度までです"),
        ("R0", "令和0年度はありません（最初の年は元年度です）"),
        ("X7", '"X7" は年度として読めません（例: R7、令和7年度、2025年度）'),
        ("", '"" は年度として読めません（例: R7、令和7年度、2025年度）'),
        ("1500", "1500年度は扱える範囲（1868〜2199年度）の外です"),
    ],
)
def test_parse_fiscal_year_code_rejects(typed: str, reason: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        parse_fiscal_year_code(typed)
    assert caught.value.reason == reason


@given(st.dates(min_value=date(1989, 1, 8), max_value=date(2100, 12, 31)))
def test_wareki_round_trip_and_fiscal_year(day: date) -> None:
    assert parse_date(to_wareki(day)) == day
    assert parse_date(to_wareki_short(day)) == day
    assert parse_date(excel_serial(day)) == day
    fy = fiscal_year(day)
    first, last = fiscal_year_range(fy)
    assert first <= day <= last
    assert parse_fiscal_year_code(fiscal_year_code(fy)) == fy
    assert parse_fiscal_year_code(fiscal_year_label(fy)) == fy
    # the 年度 is labelled with the era of its calendar year, which the date's own era never postdates
    assert fiscal_year_label(fy).startswith(to_wareki(date(fy, 12, 31))[:2])
    assert parse_proposal_id(proposal_id(fy, 7)) == (fy, 7)


@given(st.dates(min_value=date(1868, 1, 25), max_value=date(2199, 12, 31)))
def test_wareki_round_trip_all_eras(day: date) -> None:
    assert parse_date(to_wareki(day)) == day
    assert parse_date(to_wareki_short(day)) == day


# --------------------------------------------------------------------------------------------------------
# Text


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        (None, ""),
        ("  観光・産業振興\u3000", "観光・産業振興"),
        ("ＤＸ\n推進", "DX 推進"),
        ("a \t\n b", "a b"),
        ("\u200b災害対策\ufeff", "災害対策"),
        ("ｶﾀｶﾅ", "カタカナ"),
        (APR1, "2025/4/1"),
        (5.0, "5"),
    ],
)
def test_normalize_text(cell: object, text: str) -> None:
    assert normalize_text(cell) == text


@pytest.mark.parametrize(
    ("cell", "blank"),
    [
        (None, True),
        ("", True),
        ("  \u3000\n", True),
        ("\u200b", True),
        (float("nan"), True),
        ("x", False),
        (0, False),
        (False, False),
        (APR1, False),
    ],
)
def test_is_blank(cell: object, blank: bool) -> None:
    assert is_blank(cell) is blank


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        (None, ""),
        (APR1, "2025/4/1"),
        (datetime(2025, 4, 1), "2025/4/1"),
        (datetime(2025, 4, 1, 9, 5), "2025/4/1 09:05"),
        (1180301018771.0, "1180301018771"),
        (3.5, "3.5"),
        (0.1 + 0.2, "0.3"),
        (12, "12"),
        (True, "TRUE"),
        ("  typed \n", "typed"),
        (time(9, 30), "09:30"),
    ],
)
def test_display(cell: object, shown: str) -> None:
    assert display(cell) == shown


# --------------------------------------------------------------------------------------------------------
# Choices


@pytest.mark.parametrize(
    ("typed", "choice"),
    [
        ("観光・産業振興", "観光・産業振興"),
        (" 観光・産業振興\u3000", "観光・産業振興"),
        ("観光・ 産業振興", "観光・産業振興"),
        ("観光･産業振興", "観光・産業振興"),  # half-width 中黒
        ("観光産業振興", "観光・産業振興"),  # 中黒 left out
        ("観光 産業振興", "観光・産業振興"),
        ("災 害 対 策", "災害対策"),
        ("ＤＸ", "DX"),
        ("dx", "DX"),
        ("いめーじあっぷ", "イメージアップ"),  # hiragana for katakana
        ("ｲﾒｰｼﾞｱｯﾌﾟ", "イメージアップ"),
    ],
)
def test_match_choice(typed: str, choice: str) -> None:
    assert match_choice(typed, FIELDS) == choice


@pytest.mark.parametrize(
    ("typed", "choices", "choice"),
    [
        ("龍ヶ崎市", MUNICIPALITIES, "龍ケ崎市"),
        ("ツクバ市", MUNICIPALITIES, "つくば市"),
        ("ｎｐｏ・市民団体", PROPOSER_TYPES, "NPO・市民団体"),
        ("大学 研究機関", PROPOSER_TYPES, "大学・研究機関"),
    ],
)
def test_match_choice_other_lists(typed: str, choices: tuple[str, ...], choice: str) -> None:
    assert match_choice(typed, choices) == choice


@pytest.mark.parametrize(
    ("typed", "choices", "suggestion"),
    [
        ("観光振興", FIELDS, "観光・産業振興"),
        ("災害", FIELDS, "災害対策"),
        ("健康・福祉", FIELDS, "健康増進・福祉"),
        ("子育て", FIELDS, "子育て・教育"),
        ("つくば氏", MUNICIPALITIES, "つくば市"),
        ("水戸", MUNICIPALITIES, "水戸市"),
        ("大学", PROPOSER_TYPES, "大学・研究機関"),
    ],
)
def test_match_choice_suggests_the_closest(typed: str, choices: tuple[str, ...], suggestion: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        match_choice(typed, choices)
    assert caught.value.suggestion == suggestion
    assert caught.value.reason == f'"{typed}" は選択肢にありません。「{suggestion}」ではありませんか。'


def test_match_choice_without_a_close_choice_lists_the_choices() -> None:
    with pytest.raises(ValueProblem) as caught:
        match_choice("宇宙開発", ("環境", "DX"))
    assert caught.value.suggestion is None
    assert caught.value.reason == '"宇宙開発" は選択肢にありません（選択肢: 環境、DX）。'


def test_match_choice_long_list_is_shortened() -> None:
    with pytest.raises(ValueProblem) as caught:
        match_choice("ロンドン", MUNICIPALITIES)
    assert caught.value.reason.endswith("ほか）。")
    assert "利根町" not in caught.value.reason


def test_match_choice_ambiguous_loose_match_is_not_guessed() -> None:
    # two choices differ only by 中黒: an input without it must not pick one silently
    with pytest.raises(ValueProblem):
        match_choice("AB", ("A・B", "AB・"))
    assert match_choice("A・B", ("A・B", "AB・")) == "A・B"


@pytest.mark.parametrize("typed", [None, "", "  ", "\u3000"])
def test_match_choice_blank_is_a_problem(typed: object) -> None:
    with pytest.raises(ValueProblem, match="空欄です"):
        match_choice(typed, FIELDS)


def test_match_choice_with_no_choices() -> None:
    with pytest.raises(ValueProblem, match="選択肢が設定されていません"):
        match_choice("環境", ())


@pytest.mark.parametrize(
    ("typed", "items"),
    [
        ("健康増進・福祉、災害対策", ["健康増進・福祉", "災害対策"]),
        ("災害対策、健康増進・福祉", ["災害対策", "健康増進・福祉"]),
        ("健康増進・福祉・災害対策", ["健康増進・福祉", "災害対策"]),
        ("安全・安心・災害対策", ["安全・安心", "災害対策"]),
        ("災害対策・安全・安心", ["災害対策", "安全・安心"]),
        ("安全・安心、観光・産業振興、DX", ["安全・安心", "観光・産業振興", "DX"]),
        ("環境,DX", ["環境", "DX"]),
        ("環境，ＤＸ", ["環境", "DX"]),
        ("環境/DX", ["環境", "DX"]),
        ("環境／DX", ["環境", "DX"]),
        ("環境;DX", ["環境", "DX"]),
        ("環境；DX", ["環境", "DX"]),
        ("環境\nDX", ["環境", "DX"]),
        ("環境\r\nDX\n", ["環境", "DX"]),
        ("環境・DX", ["環境", "DX"]),
        ("環境、、DX、", ["環境", "DX"]),
        (" 環境 、 DX ", ["環境", "DX"]),
        ("環境、環境", ["環境"]),
        ("観光産業振興、環境", ["観光・産業振興", "環境"]),
        ("DX", ["DX"]),
        ("", []),
        (None, []),
        ("\u3000", []),
    ],
)
def test_match_multi_choice_keeps_choices_that_contain_separators(typed: object, items: list[str]) -> None:
    assert match_multi_choice(typed, FIELDS) == items


def test_match_multi_choice_separator_inside_a_choice() -> None:
    choices = ("A/B", "C", "大学・研究機関", "企業")
    assert match_multi_choice("A/B、C", choices) == ["A/B", "C"]
    assert match_multi_choice("大学・研究機関・企業", choices) == ["大学・研究機関", "企業"]


@pytest.mark.parametrize(
    ("typed", "reason", "suggestion"),
    [
        (
            "観光振興、災害対策",
            '"観光振興" は選択肢にありません。「観光・産業振興」ではありませんか。',
            "観光・産業振興、災害対策",
        ),
        (
            "健康・福祉・DX",
            '"健康・福祉" は選択肢にありません。「健康増進・福祉」ではありませんか。',
            "健康増進・福祉、DX",
        ),
        (
            "災害、観光振興",
            '"災害" は選択肢にありません。「災害対策」ではありませんか。'
            '"観光振興" は選択肢にありません。「観光・産業振興」ではありませんか。',
            "災害対策、観光・産業振興",
        ),
        (
            "宇宙開発、DX",
            '"宇宙開発" は選択肢にありません（選択肢: 健康増進・福祉、観光・産業振興、安全・安心、イメージアップ、'
            "災害対策、子育て・教育、環境、農林水産、地域活性化、DX）。",
            None,
        ),
    ],
)
def test_match_multi_choice_names_the_bad_items(typed: str, reason: str, suggestion: str | None) -> None:
    with pytest.raises(ValueProblem) as caught:
        match_multi_choice(typed, FIELDS)
    assert caught.value.reason == reason
    assert caught.value.suggestion == suggestion


@pytest.mark.parametrize(
    ("typed", "items"),
    [
        ("健康増進・福祉、災害対策", ["健康増進", "福祉", "災害対策"]),
        ("a、b,c，d・e/f／g;h；i\nj\r\nk", list("abcdefghijk")),
        (" a 、、 b ", ["a", "b"]),
        ("ＤＸ\u3000推進", ["DX 推進"]),
        ("", []),
        (None, []),
    ],
)
def test_split_multi_is_naive(typed: object, items: list[str]) -> None:
    assert split_multi(typed) == items


# --------------------------------------------------------------------------------------------------------
# 法人番号, e-mail, phone, numbers

TOYOTA = "1180301018771"


@pytest.mark.parametrize(
    "cell",
    [
        TOYOTA,
        "１１８０３０１０１８７７１",
        "1180-3010-18771",
        " 1180 3010 18771 ",
        "1180ー3010ー18771",
        1180301018771,
        1180301018771.0,
    ],
)
def test_corporate_number_valid(cell: object) -> None:
    assert check_corporate_number(cell) == TOYOTA


def test_corporate_check_digit() -> None:
    assert corporate_check_digit(TOYOTA[1:]) == 1
    assert corporate_check_digit("000000000000") == 9


def test_every_single_digit_typo_is_caught() -> None:
    # The weights are 1 and 2 and the sum is taken mod 9, so a 0 typed as 9 (or 9 as 0) in the 12-digit
    # base changes the sum by 9 or 18 and cannot be seen; every other single-digit typo is caught.
    caught, blind = 0, []
    for position in range(13):
        for digit in "0123456789":
            if digit == TOYOTA[position]:
                continue
            typo = TOYOTA[:position] + digit + TOYOTA[position + 1 :]
            if position > 0 and {digit, TOYOTA[position]} == {"0", "9"}:
                assert check_corporate_number(typo) == typo
                blind.append(typo)
                continue
            with pytest.raises(ValueProblem, match="検査用数字"):
                check_corporate_number(typo)
            caught += 1
    assert len(blind) == TOYOTA[1:].count("0") + TOYOTA[1:].count("9") == 3
    assert caught == 13 * 9 - 3


@pytest.mark.parametrize(
    ("cell", "reason", "suggestion"),
    [
        ("118030101877", '"118030101877" は12桁です。法人番号は13桁です', None),
        ("11803010187710", '"11803010187710" は14桁です。法人番号は13桁です', None),
        ("1180301O18771", '"1180301O18771" は法人番号ではありません（数字13桁です）', None),
        (1180301018771.5, '"1180301018771.5" は法人番号ではありません（数字13桁です）', None),
        ("", "法人番号が空欄です", None),
        (None, "法人番号が空欄です", None),
        (
            "T1180301018771",
            '"T1180301018771" は適格請求書発行事業者の登録番号です。法人番号は T を除いた13桁です',
            TOYOTA,
        ),
        (
            "1.18030101877E+12",
            '"1.18030101877E+12" は指数表示で桁が失われています。法人番号は文字列として13桁で入力してください',
            None,
        ),
    ],
)
def test_corporate_number_rejects(cell: object, reason: str, suggestion: str | None) -> None:
    with pytest.raises(ValueProblem) as caught:
        check_corporate_number(cell)
    assert caught.value.reason == reason
    assert caught.value.suggestion == suggestion


@pytest.mark.parametrize(
    ("typed", "address"),
    [
        ("taro.yamada@example.co.jp", "taro.yamada@example.co.jp"),
        ("  taro@example.jp ", "taro@example.jp"),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp"),
        ("Taro@Example.JP", "Taro@example.jp"),
        ("taro+desk@pref.ibaraki.lg.jp", "taro+desk@pref.ibaraki.lg.jp"),
        ("mailto:taro@example.jp", "taro@example.jp"),
        ("kikaku-01@sub-domain.example.com", "kikaku-01@sub-domain.example.com"),
    ],
)
def test_email_valid(typed: str, address: str) -> None:
    assert check_email(typed) == address


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("taro @example.jp", "空白が入っています"),
        ("taro　@example.jp", "空白が入っています"),
        ("taro.example.jp", "@ がありません"),
        ("taro@@example.jp", "@ が2つ以上あります"),
        ("a@b@example.jp", "@ が2つ以上あります"),
        ("@example.jp", "@ の前が空です"),
        ("taro..yamada@example.jp", '"." が連続しています'),
        ("taro@example..jp", '"." が連続しています'),
        (".taro@example.jp", '"." で始まるか終わっています'),
        ("taro.@example.jp", '"." で始まるか終わっています'),
        ("taro@example", '"." がありません'),
        ("taro@", '"." がありません'),
        ("taro@.example.jp", "ドメイン）が正しくありません"),
        ("taro@example.jp.", "ドメイン）が正しくありません"),
        ("taro@-example.jp", "ドメイン）が正しくありません"),
        ("taro@example.j", "ドメインの最後"),
        ("taro@example.123", "ドメインの最後"),
        ("山田@example.jp", "使えない文字"),
        ("", "空欄です"),
    ],
)
def test_email_rejects(typed: str, reason: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        check_email(typed)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("029-301-2523", "0293012523"),
        ("03-1234-5678", "0312345678"),
        ("090-1234-5678", "09012345678"),
        ("080 1234 5678", "08012345678"),
        ("0120-123-456", "0120123456"),
        ("0800-123-4567", "08001234567"),
        ("050-1234-5678", "05012345678"),
        ("(029)301-2523", "0293012523"),
        ("029(301)2523", "0293012523"),
        ("（０２９）３０１－２５２３", "0293012523"),
        ("０２９ー３０１ー２５２３", "0293012523"),
        ("0293012523", "0293012523"),
        ("+81 29 301 2523", "0293012523"),
        ("+81-29-301-2523", "0293012523"),
        ("+81(0)29-301-2523", "0293012523"),
        ("+81-(0)29-301-2523", "0293012523"),
        ("+81 90 1234 5678", "09012345678"),
        ("TEL 029-301-2523", "0293012523"),
        ("電話：029-301-2523", "0293012523"),
        (293012523, "0293012523"),  # a number cell lost the leading 0
        (9012345678, "09012345678"),
    ],
)
def test_phone_valid(typed: object, digits: str) -> None:
    assert check_phone(typed) == digits


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("029-301-252", "9桁です"),
        ("029-301-25234", "11桁ですが"),
        ("090-1234-56789", "12桁です"),
        ("29-301-2523", "0で始まる国内の電話番号ではありません"),
        ("0029-301-2523", "0で始まる国内の電話番号ではありません"),
        ("029-301-2523 内線123", "内線"),
        ("029-301-2523#1", "電話番号として読めません"),
        ("abc", "電話番号として読めません"),
        ("", "空欄です"),
        (29.5, "電話番号として読めません"),
    ],
)
def test_phone_rejects(typed: object, reason: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        check_phone(typed)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("cell", "number"),
    [
        (12, 12),
        (1.5, 1.5),
        ("12", 12),
        ("１２", 12),
        ("1,234", 1234),
        ("１，２３４", 1234),
        (" -3 ", -3),
        ("△300", -300),
        ("▲300", -300),
        ("2.50", 2.5),
        (".5", 0.5),
    ],
)
def test_parse_number(cell: object, number: float) -> None:
    result = parse_number(cell)
    assert result == number
    assert type(result) is type(number)


@pytest.mark.parametrize("cell", ["", "abc", "1.2.3", "12円と", None, True, float("nan"), APR1])
def test_parse_number_rejects(cell: object) -> None:
    with pytest.raises(ValueProblem, match="数値"):
        parse_number(cell)


# --------------------------------------------------------------------------------------------------------
# IDs


@pytest.mark.parametrize(
    ("fy", "n", "pid"),
    [(2025, 1, "R7-0001"), (2019, 12, "R1-0012"), (2018, 345, "H30-0345"), (2025, 12345, "R7-12345")],
)
def test_proposal_id(fy: int, n: int, pid: str) -> None:
    assert proposal_id(fy, n) == pid
    assert parse_proposal_id(pid) == (fy, n)


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [("r7-0001", (2025, 1)), ("Ｒ７－０００１", (2025, 1)), (" R7 - 0001 ", (2025, 1)), ("R7ー0001", (2025, 1))],
)
def test_parse_proposal_id_normalises(typed: str, parsed: tuple[int, int]) -> None:
    assert parse_proposal_id(typed) == parsed


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("R7-001", "提案IDの形ではありません（例: R7-0001）"),
        ("R7_0001", "提案IDの形ではありません"),
        ("2025-0001", "提案IDの形ではありません"),
        ("R7-0001-01", "提案IDの形ではありません"),
        ("", "提案IDの形ではありません"),
        ("R7-0000", "連番が0です"),
        ("H32-0001", "平成は31年度までです"),
    ],
)
def test_parse_proposal_id_rejects(typed: str, reason: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        parse_proposal_id(typed)
    assert reason in caught.value.reason


def test_proposal_id_rejects_serial_zero() -> None:
    with pytest.raises(ValueError):
        proposal_id(2025, 0)


def test_referral_id() -> None:
    assert referral_id("R7-0001", 1) == "R7-0001-01"
    assert referral_id("ｒ７－０００１", 12) == "R7-0001-12"
    assert referral_id("R7-0001", 123) == "R7-0001-123"
    assert parse_referral_id("R7-0001-01") == ("R7-0001", 1)
    assert parse_referral_id("ｒ７－０００１－０２") == ("R7-0001", 2)
    # an ID issued before 令和 stays as it was
    assert referral_id("H31-0001", 1) == "H31-0001-01"
    assert parse_referral_id("H31-0001-01") == ("H31-0001", 1)
    for bad in ("R7-0001", "R7-0001-1", "R7-0001-00", "X7-0001-01", "R7-01"):
        with pytest.raises(ValueProblem):
            parse_referral_id(bad)
    with pytest.raises(ValueProblem):
        referral_id("R7", 1)


@given(st.text(alphabet=st.sampled_from(" \u3000\u200b\ufeff\t\n\r\xa0a1あ\u2060\u180e"), max_size=8))
def test_is_blank_is_exactly_nothing_left_after_normalising(text: str) -> None:
    """The fast paths of is_blank (all spaces; ASCII) agree with the rule itself."""
    from kouminrenkei_sheets.values import is_blank, normalize_text

    assert is_blank(text) == (normalize_text(text) == "")


def test_no_text_starting_with_a_letter_or_digit_is_blank() -> None:
    """blank_among (and table_from_grid) skip the rule for text whose first character is a letter or a
    digit: every such character of Unicode keeps something through the normalisation."""
    from kouminrenkei_sheets.values import is_blank, normalize_text

    kept = [chr(cp) for cp in range(0x110000) if chr(cp).isalnum()]
    assert len(kept) > 100_000 and not [c for c in kept if is_blank(c) or normalize_text(c) == ""]


@given(st.lists(st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=4)), max_size=12))
def test_blank_among_is_the_rule_on_each(values: list[object]) -> None:
    from kouminrenkei_sheets.values import blank_among, is_blank

    distinct = list(dict.fromkeys(v for v in values if v == v))  # (NaN is never equal to itself: kept apart)
    assert blank_among(distinct) == {v for v in distinct if is_blank(v)}


# ---------------------------------------------------------------- the fast paths against the rules they skip
# The rules as they were written before their fast paths (issue 16); every form a cell can take is drawn.
def _rule_normalize(value: object) -> str:
    import re
    import unicodedata

    if value is None:
        return ""
    text = value if isinstance(value, str) else display(value)
    nfkc = re.sub("[\u200b\u200c\u200d\u2060\ufeff]", "", unicodedata.normalize("NFKC", text))
    return re.sub(r"\s+", " ", nfkc).strip()


def _rule_blank(value: object) -> bool:
    import math

    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and _rule_normalize(value) == ""


def _rule_check_digit(base: str) -> int:
    return 9 - sum(int(c) * (2 if n % 2 == 0 else 1) for n, c in enumerate(reversed(base), start=1)) % 9


_MESSY_TEXT = st.text(
    alphabet=st.sampled_from(
        " \u3000\u200b\ufeff\t\n\r\xa0\x1c\x85\u2028\u180e\u2060aZ1-ー－―/０１２３Ｒｒあア漢髙㈱①"
        "\u3099\u309b\u0301é\x00"
    ),
    max_size=12,
) | st.text(max_size=12)
_CELLS = st.one_of(
    st.none(),
    _MESSY_TEXT,
    st.integers(-(10**14), 10**14),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.times(),
)


@given(_CELLS)
def test_normalize_text_and_is_blank_agree_with_their_rules(cell: object) -> None:
    assert normalize_text(cell) == _rule_normalize(cell)
    assert is_blank(cell) is _rule_blank(cell)


def test_is_blank_fast_path_characters_all_survive_normalising() -> None:
    """is_blank decides text whose first non-space character is ASCII, kana or kanji without NFKC:
    each such character keeps something that is neither a space nor zero-width."""
    for code in [*range(0x21, 0x80), *range(0, 0x21), *range(0x3041, 0xA000)]:
        ch = chr(code)
        if ch.isspace():
            continue
        assert _rule_normalize(ch) != "", hex(code)
        assert is_blank(ch) is False


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_corporate_check_digit_is_the_rule(base: str) -> None:
    assert corporate_check_digit(base) == _rule_check_digit(base)


@given(st.text(alphabet="0123456789", min_size=13, max_size=13) | _MESSY_TEXT | st.integers(0, 10**14))
def test_corporate_number_fast_path_reads_as_the_rule(cell: object) -> None:
    """A 13-digit text is taken at once when its check digit fits; the same as the full reading."""
    from kouminrenkei_sheets import values

    def full(v: object) -> str | tuple[str, str | None]:
        try:
            return values.check_corporate_number(f" {v}" if isinstance(v, str) else v)  # (past the fast path)
        except ValueProblem as e:
            return (e.reason.replace(f'" {v}"', f'"{v}"'), e.suggestion)

    try:
        got: str | tuple[str, str | None] = check_corporate_number(cell)
    except ValueProblem as e:
        got = (e.reason, e.suggestion)
    assert got == full(cell)


def _outcome(func: Any, value: object) -> object:
    try:
        return func(value)
    except ValueProblem as e:
        return ("problem", e.reason, e.suggestion)


_EMAILS = st.from_regex(r"\A[a-zA-Z0-9._%+@-]{1,8}@[a-zA-Z0-9._@-]{1,12}\Z") | st.emails().map(str) | _MESSY_TEXT


@given(_EMAILS)
def test_email_fast_path_reads_as_the_full_check(address: str) -> None:
    """Plain ASCII addresses are taken at once; the same outcome as the steps (which a leading space,
    trimmed by them and not shown in the message, sends the address through)."""
    assert _outcome(check_email, address) == _outcome(check_email, " " + address)


_PHONES = st.from_regex(r"\A[0-9()+-]{0,14}\Z") | st.sampled_from(["029-301-2523", "(029)301-2523", "090-1234-5678"])


@given(_PHONES | _MESSY_TEXT)
def test_phone_fast_path_reads_as_the_full_check(number: str) -> None:
    assert _outcome(check_phone, number) == _outcome(check_phone, " " + number)


_LISTS = [FIELDS, MUNICIPALITIES, PROPOSER_TYPES, ("ＤＸ", "DX", "安全・安心", "安全", "安心"), ("A、B", "A", "B")]


@given(
    st.sampled_from(_LISTS).flatmap(
        lambda choices: st.tuples(
            st.just(choices),
            st.lists(st.sampled_from([*choices, "安全", "・", " ", "", "福祉", "dx", "A"]), max_size=4).flatmap(
                lambda items: st.sampled_from(["、", ",", "・", "、 "]).map(lambda sep: sep.join(items))
            ),
        )
    )
)
def test_multi_choice_fast_path_reads_as_the_walk(case: tuple[tuple[str, ...], str]) -> None:
    """Choices joined by 、 are read at once; the same outcome as the walk over the cell's items."""
    import dataclasses
    from unittest import mock

    from kouminrenkei_sheets import values

    choices, cell = case
    index = values._index(choices)
    walk = dataclasses.replace(index, whole=None)
    fast = _outcome(lambda v: match_multi_choice(v, choices), cell)
    with mock.patch.object(values, "_index", lambda _: walk):
        assert fast == _outcome(lambda v: match_multi_choice(v, choices), cell)


@given(
    st.from_regex(r"\A[MTSHRX]?[0-9]{0,4}-?[0-9]{0,5}\Z")
    | _MESSY_TEXT
    | st.sampled_from(["R7-0001", "R0-0001", "H32-0001", "R7-0000"])
)
def test_proposal_id_fast_path_reads_as_the_full_steps(text: str) -> None:
    """An ID as the tool writes it is read without normalising; the same outcome as the steps."""
    assert _outcome(parse_proposal_id, text) == _outcome(parse_proposal_id, " " + text)


_KEY_TEXT = st.text(alphabet=st.sampled_from("R7HSrh0123456789-－ ｒ７ _=#aZ\t"), max_size=16)


@given(
    st.one_of(
        _KEY_TEXT,
        st.sampled_from(
            [
                "R7-0001-01",
                "R7-0001-001",
                "R7-0001-010",
                "H31-0001-100",
                "R7-0001",
                "ABC-007",
                "A-B-C-01",
                "R99-0001-01",
                "R7-0000-01",
            ]
        ),
    )
)
def test_a_plain_key_is_read_as_the_full_rule_reads_it(text: str) -> None:
    """id_key's fast path (printable ASCII, no space or lower case, no padded 枝番) gives what the
    full reading gives (NFKC, dashes, case, the referral ID's canonical form)."""
    from kouminrenkei_sheets.values import _id_key_text, id_key

    assert id_key(text) == _id_key_text(text)
