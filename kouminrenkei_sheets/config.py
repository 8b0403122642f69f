"""The one configuration file, ``kouminrenkei.toml``: where the sheets live and who the desk is.

Found by ``--config``, then ``$KOUMINRENKEI_CONFIG``, then ``kouminrenkei.toml`` in the current folder or
the nearest one above it. Relative paths in it resolve against the file's folder. A wrong setting is
one ConfigError naming the key and file.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .schema import DEFAULT_ANSWER_DAYS

CONFIG_NAME = "kouminrenkei.toml"
ENV_VAR = "KOUMINRENKEI_CONFIG"
BACKENDS = ("xlsx", "gsheets", "memory")
DEPARTMENT_MODES = ("tabs", "books")
# Sections read by the job that owns them (config.section(name)), not modelled here.
EXTRA_SECTIONS = ("intake", "notify", "run")


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
    extra: dict[str, Any] = field(default_factory=dict)  # sections other issues add (intake, notify …)

    def resolve(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def actor(self) -> str:
        if self.desk.actor:
            return self.desk.actor
        try:
            return os.getlogin()
        except OSError:
            return os.environ.get("USER") or os.environ.get("USERNAME") or "kouminrenkei"

    def section(self, name: str) -> dict[str, Any]:
        """A section the core does not model (e.g. [intake], [notify]); empty if absent."""
        value = self.extra.get(name, {})
        return value if isinstance(value, dict) else {}


_SECTIONS: dict[str, type] = {
    "desk": DeskSettings,
    "store": StoreSettings,
    "gsheets": GSheetsSettings,
    "sync": SyncSettings,
    "agreement": AgreementSettings,
    "publish": PublishSettings,
    "report": ReportSettings,
}


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
    if not path.is_file():
        hint = "（kouminrenkei init で作成できます）" if not explicit else ""
        raise ConfigError(f"設定ファイル {path} が見つかりません{hint}。")
    try:
        text = path.read_text(encoding="utf-8-sig")  # Notepad saves UTF-8 with a BOM
    except UnicodeDecodeError:
        raise ConfigError(f"設定ファイル {path} が UTF-8 で読めません。UTF-8 で保存し直してください。") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(toml_error_message(path, text, e)) from None
    return config_from_dict(data, path=path)


# tomllib's messages (English), as a desk reads them; matched by their start.
_TOML_MESSAGES = (
    ("Invalid value", '値の書き方が正しくありません（文字列は "…" で囲み、true / false と数字はそのまま書きます）'),
    ("Expected '=' after a key", 'キーの後に = がありません（例: name = "…"）'),
    ("Expected newline or end of document", "1行に書ける設定は1つです（値の後に余分なものがあります）"),
    ("Expected ']' at the end of a table", "セクション名の ] が閉じていません（例: [store]）"),
    ("Cannot declare", "同じセクションが2回あります。1つにまとめてください"),
    ("Cannot overwrite a value", "同じ設定が2回書かれています。1つにしてください"),
    ("Illegal character '\\n'", '文字列の " が行末までに閉じていません'),
    ("Unescaped '\\'", "文字列の中の \\ は \\\\ と書くか、'…' で囲んでください（Windows のパスなど）"),
    ("Unterminated string", '文字列の " が閉じていません'),
    ("Invalid statement", "設定として読めない行です（キー = 値、または [セクション] の形で書きます）"),
    ("Invalid initial character for a key", 'キーに使えない文字があります（英数字と _ - だけ、または "…" で囲みます）'),
)
_TOML_WHERE = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)\s*$")


def toml_error_message(path: Path, text: str, error: tomllib.TOMLDecodeError) -> str:
    """A TOML syntax error in Japanese, with the line and what is written there."""
    raw = str(error)
    m = _TOML_WHERE.search(raw)
    english = raw[: m.start()] if m else raw
    reason = next((ja for en, ja in _TOML_MESSAGES if english.startswith(en)), f"書式が正しくありません（{english}）")
    if m and m.group(1):
        line = int(m.group(1))
        lines = text.splitlines()
        shown = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        where = f"{line}行目" + (f"「{shown}」" if shown else "")
    else:
        where = "ファイルの最後"
    return f"設定ファイル {path} の{where}: {reason}。"


def config_from_dict(data: dict[str, Any], *, path: Path | None = None, base_dir: Path | None = None) -> Config:
    where = str(path) if path else "設定"
    cfg = Config(path=path, base_dir=base_dir or (path.parent.resolve() if path else Path.cwd()))
    for section, value in data.items():
        cls = _SECTIONS.get(section)
        if cls is None:
            if section not in EXTRA_SECTIONS:
                raise ConfigError(_unknown(where, f"[{section}]", section, [*_SECTIONS, *EXTRA_SECTIONS], "セクション"))
            cfg.extra[section] = value
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{where} の [{section}] は表（セクション）でなければなりません。")
        target = getattr(cfg, section)
        for key, v in value.items():
            if not hasattr(target, key):
                keys = [f.name for f in fields(target)]
                raise ConfigError(_unknown(where, f"{section}.{key}", key, keys, "設定"))
            expected = type(getattr(target, key))
            if (expected is int and isinstance(v, bool)) or not isinstance(v, expected):
                kind = _TYPE_NAMES.get(expected, expected.__name__)
                raise ConfigError(f"{where} の {section}.{key} = {v!r} は {kind} で指定してください。")
            setattr(target, key, v)
    _check(cfg, where)
    return cfg


_TYPE_NAMES = {str: "文字列", int: "整数", bool: "true / false"}


def _unknown(where: str, shown: str, name: str, known: list[str], kind: str) -> str:
    """A mistyped section or key, with the nearest known name when there is one."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"「{close[0]}」のことですか？" if close else f"使えるのは {'、'.join(known)} です。"
    return f"{where} の {shown} は知らない{kind}です。{hint}"


def _check(cfg: Config, where: str) -> None:
    if cfg.store.backend not in BACKENDS:
        raise ConfigError(f"{where} の store.backend = {cfg.store.backend!r} は xlsx か gsheets を指定してください。")
    if cfg.store.departments not in DEPARTMENT_MODES:
        raise ConfigError(
            f"{where} の store.departments = {cfg.store.departments!r} は tabs か books を指定してください。"
        )
    if not cfg.store.register.strip():
        raise ConfigError(
            f"{where} の store.register が空です。台帳のファイルまたはスプレッドシートを指定してください。"
        )
    if not 1 <= cfg.desk.answer_days <= 365:
        raise ConfigError(f"{where} の desk.answer_days = {cfg.desk.answer_days} は 1〜365 の日数にしてください。")
    if not 0 <= cfg.store.owner_file_stale_hours <= 24 * 365:
        raise ConfigError(
            f"{where} の store.owner_file_stale_hours = {cfg.store.owner_file_stale_hours} は"
            " 0〜8760 の時間数にしてください（0 なら古さを知らせません）。"
        )
    if not _zone_ok(cfg.desk.time_zone):
        raise ConfigError(
            f'{where} の desk.time_zone = {cfg.desk.time_zone!r} はタイムゾーン名（例: "Asia/Tokyo"）にしてください。'
        )
    if cfg.sync.lock_ttl < 10:
        raise ConfigError(f"{where} の sync.lock_ttl = {cfg.sync.lock_ttl} は 10 秒以上にしてください。")
    _check_publish(cfg.publish, where)


def _zone_ok(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def municipality_code_ok(code: str) -> bool:
    """A 全国地方公共団体コード: 5 digits and a check digit (weights 6…2, 11 minus the remainder mod 11)."""
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(code[:5], (6, 5, 4, 3, 2), strict=True))
    return int(code[5]) == (11 - total % 11) % 10


def _check_publish(p: PublishSettings, where: str) -> None:
    from .values import ValueProblem, check_email, parse_date

    if not municipality_code_ok(p.municipality_code):
        raise ConfigError(
            f"{where} の publish.municipality_code = {p.municipality_code!r} は全国地方公共団体コード"
            f"（6桁、検査数字付き。茨城県は {IBARAKI_CODE}）にしてください。"
        )
    if p.updated.strip():
        try:
            parse_date(p.updated)
        except ValueProblem as e:
            raise ConfigError(
                f"{where} の publish.updated = {p.updated!r} を日付として読めません: {e.reason}"
            ) from None
    if p.contact_email.strip():
        try:
            check_email(p.contact_email)
        except ValueProblem as e:
            raise ConfigError(
                f"{where} の publish.contact_email = {p.contact_email!r} が正しくありません: {e.reason}"
            ) from None
    for key in ("contact_url", "licence_url", "terms_url"):
        value = getattr(p, key).strip()
        if value and not value.startswith(("https://", "http://")):
            raise ConfigError(f"{where} の publish.{key} = {value!r} は https:// で始まるアドレスにしてください。")
    if not p.licence.strip():
        raise ConfigError(f"{where} の publish.licence が空です。利用条件（既定: {DEFAULT_LICENCE}）を書いてください。")


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
