"""``kouminrenkei init``: a configuration file and a register built from the schema.

The register gets every desk tab (提案, 照会, 担当課, 選択肢, 変更履歴, 検証結果) with Japanese headers,
dropdowns, date formats and a frozen header row; department sheets are created by sync as needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import CONFIG_NAME, config_from_dict, render_config
from .errors import UsageError
from .schema import REGISTER_SHEETS
from .store.base import Store


@dataclass
class InitResult:
    config_path: Path
    store: Store
    created: list[str] = field(default_factory=list)


def init_desk(
    directory: Path,
    *,
    backend: str = "xlsx",
    departments: str = "tabs",
    register: str | None = None,
    governor: str = "",
    force: bool = False,
) -> InitResult:
    """Write ``kouminrenkei.toml`` in ``directory`` and create the register it names."""
    import tomllib

    from .store.factory import open_store

    if backend == "gsheets" and not register:
        raise UsageError("gsheets では --register に台帳スプレッドシートのキーまたはURLを指定してください。")
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / CONFIG_NAME
    if config_path.exists() and not force:
        raise UsageError(f"{config_path} は既にあります。作り直すときは --force を付けてください。")
    text = render_config(backend=backend, register=register, governor=governor, departments=departments)
    config = config_from_dict(tomllib.loads(text), path=config_path.resolve())
    store = open_store(config)
    result = InitResult(config_path, store)
    if store.book_exists(None):
        result.created.append(f"{store.display_name(None)}（既存のものをそのまま使います）")
    else:
        store.create_book(None, REGISTER_SHEETS)
        result.created.append(f"{store.display_name(None)}: " + "・".join(s.name for s in REGISTER_SHEETS))
    tmp = config_path.with_name(config_path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(config_path)
    return result
