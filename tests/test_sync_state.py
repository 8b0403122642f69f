"""The _sync tab stays light: a row back in step is kept once (no older run's mark or 書込前 copy),
and a tab left by an older version, marks and copies included, is read as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from kouminrenkei_sheets.schema import SYNC_STATE
from kouminrenkei_sheets.store.base import SheetRef
from kouminrenkei_sheets.sync import BEFORE_PREFIX, STATE_KIND, STATE_RUN, SYNCED, WRITING
from test_sync import BOUSAI, KANKO, Desk, make_config, new_store

STATE = SheetRef(SYNC_STATE)


@pytest.fixture(params=["memory", "xlsx"])
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Desk:
    config = make_config(tmp_path, request.param, "books")
    d = Desk(config, new_store(config))
    d.seed()
    d.sync()
    return d


def _state_of(desk: Desk, key: str) -> dict[str, object]:
    [row] = [r.values for r in desk.table(STATE).rows if r.get("照会ID") == key]
    return dict(row)


def _copies(row: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in row.items() if k.startswith(BEFORE_PREFIX) and v not in (None, "")}


def test_a_written_row_keeps_its_copy_only_until_the_next_write_of_the_tab(desk: Desk) -> None:
    desk.set_referral("R7-0002-01", "回答期限", "2025-06-30")
    desk.sync()  # pushed to 観光戦略課's book: the row is in flight, its department row copied
    written = _state_of(desk, "R7-0002-01")
    assert written[STATE_KIND] == WRITING and _copies(written)
    desk.set_referral("R7-0001-01", "回答期限", "2025-07-31")
    desk.sync()  # the tab is written again: the finished row is back to 同期済, kept once
    row = _state_of(desk, "R7-0002-01")
    assert row[STATE_KIND] == SYNCED and not _copies(row) and row.get(STATE_RUN) in (None, "")
    assert desk.dept_rows(KANKO)["R7-0002-01"]["回答期限"] is not None
    assert [r for r in desk.table(STATE).rows if r.get(STATE_KIND) == WRITING] == [
        r for r in desk.table(STATE).rows if r.get("照会ID") == "R7-0001-01"
    ]


def test_a_quiet_tab_is_not_rewritten_only_to_tidy_it(desk: Desk) -> None:
    desk.set_referral("R7-0002-01", "回答期限", "2025-06-30")
    desk.sync()
    before = desk.table(STATE).records()
    result = desk.sync()  # nothing changed: the in-flight mark may stay until something is written
    assert not result.files_written and desk.table(STATE).records() == before


def test_an_older_versions_marks_are_read_as_synced_rows(desk: Desk) -> None:
    """Rows an older version left 書込中 with a copy and a run id that is no longer live (an inert
    mark): the next sync reads them as synced, writes nothing because of them, and tidies them."""
    desk.set_referral("R7-0002-01", "回答期限", "2025-06-30")
    desk.sync()
    desk.set_referral("R7-0003-02", "回答期限", "2025-06-30")
    desk.sync()  # a later run of the same department's book: the first row's mark is inert now
    desk.set_referral("R7-0001-01", "回答期限", "2025-08-31")
    result = desk.sync()
    assert {c.key for c in result.changes} == {"R7-0001-01"}
    assert not _copies(_state_of(desk, "R7-0002-01")) and not _copies(_state_of(desk, "R7-0003-02"))


def test_a_sync_rewrites_only_the_state_rows_it_changes(tmp_path: Path) -> None:
    """On .xlsx the _sync worksheet keeps every row the sync does not change byte for byte: a sync
    costs what it changes, not a rewrite of a tab holding every department row."""
    import re
    import zipfile

    from kouminrenkei_sheets.store.xlsxpatch import sheet_parts

    config = make_config(tmp_path, "xlsx", "books")
    desk = Desk(config, new_store(config))
    desk.seed()
    desk.sync()
    desk.set_referral("R7-0002-01", "回答期限", "2025-06-30")
    desk.sync()
    desk.set_referral("R7-0001-01", "回答期限", "2025-07-31")
    register = config.resolve(config.store.register)

    def state_rows() -> dict[int, bytes]:
        with zipfile.ZipFile(register) as z:
            xml = z.read(sheet_parts(z)[SYNC_STATE])
        return {int(m.group(1)): m.group(0) for m in re.finditer(rb'<row r="(\d+)".*?</row>', xml, re.S)}

    rows = desk.table(STATE).rows
    numbers = {r.get("照会ID"): r.number for r in rows if r.get("照会ID")}
    marker = {r.get("課"): r.number for r in rows if r.get(STATE_KIND) == "ブック書込"}
    before = state_rows()
    desk.sync()
    after = state_rows()
    changed = {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}
    # the referral edited now and its book's write mark (a new run); the row the last run left in
    # flight (its 書込前 copy tidied away) and that book's mark (no write in flight any more)
    assert changed == {numbers["R7-0001-01"], marker[BOUSAI], numbers["R7-0002-01"], marker[KANKO]}
    assert len(before) == 8  # the header, four referral rows and three marks: four left as they were


@pytest.mark.parametrize("backend", ["memory", "xlsx"])
def test_a_state_tab_sorted_between_read_and_write_stops_the_write(tmp_path: Path, backend: str) -> None:
    """Someone sorts the hidden _sync tab while a sync runs: the rows it names by number no longer
    hold what it read, so nothing of the register is written (no change half-logged), the message
    says why in Japanese, and the next run reads the tab afresh and finishes the job once."""
    from kouminrenkei_sheets.errors import StoreError
    from kouminrenkei_sheets.store.base import ReplaceRows

    config = make_config(tmp_path, backend, "books")
    desk = Desk(config, new_store(config))
    desk.seed()
    desk.sync()
    shown = desk.dept_rows(KANKO)["R7-0002-01"]["回答期限"]
    desk.set_referral("R7-0002-01", "回答期限", "2025-06-30")
    history = len(desk.history())
    apply = desk.store.apply
    calls = 0

    def sorted_first(changes, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:  # the register's write: the person's sort lands just before it
            rows = desk.table(STATE).records()
            apply([ReplaceRows(STATE, tuple(rows[1:] + rows[:1]))])
        return apply(changes, **kwargs)

    desk.store.apply = sorted_first  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="並べ替え"):
        desk.sync()
    desk.store.apply = apply  # type: ignore[method-assign]
    assert len(desk.history()) == history
    assert desk.dept_rows(KANKO)["R7-0002-01"]["回答期限"] == shown
    result = desk.sync()
    assert [(c.key, c.column) for c in result.changes] == [("R7-0002-01", "回答期限")]
    assert desk.dept_rows(KANKO)["R7-0002-01"]["回答期限"] != shown
    assert len(desk.history()) == history + 1
    assert not desk.sync().changes
