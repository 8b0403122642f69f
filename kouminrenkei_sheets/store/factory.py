"""Open the store a configuration names (xlsx, gsheets or memory).

The one place in ``store/`` that reads the configuration: each backend gets only the settings it
needs (for Sheets a :class:`~kouminrenkei_sheets.store.gsheets.GSheetsOptions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..clock import desk_zone
from ..config import Config
from ..errors import ConfigError
from .base import Store

if TYPE_CHECKING:
    from .gsheets import GSheetsOptions, GSheetsStore


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
        return open_gsheets(config)
    if backend == "memory":
        from .memory import MemoryStore

        return MemoryStore()
    raise ConfigError(f"{config.path} の store.backend = {backend!r} は xlsx か gsheets を指定してください。")


def gsheets_options(config: Config) -> GSheetsOptions:
    """What the Sheets store needs from the [store], [gsheets] and [desk] sections."""
    from .gsheets import GSheetsOptions

    settings = config.gsheets
    return GSheetsOptions(
        register=config.store.register,
        drive_folder=settings.drive_folder,
        credentials=config.resolve(settings.credentials) if settings.credentials else None,
        share_departments=settings.share_departments,
        reads_per_minute=settings.reads_per_minute,
        writes_per_minute=settings.writes_per_minute,
        max_retries=settings.max_retries,
        actor=config.actor,
        base_dir=config.base_dir,
    )


def open_gsheets(config: Config, **kwargs: Any) -> GSheetsStore:
    """The Sheets store of a configuration, in the desk's time zone. ``kwargs`` go to
    :class:`~kouminrenkei_sheets.store.gsheets.GSheetsStore` (credentials, a transport, clocks)."""
    try:
        from .gsheets import GSheetsStore
    except ImportError as e:  # pragma: no cover - gspread is a runtime dependency
        raise ConfigError(f"gsheets バックエンドを読み込めません: {e}") from None
    kwargs.setdefault("time_zone", desk_zone(config))
    return GSheetsStore(gsheets_options(config), **kwargs)
