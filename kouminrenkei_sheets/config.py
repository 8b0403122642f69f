"""The one configuration file, ``kouminrenkei.toml``: where the sheets live, who the desk is, and how each
job runs. Every section is a dataclass here and one loader reads them all.

Found by ``--config``, then ``$KOUMINRENKEI_CONFIG``, then ``kouminrenkei.toml`` in the current folder or
the nearest one above it. Relative paths in it resolve against the file's folder. A wrong setting — an
unknown section or key, a value of the wrong type or out of range — is one Japanese ConfigError naming
the file, the line where it can be found, what is written and what would be right. Nothing is read
later by the jobs: they take their settings from the :class:`Config` object.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, get_type_hints

from .errors import ConfigError
from .messages import os_error_text
from .schema import DEFAULT_ANSWER_DAYS, PROPOSAL_SHEET, PROPOSALS
from .values import ValueProblem, check_email, normalize_text, parse_date

CONFIG_NAME = "kouminrenkei.toml"
ENV_VAR = "KOUMINRENKEI_CONFIG"
BACKENDS = ("xlsx", "gsheets", "memory")
SHOWN_BACKENDS = ("xlsx", "gsheets")  # memory is for tests and the Python API; not offered to a desk
DEPARTMENT_MODES = ("tabs", "books")


# ---------------------------------------------------------------- the sections
def _meta(name: str, *, parse: Callable[[Any], Any] | None = None, expect: str = "", item: str = "") -> dict[str, Any]:
    """Field metadata: the TOML key when it differs from the attribute (``from`` is a Python keyword),
    a parser for a value that may be written more than one way (None = unusable), what a right value
    looks like, and for a table what each of its values must be."""
    return {"key": name, "parse": parse, "expect": expect, "item": item}


@dataclass
class DeskSettings:
    name: str = "茨城県 政策企画部 計画推進課 公民連携デスク"
    prefecture: str = "茨城県"
    governor: str = ""
    address: str = ""  # 甲's address in an agreement's signature block (県庁の所在地); empty = none shown
    answer_days: int = DEFAULT_ANSWER_DAYS
    actor: str = ""  # 実行者 written in 変更履歴; empty = the OS user name
    phone: str = ""
    time_zone: str = "Asia/Tokyo"  # the desk's clock: every timestamp the tool writes (see clock.py)


@dataclass
class StoreSettings:
    backend: str = "xlsx"
    register: str = "register.xlsx"  # xlsx: a path; gsheets: a spreadsheet key or URL
    departments: str = "tabs"  # tabs: a tab of the register per 課; books: a workbook per 課
    departments_dir: str = "departments"
    # xlsx: an Excel owner file (~$台帳.xlsx) older than this many hours is reported as probably left
    # by a crash, with how to remove it (the book is still not written while it is there); 0 = never
    owner_file_stale_hours: int = 12


@dataclass
class GSheetsSettings:
    credentials: str = ""  # service-account or authorised-user JSON; else GOOGLE_APPLICATION_CREDENTIALS
    drive_folder: str = ""  # where department spreadsheets are created
    share_departments: bool = False
    reads_per_minute: int = 60
    writes_per_minute: int = 60
    max_retries: int = 5


@dataclass
class SyncSettings:
    lock_ttl: int = 600  # seconds a sync lock stays valid if its holder died


@dataclass
class AgreementSettings:
    out: str = "agreements"
    templates: str = ""  # folder with the desk's own .docx templates; empty = the shipped ones
    seal: str = "印"  # the 印 mark after each signatory's name (記名押印); empty = no mark


# The licence line of 政府標準利用規約（第2.0版）: CC BY 4.0 compatible terms, shown with the downloads.
DEFAULT_LICENCE = "クリエイティブ・コモンズ 表示 4.0 国際（CC BY 4.0）"
DEFAULT_LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/legalcode.ja"
IBARAKI_CODE = "080004"  # 全国地方公共団体コード of 茨城県 (JIS X 0401 + check digit)


@dataclass
class PublishSettings:
    out: str = "publish"
    title: str = "公民連携の取組一覧"
    cp932: bool = False
    updated: str = ""  # 更新日 on the page and in the JSON (YYYY-MM-DD, 和暦 …); empty = the day it is made
    contact: str = ""  # 問い合わせ先; empty = desk.name
    contact_phone: str = ""  # empty = desk.phone
    contact_email: str = ""
    contact_url: str = ""  # e.g. the desk's inquiry form
    licence: str = DEFAULT_LICENCE
    licence_url: str = DEFAULT_LICENCE_URL
    terms_url: str = ""  # the prefecture's own 利用規約 page, when it has one
    municipality_code: str = IBARAKI_CODE  # 全国地方公共団体コード, first column of the open data


@dataclass
class ReportSettings:
    out: str = "reports"


DEFAULT_TIMESTAMP = "タイムスタンプ"
DEFAULT_EMAIL = "メールアドレス"
# 提案 columns intake fills itself (提案ID, 受付日, ステータス, 受付キー, 更新日時): no form question maps onto them.
INTAKE_AUTOMATIC_COLUMNS = ("提案ID", "受付日", "ステータス", "受付キー", "更新日時")
_TABLE_EXPECT = '表（{ "フォームの質問" = "台帳の列" }）'


@dataclass
class IntakeSettings:
    """``[intake]``: which form question fills which 提案 column."""

    mapping: dict[str, str] = field(
        default_factory=dict, metadata=_meta("mapping", expect=_TABLE_EXPECT, item="台帳の列名（文字列）")
    )
    timestamp: str = DEFAULT_TIMESTAMP
    email: str = DEFAULT_EMAIL  # "" when the form does not collect e-mail addresses
    defaults: dict[str, str] = field(  # register column -> value when unanswered
        default_factory=dict,
        metadata=_meta("defaults", expect='表（{ "台帳の列" = "値" }）', item="入れる値（文字列）"),
    )
    response_id: str = ""  # the form's response ID / edit URL column; "" = the first known one present


WEEKDAYS = ("月", "火", "水", "木", "金", "土", "日")
_WEEKDAY_NAMES = {
    **{d: i for i, d in enumerate(WEEKDAYS)},
    **{f"{d}曜": i for i, d in enumerate(WEEKDAYS)},
    **{f"{d}曜日": i for i, d in enumerate(WEEKDAYS)},
    **{d: i for i, d in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{d: i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))},
}
SECURITIES = {"starttls": 587, "ssl": 465, "none": 25}


def weekday_number(value: Any) -> int | None:
    """0 (Monday) … 6 from 月 / 月曜日 / mon / Monday or a number 0–6; None when it is none of those."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= 6 else None
    if isinstance(value, str):
        return _WEEKDAY_NAMES.get(normalize_text(value).lower())
    return None


@dataclass
class NotifySettings:
    """``[notify]``: the SMTP server and what the mails say. The password is never written here."""

    host: str = ""
    port: int = 587  # when not written: the port of ``security`` (starttls 587, ssl 465, none 25)
    security: str = "starttls"
    user: str = ""
    password_env: str = ""
    sender: str = field(default="", metadata=_meta("from"))  # the From address
    sender_name: str = field(default="公民連携デスク", metadata=_meta("from_name"))
    desk: str = ""  # where the weekly summary goes; empty = no summary
    summary_weekday: int = field(
        default=0, metadata=_meta("summary_weekday", parse=weekday_number, expect="曜日（月〜日）")
    )
    due_days: int = 7
    remind_every_days: int = 7  # an overdue referral is reminded again after this many days; 0 = once
    timeout: int = 30

    def require_server(self, where: str) -> None:
        """Sending needs a server and a From address (a dry run does not)."""
        if not self.host:
            raise ConfigError(f"{where} の notify.host（SMTP サーバー）が空です。")
        if not self.sender:
            raise ConfigError(f"{where} の notify.from（メールアドレス）が空です。")

    def password(self, where: str) -> str:
        """The SMTP password, only ever from the environment variable the config names."""
        if not self.user:
            return ""
        if not self.password_env:
            raise ConfigError(
                f"{where} の notify.user を使うには、notify.password_env に"
                "パスワードを入れた環境変数の名前を書いてください。"
            )
        value = os.environ.get(self.password_env, "")
        if not value:
            raise ConfigError(f"環境変数 {self.password_env} に SMTP のパスワードが設定されていません。")
        return value


DEFAULT_LOG = "logs/kouminrenkei.log"


def _source_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
        return None
    return tuple(s.strip() for s in value)


@dataclass
class RunSettings:
    """``[run]``: the scheduled sequence."""

    intake_sources: tuple[str, ...] = field(
        default=(),
        metadata=_meta(
            "intake_sources",
            parse=_source_list,
            expect='取込元の一覧（例: ["forms/回答.csv", "gsheets:キー#フォームの回答 1"]）',
        ),
    )
    log: str = DEFAULT_LOG
    log_max_bytes: int = 1_000_000
    log_backups: int = 5
    notify: bool = True


@dataclass
class Config:
    path: Path | None = None  # the file it was read from
    base_dir: Path = field(default_factory=Path.cwd)
    desk: DeskSettings = field(default_factory=DeskSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    gsheets: GSheetsSettings = field(default_factory=GSheetsSettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    agreement: AgreementSettings = field(default_factory=AgreementSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    run: RunSettings = field(default_factory=RunSettings)
    written: dict[str, tuple[str, ...]] = field(default_factory=dict)  # section -> the keys written in it

    def resolve(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def digest(self) -> str:
        """A short digest of every setting: a record kept by a job (sync's versions, a quiet run's inputs)
        holds only for the settings it was made under."""
        return hashlib.blake2b(repr(self).encode(), digest_size=12).hexdigest()

    @property
    def where(self) -> str:
        """The file, as messages name it."""
        return f"設定ファイル {self.path}" if self.path else "設定"

    def has(self, section: str) -> bool:
        """Whether the file sets anything in that section (``run`` skips notify without ``[notify]``)."""
        return bool(self.written.get(section))

    @property
    def actor(self) -> str:
        if self.desk.actor:
            return self.desk.actor
        try:
            return os.getlogin()
        except OSError:
            return os.environ.get("USER") or os.environ.get("USERNAME") or "kouminrenkei"


SECTIONS: dict[str, type] = {
    "desk": DeskSettings,
    "store": StoreSettings,
    "gsheets": GSheetsSettings,
    "sync": SyncSettings,
    "agreement": AgreementSettings,
    "publish": PublishSettings,
    "report": ReportSettings,
    "intake": IntakeSettings,
    "notify": NotifySettings,
    "run": RunSettings,
}


# ---------------------------------------------------------------- finding and reading the file
def find_config(explicit: str | os.PathLike[str] | None = None, *, start: Path | None = None) -> Path:
    """Where the configuration is: --config, then $KOUMINRENKEI_CONFIG, then kouminrenkei.toml in the
    current folder or the nearest folder above it (so a command works from the desk's subfolders too).
    Not found anywhere: ./kouminrenkei.toml, for the error message."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return here / CONFIG_NAME


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    path = find_config(explicit)
    text = read_config_text(path, given=bool(explicit))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(toml_error_message(path, text, e)) from None
    if not data:
        what = "空です" if not text.strip() else "コメントしかありません"
        raise ConfigError(
            f"設定ファイル {path} は{what}（設定が1つも書かれていません）。"
            "設定を書くか、このファイルを消して kouminrenkei init で作り直してください。"
        )
    return config_from_dict(data, path=path, lines=key_lines(text))


def read_config_text(path: Path, *, given: bool) -> str:
    """The file's text: UTF-8, with or without the BOM Notepad writes; anything else is one clear line."""
    if path.is_dir():
        raise ConfigError(
            f"設定ファイル {path} はフォルダです。設定ファイル（{CONFIG_NAME}）のパスを指定してください。"
        )
    if not path.is_file():
        if given:
            hint = "（--config に指定したパスを確かめてください）"
        elif os.environ.get(ENV_VAR):
            hint = f"（環境変数 {ENV_VAR} に指定したパスを確かめてください）"
        else:
            hint = "（kouminrenkei init で作成できます）"
        raise ConfigError(f"設定ファイル {path} が見つかりません{hint}。")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"設定ファイル {path} を読めません: {os_error_text(e)}。") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"設定ファイル {path} の{line}行目が UTF-8 で読めません（{_encoding_guess(raw)}）。"
            "文字コードを UTF-8 にして保存し直してください"
            "（メモ帳なら「名前を付けて保存」の「エンコード」で UTF-8 を選びます）。"
        ) from None


def _encoding_guess(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 で保存されているようです"
    try:
        raw.decode("cp932")
    except UnicodeDecodeError:
        return "文字コードが分かりません"
    return "Shift_JIS で保存されているようです"


_DATE_REASON = '日付の書き方が正しくありません（例: 2025-04-01。文字のまま書くなら "…" で囲みます）'
_UNQUOTED_DATE = re.compile(r"=\s*\d{4}\s*[-/.年]")
# tomllib's messages (English), as a desk reads them; matched by their start.
_TOML_MESSAGES = (
    ("Invalid value", '値の書き方が正しくありません（文字列は "…" で囲み、true / false と数字はそのまま書きます）'),
    ("Expected '=' after a key", 'キーの後に = がありません（例: name = "…"）'),
    ("Expected newline or end of document", "1行に書ける設定は1つです（値の後に余分なものがあります）"),
    ("Expected ']' at the end of a table", "セクション名の ] が閉じていません（例: [store]）"),
    ("Expected ']]' at the end of an array", "[[…]] の ]] が閉じていません"),
    ("Cannot declare", "同じセクションが2回あります。1つにまとめてください"),
    ("Cannot overwrite a value", "同じ設定が2回書かれています。1つにしてください"),
    ("Cannot mutate immutable namespace", "すでに値として書かれた名前に、さらに設定を足しています"),
    ("Cannot redefine namespace", "すでに表として書かれた名前を、もう一度書いています"),
    ("Duplicate inline table key", "{ … } の中に同じキーが2回あります"),
    ("Illegal character '\\n'", '文字列の " が行末までに閉じていません'),
    ("Illegal character", "使えない制御文字があります（タブ以外の制御文字は書けません）"),
    ("Found invalid character", "使えない文字があります"),
    ("Unescaped '\\'", "文字列の中の \\ は \\\\ と書くか、'…' で囲んでください（Windows のパスなど）"),
    ("Unterminated string", '文字列の " が閉じていません'),
    ("Unclosed array", "[ … ] の一覧が閉じていません"),
    ("Unclosed inline table", "{ … } が閉じていません（{ … } は1行に書きます）"),
    ("Invalid date or datetime", _DATE_REASON),
    ("Invalid hex value", "\\u の後の16進数が正しくありません"),
    ("Escaped character is not a Unicode scalar value", "\\u で書いた文字が正しくありません"),
    ("Invalid statement", "設定として読めない行です（キー = 値、または [セクション] の形で書きます）"),
    ("Invalid initial character for a key", 'キーに使えない文字があります（英数字と _ - だけ、または "…" で囲みます）'),
    ("Expected", "書き方が正しくありません（記号が足りません）"),
)
_TOML_WHERE = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)\s*$")


def toml_error_message(path: Path, text: str, error: tomllib.TOMLDecodeError) -> str:
    """A TOML syntax error in Japanese, with the line and what is written there."""
    raw = str(error)
    m = _TOML_WHERE.search(raw)
    english = raw[: m.start()] if m else raw
    reason = next((ja for en, ja in _TOML_MESSAGES if english.startswith(en)), "書き方が正しくありません")
    if m and m.group(1):
        line = int(m.group(1))
        lines = text.split("\n")  # TOML's lines: only \n ends one
        written = lines[line - 1] if 0 < line <= len(lines) else ""
        if _UNQUOTED_DATE.search(written):  # 2025/4/1 or 2025-13-01 without quotes: tomllib sees a number
            reason = _DATE_REASON
        shown = _cut(written.strip())
        where = f"{line}行目" + (f"「{shown}」" if shown else "")
    else:
        where = "ファイルの最後"
    return f"設定ファイル {path} の{where}: {reason}。"


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]*?)\s*\]")
_PART = r"(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)"
_KEY_LINE = re.compile(rf"^\s*({_PART})\s*(?:\.\s*({_PART}))?[^=]*=")


def key_lines(text: str) -> dict[tuple[str, str | None], int]:
    """Where each section header and key is first written: (section, key or None) → line number.

    tomllib gives no positions for a value, so the lines are found by a light scan of the text; a key it
    cannot place (inside a multi-line value, say) is named without a line."""
    found: dict[tuple[str, str | None], int] = {}
    section: str | None = None
    for number, line in enumerate(text.split("\n"), 1):
        if m := _HEADER.match(line):
            parts = [p.strip().strip("\"'") for p in m.group(1).split(".")]
            section = parts[0]
            found.setdefault((section, None), number)
            if len(parts) > 1:
                found.setdefault((section, parts[1]), number)
        elif m := _KEY_LINE.match(line):
            first = m.group(1).strip("\"'")
            if section is None:  # a top-level key: a section written as a value, or [a] written as a.b = …
                found.setdefault((first, None), number)
                if m.group(2):
                    found.setdefault((first, m.group(2).strip("\"'")), number)
            else:
                found.setdefault((section, first), number)
    return found


# ---------------------------------------------------------------- from TOML data to Config
@dataclass
class _Place:
    """Names a wrong setting: the file, and the line where it is written when that is known."""

    path: Path | None
    lines: dict[tuple[str, str | None], int]

    def error(self, section: str, name: str | None, text: str) -> ConfigError:
        line = self.lines.get((section, name))
        head = f"設定ファイル {self.path} の" if self.path else "設定の"
        return ConfigError(f"{head}{line}行目: {text}" if line else f"{head} {text}")


def config_from_dict(
    data: dict[str, Any],
    *,
    path: Path | None = None,
    base_dir: Path | None = None,
    lines: dict[tuple[str, str | None], int] | None = None,
) -> Config:
    """A Config from parsed TOML: every section and key known, every value typed and in range."""
    place = _Place(path, lines or {})
    cfg = Config(path=path, base_dir=base_dir or (path.parent.resolve() if path else Path.cwd()))
    for section, value in data.items():
        cls = SECTIONS.get(section)
        if cls is None and not isinstance(value, dict):
            raise place.error(section, None, _outside(section, value))
        if cls is None:
            raise place.error(section, None, _unknown(f"[{section}]", section, list(SECTIONS), "セクション"))
        if not isinstance(value, dict):
            raise place.error(
                section,
                None,
                f"[{section}] は表（セクション）でなければなりません（[{section}] の行の下に キー = 値 を書きます）。",
            )
        setattr(cfg, section, _read_section(cls, section, value, place))
        cfg.written[section] = tuple(value)
    _check(cfg, place)
    return cfg


def _read_section(cls: type, section: str, raw: dict[str, Any], place: _Place) -> Any:
    hints = get_type_hints(cls)
    by_key = dict(zip(_toml_keys(cls), fields(cls), strict=True))
    values: dict[str, Any] = {}
    for name, value in raw.items():
        f = by_key.get(name)
        if f is None:
            raise place.error(section, name, _unknown(f"{section}.{name}", name, list(by_key), "設定", section))
        subject = f"{section}.{name} = {shown(value)}"
        parse = f.metadata.get("parse")
        if parse is not None:
            parsed = parse(value)
            if parsed is None:
                raise place.error(section, name, f"{subject} は{f.metadata['expect']}で指定してください。")
            values[f.name] = parsed
            continue
        problem = _type_problem(value, hints[f.name], f.default)
        if problem:
            kind, how = (f.metadata["expect"], "") if f.metadata.get("expect") else problem
            raise place.error(section, name, f"{subject} は{kind}で指定してください{how}。")
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(v, str) or not v.strip():
                    raise place.error(
                        section, name, f"{section}.{name}.{k} = {shown(v)} は{f.metadata['item']}で指定してください。"
                    )
            value = {str(k).strip(): v.strip() for k, v in value.items()}
        values[f.name] = value
    return cls(**values)


def _toml_keys(cls: type) -> list[str]:
    return [f.metadata.get("key", f.name) for f in fields(cls)]


def _outside(name: str, value: Any) -> str:
    """A key written above every [section] header: say which section it belongs to."""
    owners = [f"[{s}]" for s, cls in SECTIONS.items() if name in _toml_keys(cls)]
    if owners:
        return (
            f"{name} = {shown(value)} がセクションの外に書かれています。{'か'.join(owners)} の行の下に書いてください。"
        )
    return f"{name} = {shown(value)} は知らない設定です（設定は [store] などのセクションの下に書きます）。"


def _type_problem(value: Any, hint: Any, default: Any) -> tuple[str, str] | None:
    """What a value of the wrong type should be and how to write it, or None when the type is right."""
    if hint is bool:
        return None if isinstance(value, bool) else (" true か false ", '（"…" で囲みません）')
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return "整数", f'（"…" で囲まずに {value.strip()} と書きます）'
        return "整数", f"（例: {default}）"
    if hint is str:
        if isinstance(value, str):
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return "文字列", f'（"{value}" のように "…" で囲みます）'
        return "文字列", '（"…" で囲みます）'
    if hint == dict[str, str]:
        return None if isinstance(value, dict) else ("表", "")
    return None  # pragma: no cover - every other type has a parser


def shown(value: Any, limit: int = 60) -> str:
    """A value as TOML writes it, so a message shows what the person typed (cut when long)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, date | datetime | time):
        text = value.isoformat()
    elif isinstance(value, list):
        text = "[" + ", ".join(shown(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{ " + ", ".join(f"{k} = {shown(v, limit)}" for k, v in value.items()) + " }"
    else:
        text = str(value)
    return _cut(text, limit)


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_KEY_HINTS = {
    ("notify", "password"): "パスワードは設定ファイルに書かず、入れた環境変数の名前を notify.password_env に書きます。"
}


def _unknown(shown_name: str, name: str, known: list[str], kind: str, section: str = "") -> str:
    """A mistyped section or key, with the nearest known name when there is one."""
    special = _KEY_HINTS.get((section, name.lower()))
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    if special:
        hint = special
    elif close:
        hint = f"「{close[0]}」のことですか？"
    else:
        hint = f"使えるのは {'、'.join(known)} です。"
    return f"{shown_name} は知らない{kind}です。{hint}"


def _choice(value: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value.strip().lower(), choices, n=1, cutoff=0.5)
    return f"「{close[0]}」のことですか？" if close else ""


# ---------------------------------------------------------------- ranges and cross-checks
def _check(cfg: Config, place: _Place) -> None:
    _check_desk(cfg.desk, place)
    _check_store(cfg.store, place)
    _check_gsheets(cfg.gsheets, place)
    if cfg.sync.lock_ttl < 10:
        raise place.error("sync", "lock_ttl", f"sync.lock_ttl = {cfg.sync.lock_ttl} は 10 秒以上にしてください。")
    _check_publish(cfg.publish, place)
    if "intake" in cfg.written:
        _check_intake(cfg.intake, cfg.written["intake"], place)
    _check_notify(cfg.notify, cfg.written.get("notify", ()), place)
    _check_run(cfg.run, place)


def _check_desk(d: DeskSettings, place: _Place) -> None:
    if not 1 <= d.answer_days <= 365:
        raise place.error("desk", "answer_days", f"desk.answer_days = {d.answer_days} は 1〜365 の日数にしてください。")
    if not _zone_ok(d.time_zone):
        close = _close_zone(d.time_zone)
        hint = f"「{close}」のことですか？" if close else '"Asia/Tokyo" のように 地域/都市 の形で書きます。'
        raise place.error(
            "desk", "time_zone", f"desk.time_zone = {shown(d.time_zone)} はタイムゾーン名ではありません。{hint}"
        )


def _check_store(s: StoreSettings, place: _Place) -> None:
    if s.backend not in BACKENDS:
        raise place.error(
            "store",
            "backend",
            f"store.backend = {shown(s.backend)} は xlsx か gsheets を指定してください。"
            + _choice(s.backend, SHOWN_BACKENDS),
        )
    if s.departments not in DEPARTMENT_MODES:
        raise place.error(
            "store",
            "departments",
            f"store.departments = {shown(s.departments)} は tabs か books を指定してください。"
            + _choice(s.departments, DEPARTMENT_MODES),
        )
    if not s.register.strip():
        raise place.error(
            "store", "register", "store.register が空です。台帳のファイルまたはスプレッドシートを指定してください。"
        )
    if not 0 <= s.owner_file_stale_hours <= 24 * 365:
        raise place.error(
            "store",
            "owner_file_stale_hours",
            f"store.owner_file_stale_hours = {s.owner_file_stale_hours} は"
            " 0〜8760 の時間数にしてください（0 なら古さを知らせません）。",
        )


def _check_gsheets(g: GSheetsSettings, place: _Place) -> None:
    for name in ("reads_per_minute", "writes_per_minute"):
        value = getattr(g, name)
        if value < 1:
            raise place.error("gsheets", name, f"gsheets.{name} = {value} は 1 以上の回数（1分あたり）にしてください。")
    if not 0 <= g.max_retries <= 100:
        raise place.error(
            "gsheets", "max_retries", f"gsheets.max_retries = {g.max_retries} は 0〜100 の回数にしてください。"
        )


def _zone_ok(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name or name != name.strip():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _close_zone(name: str) -> str | None:
    """The zone a mistyped name most likely meant: Asia/Tokio → Asia/Tokyo, tokyo → Asia/Tokyo."""
    from zoneinfo import available_timezones

    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    wanted = name.strip().lower()
    for z in zones:
        if wanted in (z.lower(), z.rsplit("/", 1)[-1].lower()):
            return z
    lowered = {z.lower(): z for z in zones}
    close = difflib.get_close_matches(wanted, list(lowered), n=1, cutoff=0.8)
    return lowered[close[0]] if close else None


def municipality_code_ok(code: str) -> bool:
    """A 全国地方公共団体コード: 5 digits and a check digit (weights 6…2, 11 minus the remainder mod 11)."""
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(code[:5], (6, 5, 4, 3, 2), strict=True))
    return int(code[5]) == (11 - total % 11) % 10


def _check_publish(p: PublishSettings, place: _Place) -> None:
    if not municipality_code_ok(p.municipality_code):
        raise place.error(
            "publish",
            "municipality_code",
            f"publish.municipality_code = {shown(p.municipality_code)} は全国地方公共団体コード"
            f"（6桁、検査数字付き。茨城県は {IBARAKI_CODE}）にしてください。",
        )
    if p.updated.strip():
        try:
            parse_date(p.updated)
        except ValueProblem as e:
            raise place.error(
                "publish", "updated", f"publish.updated = {shown(p.updated)} を日付として読めません: {e.reason}"
            ) from None
    if p.contact_email.strip():
        try:
            check_email(p.contact_email)
        except ValueProblem as e:
            raise place.error(
                "publish",
                "contact_email",
                f"publish.contact_email = {shown(p.contact_email)} が正しくありません: {e.reason}",
            ) from None
    for name in ("contact_url", "licence_url", "terms_url"):
        value = getattr(p, name).strip()
        if value and not value.startswith(("https://", "http://")):
            raise place.error(
                "publish", name, f"publish.{name} = {shown(value)} は https:// で始まるアドレスにしてください。"
            )
    if not p.licence.strip():
        raise place.error(
            "publish", "licence", f"publish.licence が空です。利用条件（既定: {DEFAULT_LICENCE}）を書いてください。"
        )


def _check_intake(s: IntakeSettings, written: tuple[str, ...], place: _Place) -> None:
    """A written [intake] must say how the form maps onto 提案; its columns must be 提案's own."""
    if "mapping" not in written:
        raise place.error(
            "intake",
            None,
            '[intake] に mapping がありません。フォームの質問と台帳の列の対応を mapping = { "会社名" = "提案者名", … }'
            " のように書いてください。",
        )
    if not s.mapping:
        raise place.error("intake", "mapping", "intake.mapping が空です。フォームの質問 = 台帳の列 を書いてください。")
    for question, column in s.mapping.items():
        _check_column(column, f"intake.mapping.{question}", "mapping", place)
    for column in s.defaults:
        _check_column(column, f"intake.defaults.{column}", "defaults", place)
    s.timestamp, s.email, s.response_id = s.timestamp.strip(), s.email.strip(), s.response_id.strip()
    if not s.timestamp:
        raise place.error(
            "intake", "timestamp", "intake.timestamp が空です。フォームのタイムスタンプの列名を書いてください。"
        )


def _check_column(column: str, shown_key: str, name: str, place: _Place) -> None:
    if not PROPOSAL_SHEET.has(column):
        usable = "、".join(c for c in PROPOSAL_SHEET.headers if c not in INTAKE_AUTOMATIC_COLUMNS)
        raise place.error(
            "intake", name, f"{shown_key} = {shown(column)} は「{PROPOSALS}」シートにない列です（使える列: {usable}）。"
        )
    if column in INTAKE_AUTOMATIC_COLUMNS:
        raise place.error("intake", name, f"{shown_key} = {shown(column)} は取込で自動的に入る列なので指定できません。")


def _check_notify(n: NotifySettings, written: tuple[str, ...], place: _Place) -> None:
    n.security = n.security.strip().lower()
    if n.security not in SECURITIES:
        raise place.error(
            "notify",
            "security",
            f"notify.security = {shown(n.security)} は starttls・ssl・none のどれかにしてください。",
        )
    if "port" not in written:
        n.port = SECURITIES[n.security]
    if not 1 <= n.port <= 65535:
        raise place.error("notify", "port", f"notify.port = {n.port} はポート番号（1〜65535）にしてください。")
    n.host, n.user, n.password_env, n.sender_name = (
        n.host.strip(), n.user.strip(), n.password_env.strip(), n.sender_name.strip()
    )  # fmt: skip
    n.sender = _address(n.sender, "from", place)
    n.desk = _address(n.desk, "desk", place)
    for name, low, high, unit in (
        ("due_days", 1, 60, "日数"),
        ("remind_every_days", 0, 365, "日数"),
        ("timeout", 1, 600, "秒数"),
    ):
        value = getattr(n, name)
        if not low <= value <= high:
            extra = "（0 は再通知しない）" if name == "remind_every_days" else ""
            raise place.error(
                "notify", name, f"notify.{name} = {value} は {low}〜{high} の{unit}にしてください{extra}。"
            )


def _address(value: str, name: str, place: _Place) -> str:
    text = normalize_text(value)
    if not text:
        return ""
    try:
        return check_email(text)
    except ValueProblem as e:
        raise place.error(
            "notify", name, f"notify.{name} = {shown(value)} はメールアドレスとして使えません: {e.reason}"
        ) from None


def _check_run(r: RunSettings, place: _Place) -> None:
    r.log = r.log.strip()
    if not r.log:
        raise place.error("run", "log", "run.log が空です。ログファイルのパスを書いてください。")
    for name, low in (("log_max_bytes", 10_000), ("log_backups", 1)):
        value = getattr(r, name)
        if value < low:
            raise place.error("run", name, f"run.{name} = {value} は {low} 以上の整数で指定してください。")


# ---------------------------------------------------------------- a new file
def render_config(
    *, backend: str = "xlsx", register: str | None = None, governor: str = "", departments: str = "books"
) -> str:
    """The text of a new kouminrenkei.toml, commented in Japanese."""
    register = register or ("register.xlsx" if backend == "xlsx" else "ここにスプレッドシートのキーまたはURL")
    gs = "" if backend != "gsheets" else (
        '\n[gsheets]\n# サービスアカウントの鍵（JSON）。空なら環境変数 GOOGLE_APPLICATION_CREDENTIALS\n'
        'credentials = "service-account.json"\n# 担当課ごとのスプレッドシートを作る Google ドライブのフォルダID\n'
        'drive_folder = ""\n'
    )  # fmt: skip
    return f"""# kouminrenkei-sheets の設定ファイル
# 相対パスはこのファイルのあるフォルダを基準にします。

[desk]
name = "茨城県 政策企画部 計画推進課 公民連携デスク"
prefecture = "茨城県"
# 協定書の署名欄に入る知事名と、甲の所在地（県庁の住所。空なら署名欄に住所を書きません）
governor = "{governor}"
address = ""
# 照会の回答期限（照会日からの日数）
answer_days = 30
# 日時（変更履歴・検証結果・ログ）を書くときのタイムゾーン（サーバーの時計が UTC でもこの地域の時刻で書く）
time_zone = "Asia/Tokyo"

[store]
# xlsx（共有フォルダの Excel ファイル）または gsheets（Google スプレッドシート）
backend = "{backend}"
register = "{register}"
# books: 担当課ごとに別ブック（departments_dir に作成。各課には自課の照会だけが見える）
# tabs: 担当課シートを台帳のタブにする（台帳を開ける全員に個人情報・他課のタブが見える）
departments = "{departments}"
departments_dir = "departments"
# Excel の所有者ファイル（~$register.xlsx）がこの時間より古ければ、異常終了の残りかもしれないと知らせます
owner_file_stale_hours = 12
{gs}
[agreement]
out = "agreements"
# 独自の協定書テンプレート（.docx）を置いたフォルダ。空なら同梱のもの
templates = ""
# 署名欄で甲乙それぞれの名前の後に置く押印の位置の印（空なら置きません）
seal = "印"

[publish]
out = "publish"
title = "公民連携の取組一覧"
# Shift_JIS（cp932）版の CSV も作る
cp932 = false
# ページと JSON の更新日（空ならファイルを作った日）
updated = ""
# 問い合わせ先（空なら desk.name と desk.phone）
contact = ""
contact_phone = ""
contact_email = ""
contact_url = ""
# データの利用条件（政府標準利用規約の形。既定は CC BY 4.0）
licence = "{DEFAULT_LICENCE}"
licence_url = "{DEFAULT_LICENCE_URL}"
terms_url = ""
# 全国地方公共団体コード（オープンデータの1列目。茨城県は 080004）
municipality_code = "{IBARAKI_CODE}"

[report]
out = "reports"
"""
