"""Where each department's sheet lives, from the 担当課 master and the configuration."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .config import Config
from .schema import DEPARTMENT_TEMPLATE, DEPARTMENTS, SHEETS
from .store.base import SheetRef, Store, Table

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def safe_file_part(text: str) -> str:
    """Text made safe for a file name on Windows and Unix (no separators, no ``..``)."""
    s = unicodedata.normalize("NFKC", text).strip()
    s = _UNSAFE.sub("_", s).strip(". ")
    return s[:80] or "_"


@dataclass(frozen=True)
class Department:
    bureau: str  # 部局
    name: str  # 課
    ref: SheetRef  # its sheet (a tab of the register, or a tab in its own book)
    email: str = ""
    row: int = 0  # row in the 担当課 master


def _text(v: object) -> str:
    return "" if v is None else unicodedata.normalize("NFKC", str(v)).strip()


def department_ref(config: Config, name: str, tab: str = "", book: str = "") -> SheetRef:
    """The sheet of a department: a register tab named after it, or a tab in its own book."""
    if book:
        return SheetRef(tab or DEPARTMENT_TEMPLATE, book)
    if config.store.departments == "books":
        folder = config.store.departments_dir.rstrip("/")
        suffix = ".xlsx" if config.store.backend != "gsheets" else ""
        return SheetRef(tab or DEPARTMENT_TEMPLATE, f"{folder}/{safe_file_part(name)}{suffix}")
    sheet = tab or name
    if sheet in SHEETS or sheet.startswith("_"):
        sheet = f"{sheet}課"  # never collide with a register tab
    return SheetRef(sheet, None)


def departments_from_table(config: Config, table: Table | None) -> dict[str, Department]:
    """Departments by their normalised 課 name, from the 担当課 master table."""
    out: dict[str, Department] = {}
    if table is None:
        return out
    for row in table.rows:
        name = _text(row.get("課"))
        if not name or name in out:
            continue
        ref = department_ref(config, name, _text(row.get("タブ名")), _text(row.get("ブック")))
        out[name] = Department(_text(row.get("部局")), name, ref, _text(row.get("連絡先メール")), row.number)
    return out


def load_departments(config: Config, store: Store) -> dict[str, Department]:
    ref = SheetRef(DEPARTMENTS)
    return departments_from_table(config, store.read([ref])[ref])
