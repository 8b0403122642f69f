"""Check the register and every department sheet; report each mistake where staff will see it.

``validate`` reads every table once, checks it in memory (structure, required values, types,
choices, IDs, references, dates, status, overdue referrals, duplicates, risky text) and, unless
told not to, rewrites 検証結果 and marks the offending cells. It never changes a cell's value.
"""

from __future__ import annotations

import bisect
import contextlib
import difflib
import itertools
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from . import clock, workflow
from .config import Config
from .departments import Department, departments_from_table
from .errors import StoreError
from .findings import Finding, Report, Severity, make_finding
from .runtime import no_cycle_collection
from .schema import (
    CHOICE_LISTS,
    CHOICE_SHEET,
    CHOICES,
    DEPARTMENT_MASTER_SHEET,
    DEPARTMENT_SHEET,
    DEPARTMENTS,
    EXCHANGE_SHEET,
    EXCHANGES,
    FINDINGS,
    FINDINGS_SHEET,
    PROPOSAL_SHEET,
    PROPOSALS,
    REFERRAL_SHEET,
    REFERRALS,
    SHEETS,
    Answer,
    Column,
    Direction,
    Method,
    Owner,
    Sheet,
    Status,
    ValueType,
    cell_text_limit,
)
from .store.base import (
    WRITE_LOCK_WAIT,
    CellValue,
    Change,
    EnsureSheet,
    MarkCells,
    Reading,
    ReplaceRows,
    Row,
    SheetRef,
    Store,
    Table,
    header_key,
)
from .values import (
    CUT_SAID,
    Unknown,
    ValueProblem,
    blank_among,
    check_corporate_number,
    check_email,
    check_phone,
    cut_said,
    display,
    fiscal_year,
    fiscal_year_code,
    fiscal_year_label,
    format_date,
    id_key,
    is_blank,
    match_choice,
    match_multi_choice,
    normalize_text,
    parse_date,
    parse_number,
    parse_proposal_id,
    parse_referral_id,
    split_list,
)

__all__ = ["validate"]

DUPLICATE_RATIO = 0.9  # difflib ratio of two 件名 above which proposals look duplicated
_FEW_TITLES = 64  # one proposer's titles compared without an index
MUNICIPALITY_LIST = "市町村"
CHOICE_TEXT_LIMIT = 500  # text longer than this is not compared with the choices one by one

# Columns the rules below name; looked up in the schema so that a renamed column fails at import.
P_ID = PROPOSAL_SHEET.column("提案ID").name
P_RECEIVED = PROPOSAL_SHEET.column("受付日").name
P_DIRECTION = PROPOSAL_SHEET.column("提案方向").name
P_PROPOSER = PROPOSAL_SHEET.column("提案者名").name
P_TITLE = PROPOSAL_SHEET.column("件名").name
P_METHOD = PROPOSAL_SHEET.column("連携手法").name
P_STATUS = PROPOSAL_SHEET.column("ステータス").name
P_SIGNED = PROPOSAL_SHEET.column("協定締結日").name
P_STARTS = PROPOSAL_SHEET.column("協定開始日").name
P_ENDS = PROPOSAL_SHEET.column("協定終了日").name
R_ID = REFERRAL_SHEET.column("照会ID").name
R_PROPOSAL = REFERRAL_SHEET.column("提案ID").name
R_TARGET = REFERRAL_SHEET.column("照会先").name
R_DATE = REFERRAL_SHEET.column("照会日").name
R_DUE = REFERRAL_SHEET.column("回答期限").name
R_ANSWER = REFERRAL_SHEET.column("回答").name
R_ANSWERED = REFERRAL_SHEET.column("回答日").name
M_NAME = DEPARTMENT_MASTER_SHEET.column("課").name

# Dates that may lie in the future: deadlines, plans, and an agreement's period.
FUTURE_ALLOWED = frozenset({R_DUE, REFERRAL_SHEET.column("次回予定日").name, P_STARTS, P_ENDS})
# Dates a desk enters ahead as plans (a signing being arranged, a planned publication): fine in
# the future until the status says the agreement is signed, then a warning.
PLANNED_DATES = frozenset({P_SIGNED, PROPOSAL_SHEET.column("公表日").name})

_ID_PATTERNS = {P_ID: "年度-連番、例: R7-0001", R_ID: "提案ID-枝番、例: R7-0001-01"}


# ---------------------------------------------------------------- characters that cause trouble
def _platform_chars() -> tuple[str, str]:
    """機種依存文字: (symbols, kanji). Windows' cp932 extensions that JIS X 0208 lacks (NEC specials,
    NEC/IBM extension kanji), plus the Unicode blocks of circled, parenthesised and squared forms."""
    found: set[str] = set()
    for lead in (0x87, 0xED, 0xEE, 0xFA, 0xFB, 0xFC):
        for trail in range(0x40, 0xFD):
            try:
                ch = bytes([lead, trail]).decode("cp932")
            except UnicodeDecodeError:
                continue
            try:
                ch.encode("shift_jis")
            except UnicodeEncodeError:
                found.add(ch)
    found -= set("＇＂￢￤")  # only a different mapping of ordinary JIS characters
    for lo, hi in ((0x2160, 0x2188), (0x2460, 0x24FF), (0x2776, 0x2793), (0x3200, 0x33FF), (0xF900, 0xFAFF)):
        found.update(chr(c) for c in range(lo, hi + 1) if unicodedata.category(chr(c)) != "Cn")
    kanji = {c for c in found if unicodedata.name(c, "").startswith("CJK")}
    return "".join(sorted(found - kanji)), "".join(sorted(kanji))


_PLATFORM_SYMBOLS, _PLATFORM_KANJI = _platform_chars()
_KANJI_SET = frozenset(_PLATFORM_KANJI)
_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
# One search per text cell finds every kind of trouble; the cell is then looked at closely.
_SUSPECT = re.compile("^[=+\\-@]|[" + _CONTROL + re.escape(_PLATFORM_SYMBOLS) + re.escape(_PLATFORM_KANJI) + "]")
# The characters of it over a column's text joined by line breaks (with :func:`_formula_line` for the
# starts of lines): nothing found there, nothing in any cell.
_SUSPECT_CHARS = re.compile("[" + _CONTROL + re.escape(_PLATFORM_SYMBOLS) + re.escape(_PLATFORM_KANJI) + "]")
_CONTROL_RE = re.compile("[" + _CONTROL + "]")
_PLATFORM_RE = re.compile("[" + re.escape(_PLATFORM_SYMBOLS) + re.escape(_PLATFORM_KANJI) + "]")
_NUMBER_LIKE = re.compile(r"^[+-]?[\d,]*\.?\d+%?$")
_ONLY_MARKS = re.compile(r"^[\s=+\-@ー－―‐]*$")
_KANJI_HINTS = {"髙": "高", "﨑": "崎"}  # the two everyone meets; NFKC folds most of the rest
_CORPORATE = re.compile(r"株式会社|有限会社|合同会社|合資会社|合名会社|\((?:株|有|同)\)")


def _visible(text: str) -> str:
    """Control characters shown as control pictures, so a message can be written to any sheet."""
    return _CONTROL_RE.sub(lambda m: chr(0x2400 + ord(m.group())) if m.group() != "\x7f" else "␡", text)


def _shown(v: CellValue) -> str:
    return _visible(display(v))


def _key_text(v: CellValue) -> str:
    return normalize_text(v)


# ---------------------------------------------------------------- one table under check
@dataclass
class _Check:
    """A table being checked: where its findings go and which schema columns it has."""

    ref: SheetRef
    label: str  # how findings name the sheet
    schema: Sheet
    table: Table | None
    present: list[Column] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    usable: bool = False  # has a header row with schema columns
    parsed: dict[str, dict[int, Any]] = field(default_factory=dict)  # column -> row -> parsed value
    blank: dict[str, set[int]] = field(default_factory=dict)  # column -> the rows whose cell is blank
    _names: frozenset[str] = frozenset()
    _columns: dict[str, list[CellValue]] = field(default_factory=dict)

    @property
    def rows(self) -> list[Row]:
        return self.table.rows if self.table is not None and self.usable else []

    def has(self, column: str) -> bool:
        return column in self.present_names

    @property
    def present_names(self) -> frozenset[str]:
        if len(self._names) != len(self.present):
            self._names = frozenset(c.name for c in self.present)
        return self._names

    def column(self, name: str) -> list[CellValue]:
        """One column's cells, aligned with :attr:`rows`: the schema columns the tab has are taken out
        of the rows together, once (one lookup of all of them per row rather than one per cell)."""
        got = self._columns.get(name)
        if got is None:
            names = [c.name for c in self.present if c.name not in self._columns]
            if name not in names:
                names.append(name)
            rows = self.rows
            getter = operator.itemgetter(*names)
            try:
                lines = [getter(r.values) for r in rows]
            except KeyError:  # (a row without every column: only tables built by hand)
                lines = [tuple(r.values.get(n) for n in names) for r in rows]
            if len(names) == 1:
                lines = [(line,) for line in lines]
            for n, cells in zip(names, zip(*lines, strict=True) if lines else [()] * len(names), strict=True):
                self._columns[n] = list(cells)
            got = self._columns[name]
        return got

    def add(
        self,
        code: str,
        row: Row | None = None,
        column: str | None = None,
        value: CellValue = None,
        *,
        severity: str | None = None,
        shown: str | None = None,
        **params: Any,
    ) -> None:
        key = None
        if row is not None and self.schema.key:
            k = row.values.get(self.schema.key)
            key = None if is_blank(k) else _visible(_key_text(k))
        text = shown if shown is not None else (None if value is None else _shown(value))
        self.findings.append(
            make_finding(
                code,
                sheet=self.label,
                row=None if row is None else row.number,
                column=column,
                key=key,
                value=text,
                severity=severity,
                **params,
            )
        )


class _Cache:
    """Per-run memo of value parsing: the same text is parsed once however many rows hold it."""

    def __init__(self) -> None:
        self.dates: dict[Any, date | ValueProblem] = {}
        # per type (e-mail, phone, 法人番号, number): a cell's key in its column (see _Run.values) -> what
        # is wrong with it, or None
        self.checked: dict[ValueType, dict[Any, ValueProblem | None]] = {}
        self.choices: dict[tuple[str, Any], str | ValueProblem] = {}
        self.multi: dict[tuple[str, Any], list[str] | ValueProblem] = {}

    def problems(
        self, kind: ValueType, keys: Iterable[Any], value_of: Callable[[Any], Any]
    ) -> dict[Any, ValueProblem | None]:
        """What is wrong with each of these values of a type that has a checker (e-mail, phone,
        法人番号, number), or None; each distinct value is checked once a run. ``keys`` are the cells'
        keys, ``value_of(key)`` the cell."""
        known = self.checked.setdefault(kind, {})
        checker = _CHECKERS[kind][0]
        for k in keys:
            if k not in known:
                r = _try(checker, value_of(k))
                known[k] = r if isinstance(r, ValueProblem) else None
        return known

    def date(self, v: CellValue) -> date | ValueProblem:
        if isinstance(v, datetime):
            return v.date()
        if isinstance(v, date):
            return v
        try:
            return self.dates[v]
        except KeyError:
            pass
        except TypeError:  # unhashable: cannot happen with cell values, but never crash on it
            return _try(parse_date, v)
        result = self.dates[v] = _try(parse_date, v)
        return result


_FIRST = operator.itemgetter(0)
_PLAIN_KINDS = frozenset({type(None), str, bool, int, float, date, datetime})
_EQUAL_KINDS = (frozenset({bool, int, float}), frozenset({date, datetime}))  # kinds whose values may be equal
_TEXT_KINDS = frozenset({type(None), str})


def _same(v: Any) -> Any:  # (beside _FIRST_VALUE: a cell as its own key)
    return v


def _formula_line(joined: str) -> bool:
    """Whether a line of this text starts like a formula (=, +, - or @), as (?m)^[=+\\-@] finds."""
    return joined[:1] in ("=", "+", "-", "@") or any(f"\n{c}" in joined for c in "=+-@")


_FIRST_VALUE = operator.itemgetter(1)
_ROW_NUMBER = operator.attrgetter("number")


def _try(func: Callable[[Any], Any], v: Any) -> Any:
    try:
        return func(v)
    except ValueProblem as e:
        return e


_CHECKERS: dict[ValueType, tuple[Callable[[Any], Any], str]] = {
    ValueType.EMAIL: (check_email, "email.invalid"),
    ValueType.PHONE: (check_phone, "phone.invalid"),
    ValueType.CORPORATE_NUMBER: (check_corporate_number, "corporate_number.invalid"),
    ValueType.NUMBER: (parse_number, "number.invalid"),
}


def _datetime_ok(v: CellValue) -> bool:
    if isinstance(v, date):
        return True
    if isinstance(v, bool) or v is None:
        return False
    if isinstance(v, int | float):
        return True  # a serial number with a fraction
    text = normalize_text(v)
    try:
        datetime.fromisoformat(text.replace("/", "-"))
        return True
    except ValueError:
        pass
    head = text.split(" ")[0]
    return not isinstance(_try(parse_date, head), ValueProblem)


# ---------------------------------------------------------------- the run
@dataclass
class _Lists:
    """The choice lists in force: the desk's 選択肢 sheet, the shipped defaults where it lacks one."""

    values: dict[str, tuple[str, ...]]
    exact: dict[str, frozenset[str]]

    @classmethod
    def build(cls, values: dict[str, tuple[str, ...]]) -> _Lists:
        return cls(values, {k: frozenset(v) for k, v in values.items()})


class _Run:
    def __init__(self, config: Config, store: Store, today: date) -> None:
        self.config = config
        self.store = store
        self.today = today
        self.cache = _Cache()
        self.checks: list[_Check] = []
        self.lists = _Lists.build(dict(CHOICE_LISTS))
        self.findings_table: Table | None = None
        # filled while checking the register, used across tables
        self.departments: dict[str, Department] = {}
        # proposals by (年度, 連番) of their ID
        self.proposal_rows: dict[tuple[int, int], Row] = {}
        self.received: dict[tuple[int, int], date] = {}  # 受付日
        self.direction: dict[tuple[int, int], str] = {}  # 提案方向
        self.status: dict[tuple[int, int], str] = {}  # ステータス
        self.answers: dict[tuple[int, int], list[str]] = {}  # answers of its referrals
        self._proposal_ids: dict[CellValue, tuple[int, int] | ValueProblem] = {}
        self._norm: dict[CellValue, str] = {}

    def norm(self, v: CellValue) -> str:
        """normalize_text, once per distinct value (a few dozen department names fill 30,000 rows)."""
        try:
            return self._norm[v]
        except KeyError:
            text = self._norm[v] = normalize_text(v)
            return text

    def proposal_id(self, raw: CellValue) -> tuple[int, int] | ValueProblem:
        """(年度, 連番) of a proposal ID, parsed once per distinct value."""
        try:
            return self._proposal_ids[raw]
        except KeyError:
            got = self._proposal_ids[raw] = _try(parse_proposal_id, raw)
            return got

    # -------------------------------------------------------- reading
    def read(self, *, findings: bool) -> Reading:
        """Every tab of the register in one read, in the order the checks take them: the store goes on
        reading the next tabs while the ones read are checked."""
        names = self.store.sheet_names(None)
        refs = [SheetRef(n) for n in (CHOICES, DEPARTMENTS, PROPOSALS, REFERRALS, EXCHANGES)]
        # Department tabs of the register, read with the rest (their names come from the master).
        refs += [SheetRef(n) for n in names if n not in SHEETS and not n.startswith("_")]
        if findings:  # 検証結果, for the write-back (at the end)
            refs.append(SheetRef(FINDINGS))
        return self.store.read_ahead(refs)

    def read_books(self, departments: Iterable[Department]) -> tuple[Reading, dict[str, str]]:
        """Department sheets in their own books, read while the register is checked; a book that is
        missing here is said in ``missing``, one that cannot be opened by :meth:`Reading.get`."""
        refs = sorted({d.ref for d in departments if d.ref.book is not None and not d.problem})
        missing: dict[str, str] = {}
        present = []
        for ref in refs:
            if self.store.book_exists(ref.book):
                present.append(ref)
            else:
                missing[str(ref.book)] = "ファイルがありません（kouminrenkei sync で作成されます）"
        return self.store.read_ahead(present), missing

    # -------------------------------------------------------- structure
    def structure(
        self,
        ref: SheetRef,
        label: str,
        schema: Sheet,
        table: Table | None,
        *,
        missing_sheet_severity: str = Severity.ERROR,
        missing_sheet_hint: str = "",
        column_severity: Callable[[Column], str] | None = None,
        column_hint: str = "",
    ) -> _Check:
        check = _Check(ref, label, schema, table)
        self.checks.append(check)
        if table is None:
            hint = missing_sheet_hint or "kouminrenkei init で作る台帳と同じシートを追加してください。"
            check.add("structure.missing_sheet", severity=missing_sheet_severity, hint=hint)
            return check
        have = set(table.columns)
        check.present = [c for c in schema.columns if header_key(c.name) in have]
        if not check.present:  # an empty tab, a title row above the headers, or another table
            check.add("structure.no_header", expected="、".join(f"「{h}」" for h in schema.headers[:3]))
            return check
        check.usable = True
        keys = [header_key(h) for h in table.headers]
        schema_keys = {header_key(c.name) for c in schema.columns}
        for dup in table.duplicate_headers:
            if dup in schema_keys:
                check.add("structure.duplicate_header", column=dup, count=keys.count(dup))
        extras = [h for h in table.headers if header_key(h) and header_key(h) not in schema_keys]
        for column in schema.columns:
            if header_key(column.name) in have:
                continue
            close = difflib.get_close_matches(column.name, extras, n=1, cutoff=0.5)
            if close:
                extras.remove(close[0])
                hint = f"見出し「{close[0]}」がこの列なら、見出しを「{column.name}」に直してください。"
            else:
                hint = column_hint or "列を追加してください（見出しは1行目）。"
            severity = column_severity(column) if column_severity else (
                Severity.ERROR if column.required else Severity.WARNING
            )  # fmt: skip
            check.add("structure.missing_column", column=column.name, severity=severity, hint=hint)
        return check

    # -------------------------------------------------------- values, column by column
    def values(self, check: _Check, columns: Sequence[Column]) -> dict[str, dict[int, Any]]:
        """Required, type, choice and text checks of these columns; returns the parsed values
        (dates, canonical choices, IDs as typed) by column and spreadsheet row.

        Column by column, with comprehensions doing the per-cell work and every distinct value
        parsed once: a big register has a million cells and few distinct dates or choices.
        Long (~110 lines) on purpose: it is validate's inner loop, one pass per column with the
        per-type branches inline (a call per cell or per type costs a third of the run at 30k)."""
        parsed: dict[str, dict[int, Any]] = {}
        rows = check.rows
        cache = self.cache
        suspect = _SUSPECT.search
        suspect_chars = _SUSPECT_CHARS.search
        limit = cell_text_limit(self.store.backend)  # xlsx 32,767, Google Sheets 50,000: found before any write
        for column in columns:
            if not check.has(column.name):
                continue
            name = column.name
            kind = column.type
            cells = check.column(name)
            kinds = set(map(type, cells))
            # Each distinct value once, in the order met (the caches fill as a row-by-row pass would). 1, 1.0
            # and True are equal but read differently: a column holding two such kinds is keyed by (type,
            # value); one whose kinds cannot be equal to each other (text, None and one kind of number or
            # of date: nearly every column) by the values themselves.
            plain = kinds <= _PLAIN_KINDS and all(len(kinds & family) <= 1 for family in _EQUAL_KINDS)
            keys: list[Any] = cells if plain else list(zip(map(type, cells), cells, strict=True))
            value_of: Callable[[Any], Any] = _same if plain else _FIRST_VALUE
            distinct = dict.fromkeys(keys)
            blank = blank_among(distinct) if plain else {k for k in distinct if is_blank(k[1])}
            if blank:
                keep = list(map(operator.not_, map(blank.__contains__, keys)))
                filled = list(itertools.compress(zip(rows, cells, strict=True), keep))
                filled_keys = list(itertools.compress(keys, keep))
                check.blank[name] = {r.number for r, kept in zip(rows, keep, strict=True) if not kept}
            else:
                filled, filled_keys = list(zip(rows, cells, strict=True)), keys
                check.blank[name] = set()
            if any(issubclass(k, Unknown) for k in kinds):  # a formula without a result, an error value
                for row, v in filled:
                    if isinstance(v, Unknown):
                        check.add("cell.unknown", row, name, v, reason=v.reason, effect="値を入れ直してください。")
                filled = [(r, v) for r, v in filled if not isinstance(v, Unknown)]
                filled_keys = [(type(v), v) for _, v in filled]  # (an Unknown is not a plain kind)
            if check.table is not None and check.table.replaced:
                for number, at in check.table.replaced:
                    hit = next((r for r in rows if r.number == number), None) if at == header_key(name) else None
                    if hit is not None:
                        got = hit.values.get(at)
                        check.add("text.surrogate", hit, name, got, count=str(got).count("\ufffd"))
            if column.required and len(filled) < len(rows):
                hint = _required_hint(column)
                for row, cell in zip(rows, cells, strict=True):
                    if is_blank(cell):
                        check.add("required", row, name, hint=hint)
            if str in kinds:
                # one search over the column's text finds whether any cell needs a closer look (the empty
                # text, which holds nothing to find, may be left out)
                texts: list[str] = (
                    list(filter(None, cells))  # type: ignore[arg-type]  # (only text and None: see kinds)
                    if kinds <= _TEXT_KINDS
                    else [c for c in cells if c.__class__ is str]
                )
                joined = "\n".join(texts)
                if CUT_SAID in joined:
                    _add_cuts(check, name, filled)
                if max(map(len, texts), default=0) > limit or suspect_chars(joined) or _formula_line(joined):
                    for row, v in [(r, v) for r, v in filled if v.__class__ is str and (len(v) > limit or suspect(v))]:
                        if len(v) > limit:
                            check.add("text.too_long", row, name, v, length=len(v), limit=limit)
                        if suspect(v):
                            self.text(check, row, name, v, formula=kind is not ValueType.PHONE)
            out: dict[int, Any] = {}
            parsed[name] = out
            if kind is ValueType.TEXT:
                continue
            # Each distinct value is read once; when none is wrong, the column's values are placed in one
            # go. A column with a mistake is gone through row by row, so findings come in row order.
            numbers = list(map(_ROW_NUMBER, map(_FIRST, filled)))
            if kind is ValueType.DATE:
                dates = {k: cache.date(value_of(k)) for k in dict.fromkeys(filled_keys)}
                if not any(isinstance(d, ValueProblem) for d in dates.values()):
                    out.update(zip(numbers, map(dates.__getitem__, filled_keys), strict=True))
                    continue
                for row, v in filled:
                    d = v.date() if v.__class__ is datetime else cache.date(v)
                    if isinstance(d, ValueProblem):
                        check.add("date.invalid", row, name, v, reason=_visible(d.reason))
                    else:
                        out[row.number] = d
            elif kind is ValueType.CHOICE or kind is ValueType.MULTI_CHOICE:
                exact = self.lists.exact[column.choices or name]
                pick = self.choice if kind is ValueType.CHOICE else self.multi
                one = kind is ValueType.CHOICE
                picked: dict[Any, Any] = {}
                for k in dict.fromkeys(filled_keys):
                    v = value_of(k)
                    picked[k] = (v if one else [v]) if v in exact else pick(column, v)
                if not any(isinstance(c, ValueProblem) for c in picked.values()):
                    out.update(zip(numbers, map(picked.__getitem__, filled_keys), strict=True))
                    continue
                for row, v in filled:
                    c: Any = (v if one else [v]) if v in exact else pick(column, v)
                    if isinstance(c, ValueProblem):
                        self.bad_choice(check, row, column, v, c)
                    else:
                        out[row.number] = c
            elif kind is ValueType.DATETIME:
                if all(_datetime_ok(value_of(k)) for k in dict.fromkeys(filled_keys)):
                    continue
                for row, v in filled:
                    if not _datetime_ok(v):
                        check.add("datetime.invalid", row, name, v)
            elif kind is ValueType.ID:
                out.update(zip(numbers, map(_FIRST_VALUE, filled), strict=True))
            elif kind in _CHECKERS:
                code = _CHECKERS[kind][1]
                distinct_filled = dict.fromkeys(filled_keys)
                known = cache.problems(kind, distinct_filled, value_of)
                if not any(map(known.__getitem__, distinct_filled)):
                    continue
                for (row, v), k in zip(filled, filled_keys, strict=True):
                    problem = known[k]
                    if problem is not None:
                        check.add(code, row, name, v, reason=_visible(problem.reason))
        check.parsed.update(parsed)
        return parsed

    def text(self, check: _Check, row: Row, column: str, v: str, *, formula: bool) -> None:
        if formula and v[0] in "=+-@" and len(v) > 1 and not _NUMBER_LIKE.match(v.strip()) and not _ONLY_MARKS.match(v):
            check.add("text.formula", row, column, v, first=v[0])
        controls = sorted(set(_CONTROL_RE.findall(v)))
        if controls:
            shown = "、".join(f"U+{ord(c):04X}" for c in controls)
            check.add("text.control_chars", row, column, v, chars=shown)
        platform = list(dict.fromkeys(_PLATFORM_RE.findall(v)))
        if platform:
            hints = []
            for ch in platform[:5]:
                repl = _KANJI_HINTS.get(ch) or unicodedata.normalize("NFKC", ch)
                if repl != ch:
                    hints.append(f"「{ch}」→「{repl}」")
            only_kanji = all(ch in _KANJI_SET for ch in platform)
            hint = ("置き換え例: " + "、".join(hints) + "。") if hints else ""
            if only_kanji:
                hint += "人名・社名で必要な場合はそのままで構いません。"
            check.add(
                "text.platform_chars",
                row,
                column,
                v,
                severity=Severity.INFO if only_kanji else Severity.WARNING,
                chars="".join(platform[:10]),
                hint=hint,
            )

    def choice(self, column: Column, v: CellValue) -> str | ValueProblem:
        list_name = column.choices or column.name
        if isinstance(v, str):
            if v in self.lists.exact[list_name]:
                return v
            if len(v) > CHOICE_TEXT_LIMIT:
                return _long_for_choice(v)
        key = (list_name, v)
        try:
            return self.cache.choices[key]
        except KeyError:
            result = self.cache.choices[key] = _try(lambda x: match_choice(x, self.lists.values[list_name]), v)
            return result

    def multi(self, column: Column, v: CellValue) -> list[str] | ValueProblem:
        list_name = column.choices or column.name
        if isinstance(v, str):
            if v in self.lists.exact[list_name]:
                return [v]
            if len(v) > CHOICE_TEXT_LIMIT:
                return _long_for_choice(v)
        key = (list_name, v)
        try:
            return self.cache.multi[key]
        except KeyError:
            result = self.cache.multi[key] = _try(lambda x: match_multi_choice(x, self.lists.values[list_name]), v)
            return result

    def bad_choice(self, check: _Check, row: Row, column: Column, v: CellValue, problem: ValueProblem) -> None:
        fix = (
            f"（直すなら「{problem.suggestion}」）"
            if problem.suggestion and column.type is ValueType.MULTI_CHOICE
            else ""
        )
        if column.choices == MUNICIPALITY_LIST:
            check.add(
                "ref.municipality",
                row,
                column.name,
                v,
                prefecture=self.config.desk.prefecture,
                reason=_visible(problem.reason),
                fix=fix,
            )
        else:
            check.add("choice.invalid", row, column.name, v, reason=_visible(problem.reason), fix=fix)

    # -------------------------------------------------------- dates
    def future(
        self,
        check: _Check,
        parsed: dict[str, dict[int, Any]],
        rows_by_number: dict[int, Row],
        planned: Callable[[int], bool] = lambda number: False,
    ) -> None:
        """Dates after today, except deadlines and plans. ``planned(row)`` says whether that row's
        PLANNED_DATES may still be plans (a signing being arranged) rather than facts."""
        today = self.today
        for column in check.present:
            if column.type is not ValueType.DATE or column.name in FUTURE_ALLOWED:
                continue
            severity = Severity.WARNING if column.name in PLANNED_DATES else None
            for number, d in parsed.get(column.name, {}).items():
                if d > today and not (column.name in PLANNED_DATES and planned(number)):
                    row = rows_by_number[number]
                    check.add(
                        "date.future",
                        row,
                        column.name,
                        row.values.get(column.name),
                        severity=severity,
                        today=format_date(today),
                    )


def _long_for_choice(v: str) -> ValueProblem:
    # Finding the closest choice for a whole essay would only cost time.
    return ValueProblem(f"{len(v):,}文字の文章で、選択肢から選んだ値ではありません。")


def _required_hint(column: Column) -> str:
    if column.note:
        return f"入力してください（{column.note}）。"
    if column.choices:
        return "選択肢から選んでください。"
    return "入力してください。"


def _order(check: _Check, row: Row, column: str, later: date, other: str, earlier: date) -> None:
    """``later`` (the value of ``column``) must not be before ``earlier`` (the value of ``other``)."""
    if later < earlier:
        check.add("date.order", row, column, row.values.get(column), other=other, other_value=format_date(earlier))


# ---------------------------------------------------------------- the register's tables
def _check_choices_sheet(run: _Run, table: Table | None) -> None:
    check = run.structure(
        SheetRef(CHOICES),
        CHOICES,
        CHOICE_SHEET,
        table,
        missing_sheet_severity=Severity.WARNING,
        missing_sheet_hint="既定の選択肢で検証しました。選択肢を編集するにはシートを追加してください。",
        column_severity=lambda c: Severity.WARNING,
        column_hint="既定の選択肢で検証しました。",
    )
    if not check.usable or table is None:
        return
    lists = dict(CHOICE_LISTS)
    for column in check.present:
        items: dict[str, None] = {}
        for row in table.rows:
            v = row.values.get(column.name)
            if not is_blank(v):
                items[normalize_text(v)] = None
        if items:
            lists[column.name] = tuple(items)
        else:
            defaults = CHOICE_LISTS[column.name]
            shown = "、".join(defaults[:8]) + ("ほか" if len(defaults) > 8 else "")
            check.add("structure.empty_list", column=column.name, choices=shown)
    run.lists = _Lists.build(lists)


def _check_master(run: _Run, table: Table | None) -> _Check:
    check = run.structure(SheetRef(DEPARTMENTS), DEPARTMENTS, DEPARTMENT_MASTER_SHEET, table)
    run.values(check, DEPARTMENT_MASTER_SHEET.columns)
    first: dict[str, int] = {}
    for row in check.rows:
        name = _key_text(row.values.get(M_NAME))
        if not name:
            continue
        if name in first:
            check.add("id.duplicate", row, M_NAME, row.values.get(M_NAME), first_row=first[name])
        else:
            first[name] = row.number
    run.departments = departments_from_table(run.config, table if check.usable else None)
    rows = {row.number: row for row in check.rows}
    for d in run.departments.values():
        if d.problem:
            check.add("department.book_outside", rows.get(d.row), "ブック", d.ref.book, reason=d.problem)
        elif d.renamed:
            check.add("department.renamed", rows.get(d.row), M_NAME, d.name, where=d.renamed)
    return check


def _proposal_ids(run: _Run, check: _Check, column: str) -> dict[int, tuple[int, int]]:
    """(年度, 連番) of each row's proposal ID; a malformed one is a finding. H31-0001 and R1-0001 are
    the same 年度 and number, hence the same proposal."""
    out: dict[int, tuple[int, int]] = {}
    ids = check.parsed.get(column, {})
    read = {raw: run.proposal_id(raw) for raw in dict.fromkeys(ids.values())}  # (each distinct ID once)
    if not any(isinstance(got, ValueProblem) for got in read.values()):
        return {number: read[raw] for number, raw in ids.items()}  # type: ignore[misc]  # (no problem: see above)
    for row in check.rows:
        raw = ids.get(row.number)
        if raw is None:
            continue
        got = run.proposal_id(raw)
        if isinstance(got, ValueProblem):
            check.add("id.format", row, column, raw, pattern=_ID_PATTERNS[P_ID])
        else:
            out[row.number] = got
    return out


def _check_proposals(run: _Run, table: Table | None) -> _Check:
    check = run.structure(SheetRef(PROPOSALS), PROPOSALS, PROPOSAL_SHEET, table)
    parsed = run.values(check, PROPOSAL_SHEET.columns)
    rows_by_number = {r.number: r for r in check.rows}
    received = parsed.get(P_RECEIVED, {})
    directions = parsed.get(P_DIRECTION, {})
    statuses = parsed.get(P_STATUS, {})
    first: dict[tuple[int, int], int] = {}
    for number, pid in _proposal_ids(run, check, P_ID).items():
        row = rows_by_number[number]
        raw = row.values.get(P_ID)
        if pid in first:
            check.add("id.duplicate", row, P_ID, raw, first_row=first[pid])
            continue
        first[pid] = number
        run.proposal_rows[pid] = row
        got = received.get(number)
        if got is not None:
            run.received[pid] = got
            fy = fiscal_year(got)
            if fy != pid[0]:
                check.add(
                    "id.fiscal_year",
                    row,
                    P_ID,
                    raw,
                    id_year=_fy_label(pid[0]),
                    received=format_date(got),
                    received_year=_fy_label(fy),
                    expected=f"「{_fy_code(fy)}-」",
                )
        if number in directions:
            run.direction[pid] = directions[number]
        if number in statuses:
            run.status[pid] = statuses[number]
    starts = parsed.get(P_STARTS, {})
    for number, end in parsed.get(P_ENDS, {}).items():
        start = starts.get(number)
        if start is not None:
            _order(check, rows_by_number[number], P_ENDS, end, P_STARTS, start)
    run.future(check, parsed, rows_by_number, planned=lambda number: statuses.get(number) not in Status.PUBLISHED)
    _check_duplicates(check)
    return check


def _fy_label(fy: int) -> str:
    try:
        return fiscal_year_label(fy)
    except ValueError:
        return f"{fy}年度"


def _fy_code(fy: int) -> str:
    try:
        return fiscal_year_code(fy)
    except ValueError:
        return str(fy)


def _proposer_key(v: CellValue) -> str:
    return "".join(_CORPORATE.sub("", normalize_text(v)).split()).casefold()


def _title_key(v: CellValue) -> str:
    return "".join(normalize_text(v).split()).casefold()


def _check_duplicates(check: _Check) -> None:
    """Same proposer and near-identical 件名 (difflib ratio ≥ DUPLICATE_RATIO), each later row reported
    once, against the first match in the order of :func:`_near_duplicates`. Linear in practice: titles
    are compared only within one proposer's proposals, only when their lengths allow the ratio, and
    only when they share a character of their rarest few (see :func:`_near_duplicates`)."""
    if not (check.has(P_PROPOSER) and check.has(P_TITLE)):
        return
    buckets: dict[str, list[tuple[str, Row]]] = {}
    proposers: dict[tuple[type, Any], str] = {}  # (a partner's name on each of its proposals: keyed once)
    for row, who, title in zip(check.rows, check.column(P_PROPOSER), check.column(P_TITLE), strict=True):
        if not is_blank(who) and not is_blank(title):
            key = proposers.get((who.__class__, who))
            if key is None:
                key = proposers[who.__class__, who] = _proposer_key(who)
            buckets.setdefault(key, []).append((_title_key(title), row))
    for items in buckets.values():
        if len(items) < 2:
            continue
        for earlier, later, ratio in _near_duplicates(items):
            other_key = earlier.values.get(P_ID)
            check.add(
                "duplicate.proposal",
                later,
                P_TITLE,
                later.values.get(P_TITLE),
                other_row=earlier.number,
                other_key="（IDなし）" if is_blank(other_key) else _visible(_key_text(other_key)),
                ratio=int(ratio * 100),
            )


def _near_duplicates(items: Sequence[tuple[str, Row]]) -> list[tuple[Row, Row, float]]:
    """(earlier, later, ratio) for each row with a near-identical title among ``items`` (title keys
    of one proposer, in row order).

    The rule: titles sorted by length (ties in row order) are compared in pairs (i, j), i < j, in
    that order; a pair whose lengths already rule the ratio out is skipped; the first pair with
    ``SequenceMatcher(None, title_j, title_i).ratio() >= DUPLICATE_RATIO`` in which a row is the
    later one (by row number) reports that row, against the other.

    Found without comparing every pair (:class:`_TitleIndex`): each row looks only at the titles
    filed with it, in pair order, and stops at the first match.
    """
    r = DUPLICATE_RATIO
    order = sorted(range(len(items)), key=lambda k: len(items[k][0]))
    titles = [items[k][0] for k in order]
    rows = [items[k][1] for k in order]
    index = _TitleIndex(titles, r)
    masks = index.masks
    found: list[tuple[tuple[int, int], Row, Row, float]] = []
    for position, later in enumerate(rows):
        title = titles[position]
        mask = masks[position]
        for other in index.candidates(position):
            earlier = rows[other]
            if earlier.number > later.number:
                continue  # this row is the earlier one of that pair
            a, b = (titles[other], title) if other < position else (title, titles[other])
            if 2 * len(a) < r * (len(a) + len(b)):
                continue
            if a == b:
                ratio = 1.0
            else:
                # SequenceMatcher.quick_ratio (the characters in common as multisets), the same float
                if 2.0 * (mask & masks[other]).bit_count() / (len(a) + len(b)) < r:
                    continue
                ratio = difflib.SequenceMatcher(None, b, a, autojunk=False).ratio()
                if ratio < r:
                    continue
            found.append(((min(other, position), max(other, position)), earlier, later, ratio))
            break
    found.sort(key=lambda f: f[0])
    return [(earlier, later, ratio) for _, earlier, later, ratio in found]


class _TitleIndex:
    """Which titles (sorted by length) can reach a SequenceMatcher ratio ≥ r with a given one.

    Each title is a set of tokens, one per occurrence of a character (the second "の" is a token of
    its own), kept as the bits of an int: two titles' characters in common as multisets are the bits
    they share. Two titles x (the shorter) and y with ratio ≥ r have M ≥ r/2·(|x|+|y|) matched
    characters, so their token sets differ in at most |x|+|y|-2M ≤ (1-r)(|x|+|y|) tokens, and the
    lengths allow |y| ≤ |x|·(2-r)/r: at most ``D(|x|)`` tokens. Split the tokens into D+k groups (by
    number): at most D groups differ, so at least k groups hold exactly the same tokens in both.
    Every title is filed under the contents of each k of its groups (for every D its shorter
    partners may have), and only titles filed together are compared: no pair that can reach the
    ratio is missed, and few others are looked at.
    """

    def __init__(self, titles: Sequence[str], r: float) -> None:
        self.r = r
        self.lengths = [len(t) for t in titles]
        numbers: dict[tuple[str, int], int] = {}
        tokens: list[list[int]] = []
        self.masks: list[int] = []
        for title in titles:
            seen: dict[str, int] = {}
            mine = []
            for ch in title:
                n = seen[ch] = seen.get(ch, -1) + 1
                mine.append(numbers.setdefault((ch, n), len(numbers)))
            tokens.append(mine)
            self.masks.append(sum(1 << t for t in mine))
        self.filed: dict[tuple[int, ...], list[int]] | None = None
        if len(titles) <= _FEW_TITLES:
            return  # few enough to compare each with all of a compatible length
        self.keys: list[set[tuple[int, ...]]] = []
        self.filed = {}
        for position, (title, mine) in enumerate(zip(titles, tokens, strict=True)):
            shortest = math.floor(len(title) * r / (2 - r) * (1 - 1e-9))
            keys: set[tuple[int, ...]] = set()
            for apart in {self.most_apart(n) for n in range(shortest, len(title) + 1)}:
                together = 2 if apart <= 6 else 1  # 2 groups while that is cheap: fewer chance meetings
                size = apart + together
                parts = [0] * size
                for t in mine:
                    parts[t % size] |= 1 << (t // size)
                for picked in itertools.combinations(range(size), together):
                    keys.add((apart, *picked, *(parts[g] for g in picked)))
            self.keys.append(keys)
            for key in keys:
                self.filed.setdefault(key, []).append(position)

    def most_apart(self, length: int) -> int:
        """How many tokens a title of this length may differ in from any longer title it can match."""
        r = self.r
        return math.floor((1 - r) * 2 / r * length * (1 + 1e-9) + 1e-9)

    def candidates(self, position: int) -> Iterable[int]:
        """Other titles that may reach the ratio with this one, in position order."""
        if self.filed is None:
            n, r = self.lengths[position], self.r
            lo = bisect.bisect_left(self.lengths, n * r / (2 - r) * (1 - 1e-9))
            hi = bisect.bisect_right(self.lengths, n * (2 - r) / r * (1 + 1e-9))
            return [p for p in range(lo, hi) if p != position]
        found: set[int] = set()
        for key in self.keys[position]:
            found.update(self.filed[key])
        found.discard(position)
        return sorted(found)


# A referral ID as the tool writes it; anything else goes through values.parse_referral_id.
_PLAIN_REFERRAL_ID = re.compile(r"^([A-Z]\d{1,2}-\d{4,})-(\d{2,})$")


def _check_referral_ids(run: _Run, check: _Check, proposal_of: dict[int, tuple[int, int]]) -> None:
    """照会ID: its form, unique, and beginning with the row's 提案ID."""
    first: dict[tuple[int, int, int], int] = {}
    ids = check.parsed.get(R_ID, {})
    for row in check.rows:
        raw = ids.get(row.number)
        if raw is None:
            continue
        plain = _PLAIN_REFERRAL_ID.match(raw) if isinstance(raw, str) else None
        got = (plain[1], int(plain[2])) if plain and int(plain[2]) else _try(parse_referral_id, raw)
        prefix = None if isinstance(got, ValueProblem) else run.proposal_id(got[0])
        if isinstance(got, ValueProblem) or not isinstance(prefix, tuple):
            check.add("id.format", row, R_ID, raw, pattern=_ID_PATTERNS[R_ID])
            continue
        key = (*prefix, got[1])
        if key in first:
            check.add("id.duplicate", row, R_ID, raw, first_row=first[key])
        else:
            first[key] = row.number
        pid = proposal_of.get(row.number)
        if pid is not None and prefix != pid:
            shown = _key_text(row.values.get(R_PROPOSAL))
            check.add("id.mismatch", row, R_ID, raw, proposal=shown, example=f"{shown}-01")


class _EveryRow(frozenset[int]):
    """The rows of a column the tab lacks: every one of them (for ``number in …`` tests)."""

    def __contains__(self, number: object) -> bool:
        return True


_EVERY_ROW = _EveryRow()


def _check_referrals(run: _Run, table: Table | None, proposals: _Check, master: _Check) -> _Check:
    """照会's rules row by row (IDs and their proposal, recipient in the master, dates in order,
    the answer and its date, overdue). ~100 lines: each rule is a few lines reading the same
    parsed row, in the order the findings are listed; split, they would pass a dozen values around."""
    check = run.structure(SheetRef(REFERRALS), REFERRALS, REFERRAL_SHEET, table)
    parsed = run.values(check, REFERRAL_SHEET.columns)
    rows_by_number = {r.number: r for r in check.rows}
    referral_dates = parsed.get(R_DATE, {})
    answer_dates = parsed.get(R_ANSWERED, {})
    due_dates = parsed.get(R_DUE, {})
    answers = parsed.get(R_ANSWER, {})
    proposals_known = proposals.usable and proposals.has(P_ID)
    master_known = master.usable and master.has(M_NAME)
    names = list(run.departments)
    suggestions: dict[str, str | None] = {}
    answer_days = run.config.desk.answer_days
    answer_column = REFERRAL_SHEET.column(R_ANSWER)

    proposal_of = _proposal_ids(run, check, R_PROPOSAL)
    _check_referral_ids(run, check, proposal_of)
    has_answered, has_answer = check.has(R_ANSWERED), check.has(R_ANSWER)
    # the rows whose cell is blank, by column (a column the tab lacks is blank in every row)
    answer_blank, answered_blank, due_blank = (check.blank.get(c, _EVERY_ROW) for c in (R_ANSWER, R_ANSWERED, R_DUE))
    pairs: dict[tuple[tuple[int, int], str], int] = {}
    for row in check.rows:
        number = row.number
        pid = proposal_of.get(number)
        raw_pid = row.values.get(R_PROPOSAL)
        if pid is not None and proposals_known and pid not in run.proposal_rows:
            check.add("ref.proposal", row, R_PROPOSAL, raw_pid, proposals=PROPOSALS)
        answer = answers.get(number)
        raw_answer = row.values.get(R_ANSWER)
        answer_text = answer if answer is not None else ("" if number in answer_blank else normalize_text(raw_answer))
        if pid is not None:
            run.answers.setdefault(pid, []).append(answer_text)

        # 照会先: a department of the master, or a partner for a 県→企業等 proposal
        target_raw = row.values.get(R_TARGET)
        target = run.norm(target_raw)
        if target and pid is not None:
            if (pid, target) in pairs:
                shown = _key_text(raw_pid)
                check.add("duplicate.referral", row, R_TARGET, target_raw, proposal=shown, first_row=pairs[pid, target])
            else:
                pairs[pid, target] = number
        # Only where the proposal is known to go to the prefecture; an unknown 提案ID or 提案方向 is a
        # finding of its own.
        to_department = pid is not None and run.direction.get(pid) == Direction.PARTNER_TO_PREFECTURE
        if target and master_known and to_department and target not in run.departments:
            if target not in suggestions:
                close = difflib.get_close_matches(target, names, n=1, cutoff=0.5)
                suggestions[target] = close[0] if close else None
            suggestion = suggestions[target]
            hint = (
                f"「{suggestion}」ではありませんか。"
                if suggestion
                else f"課名を直すか、「{DEPARTMENTS}」シートに課を追加してください。"
            )
            check.add("ref.department", row, R_TARGET, target_raw, master=DEPARTMENTS, hint=hint)

        # dates in order: 受付日 <= 照会日 <= 回答日, and 照会日 <= 回答期限
        referred = referral_dates.get(number)
        if referred is not None:
            received = run.received.get(pid) if pid is not None else None
            if received is not None and referred < received:  # (_order's test, made here: few rows fail it)
                _order(check, row, R_DATE, referred, P_RECEIVED, received)
            answered = answer_dates.get(number)
            if answered is not None and answered < referred:
                _order(check, row, R_ANSWERED, answered, R_DATE, referred)
            due_typed = due_dates.get(number)
            if due_typed is not None and due_typed < referred:
                _order(check, row, R_DUE, due_typed, R_DATE, referred)

        # an answer and its date go together
        final = answer in Answer.FINAL
        if final and has_answered and number in answered_blank:
            check.add("answer.date_missing", row, R_ANSWERED, answer=answer)
        if (
            number in answer_dates
            and has_answer
            and (answer == Answer.NONE or (answer is None and number in answer_blank))
        ):
            answered_shown = _shown(row.values.get(R_ANSWERED))
            check.add("answer.missing", row, R_ANSWER, raw_answer, answered=answered_shown, answer=Answer.NONE)

        # overdue: no final answer after the deadline (回答期限, else 照会日 + answer_days)
        if answer is None and number not in answer_blank:
            continue  # not a valid answer: reported as a choice error already
        due = workflow.due_date(due_dates.get(number), number in due_blank, referred, answer_days)
        days = workflow.days_overdue(answer, run.status.get(pid) if pid is not None else None, due, run.today)
        if due is not None and days is not None:
            check.add(
                "overdue",
                row,
                answer_column.name,
                raw_answer,
                department=target or "（照会先なし）",
                due=format_date(due),
                days=days,
                answer=answer_text or Answer.NONE,
            )
    run.future(check, parsed, rows_by_number)
    return check


def _check_statuses(run: _Run, proposals: _Check, referrals: _Check) -> None:
    """Each proposal's status against its referrals' answers and its agreement fields."""
    if not (proposals.has(P_STATUS) and referrals.usable and referrals.has(R_PROPOSAL)):
        return
    methods = proposals.parsed.get(P_METHOD, {})
    for pid, row in run.proposal_rows.items():
        status = run.status.get(pid)
        if status is None:
            continue
        # A missing column is a structure finding of its own: do not pile a status error on it.
        agreement_date = row.values.get(P_SIGNED) if proposals.has(P_SIGNED) else "（列なし）"
        method = methods.get(row.number) if proposals.has(P_METHOD) else Method.COMPREHENSIVE
        for problem in workflow.status_problems(
            status, run.answers.get(pid, []), method=method, agreement_date=agreement_date
        ):
            column = problem.column if proposals.has(problem.column) else P_STATUS
            proposals.add(
                problem.code, row, column, row.values.get(column), severity=problem.severity, **problem.params
            )


# ---------------------------------------------------------------- 交流 (exchange meetings)
X_ID = EXCHANGE_SHEET.column("交流ID").name
X_HELD = EXCHANGE_SHEET.column("開催日").name
X_DEPARTMENTS = EXCHANGE_SHEET.column("参加課").name
X_RESULTS = EXCHANGE_SHEET.column("成果").name


def _check_exchanges(run: _Run, table: Table | None, proposals: _Check, master: _Check) -> None:
    """交流: types and choices like every sheet, a unique 交流ID, 参加課 from the master and 成果 naming
    proposals of 提案 that were received on or after the meeting. Dates may be in the future (planned).
    A register made before 交流 existed simply has no meetings: a missing tab is not a finding."""
    if table is None:
        return
    check = run.structure(SheetRef(EXCHANGES), EXCHANGES, EXCHANGE_SHEET, table)
    parsed = run.values(check, EXCHANGE_SHEET.columns)
    held = parsed.get(X_HELD, {})
    first: dict[str, int] = {}
    for row in check.rows:
        key = _key_text(row.values.get(X_ID))
        if key and key in first:
            check.add("id.duplicate", row, X_ID, row.values.get(X_ID), first_row=first[key])
        elif key:
            first[key] = row.number
    names = list(run.departments)
    if master.usable and master.has(M_NAME) and check.has(X_DEPARTMENTS):
        for row in check.rows:
            raw = row.values.get(X_DEPARTMENTS)
            for item in split_list(raw):
                if item in run.departments:
                    continue
                close = difflib.get_close_matches(item, names, n=1, cutoff=0.5)
                hint = (
                    f"「{close[0]}」ではありませんか。"
                    if close
                    else f"課名を直すか、「{DEPARTMENTS}」に課を追加してください。"
                )
                check.add("exchange.department", row, X_DEPARTMENTS, raw, item=item, master=DEPARTMENTS, hint=hint)
    if not check.has(X_RESULTS):
        return
    proposals_known = proposals.usable and proposals.has(P_ID)
    for row in check.rows:
        raw = row.values.get(X_RESULTS)
        for item in split_list(raw):
            pid = run.proposal_id(item)
            if isinstance(pid, ValueProblem):
                check.add("exchange.proposal_format", row, X_RESULTS, raw, item=item)
            elif proposals_known and pid not in run.proposal_rows:
                check.add("exchange.proposal", row, X_RESULTS, raw, item=item, proposals=PROPOSALS)
            elif (on := held.get(row.number)) is not None and (received := run.received.get(pid)) and received < on:
                check.add(
                    "exchange.result_order", row, X_RESULTS, raw,
                    item=item, received=format_date(received), held=format_date(on),
                )  # fmt: skip


# ---------------------------------------------------------------- department sheets
def _check_department(run: _Run, department: Department, table: Table | None, label: str, has_referrals: bool) -> None:
    def missing_column_severity(column: Column) -> str:
        # Answers cannot be read without these; desk columns are put back by sync.
        if column.name == DEPARTMENT_SHEET.key or column.owner is Owner.DEPARTMENT:
            return Severity.ERROR
        return Severity.WARNING

    check = run.structure(
        department.ref,
        label,
        DEPARTMENT_SHEET,
        table,
        missing_sheet_severity=Severity.WARNING if has_referrals else Severity.INFO,
        missing_sheet_hint=f"担当課「{department.name}」のシートです。kouminrenkei sync で作成されます。",
        column_severity=missing_column_severity,
        column_hint="kouminrenkei sync で列が追加されます。",
    )
    columns = [c for c in DEPARTMENT_SHEET.columns if c.owner is Owner.DEPARTMENT]
    parsed = run.values(check, columns)
    run.future(check, parsed, {r.number: r for r in check.rows})
    for column in DEPARTMENT_SHEET.columns:  # the desk's text, shown cut by sync: said in the cell's note
        if column.owner is Owner.DESK and column.type is ValueType.TEXT and check.has(column.name):
            cells = check.column(column.name)
            if CUT_SAID in "\n".join(v for v in cells if v.__class__ is str):  # (one search, then row by row)
                _add_cuts(check, column.name, list(zip(check.rows, cells, strict=True)))


def _add_cuts(check: _Check, name: str, filled: Sequence[tuple[Row, Any]]) -> None:
    """A cell holding text a job cut to fit (values.cut_to_fit): an info finding, so the cell's note
    says it is cut, how long the whole is and where the whole is kept."""
    for row, v in filled:
        if v.__class__ is str and (cut := cut_said(v)) is not None:
            check.add("text.shown_cut", row, name, v[-60:], total=cut[0], visible=cut[1], kept=cut[2])


# ---------------------------------------------------------------- write-back
_FINDING_COLUMNS = [c.name for c in FINDINGS_SHEET.columns]
_RUN_AT = _FINDING_COLUMNS[0]  # 実行日時: differs every run, so not compared


def _finding_row(f: Finding, now: datetime) -> dict[str, CellValue]:
    values: list[CellValue] = [
        now,
        Severity.LABELS.get(f.severity, f.severity),
        f.code,
        f.sheet,
        f.row,
        f.column,
        f.key,
        f.value,
        f.message,
    ]
    return dict(zip(_FINDING_COLUMNS, values, strict=True))


def _comparable(rows: Iterable[dict[str, CellValue]]) -> list[tuple[str, ...]]:
    keys = [header_key(c) for c in _FINDING_COLUMNS[1:]]
    out = []
    for r in rows:
        norm = {header_key(k): v for k, v in r.items()}
        out.append(tuple(display(norm.get(k)) for k in keys))
    return out


def _plan(run: _Run, findings: list[Finding], now: datetime) -> list[Change]:
    changes: list[Change] = []
    new_rows = [_finding_row(f, now) for f in findings]
    table = run.findings_table
    old_rows = [r.values for r in table.rows] if table is not None else []
    if _comparable(new_rows) != _comparable(old_rows):
        ref = SheetRef(FINDINGS)
        if table is None:
            changes.append(EnsureSheet(ref, FINDINGS_SHEET))
        changes.append(ReplaceRows(ref, tuple(new_rows)))
    for check in run.checks:
        if check.table is None:
            continue
        present = {header_key(h) for h in check.table.headers if header_key(h)}
        notes: dict[tuple[int, str], list[str]] = {}
        for f in check.findings:
            if f.row is None or f.column is None or header_key(f.column) not in present:
                continue
            label = Severity.LABELS.get(f.severity, f.severity)
            notes.setdefault((f.row, header_key(f.column)), []).append(f"【{label}】{f.message}")
        key_column, key_of = _row_keys(check.table)
        marks = {(key_of(r), c): "\n".join(v) for (r, c), v in notes.items()}
        old = {(key_of(r), header_key(c)): note for (r, c), note in check.table.marks.items()}
        if marks != old:
            changes.append(MarkCells(check.ref, key_column, marks))
    return changes


def _row_keys(table: Table) -> tuple[str | None, Callable[[int], str]]:
    """How marks name the rows of a tab: by its key column (so a mark follows its row when people
    sort or insert), and ``#row`` for a row whose key is blank or repeated."""
    schema = SHEETS.get(table.ref.sheet)
    key = schema.key if schema is not None else DEPARTMENT_SHEET.key
    if not key or not table.has(key):
        return None, str
    counts: dict[str, int] = {}
    by_number: dict[int, str] = {}
    for row in table.rows:
        k = id_key(row.get(header_key(key)))
        by_number[row.number] = k
        counts[k] = counts.get(k, 0) + 1

    def key_of(number: int) -> str:
        k = by_number.get(number, "")
        return k if k and counts.get(k) == 1 else f"#{number}"

    return key, key_of


# ---------------------------------------------------------------- the public function
def validate(
    config: Config,
    store: Store,
    *,
    write_back: bool = True,
    today: date | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Report:
    """Check the register and every department sheet; return the findings.

    With ``write_back`` the 検証結果 sheet is rewritten and the offending cells marked (fill and
    note), marks of an earlier run cleared where the cell is now right — but only when something
    differs from what is there, so a scheduled run over unchanged sheets writes nothing. A book
    open in Excel is left alone and named in ``Report.skipped``. Cell values are never changed.
    ``progress(what, done, total)`` is told each sheet as it is checked (the command line's bar).
    """
    with no_cycle_collection():
        if write_back:  # held for the whole check, so what it marks is what it read
            with store.lock(ttl_seconds=config.sync.lock_ttl, wait_seconds=WRITE_LOCK_WAIT):
                return _validate(config, store, write_back=True, today=today, progress=progress)
        return _validate(config, store, write_back=False, today=today, progress=progress)


def _validate(
    config: Config,
    store: Store,
    *,
    write_back: bool,
    today: date | None,
    progress: Callable[[str, int, int], None] | None,
) -> Report:
    step = progress or (lambda what, done, total: None)
    run = _Run(config, store, today or clock.today(config))
    with contextlib.ExitStack() as reading:
        tables = reading.enter_context(run.read(findings=write_back))
        _check_choices_sheet(run, tables.get(SheetRef(CHOICES)))
        master = _check_master(run, tables.get(SheetRef(DEPARTMENTS)))
        books, unreadable = run.read_books(run.departments.values())  # (read while the register is checked)
        reading.enter_context(books)
        proposals = _check_proposals(run, tables.get(SheetRef(PROPOSALS)))
        referrals = _check_referrals(run, tables.get(SheetRef(REFERRALS)), proposals, master)
        _check_statuses(run, proposals, referrals)
        _check_exchanges(run, tables.get(SheetRef(EXCHANGES)), proposals, master)

        targets: set[str] = set()
        for row in referrals.rows:
            target = row.values.get(R_TARGET)
            if not is_blank(target):
                targets.add(run.norm(target))
        step("台帳", 0, len(run.departments) + 1)
        in_register = {r.sheet for r in tables.asked if r.book is None}
        for done, department in enumerate(run.departments.values(), start=1):
            ref = department.ref
            step(department.name, done, len(run.departments) + 1)
            if department.problem:  # a ブック outside the desk folder: reported with the master, never opened
                continue
            table = None
            if ref.book is None:
                label = ref.sheet
                table = tables.get(ref) if ref.sheet in in_register else None
            else:
                label = f"{store.display_name(ref.book)}:{ref.sheet}"
                try:
                    table = None if ref.book in unreadable else books.get(ref)
                except StoreError as e:
                    unreadable[ref.book] = str(e)
                if ref.book in unreadable:
                    check = _Check(ref, label, DEPARTMENT_SHEET, None)
                    run.checks.append(check)
                    check.add(
                        "structure.missing_book",
                        severity=Severity.WARNING if department.name in targets else Severity.INFO,
                        department=department.name,
                        book=store.display_name(ref.book),
                        reason=unreadable[ref.book],
                    )
                    continue
            _check_department(run, department, table, label, department.name in targets)
        if write_back:
            run.findings_table = tables.get(SheetRef(FINDINGS))

    # The desk's main tabs first, then the masters, then the department sheets in master order.
    first_shown = {PROPOSALS: 0, REFERRALS: 1, EXCHANGES: 2, DEPARTMENTS: 3, CHOICES: 4}
    run.checks.sort(key=lambda c: first_shown.get(c.label, len(first_shown)))
    findings: list[Finding] = []
    for check in run.checks:
        order = {c.name: i for i, c in enumerate(check.schema.columns)}
        findings.extend(sorted(check.findings, key=lambda f: (f.row or 0, order.get(f.column or "", -1))))
    report = Report(findings)
    step("検証結果の書き込み" if write_back else "完了", len(run.departments) + 1, len(run.departments) + 1)
    if write_back:
        plan = _plan(run, findings, clock.now(config))
        if plan:
            result = store.apply(plan, skip_busy=True)
            report.written = result.written
            report.skipped = result.skipped
    return report
