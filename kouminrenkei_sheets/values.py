"""Reading values the way staff type them: dates (和暦 too), 年度, choices, 法人番号, e-mail, phone, IDs.

Every parser takes a raw cell value, compares only normalised forms, and raises ValueProblem with a Japanese reason.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import pairwise
from typing import Any

__all__ = [
    "ERAS",
    "ERROR_VALUES",
    "Era",
    "Unknown",
    "ValueProblem",
    "blank_among",
    "check_corporate_number",
    "check_email",
    "check_phone",
    "corporate_check_digit",
    "cut_said",
    "cut_to_fit",
    "date_or_none",
    "display",
    "excel_serial",
    "fiscal_year",
    "fiscal_year_code",
    "fiscal_year_label",
    "fiscal_year_range",
    "format_date",
    "is_blank",
    "is_unknown",
    "match_choice",
    "match_multi_choice",
    "normalize_text",
    "parse_date",
    "parse_fiscal_year_code",
    "parse_number",
    "parse_proposal_id",
    "parse_referral_id",
    "proposal_id",
    "referral_id",
    "replace_surrogates",
    "split_multi",
    "to_wareki",
    "to_wareki_short",
    "typed_text",
]


class ValueProblem(ValueError):
    """A value a person typed cannot be used; ``reason`` says why in Japanese, ``suggestion`` what may fit."""

    def __init__(self, reason: str, suggestion: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.suggestion = suggestion

    def __str__(self) -> str:
        return self.reason


# ---------------------------------------------------------------------------------------------------------
# Values the tool cannot know


# The error values a spreadsheet shows in place of a result (Excel and Google Sheets spell them alike).
ERROR_VALUES = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!",
     "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!", "#ERROR!", "#PYTHON!"}
)  # fmt: skip


class Unknown(str):
    """A cell whose value the tool cannot know: a formula whose result is not stored (openpyxl drops
    every cached result when it saves a book) or an error value (#NAME?, #REF!, #N/A …).

    It is text so that it is never blank and shows what the sheet holds ("=TODAY()", "#NAME?"), but
    jobs must treat it as neither a value, a key nor an answer: they leave the cell (and a row whose
    key it is) alone and report it. ``kind`` is "formula" or "error"."""

    kind: str

    def __new__(cls, text: str, kind: str) -> Unknown:
        self = super().__new__(cls, text)
        self.kind = kind
        return self

    def __repr__(self) -> str:
        return f"Unknown({str(self)!r}, {self.kind!r})"

    def __reduce__(self) -> tuple[type[Unknown], tuple[str, str]]:  # copy.deepcopy (memory store) keeps it
        return (Unknown, (str(self), self.kind))

    @property
    def reason(self) -> str:
        """What the cell holds, in Japanese, and what a person can do about it."""
        if self.kind == "error":
            return f"エラー値「{self}」が入っていて、値が分かりません（数式か参照を直してください）"
        return (
            f"数式「{shorten_formula(self)}」の結果がブックに保存されていないため、値が分かりません"
            "（Excel で開いて保存し直すか、数式をやめて値を入力してください）"
        )


def shorten_formula(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_unknown(value: object) -> bool:
    """Whether a cell's value cannot be known (see :class:`Unknown`)."""
    return isinstance(value, Unknown)


def cut_to_fit(text: str, limit: int, *, kept: str = "台帳") -> str:
    """Text longer than a cell holds, cut so that it fits with the cut said at its end; ``kept`` names
    where the whole text is (where it came from, or 変更履歴). Shorter text is returned as it is."""
    if len(text) <= limit:
        return text
    note = f"…（全{len(text):,}文字のうち{limit - 80:,}文字まで表示。全文は{kept}にあります）"
    return text[: limit - 80] + note


CUT_SAID = "文字まで表示。全文は"  # in every cut :func:`cut_to_fit` made (a quick test before the pattern)
_CUT = re.compile(r"…（全([\d,]+)文字のうち([\d,]+)文字まで表示。全文は(.+?)にあります）$")


def cut_said(text: str) -> tuple[str, str, str] | None:
    """For text :func:`cut_to_fit` cut: the whole length, the length shown and where the whole is."""
    m = _CUT.search(text) if CUT_SAID in text else None
    return (m.group(1), m.group(2), m.group(3)) if m else None


_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_surrogates(text: str) -> str:
    """A lone surrogate (half of a UTF-16 pair, from a broken export or a Sheets cell written by a
    script) cannot be written to UTF-8, XML or JSON: it becomes U+FFFD, the replacement character."""
    return _SURROGATE.sub("\ufffd", text)


def has_surrogates(text: str) -> bool:
    return _SURROGATE.search(text) is not None


# ---------------------------------------------------------------------------------------------------------
# Text


# Dash-like characters people (and IMEs) type where a hyphen is meant; NFKC leaves them alone.
_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−ーｰ－﹣"})
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_WHITESPACE = re.compile(r"\s+")


def _nfkc(value: str) -> str:
    return _ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", value))


def normalize_text(value: object) -> str:
    """The comparable form of a cell: NFKC, trimmed, inner whitespace runs (line breaks too) → one space.

    None is ""; other non-text cells are first turned into what a person sees (:func:`display`).
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else display(value)
    # (" ".join(split()) is the same as collapsing \s+ and trimming: both use str.isspace; ASCII text
    # is its own NFKC form and holds no zero-width character)
    return " ".join((text if text.isascii() else _nfkc(text)).split())


def typed_text(value: object) -> str:
    """A value exactly as it stands (for 変更履歴: text as typed, spaces kept), dates and numbers as a
    person reads them; None is ""."""
    if value is None:
        return ""
    return value if isinstance(value, str) else display(value)


def is_blank(value: object) -> bool:
    """True for None, NaN, and text that is only (full-width or zero-width) spaces and line breaks."""
    if value.__class__ is not str:  # (text first: most cells are)
        if value is None:
            return True
        if isinstance(value, float) and math.isnan(value):
            return True
        if not isinstance(value, str):
            return False
    stripped = value.strip()  # (text, or a subclass of it)
    if not stripped:
        return True
    # (text whose first character past the spaces is ASCII, kana or kanji keeps a character through NFKC
    # and the zero-width removal: no need to normalise it; tests check every such character)
    first = stripped[0]
    if first < "\x80" or "\u3041" <= first <= "\u9fff":
        return False
    return normalize_text(value) == ""


def blank_among(values: Iterable[Any]) -> set[Any]:
    """The blank ones (:func:`is_blank`) of many distinct values. Text that starts with a letter or a
    digit (an ID, a name, a title: nearly every cell) keeps that character through NFKC, so it is not
    blank and the full rule is not called for it (tests check every such character)."""
    return {v for v in values if (v.__class__ is not str or not v[:1].isalnum()) and is_blank(v)}


def _compact(value: object) -> str:
    """NFKC with dashes folded to '-' and every whitespace removed: the form codes and numbers are read in."""
    text = normalize_text(value)
    # (the dashes are not ASCII; "".join(split()) drops every whitespace, as \s+ does)
    return "".join((text if text.isascii() else text.translate(_DASHES)).split())


def format_date(d: date) -> str:
    """A date as Japanese offices write it in running text: 2025/4/1."""
    return f"{d.year}/{d.month}/{d.day}"


def display(value: object) -> str:
    """A cell value as a person reads it in a message: dates 2025/4/1, whole floats without '.0'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return format_date(value)
        return f"{format_date(value)} {value:%H:%M}"
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, time):
        return f"{value:%H:%M}"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return f"{value:.15g}"
    if isinstance(value, str):
        return value.strip()
    return str(value)


def _quote(value: object) -> str:
    return f'"{display(value)}"'


# ---------------------------------------------------------------------------------------------------------
# Eras, dates, 年度


@dataclass(frozen=True)
class Era:
    name: str  # 令和
    letter: str  # R
    start: date  # first day


# 明治 is dated from 1868-01-25 as the brief for this project asks; before 1873 Japan used the lunisolar
# calendar, so dates that early are only approximate anyway.
ERAS: tuple[Era, ...] = (
    Era("明治", "M", date(1868, 1, 25)),
    Era("大正", "T", date(1912, 7, 30)),
    Era("昭和", "S", date(1926, 12, 25)),
    Era("平成", "H", date(1989, 1, 8)),
    Era("令和", "R", date(2019, 5, 1)),
)
_ERA_BY_NAME = {e.name: e for e in ERAS} | {e.letter: e for e in ERAS}
_EARLIEST_YEAR, _LATEST_YEAR = 1868, 2199
_WEEKDAYS = "月火水木金土日"


def _era_end(era: Era) -> date | None:
    """The last day of an era, None for the current one."""
    i = ERAS.index(era)
    return ERAS[i + 1].start - timedelta(days=1) if i + 1 < len(ERAS) else None


def _era_of(d: date) -> Era:
    for era in reversed(ERAS):
        if d >= era.start:
            return era
    raise ValueProblem(f"{format_date(d)} は和暦で表せません（明治より前です）")


def _era_year(year: int) -> str:
    return "元" if year == 1 else str(year)


def to_wareki(d: date) -> str:
    """令和7年4月1日; the first year of an era is 元年 (令和元年5月1日)."""
    era = _era_of(d)
    return f"{era.name}{_era_year(d.year - era.start.year + 1)}年{d.month}月{d.day}日"


def to_wareki_short(d: date) -> str:
    """R7.4.1 (first year R1.5.1), the short form used in lists and file names."""
    era = _era_of(d)
    return f"{era.letter}{d.year - era.start.year + 1}.{d.month}.{d.day}"


def fiscal_year(d: date) -> int:
    """The 年度 of a date, as the Gregorian year it starts in (1 April – 31 March)."""
    return d.year if d.month >= 4 else d.year - 1


def fiscal_year_range(fy: int) -> tuple[date, date]:
    """First and last day of a 年度: (fy-04-01, fy+1-03-31)."""
    return date(fy, 4, 1), date(fy + 1, 3, 31)


def _fiscal_era(fy: int) -> tuple[Era, int]:
    # A 年度 takes the era of its calendar year's end, the way offices label it: FY2019 began under 平成
    # but is 令和元年度; FY1988 is 昭和63年度 because 平成 only began in January 1989.
    era = _era_of(date(fy, 12, 31)) if fy >= _EARLIEST_YEAR else None
    if era is None:
        raise ValueError(f"{fy}年度は和暦で表せません")
    return era, fy - era.start.year + 1


def fiscal_year_label(fy: int) -> str:
    """令和7年度 for 2025; FY2019 is 令和元年度, FY2018 平成30年度."""
    era, year = _fiscal_era(fy)
    return f"{era.name}{_era_year(year)}年度"


def fiscal_year_code(fy: int) -> str:
    """R7 for 2025, R1 for 2019, H30 for 2018: the prefix of proposal IDs."""
    era, year = _fiscal_era(fy)
    return f"{era.letter}{year}"


_FY_CODE = re.compile(
    r"^(?:FY)?(?:(?P<greg>\d{4})|(?P<era>[MTSHR]|明治|大正|昭和|平成|令和)\.?(?P<year>元|\d{1,3}))(?:年度?)?$"
)


def parse_fiscal_year_code(value: object) -> int:
    """The 年度 (Gregorian start year) of R7, r７, 令和7年度, 令和元年度, H31, 2025, 2025年度 …"""
    text = _compact(value).upper()
    m = _FY_CODE.match(text)
    if not m:
        raise ValueProblem(f"{_quote(value)} は年度として読めません（例: R7、令和7年度、2025年度）")
    if m["greg"]:
        fy = int(m["greg"])
        if not _EARLIEST_YEAR <= fy <= _LATEST_YEAR:
            raise ValueProblem(f"{fy}年度は扱える範囲（{_EARLIEST_YEAR}〜{_LATEST_YEAR}年度）の外です")
        return fy
    era = _ERA_BY_NAME[m["era"]]
    year = 1 if m["year"] == "元" else int(m["year"])
    if year == 0:
        raise ValueProblem(f"{era.name}0年度はありません（最初の年は元年度です）")
    fy = era.start.year + year - 1
    end = _era_end(era)
    if end is not None and fy > end.year:
        last = end.year - era.start.year + 1
        raise ValueProblem(f"{era.name}{year}年度はありません。{era.name}は{last}年度までです")
    return fy


def _no_such_day(year: int, month: int, day: int, label: str) -> ValueProblem:
    if not 1 <= month <= 12:
        return ValueProblem(f"{label}はありません（月は1〜12です）")
    first_next = date(year + month // 12, month % 12 + 1, 1)
    last_day = (first_next - timedelta(days=1)).day
    return ValueProblem(f"{label}はありません（{month}月は{last_day}日までです）")


def _gregorian(year: int, month: int, day: int) -> date:
    label = f"{year}年{month}月{day}日"
    if not _EARLIEST_YEAR <= year <= _LATEST_YEAR:
        raise ValueProblem(f"{label}は扱える範囲（{_EARLIEST_YEAR}〜{_LATEST_YEAR}年）の外です")
    try:
        return date(year, month, day)
    except ValueError:
        raise _no_such_day(year, month, day, label) from None


def _wareki(era: Era, year: int, month: int, day: int) -> date:
    label = f"{era.name}{_era_year(year)}年{month}月{day}日"
    if year == 0:
        raise ValueProblem(f"{era.name}0年はありません（最初の年は元年です）")
    greg_year = era.start.year + year - 1
    try:
        d = date(greg_year, month, day)
    except ValueError:
        raise _no_such_day(greg_year, month, day, label) from None
    if d < era.start:
        begins = f"{era.name}は元年{era.start.month}月{era.start.day}日からです"
        raise ValueProblem(f"{label}はありません。{begins}", _suggest_wareki(d))
    end = _era_end(era)
    if end is not None and d > end:
        ends = f"{era.name}は{end.year - era.start.year + 1}年{end.month}月{end.day}日までです"
        raise ValueProblem(f"{label}はありません。{ends}", _suggest_wareki(d))
    return d


def _suggest_wareki(d: date) -> str | None:
    try:
        return to_wareki(d)
    except ValueProblem:
        return None


_EXCEL_EPOCH = date(1899, 12, 30)  # serial 61 = 1900-03-01; Excel pretends 1900-02-29 (serial 60) existed
_SERIAL_MAX = (date(_LATEST_YEAR, 12, 31) - _EXCEL_EPOCH).days


def excel_serial(d: date) -> int:
    """The Excel (1900 date system) serial number of a date on or after 1900-03-01: 2025-04-01 → 45748."""
    return (d - _EXCEL_EPOCH).days


def _from_serial(value: float) -> date:
    if not math.isfinite(value) or value < 1 or value >= _SERIAL_MAX + 1:
        raise ValueProblem(
            f"{display(value)} は日付のシリアル値として範囲外です（1900年〜{_LATEST_YEAR}年の日付を入力してください）"
        )
    serial = int(value)  # a fraction is the time of day
    if serial == 60:
        raise ValueProblem("シリアル値 60 は1900年2月29日で、実在しない日付です（Excel の仕様）")
    if serial < 60:
        return _EXCEL_EPOCH + timedelta(days=serial + 1)
    return _EXCEL_EPOCH + timedelta(days=serial)


_ERA_ALT = "|".join(["明治", "大正", "昭和", "平成", "令和", "[MTSHR]"])
_SEP = r"[/.\-]"
_DATE_PATTERNS = (
    (re.compile(rf"^(?P<y>\d{{4}}){_SEP}(?P<m>\d{{1,2}}){_SEP}(?P<d>\d{{1,2}})$"), False),
    (re.compile(r"^(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日?$"), False),
    (re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"), False),
    (re.compile(rf"^(?P<era>{_ERA_ALT})\.?(?P<y>元|\d{{1,3}}){_SEP}(?P<m>\d{{1,2}}){_SEP}(?P<d>\d{{1,2}})$"), True),
    (re.compile(rf"^(?P<era>{_ERA_ALT})\.?(?P<y>元|\d{{1,3}})年(?P<m>\d{{1,2}})月(?P<d>\d{{1,2}})日?$"), True),
)
_TIME_SUFFIX = re.compile(r"(?:T|\s+)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")
_WEEKDAY_SUFFIX = re.compile(r"\((?P<w>[月火水木金土日])(?:曜日?)?\)$")
_DATE_EXAMPLES = "例: 2025/4/1、2025年4月1日、令和7年4月1日、R7.4.1"


def parse_date(value: object) -> date:
    """A date from what a cell holds.

    Accepts date/datetime cells (the time is dropped), Excel serial numbers (1900 date system, 1900–2199),
    8-digit numbers like 20250401, and text: 2025/4/1, 2025-04-01, 2025.4.1, 2025年4月1日, 令和7年4月1日,
    令和元年5月1日, R7.4.1, R7/4/1, r7.4.1, H31.4.30, with full-width digits, stray spaces, a trailing time
    (2025/4/1 10:00) or weekday (令和7年4月1日（火）). A weekday that does not match the date is an error.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueProblem(f"{_quote(value)} は日付ではありません（{_DATE_EXAMPLES}）")
    if isinstance(value, numbers.Real):
        if isinstance(value, numbers.Integral) and 10_000_000 <= int(value) <= 99_999_999:
            return _parse_date_text(str(int(value)))
        return _from_serial(float(value))
    if isinstance(value, time):
        raise ValueProblem(f"{_quote(value)} は時刻だけで、日付がありません")
    if not isinstance(value, str):
        raise ValueProblem(f"{_quote(value)} は日付ではありません（{_DATE_EXAMPLES}）")
    return _parse_date_text(value)


def date_or_none(value: object) -> date | None:
    """The date a cell holds, or None when it is blank or not a date (for reports and reminders, which
    skip what they cannot read; validate is the job that reports it)."""
    if is_blank(value):
        return None
    try:
        return parse_date(value)
    except ValueProblem:
        return None


def _parse_date_text(raw: str) -> date:
    text = normalize_text(raw).translate(_DASHES)
    text = _TIME_SUFFIX.sub("", text)
    text = _WHITESPACE.sub("", text)
    weekday = None
    if m := _WEEKDAY_SUFFIX.search(text):
        weekday = m["w"]
        text = text[: m.start()]
    text = text.upper()
    for pattern, is_era in _DATE_PATTERNS:
        m = pattern.match(text)
        if not m:
            continue
        year = 1 if m["y"] == "元" else int(m["y"])
        month, day = int(m["m"]), int(m["d"])
        d = _wareki(_ERA_BY_NAME[m["era"]], year, month, day) if is_era else _gregorian(year, month, day)
        if weekday is not None and _WEEKDAYS[d.weekday()] != weekday:
            actual = _WEEKDAYS[d.weekday()]
            raise ValueProblem(
                f"{format_date(d)} は{actual}曜日です（「{weekday}」と書かれています）",
                f"{format_date(d)}({actual})",
            )
        return d
    if not text:
        raise ValueProblem("日付が空欄です")
    raise ValueProblem(f"{_quote(raw)} は日付として読めません（{_DATE_EXAMPLES}）")


# ---------------------------------------------------------------------------------------------------------
# Choices


_LOOSE_FOLD: dict[int, str] = {c: chr(c - 0x60) for c in range(ord("ァ"), ord("ヶ") + 1)}
_LOOSE_FOLD |= {ord("ヶ"): "け", ord("ヵ"): "か", ord("ゖ"): "け"}
_SOFT_SEPARATORS = re.compile(r"[\s・·]")


def _exact_key(value: object) -> str:
    return _WHITESPACE.sub("", normalize_text(value)).casefold()


def _loose_key(value: object) -> str:
    """Also ignores 中黒 and hiragana/katakana (and ヶ/ケ/け) differences."""
    return _SOFT_SEPARATORS.sub("", normalize_text(value)).casefold().translate(_LOOSE_FOLD)


@dataclass(frozen=True)
class _ChoiceIndex:
    choices: tuple[str, ...]
    exact: dict[str, str]
    loose: dict[str, tuple[str, ...]]
    # choice -> what it is read as, for the choices whose atoms (see match_multi_choice) span all of
    # them; None when some choice holds a 、 (a cell's 、-separated items could then make up one)
    whole: dict[str, str] | None = None

    def lookup(self, value: str) -> str | None:
        found = self.exact.get(_exact_key(value))
        if found is not None:
            return found
        loose = self.loose.get(_loose_key(value), ())
        return loose[0] if len(loose) == 1 else None

    def closest(self, value: str) -> str | None:
        key = _loose_key(value)
        best, best_score = None, 0.5  # below this the "suggestion" is noise
        for choice in self.choices:
            other = _loose_key(choice)
            if not key or not other:
                continue
            score = SequenceMatcher(None, key, other).ratio()
            if key in other or other in key:
                score += 0.25
            if score > best_score:
                best, best_score = choice, score
        return best


@lru_cache(maxsize=128)
def _index(choices: tuple[str, ...]) -> _ChoiceIndex:
    exact: dict[str, str] = {}
    loose: dict[str, list[str]] = {}
    for choice in choices:
        if is_blank(choice):
            continue
        exact.setdefault(_exact_key(choice), choice)
        same = loose.setdefault(_loose_key(choice), [])
        if choice not in same:
            same.append(choice)
    canonical = tuple(c for c in choices if not is_blank(c))
    index = _ChoiceIndex(canonical, exact, {k: tuple(v) for k, v in loose.items()})
    if any("、" in k for k in (*exact, *loose)):
        return index
    whole: dict[str, str] = {}
    for choice in canonical:
        atoms = [m.span() for m in _ATOM.finditer(choice) if m.group().strip()]
        found = index.lookup(choice)
        if atoms and atoms[0][0] == 0 and atoms[-1][1] == len(choice) and found is not None:
            whole[choice] = found
    return dataclasses.replace(index, whole=whole)


def _not_a_choice(item: str, index: _ChoiceIndex) -> tuple[str, str | None]:
    suggestion = index.closest(item)
    if suggestion is not None:
        return f"{_quote(item)} は選択肢にありません。「{suggestion}」ではありませんか。", suggestion
    shown = "、".join(index.choices[:12]) + ("ほか" if len(index.choices) > 12 else "")
    return f"{_quote(item)} は選択肢にありません（選択肢: {shown}）。", None


def match_choice(value: object, choices: Sequence[str]) -> str:
    """The choice a cell means, compared after NFKC, trimming and ignoring whitespace and case.

    If that finds nothing, a choice that differs only by 中黒, spaces or hiragana/katakana is accepted
    when it is the only one. Otherwise ValueProblem, with ``suggestion`` the closest choice (if any is close).
    """
    index = _index(tuple(choices))
    if is_blank(value):
        raise ValueProblem("空欄です（選択肢から選んでください）")
    text = normalize_text(value)
    found = index.lookup(text)
    if found is not None:
        return found
    if not index.choices:
        raise ValueProblem(f"{_quote(value)} を確かめる選択肢が設定されていません")
    reason, suggestion = _not_a_choice(display(value), index)
    raise ValueProblem(reason, suggestion)


_ATOM = re.compile(r"[^、,・/;\r\n]+")  # an item of a multi-choice cell, or a part of one
_MULTI_SEPARATORS = re.compile(r"[、,・/;\r\n]+")


def split_multi(value: object) -> list[str]:
    """Naively split a multi-choice cell on 、 , ， ・ / ; ； and line breaks; items trimmed, blanks dropped.

    This breaks choices that contain a separator ("健康増進・福祉" → "健康増進", "福祉"); to read a cell against
    a choice list use :func:`match_multi_choice`, which keeps such choices whole.
    """
    if value is None:
        return []
    text = _nfkc(value if isinstance(value, str) else display(value))
    return [item for part in _MULTI_SEPARATORS.split(text) if (item := normalize_text(part))]


_LIST_SEPARATORS = re.compile(r"[、,;/\r\n]+")


def split_list(value: object, *, as_typed: bool = False) -> list[str]:
    """The items of a free-text list cell (names, IDs): split on 、 , ， ; ； / and line breaks, never on
    中黒, which belongs to names (「株式会社ひたち・ネット」); repeats and blanks dropped. Items are
    normalised (NFKC, spaces) for comparing, or with ``as_typed`` only trimmed, for showing."""
    if value is None:
        return []
    text = value if isinstance(value, str) else display(value)
    parts = _LIST_SEPARATORS.split(_nfkc(text)) if not as_typed else re.split(r"[、,，;；/／\r\n]+", text)
    items = (normalize_text(part) if not as_typed else part.strip() for part in parts)
    return list(dict.fromkeys(item for item in items if item and not is_blank(item)))


def match_multi_choice(value: object, choices: Sequence[str]) -> list[str]:
    """The choices a multi-choice cell names, in order, without repeats; a blank cell is [].

    Items are separated by 、 , ， ・ / ; ； or line breaks, but the longest run of items that is itself a
    choice wins, so "健康増進・福祉、災害対策" → ["健康増進・福祉", "災害対策"] and "安全・安心・災害対策" →
    ["安全・安心", "災害対策"]. Unknown items raise ValueProblem naming each; ``suggestion`` is then the
    whole cell corrected (joined with 、) when every unknown item has a close choice.
    """
    if is_blank(value):
        return []
    index = _index(tuple(choices))
    text = _nfkc(value if isinstance(value, str) else display(value))
    if index.whole is not None:
        # Choices exactly as listed, joined by 、 (how the tool and most people write them): the walk
        # below would take each item whole, as no run of items across a 、 can be a choice.
        named = [index.whole.get(item) for item in text.split("、")]
        if None not in named:
            return list(dict.fromkeys(named))  # type: ignore[arg-type]  # (None is not among them)
    # Atoms are the non-blank pieces between separators; soft[k] says only 中黒/spaces lie between atom k and k+1.
    atoms = [(m.start(), m.end()) for m in _ATOM.finditer(text) if m.group().strip()]
    soft = [not _SOFT_SEPARATORS.sub("", text[a[1] : b[0]]) for a, b in pairwise(atoms)]

    # Walk the atoms, each time taking the longest span that is a choice.
    # An item that matches nothing is reported together with unknown neighbours joined to it by 中黒.
    found: list[str] = []
    corrected: list[str | None] = []
    bad: list[list[int]] = []
    i = 0
    while i < len(atoms):
        for j in range(len(atoms) - 1, i - 1, -1):
            match = index.lookup(text[atoms[i][0] : atoms[j][1]])
            if match is not None:
                if match not in found:
                    found.append(match)
                corrected.append(match)
                i = j + 1
                break
        else:
            if bad and bad[-1][-1] == i - 1 and soft[i - 1] and corrected[-1] is None:
                bad[-1].append(i)
            else:
                bad.append([i])
                corrected.append(None)
            i += 1
    if not bad:
        return found
    if not index.choices:
        raise ValueProblem(f"{_quote(value)} を確かめる選択肢が設定されていません")

    reasons: list[str] = []
    suggestions: list[str | None] = []
    for group in bad:
        item = normalize_text(text[atoms[group[0]][0] : atoms[group[-1]][1]])
        reason, suggestion = _not_a_choice(item, index)
        reasons.append(reason)
        suggestions.append(suggestion)
    whole: str | None = None
    if all(s is not None for s in suggestions):
        fill = iter(suggestions)
        items: list[str] = []
        for c in corrected:
            chosen = c if c is not None else next(fill)
            if chosen is not None and chosen not in items:
                items.append(chosen)
        whole = "、".join(items)
    raise ValueProblem("".join(reasons), whole)


# ---------------------------------------------------------------------------------------------------------
# Codes and contact details


def _digits_of_number_cell(value: object) -> str | None:
    """The digits of an int/float cell (whole numbers only), None for anything else."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if isinstance(value, numbers.Integral):
        return str(int(value))
    f = float(value)
    if math.isfinite(f) and f.is_integer() and 0 <= f < 1e16:
        return str(int(f))
    return "?"


def corporate_check_digit(base: str) -> int:
    """The check digit of a 12-digit 法人番号 base (digits numbered 1..12 from the right, even ones ×2).

    Being mod 9, it catches every single-digit typo except a 0 and a 9 swapped for each other in the base.
    """
    # (from the right: the odd-numbered digits once, the even-numbered ones twice)
    total = sum(map(int, base[::-1][::2])) + 2 * sum(map(int, base[::-1][1::2]))
    return 9 - total % 9


def check_corporate_number(value: object) -> str:
    """The 13-digit 法人番号, with full-width digits, hyphens and spaces removed and the check digit verified."""
    if (
        value.__class__ is str
        and len(value) == 13
        and value.isascii()
        and value.isdigit()
        and int(value[0]) == corporate_check_digit(value[1:])
    ):  # (the usual form, read as the steps below would)
        return value
    digits = _digits_of_number_cell(value)
    if digits is None:
        if is_blank(value):
            raise ValueProblem("法人番号が空欄です")
        text = _compact(value).replace("-", "")
        if re.fullmatch(r"\d(?:\.\d+)?E\+?\d+", text, re.IGNORECASE):
            raise ValueProblem(
                f"{_quote(value)} は指数表示で桁が失われています。法人番号は文字列として13桁で入力してください"
            )
        if re.fullmatch(r"T\d{13}", text, re.IGNORECASE):
            raise ValueProblem(
                f"{_quote(value)} は適格請求書発行事業者の登録番号です。法人番号は T を除いた13桁です",
                text[1:],
            )
        digits = text
    if not digits.isascii() or not digits.isdigit():
        raise ValueProblem(f"{_quote(value)} は法人番号ではありません（数字13桁です）")
    if len(digits) != 13:
        raise ValueProblem(f"{_quote(value)} は{len(digits)}桁です。法人番号は13桁です")
    if int(digits[0]) != corporate_check_digit(digits[1:]):
        raise ValueProblem(
            f"{_quote(value)} は法人番号の検査用数字（先頭の1桁）が合いません。入力ミスがないか確かめてください"
        )
    return digits


_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_EMAIL_LABEL = re.compile(r"^[^\W_](?:[\w-]*[^\W_])?$")
_EMAIL_ATOM, _ASCII_LABEL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+", r"[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?"
# ASCII, no space, dots only between characters, one @, a domain of two or more labels (what check_email
# would accept of such text, but for the TLD's length and digits, tested after it)
_PLAIN_EMAIL = re.compile(rf"{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*@{_ASCII_LABEL}(?:\.{_ASCII_LABEL})+\Z")


def check_email(value: object) -> str:
    """An e-mail address, NFKC-normalised (full-width ＠ and letters folded) with the domain lower-cased.

    A pragmatic check: one @, no spaces, no '..', no leading or trailing dot, a domain with a TLD.
    """
    if value.__class__ is str and _PLAIN_EMAIL.match(value):  # (the usual form: every test below passes)
        tld = value.rpartition(".")[2]
        if len(tld) >= 2 and not tld.isdigit():
            local, _, domain = value.partition("@")
            return f"{local}@{domain.lower()}"
    if is_blank(value):
        raise ValueProblem("メールアドレスが空欄です")
    text = normalize_text(value)
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    q = _quote(value)
    if " " in text:
        raise ValueProblem(f"{q} に空白が入っています。メールアドレスには空白を含められません")
    if "@" not in text:
        raise ValueProblem(f"{q} に @ がありません。メールアドレスではありません")
    if text.count("@") > 1:
        raise ValueProblem(f"{q} に @ が2つ以上あります")
    local, domain = text.split("@")
    if not local:
        raise ValueProblem(f"{q} は @ の前が空です")
    if ".." in text:
        raise ValueProblem(f'{q} に "." が連続しています')
    if local.startswith(".") or local.endswith("."):
        raise ValueProblem(f'{q} は @ の前が "." で始まるか終わっています')
    if not _EMAIL_LOCAL.match(local):
        raise ValueProblem(f"{q} の @ の前に使えない文字があります")
    labels = domain.split(".")
    if len(labels) < 2:
        raise ValueProblem(f'{q} の @ の後ろ（ドメイン）に "." がありません')
    if not all(_EMAIL_LABEL.match(label) for label in labels):
        raise ValueProblem(f"{q} の @ の後ろ（ドメイン）が正しくありません")
    tld = labels[-1]
    if len(tld) < 2 or tld.isdigit():
        raise ValueProblem(f"{q} のドメインの最後（.jp など）が正しくありません")
    return f"{local}@{domain.lower()}"


_PHONE_PREFIX = re.compile(r"^(?:TEL|電話(?:番号)?)[:.]?", re.IGNORECASE)
_PLAIN_PHONE = re.compile(r"[0-9()-]+\Z")
_ELEVEN_DIGIT_PREFIXES = ("020", "050", "060", "070", "080", "090", "0800")


def check_phone(value: object) -> str:
    """A Japanese phone number as its digits only: 029-301-2523, (029)301-2523, +81 29 301 2523 → 0293012523.

    10 digits starting with 0, or 11 digits for mobile/IP/0800 numbers. A numeric cell that lost its
    leading 0 (Excel) gets it back.
    """
    digits = _digits_of_number_cell(value)
    if digits is not None:
        if digits != "?" and 9 <= len(digits) <= 10 and not digits.startswith("0"):
            digits = "0" + digits
        text = digits
    elif value.__class__ is str and _PLAIN_PHONE.match(value):  # (digits, hyphens and brackets only)
        text = value.replace("-", "").replace("(", "").replace(")", "")
    else:
        if is_blank(value):
            raise ValueProblem("電話番号が空欄です")
        text = _PHONE_PREFIX.sub("", _compact(value))
        if text.startswith("+81"):
            text = "0" + re.sub(r"^\(0\)", "", text[3:].lstrip("-"))
        text = re.sub(r"[-()]", "", text)
    q = _quote(value)
    if "内線" in text:
        raise ValueProblem(f"{q} に内線が含まれています。内線は備考などに分けてください")
    if not text.isascii() or not text.isdigit():
        raise ValueProblem(f"{q} は電話番号として読めません（例: 029-301-2523）")
    if not text.startswith("0") or text.startswith("00"):
        raise ValueProblem(f"{q} は0で始まる国内の電話番号ではありません（例: 029-301-2523）")
    if len(text) == 10:
        return text
    if len(text) == 11:
        if text.startswith(_ELEVEN_DIGIT_PREFIXES):
            return text
        raise ValueProblem(f"{q} は11桁ですが、11桁になるのは 090・080・070・050・0800 などで始まる番号だけです")
    raise ValueProblem(f"{q} は{len(text)}桁です。電話番号は市外局番から10桁（携帯電話は11桁）です")


_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


def parse_number(value: object) -> int | float:
    """A number from a cell: int/float as is; text with full-width digits, commas and △/▲ for minus."""
    if isinstance(value, bool) or value is None:
        raise ValueProblem(f"{_quote(value)} は数値ではありません")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        if not math.isfinite(f):
            raise ValueProblem(f"{_quote(value)} は数値ではありません")
        return f
    if not isinstance(value, str):
        raise ValueProblem(f"{_quote(value)} は数値ではありません")
    text = _compact(value).replace(",", "")
    if text[:1] in ("△", "▲"):
        text = "-" + text[1:]
    if not _NUMBER.match(text):
        raise ValueProblem(f"{_quote(value)} は数値として読めません")
    return float(text) if "." in text else int(text)


# ---------------------------------------------------------------------------------------------------------
# IDs


_PROPOSAL_ID = re.compile(r"^(?P<fy>[MTSHR]\d{1,3})-(?P<n>\d{4,})$")


_PLAIN_PROPOSAL_ID = re.compile(r"[MTSHR][0-9]{1,3}-[0-9]{4,}\Z")


@lru_cache(maxsize=256)
def _fiscal_year_of_code(code: str) -> int | ValueProblem:
    """parse_fiscal_year_code of an ID's 年度 part (R7, H31: a few in any register), worked out once."""
    try:
        return parse_fiscal_year_code(code)
    except ValueProblem as e:
        return e


def proposal_id(fy: int, n: int) -> str:
    """R7-0001: the 年度 code and a serial number of at least 4 digits."""
    if n < 1:
        raise ValueError(f"serial number must be >= 1, got {n}")
    return f"{fiscal_year_code(fy)}-{n:04d}"


def parse_proposal_id(value: object) -> tuple[int, int]:
    """(年度, 連番) of a proposal ID: "R7-0001" → (2025, 1); full-width and lower-case are accepted."""
    # (an ID as the tool writes it is its own compact form)
    text = value if value.__class__ is str and _PLAIN_PROPOSAL_ID.match(value) else _compact(value).upper()
    m = _PROPOSAL_ID.match(text)
    if not m:
        raise ValueProblem(f"{_quote(value)} は提案IDの形ではありません（例: R7-0001）")
    fy = _fiscal_year_of_code(m["fy"])
    if isinstance(fy, ValueProblem):
        raise ValueProblem(fy.reason, fy.suggestion)
    n = int(m["n"])
    if n == 0:
        raise ValueProblem(f"{_quote(value)} の連番が0です（0001から始まります）")
    return fy, n


def referral_id(proposal: str, n: int) -> str:
    """R7-0001-01: a proposal ID and the referral's branch number (2+ digits).

    The proposal ID is checked and written in its compact form ("ｒ７－０００１" → "R7-0001") but not
    re-numbered: an H31-0001 issued in April 2019 stays H31-0001.
    """
    if n < 1:
        raise ValueError(f"branch number must be >= 1, got {n}")
    parse_proposal_id(proposal)
    return f"{_compact(proposal).upper()}-{n:02d}"


@lru_cache(maxsize=131072)
def _id_key_text(text: str) -> str:
    try:
        proposal, n = parse_referral_id(text)
    except ValueProblem:
        pass
    else:
        return f"{proposal}-{n:02d}"
    return _compact(text).upper()


def id_key(value: object) -> str:
    """How a row's key is matched, everywhere: IDs whatever width, case or dash a person typed
    ("ｒ７－０００１－１" is R7-0001-01; "r7-0001" is R7-0001); other keys by their compact NFKC form."""
    if value is None or isinstance(value, Unknown):
        return ""  # (an error value or an uncached formula is never a key)
    if isinstance(value, str):
        if _PLAIN_KEY.fullmatch(value) and not _PADDED_BRANCH.search(value):
            return value  # (most keys, IDs as the tool writes them: already their own compact form)
        return _id_key_text(value)
    return _compact(value).upper()


# Printable ASCII with no space and no lower-case letter: NFKC, the dash folding, the whitespace
# removal and upper-casing all leave it as it is, and an ID read from it is written back the same —
# unless its 枝番 has more leading zeros than two digits need ("-001" is read as 1 and keyed "-01").
_PLAIN_KEY = re.compile(r"[!-`{-~]+")
_PADDED_BRANCH = re.compile(r"-0\d{2,}$")


def parse_referral_id(value: object) -> tuple[str, int]:
    """(提案ID, 枝番) of a referral ID: "R7-0001-01" → ("R7-0001", 1); the 提案ID in its compact form."""
    try:
        got = _referral_id_cached(type(value).__name__, value)
    except TypeError:  # an unhashable value: worked out afresh
        got = _referral_id_or_problem(value)
    if isinstance(got, ValueProblem):
        raise ValueProblem(got.reason, got.suggestion)  # a fresh exception each time
    return got


@lru_cache(maxsize=65536)
def _referral_id_cached(_kind: str, value: object) -> tuple[str, int] | ValueProblem:
    # (the type is part of the key: 1 and 1.0 and True are equal but read differently)
    return _referral_id_or_problem(value)


def _referral_id_or_problem(value: object) -> tuple[str, int] | ValueProblem:
    try:
        return _parse_referral_id(value)
    except ValueProblem as e:
        return e


def _parse_referral_id(value: object) -> tuple[str, int]:
    text = _compact(value).upper()
    m = re.match(r"^(?P<p>[^-]+-[^-]+)-(?P<n>\d{2,})$", text)
    problem = ValueProblem(f"{_quote(value)} は照会IDの形ではありません（例: R7-0001-01）")
    if not m:
        raise problem
    try:
        parse_proposal_id(m["p"])
    except ValueProblem:
        raise problem from None
    n = int(m["n"])
    if n == 0:
        raise ValueProblem(f"{_quote(value)} の枝番が0です（01から始まります）")
    return m["p"], n
