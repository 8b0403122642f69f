"""Random text in every field a partner controls, through every job: no traceback, no personal
value in the publication, no text lost by intake. Memory backend, and the xlsx backend for a few."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kouminrenkei_sheets.agreements import agreement
from kouminrenkei_sheets.config import Config, config_from_dict
from kouminrenkei_sheets.errors import KouminrenkeiError
from kouminrenkei_sheets.intake import intake
from kouminrenkei_sheets.notify import notify
from kouminrenkei_sheets.publish import publish
from kouminrenkei_sheets.refer import refer
from kouminrenkei_sheets.reports import render_markdown, render_text, report
from kouminrenkei_sheets.schema import (
    DEPARTMENTS,
    HISTORY,
    PROPOSALS,
    REGISTER_SHEETS,
    Method,
    Publication,
    Status,
    cell_text_limit,
)
from kouminrenkei_sheets.store.base import AppendRows, SheetRef, Store
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.store.xlsx import XlsxStore
from kouminrenkei_sheets.sync import sync
from kouminrenkei_sheets.validate import validate
from kouminrenkei_sheets.values import is_blank

TODAY = date(2025, 7, 1)
# What partners paste: separators every file system or sheet refuses, control characters and NUL,
# bidirectional marks, lone surrogates, formula starts, Markdown and HTML.
NASTY = [*"/\\:*?\"<>|[]'", "\x00", "\x07", "\x1b", "\r\n", "\t", "\u202e", "\u200f", "\u2066", "\ufeff",
         "\ud800", "\udfff", "=", "+", "-", "@", "<script>", "](javascript:", "_x0041_", "①", "𠮷"]  # fmt: skip
TEXT = st.one_of(
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=8)), max_size=12).map("".join),
    st.sampled_from(["あ" * 100_000, "x" * 40_000, ""]),  # longer than any cell
)
PARTNER_FIELDS = ("提案者名", "法人番号", "所在地", "代表者役職", "代表者氏名", "件名", "概要", "連携分野",
                  "関係市町村", "備考", "提案者区分", "アイデア保護")  # fmt: skip
PERSONAL = {"担当者": "ＰＩＩ担当者９７", "メール": "pii97@example.jp", "電話": "029-999-9797"}


def desk(tmp_path: Path, backend: str) -> tuple[Config, Store]:
    config = config_from_dict(
        {
            "desk": {"governor": "大井川 和彦", "actor": "デスク"},
            "store": {"backend": backend},
            "intake": {"mapping": {"会社名": "提案者名", "件名": "件名", "内容": "概要", "担当": "担当者"}},
            "notify": {"host": "localhost", "from": "desk@example.jp", "security": "none"},
        },
        base_dir=tmp_path,
    )
    store: Store = MemoryStore() if backend == "memory" else XlsxStore(tmp_path / "register.xlsx", base_dir=tmp_path)
    store.create_book(None, REGISTER_SHEETS)
    return config, store


def proposal(values: dict[str, str]) -> dict[str, Any]:
    return {
        "提案ID": "R7-0001",
        "受付日": date(2025, 4, 10),
        "提案方向": "企業等→県",
        "連携手法": Method.COMPREHENSIVE,
        "ステータス": Status.IMPLEMENTING,
        "公表": Publication.YES,
        "協定締結日": date(2025, 5, 1),
        "協定終了日": date(2026, 3, 31),
        "公表日": date(2025, 6, 1),
        "自動更新": "あり",
        **PERSONAL,
        **values,
    }


def published_text(folder: Path) -> str:
    parts = [(folder / n).read_text(encoding="utf-8-sig") for n in ("index.html", "renkei.csv", "renkei.json")]
    sheet = openpyxl.load_workbook(folder / "renkei.xlsx").active
    assert sheet is not None
    parts += [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    return "\n".join(parts)


def every_job(tmp_path: Path, backend: str, values: dict[str, str], department: str) -> None:
    config, store = desk(tmp_path, backend)
    store.apply(
        [
            AppendRows(SheetRef(DEPARTMENTS), ({"部局": "某部", "課": department or "_"},)),
            AppendRows(SheetRef(PROPOSALS), (proposal(values),)),
        ]
    )
    jobs = [
        lambda: validate(config, store, today=TODAY),
        lambda: refer(config, store, "R7-0001", [department or "_"], today=TODAY),
        lambda: sync(config, store, now=datetime(2025, 7, 1, 9, 0)),
        lambda: agreement(config, store, all_=True, today=TODAY, force=True),
        lambda: publish(config, store),
        lambda: (render_markdown(r := report(config, store, today=TODAY)), render_text(r)),
        lambda: notify(config, store, dry_run=True, now=datetime(2025, 7, 1, 9, 0)),
    ]
    for job in jobs:
        try:
            job()
        except KouminrenkeiError as e:  # a clear refusal is fine; anything else is a traceback
            assert str(e) and "\n" not in str(e).strip(), e
    out = tmp_path / "publish"
    if (out / "renkei.csv").exists():
        text = published_text(out)
        for value in PERSONAL.values():
            assert value not in text
        assert not any("\ud800" <= c <= "\udfff" for c in text)


def form_roundtrip(tmp_path: Path, backend: str, answers: list[dict[str, str]]) -> None:
    """Every answer of a form with random text becomes one proposal holding the text as given."""
    config, store = desk(tmp_path, backend)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["タイムスタンプ", "メールアドレス", "会社名", "件名", "内容", "担当"])
    for i, a in enumerate(answers):
        writer.writerow([f"2025/05/01 9:{i:02d}:00", f"a{i}@example.jp", a["会社名"], a["件名"], a["内容"], a["担当"]])
    source = tmp_path / "form.csv"
    source.write_bytes(buffer.getvalue().encode("utf-8", "surrogatepass").replace(b"\x00", b""))
    try:
        first = intake(config, store, str(source), now=datetime(2025, 6, 1))
    except KouminrenkeiError as e:  # e.g. text the CSV reader cannot decode: one clear line
        assert "\n" not in str(e).strip()
        return
    assert len(first.imported) == len(answers)
    register = store.read([SheetRef(PROPOSALS)])[SheetRef(PROPOSALS)]
    assert register is not None
    held = {r.get("提案ID"): r for r in register.rows}
    history = store.read([SheetRef(HISTORY)])[SheetRef(HISTORY)]
    assert history is not None
    for answer, imported in zip(answers, sorted(first.imported, key=lambda a: a.source_row), strict=True):
        text = answer["内容"].replace("\x00", "").replace("\r\n", "\n")
        # (text the tool reads as blank, zero-width characters only included, is an empty cell)
        if not is_blank(text) and not any("\ud800" <= c <= "\udfff" for c in text):
            got = str(held[imported.proposal_id].get("概要")).replace("\r\n", "\n")
            if len(text) <= cell_text_limit(backend):
                assert got == text  # whole, never cut
                continue
            # longer than a cell holds: cut with the cut said, said in the result, kept whole in 変更履歴
            assert got.endswith("全文は変更履歴（種別「全文控え」）にあります）") and len(got) <= cell_text_limit(
                backend
            )
            assert any(n.startswith("概要が") for n in imported.notes)
            parts = [
                r
                for r in history.rows
                if r.get("種別") == "全文控え" and r.get("キー") == imported.proposal_id and r.get("列") == "概要"
            ]
            assert "".join(str(r.get("新値")) for r in parts).replace("\r\n", "\n") == text
    assert intake(config, store, str(source), now=datetime(2025, 6, 1)).imported == []  # never twice


# A Google Sheets response is JSON, which can carry a lone surrogate ("\ud800", from a cell a script
# wrote); every backend's reader turns one into U+FFFD (store.base.table_from_grid), so the memory
# backend is fed them as they come.
ANSWER = st.fixed_dictionaries({k: TEXT for k in ("会社名", "件名", "内容", "担当")})
FIELDS = st.fixed_dictionaries({k: TEXT for k in PARTNER_FIELDS})
COMMON = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@COMMON
@given(values=FIELDS, department=TEXT)
def test_every_job_survives_random_partner_text_memory(
    tmp_path_factory: Any, values: dict[str, str], department: str
) -> None:
    every_job(tmp_path_factory.mktemp("desk"), "memory", values, department[:200])


# No .xlsx, Google Sheets response or UTF-8 CSV can carry a lone surrogate (neither XML nor UTF-8
# encodes one), so on the xlsx backend the text is everything else; the memory runs above keep them.
XLSX_TEXT = TEXT.map(lambda t: "".join(c for c in t if not "\ud800" <= c <= "\udfff"))


@settings(max_examples=2, deadline=None)
@given(values=st.fixed_dictionaries({k: XLSX_TEXT for k in PARTNER_FIELDS}), department=XLSX_TEXT)
def test_every_job_survives_random_partner_text_xlsx(
    tmp_path_factory: Any, values: dict[str, str], department: str
) -> None:
    every_job(tmp_path_factory.mktemp("desk"), "xlsx", values, department[:200])


@COMMON
@given(answers=st.lists(ANSWER, min_size=1, max_size=3))
@example(answers=[{"会社名": "株式会社例", "件名": "件名", "内容": "\ufeff", "担当": ""}])  # zero-width only: blank
def test_intake_of_random_answers(tmp_path_factory: Any, answers: list[dict[str, str]]) -> None:
    form_roundtrip(tmp_path_factory.mktemp("form"), "memory", answers)
