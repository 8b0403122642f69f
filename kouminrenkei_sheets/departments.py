"""Where each department's sheet lives, from the 担当課 master and the configuration."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace

from .config import Config
from .schema import DEPARTMENT_TEMPLATE, DEPARTMENTS, SHEETS
from .store.base import SheetRef, Store, Table
from .values import normalize_text

# Characters no file name may hold on Windows (and "/" on Unix), and those Excel refuses in a tab
# name (Google Sheets takes them, but one rule keeps a 課's names the same on both backends). Each
# becomes its full-width twin: readable, and never produced by the NFKC names the master holds, so
# two 課 never end up with one name.
_FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in "\\/:*?\"<>|[]'"}
_FILE_UNSAFE = str.maketrans({c: _FULL_WIDTH[c] for c in '\\/:*?"<>|'})
_TAB_UNSAFE = str.maketrans({c: _FULL_WIDTH[c] for c in "\\/:*?[]"})
# Control characters, bidirectional marks (RTL overrides make a name display as another) and lone
# surrogates are dropped; a name that lost any gets a fingerprint so it stays distinct.
_DROPPED = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c\ud800-\udfff]")
# Device names Windows keeps for itself, with or without an extension ("CON.xlsx" cannot be a file).
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{d}{n}" for d in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")}
)
# ext4 and most Unix file systems allow 255 bytes per name; keep room for what tools add beside it
# (Word's "~$" owner file, ".<name>.xxxxxxxx.tmp" of an atomic write).
FILE_NAME_BYTES = 200
TAB_NAME_LIMIT = 31  # Excel: at most 31 characters (UTF-16 units) in a sheet name
_HASH_CHARS = 6


def _to_full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _tag(text: str) -> str:
    """A short stable fingerprint, so two names cut or cleaned alike stay two names."""
    return "~" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]


def _prepare(text: str) -> tuple[str, str]:
    """NFKC text without dropped characters and runs of spaces, and the fingerprint it then needs."""
    kept = _DROPPED.sub("", text)
    tag = _tag(text) if kept != text else ""
    return " ".join(unicodedata.normalize("NFKC", kept).split()), tag


def _finish(s: str, tag: str, unsafe: dict[int, str], fits: Callable[[str], bool], text: str) -> str:
    s = s.translate(unsafe) or "_"
    if fits(s + tag):
        return s + tag
    tag = tag or _tag(text)
    while s and not fits(s + tag):
        s = s[:-1]
    return s.rstrip(". ") + tag


def safe_file_name(text: str, suffix: str = "", *, max_bytes: int = FILE_NAME_BYTES) -> str:
    """``text`` made a file name that every desk's file system takes, ``suffix`` (".xlsx") kept.

    ``/ \\ : * ? " < > |`` become their full-width twins, leading and trailing dots (Windows drops
    them) become "．", a Windows device name (CON, NUL, COM1 …) is written full-width, control
    characters and bidirectional marks are dropped, and a name over ``max_bytes`` bytes in UTF-8
    is cut and given a fingerprint of the whole text: the same text always gives the same name.
    """
    room = max_bytes - len(suffix.encode())
    s, tag = _prepare(text)
    s = re.sub(r"^\.+|\.+$", lambda m: "．" * len(m.group()), s)
    stem, dot, rest = s.partition(".")
    if stem.upper() in _WINDOWS_RESERVED:
        s = _to_full_width(stem) + dot + rest
    return _finish(s, tag, _FILE_UNSAFE, lambda t: len(t.encode("utf-8")) <= room, text) + suffix


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def safe_tab_name(text: str) -> str:
    """``text`` made a tab name Excel and Google Sheets both take: ``/ \\ : * ? [ ]`` and a leading
    or trailing apostrophe full-width, Excel's reserved "History" full-width, at most 31
    characters (a longer name is cut and given a fingerprint of the whole text). Stable and
    one-to-one: the same 課 always gets the same tab, two 課 never share one."""
    s, tag = _prepare(text)
    s = re.sub(r"^'+|'+$", lambda m: "＇" * len(m.group()), s)
    if s.casefold() == "history":
        s = _to_full_width(s)
    return _finish(s, tag, _TAB_UNSAFE, lambda t: _utf16_len(t) <= TAB_NAME_LIMIT, text)


@dataclass(frozen=True)
class Department:
    bureau: str  # 部局
    name: str  # 課
    ref: SheetRef  # its sheet (a tab of the register, or a tab in its own book)
    email: str = ""
    row: int = 0  # row in the 担当課 master
    problem: str = ""  # why no job may open its sheet (a ブック outside the desk folder); "" = fine
    renamed: str = ""  # where its sheet is when that is not its 課 / タブ名 as written, e.g. シート「総務／人事課」


def department_ref(config: Config, name: str, tab: str = "", book: str = "") -> SheetRef:
    """The sheet of a department: a register tab named after it, or a tab in its own book."""
    if book:
        return SheetRef(safe_tab_name(tab) if tab else DEPARTMENT_TEMPLATE, book)
    if config.store.departments == "books":
        folder = config.store.departments_dir.rstrip("/")
        suffix = ".xlsx" if config.store.backend != "gsheets" else ""
        sheet = safe_tab_name(tab) if tab else DEPARTMENT_TEMPLATE
        return SheetRef(sheet, f"{folder}/{safe_file_name(name, suffix)}")
    sheet = safe_tab_name(tab or name)
    if sheet in SHEETS or sheet.startswith("_"):
        sheet = safe_tab_name(f"{sheet}課")  # never collide with a register tab
    return SheetRef(sheet, None)


def departments_from_table(config: Config, table: Table | None) -> dict[str, Department]:
    """Departments by their normalised 課 name, from the 担当課 master table."""
    out: dict[str, Department] = {}
    if table is None:
        return out
    for row in table.rows:
        name = normalize_text(row.get("課"))
        if not name or name in out:
            continue
        book = normalize_text(row.get("ブック"))
        ref = department_ref(config, name, normalize_text(row.get("タブ名")), book)
        problem = book_problem(config, book) if book else ""
        mail = normalize_text(row.get("連絡先メール"))
        department = Department(normalize_text(row.get("部局")), name, ref, mail, row.number, problem)
        out[name] = replace(department, renamed=_renamed(department, normalize_text(row.get("タブ名")), book))
    return out


def _renamed(d: Department, tab: str, book: str) -> str:
    """The sheet or book a department got instead of the name written in the master ("" if none)."""
    if d.ref.sheet not in (tab or d.name, DEPARTMENT_TEMPLATE):
        return f"シート「{d.ref.sheet}」"
    if d.ref.book is not None and not book:
        written = d.ref.book.rsplit("/", 1)[-1]
        if written not in (d.name, f"{d.name}.xlsx"):
            return f"ブック「{d.ref.book}」"
    return ""


_DRIVE = re.compile(r"^[A-Za-z]:|^[\\/]|^~")


def book_problem(config: Config, book: str) -> str:
    """Why a 担当課.ブック value may not be used: a workbook path must stay inside the desk folder
    (the config file's folder), so ``../x.xlsx``, ``/tmp/x.xlsx``, ``C:\\x.xlsx``, ``\\\\server\\x``
    and ``~/x.xlsx`` are refused; on Google Sheets the value is a spreadsheet key and any is fine."""
    if config.store.backend == "gsheets":
        return ""
    parts = re.split(r"[\\/]+", book)
    if _DRIVE.match(book) or ".." in parts:
        return (
            f"ブック「{book}」は公民連携デスクのフォルダ（{config.base_dir}）の外を指しています。"
            f"フォルダ内の相対パス（例: {config.store.departments_dir.rstrip('/')}/課名.xlsx）にしてください。"
        )
    return ""


def load_departments(config: Config, store: Store) -> dict[str, Department]:
    ref = SheetRef(DEPARTMENTS)
    return departments_from_table(config, store.read([ref])[ref])
