"""Open the store a configuration names (xlsx, gsheets or memory)."""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError
from .base import Store


def open_store(config: Config) -> Store:
    backend = config.store.backend
    if backend == "xlsx":
        from .xlsx import XlsxStore

        return XlsxStore(
            config.resolve(config.store.register),
            base_dir=config.base_dir,
            owner_stale_hours=config.store.owner_file_stale_hours,
        )
    if backend == "gsheets":
        try:
            from .gsheets import GSheetsStore
        except ImportError as e:  # pragma: no cover - gspread is a runtime dependency
            raise ConfigError(f"gsheets バックエンドを読み込めません: {e}") from None
        return GSheetsStore.from_config(config)
    if backend == "memory":
        from .memory import MemoryStore

        return MemoryStore()
    raise ConfigError(f"{config.path} の store.backend = {backend!r} は xlsx か gsheets を指定してください。")
