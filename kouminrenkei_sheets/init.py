"""``kouminrenkei init``: a configuration file and a register built from the schema.

The register gets every desk tab (提案, 照会, 担当課, 選択肢, 変更履歴, 検証結果) with Japanese headers,
dropdowns, date formats and a frozen header row; department sheets are created by sync as needed, by
default one workbook / spreadsheet per department (see :data:`BOOKS_WHY` and :data:`TABS_WARNING`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import CONFIG_NAME, config_from_dict, render_config
from .errors import UsageError
from .files import write_file
from .schema import REGISTER_SHEETS
from .store.base import Store

# Why departments get their own books by default, and what choosing tabs means (init's output and --help).
BOOKS_WHY = (
    "担当課シートは課ごとの別ブック（Google では別スプレッドシート）に作ります。各課に見えるのは自課あての照会だけで、"
    "台帳の個人情報（担当者・メール・電話）、アイデア保護の内容、他の課のシートは見えません。"
    "また、課の誰かがブックを開いたままでも台帳と他の課の同期は止まりません。"
)
TABS_WARNING = (
    "注意: --departments tabs では担当課シートが台帳のタブになり、各課の人が台帳そのものを開きます。"
    "台帳を開ける人には全員、提案者の担当者・メール・電話などの個人情報、アイデア保護の内容、他の課のタブまで見えます。"
    "さらに、誰かが台帳を Excel で開いている間は同期できません。課ごとの別ブック（--departments books）をお勧めします。"
)


@dataclass
class InitResult:
    config_path: Path
    store: Store
    created: list[str] = field(default_factory=list)
    departments: str = "books"  # where department sheets go: books (one per 課) or tabs of the register
    config_written: bool = True  # False: an existing kouminrenkei.toml was used as it is
    backup: Path | None = None  # --force: where the replaced kouminrenkei.toml was kept

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": str(self.config_path),
            "config_written": self.config_written,
            "backup": str(self.backup) if self.backup else None,
            "created": list(self.created),
            "departments": self.departments,
            "notes": self.notes,
        }

    @property
    def notes(self) -> list[str]:
        """What the layout of department sheets means (the warning when they are the register's tabs)."""
        return [TABS_WARNING] if self.departments == "tabs" else [BOOKS_WHY]


def init_desk(
    directory: Path,
    *,
    backend: str = "xlsx",
    departments: str = "books",
    register: str | None = None,
    governor: str = "",
    force: bool = False,
) -> InitResult:
    """Write ``kouminrenkei.toml`` in ``directory`` and create the register it names.

    A folder that already has a ``kouminrenkei.toml`` but no register gets the register that file
    names, and the file is left as it is. ``force`` writes a fresh file, keeping the old one as
    ``kouminrenkei.toml.bak`` (then ``.bak2`` …) so no setting is lost without a trace.
    """
    import tomllib

    from .config import load_config
    from .store.factory import open_store

    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / CONFIG_NAME
    if config_path.exists() and not force:
        config = load_config(config_path)
        store = open_store(config)
        if store.book_exists(None):
            raise UsageError(
                f"{config_path} と{store.display_name(None)}は既にあります。"
                "設定を作り直すときは --force を付けてください（元の設定は .bak に残します）。"
            )
        store.create_book(None, REGISTER_SHEETS)
        result = InitResult(config_path, store, departments=config.store.departments, config_written=False)
        result.created.append(f"{store.display_name(None)}: " + "・".join(s.name for s in REGISTER_SHEETS))
        return result
    if backend == "gsheets" and not register:
        raise UsageError("gsheets では --register に台帳スプレッドシートのキーまたはURLを指定してください。")
    text = render_config(backend=backend, register=register, governor=governor, departments=departments)
    config = config_from_dict(tomllib.loads(text), path=config_path.resolve())
    store = open_store(config)
    result = InitResult(config_path, store, departments=departments)
    if store.book_exists(None):
        result.created.append(f"{store.display_name(None)}（既存のものをそのまま使います）")
    else:
        store.create_book(None, REGISTER_SHEETS)
        result.created.append(f"{store.display_name(None)}: " + "・".join(s.name for s in REGISTER_SHEETS))
    if config_path.exists():
        result.backup = _free_backup_name(config_path)
        shutil.copy2(config_path, result.backup)  # the new file then keeps the old one's permissions
    write_file(config_path, text.encode("utf-8"))
    return result


def _free_backup_name(path: Path) -> Path:
    candidate = path.with_name(path.name + ".bak")
    n = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak{n}")
        n += 1
    return candidate
