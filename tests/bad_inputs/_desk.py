"""A small xlsx desk on disk for the bad-input corpus: config, register, one department."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from click.testing import CliRunner, Result

from kouminrenkei_sheets import cli as cli_module
from kouminrenkei_sheets.config import Config, load_config
from kouminrenkei_sheets.init import init_desk
from kouminrenkei_sheets.schema import DEPARTMENTS, PROPOSALS, Status
from kouminrenkei_sheets.store.base import AppendRows, CellValue, SheetRef, Store
from kouminrenkei_sheets.store.factory import open_store


def make_desk(
    tmp_path: Path,
    proposals: Sequence[Mapping[str, CellValue]] = ({"提案ID": "R7-0001", "ステータス": Status.RECEIVED},),
    departments: Sequence[Mapping[str, CellValue]] = ({"部局": "営業戦略部", "課": "観光戦略課"},),
) -> tuple[Config, Store, Path]:
    init_desk(tmp_path, departments="tabs")  # these desks keep department sheets as tabs of the register
    path = tmp_path / "kouminrenkei.toml"
    config = load_config(path)
    store = open_store(config)
    store.apply(
        [AppendRows(SheetRef(DEPARTMENTS), tuple(departments)), AppendRows(SheetRef(PROPOSALS), tuple(proposals))]
    )
    return config, store, path


def run(config_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli_module.cli, ["--config", str(config_path), *args])


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under a folder and a hash of its bytes: equal snapshots mean nothing was written
    (the lock's empty guard file is the lock's, not a result)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith((".lock", ".guard"))
    }
