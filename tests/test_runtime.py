"""The jobs that read a whole register pause Python's cycle collector while they run, and only then."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from kouminrenkei_sheets import sync as sync_module
from kouminrenkei_sheets.runtime import no_cycle_collection
from test_sync import Desk, make_config, new_store


def test_the_collector_is_paused_inside_and_as_it_was_after_even_on_an_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), no_cycle_collection():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with no_cycle_collection():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_a_sync_merges_with_the_collector_paused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(tmp_path, "memory", "books")
    desk = Desk(config, new_store(config))
    desk.seed()
    seen: list[bool] = []
    merge = sync_module._sync

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(gc.isenabled())
        return merge(*args, **kwargs)

    monkeypatch.setattr(sync_module, "_sync", watched)
    desk.sync()
    desk.sync(dry_run=True)
    assert seen == [False, False] and gc.isenabled()
