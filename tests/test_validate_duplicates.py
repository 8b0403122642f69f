"""The near-duplicate 件名 check: the indexed (linear) search gives exactly the findings of the plain
pairwise rule it replaced, which is kept here as the reference."""

from __future__ import annotations

import difflib
import random
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kouminrenkei_sheets import validate as validate_module
from kouminrenkei_sheets.findings import Finding
from kouminrenkei_sheets.schema import PROPOSAL_SHEET, PROPOSALS
from kouminrenkei_sheets.store.base import Row, SheetRef, Table
from kouminrenkei_sheets.validate import (
    DUPLICATE_RATIO,
    P_ID,
    P_PROPOSER,
    P_TITLE,
    _Check,
    _check_duplicates,
    _key_text,
    _proposer_key,
    _title_key,
    _TitleIndex,
    _visible,
)
from kouminrenkei_sheets.values import is_blank


def reference_duplicates(check: _Check) -> None:
    """The rule as it was written before the index: every pair within one proposer, quadratic."""
    buckets: dict[str, list[tuple[str, Row]]] = {}
    for row in check.rows:
        who, title = row.values.get(P_PROPOSER), row.values.get(P_TITLE)
        if not is_blank(who) and not is_blank(title):
            buckets.setdefault(_proposer_key(who), []).append((_title_key(title), row))
    for items in buckets.values():
        if len(items) < 2:
            continue
        reported: set[int] = set()
        by_length = sorted(items, key=lambda it: len(it[0]))
        sm = difflib.SequenceMatcher(None, autojunk=False)
        for i, (a, row_a) in enumerate(by_length):
            sm.set_seq2(a)
            for b, row_b in by_length[i + 1 :]:
                if 2 * len(a) < DUPLICATE_RATIO * (len(a) + len(b)):
                    break
                if a == b:
                    ratio = 1.0
                else:
                    sm.set_seq1(b)
                    if sm.quick_ratio() < DUPLICATE_RATIO:
                        continue
                    ratio = sm.ratio()
                    if ratio < DUPLICATE_RATIO:
                        continue
                earlier, later = sorted((row_a, row_b), key=lambda r: r.number)
                if later.number in reported:
                    continue
                reported.add(later.number)
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


def proposals_check(rows: list[tuple[object, object]]) -> _Check:
    """A 提案 tab holding (提案者名, 件名) rows, ready for the duplicate check."""
    table = Table(SheetRef(PROPOSALS), list(PROPOSAL_SHEET.headers))
    for number, (who, title) in enumerate(rows, start=2):
        values: dict[str, object] = dict.fromkeys(PROPOSAL_SHEET.headers)
        values.update({P_ID: f"R7-{number:04d}", P_PROPOSER: who, P_TITLE: title})
        table.rows.append(Row(number, values))  # type: ignore[arg-type]
    check = _Check(SheetRef(PROPOSALS), PROPOSALS, PROPOSAL_SHEET, table)
    check.present = list(PROPOSAL_SHEET.columns)
    check.usable = True
    return check


def findings_of(rule: object, rows: list[tuple[object, object]]) -> list[Finding]:
    check = proposals_check(rows)
    rule(check)  # type: ignore[operator]
    return check.findings


# Titles from a few characters so that near-duplicates, equal lengths, repeated characters and
# ratios right at the threshold are common; some titles are edits of earlier ones.
ALPHABET = "防災協定観光のにア1２ 　AaＡ"
base_titles = st.text(alphabet=ALPHABET, min_size=0, max_size=24)


@st.composite
def desks(draw: st.DrawFn) -> list[tuple[object, object]]:
    proposers = draw(st.lists(st.sampled_from(["株式会社A", "A", "（株）A", "B商店", "Ｂ商店", " ", None]), min_size=1))
    rows: list[tuple[object, object]] = []
    titles: list[str] = []
    for _ in range(draw(st.integers(0, 40))):
        if titles and draw(st.booleans()):
            title = draw(st.sampled_from(titles))
            for _ in range(draw(st.integers(0, 3))):  # an edit: insert, delete or replace a character
                at = draw(st.integers(0, len(title)))
                ch = draw(st.sampled_from(ALPHABET))
                kind = draw(st.sampled_from(["insert", "delete", "replace"]))
                if kind == "insert":
                    title = title[:at] + ch + title[at:]
                else:
                    title = title[:at] + (ch if kind == "replace" else "") + title[at + 1 :]
        else:
            title = draw(base_titles)
        titles.append(title)
        rows.append((draw(st.sampled_from(proposers)), draw(st.sampled_from([title, title, None, 12345]))))
    return rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(desks())
def test_indexed_duplicate_check_equals_the_pairwise_rule(rows: list[tuple[object, object]]) -> None:
    expected = findings_of(reference_duplicates, rows)
    assert findings_of(_check_duplicates, rows) == expected  # few titles: compared by length alone
    with mock.patch.object(validate_module, "_FEW_TITLES", 0):  # every proposer through the index
        assert findings_of(_check_duplicates, rows) == expected


def _titles(seed: int, n: int, *, words: int = 400, copies: float = 0.3) -> list[tuple[object, object]]:
    """One partner's ``n`` proposals: titles of 3-6 words, a share of them small edits of another."""
    rng = random.Random(seed)
    kanji = [chr(c) for c in range(0x4E00, 0x4E00 + 600)]
    vocabulary = ["".join(rng.choices(kanji, k=rng.randint(2, 4))) for _ in range(words)]
    originals: list[str] = []
    titles: list[str] = []
    for _ in range(n):
        if originals and rng.random() < copies:
            t = list(rng.choice(originals))
            for _ in range(rng.randrange(0, 4)):
                at = rng.randrange(len(t))
                if rng.random() < 0.5:
                    t[at] = rng.choice("のに連携協定事業")
                else:
                    t.insert(at, rng.choice("のに連携協定事業"))
            titles.append("".join(t))
        else:
            originals.append("".join(rng.sample(vocabulary, rng.randint(3, 6))) + "に関する連携")
            titles.append(originals[-1])
    return [("株式会社サンプル", t) for t in titles]


def test_many_proposals_of_one_partner_give_the_pairwise_findings() -> None:
    for rows in (_titles(7, 500), _titles(8, 500, words=12, copies=0.6)):  # varied titles, then very alike
        got = findings_of(_check_duplicates, rows)
        assert got == findings_of(reference_duplicates, rows)
        assert len(got) > 100  # the case is not trivially empty


def test_duplicate_check_compares_each_title_with_a_few_others_only() -> None:
    def compared(n: int) -> int:
        titles = sorted((_title_key(t) for _, t in _titles(3, n)), key=len)
        index = _TitleIndex(titles, DUPLICATE_RATIO)
        return sum(len(list(index.candidates(p))) for p in range(n))

    for n in (1000, 4000):
        assert compared(n) < 2 * n  # pairwise: n(n-1), thousands per title
